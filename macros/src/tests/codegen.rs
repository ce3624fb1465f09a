//! What the generated module contains, beyond the snapshots.

use quote::quote;

use crate::debug::pretty;
use crate::expand::kernel;

#[test]
fn checks_on_const_generics_are_const_assertions() {
    let out = pretty(&kernel(
        quote!(assert(B % 32 == 0)),
        quote!(
            fn k<#[comptime(power_of_two)] const B: usize>(y: &mut [f32]) {
                y[0] = 1.0;
            }
        ),
    ));
    assert!(out.contains("assert!(B % 32 == 0"), "{out}");
    assert!(out.contains("(B).is_power_of_two()"), "{out}");
    assert!(!out.contains("check_failed"), "{out}");
}

#[test]
fn checks_on_comptime_arguments_return_errors() {
    let out = pretty(&kernel(
        quote!(assert(d > 1)),
        quote!(
            fn k(y: &mut [f32], #[comptime(multiple_of = 4)] d: u32) {
                y[0] = 1.0;
            }
        ),
    ));
    assert!(out.contains("if !(d > 1)"), "{out}");
    assert!(out.contains("if !((4) != 0 && (d) % (4) == 0)"), "{out}");
    assert_eq!(out.matches("check_failed(").count(), 2, "{out}");
    assert!(out.contains("\"kernel `k` requires `d > 1`\""), "{out}");
}

#[test]
fn braces_in_a_const_check_message_are_escaped() {
    let out = pretty(&kernel(
        quote!(assert({ B } > 0)),
        quote!(
            fn k<const B: usize>(y: &mut [f32]) {
                y[0] = 1.0;
            }
        ),
    ));
    assert!(out.contains("requires `{{ B }} > 0`"), "{out}");
}

#[test]
fn a_zero_literal_shared_length_is_an_error() {
    let out = kernel(
        quote!(),
        quote!(
            fn k(y: &mut [f32]) {
                let t = shared::<f32>(0);
            }
        ),
    )
    .to_string();
    assert!(out.contains("must have a positive length"), "{out}");
}

#[test]
fn usize_arguments_are_checked_into_u32() {
    let out = pretty(&kernel(
        quote!(),
        quote!(
            fn k(y: &mut [f32], n: usize, #[comptime] d: usize) {
                y[0] = 1.0;
            }
        ),
    ));
    assert!(
        out.contains("scalar_usize(\"k\", 1usize, \"n\", n)?"),
        "{out}"
    );
    assert!(
        out.contains("comptime_usize(\"k\", 2usize, \"d\", d)?"),
        "{out}"
    );
}
