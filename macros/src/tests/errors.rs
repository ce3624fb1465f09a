//! Rejected kernels: one message each, naming the construct and what would be accepted.

use proc_macro2::TokenStream;
use quote::quote;

use super::{lower_kernel, one_error};

#[test]
fn write_to_read_only_buffer() {
    let e = one_error(quote!(
        fn k(x: &[f32]) {
            x[0] = 1.0;
        }
    ));
    assert!(
        e.contains("read-only `&[f32]`") && e.contains("&mut [f32]"),
        "{e}"
    );
}

#[test]
fn mismatched_operands() {
    let e = one_error(quote!(
        fn k(x: &[f32], y: &mut [f32]) {
            let i = global_pos();
            y[i] = x[i] + i;
        }
    ));
    assert!(e.contains("`f32` + `u32`"), "{e}");
}

#[test]
fn integer_literal_where_a_float_is_needed() {
    let e = one_error(quote!(
        fn k(y: &mut [f32]) {
            y[0] = y[0] * 2;
        }
    ));
    assert!(e.contains("write `2.0`"), "{e}");
}

#[test]
fn shared_memory_size_must_be_comptime() {
    let e = one_error(quote!(
        fn k(y: &mut [f32], n: u32) {
            let t = shared::<f32>(n * 2);
        }
    ));
    assert!(e.contains("known when the kernel is specialized"), "{e}");
}

#[test]
fn recursion() {
    let e = one_error(quote!(
        fn k(y: &mut [f32]) {
            k(y);
        }
    ));
    assert!(e.contains("recursion"), "{e}");
}

#[test]
fn unknown_intrinsic_and_method() {
    let e = one_error(quote!(
        fn k(y: &mut [f32]) {
            y[0] = sigmoid(y[0]);
        }
    ));
    assert!(e.contains("unknown intrinsic `sigmoid`"), "{e}");
    let e = one_error(quote!(
        fn k(y: &mut [f32]) {
            y[0] = y[0].sigmoid();
        }
    ));
    assert!(e.contains("no method `sigmoid` on `f32`"), "{e}");
}

#[test]
fn every_error_is_reported_at_once() {
    let errors = lower_kernel(
        TokenStream::new(),
        quote!(
            fn k(x: &[f32], s: String) {
                x[0] = 1.0;
                let f = |a| a;
            }
        ),
    )
    .expect_err("three problems");
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn uses_of_a_broken_let_stay_silent() {
    let errors = lower_kernel(
        TokenStream::new(),
        quote!(
            fn k(y: &mut [f32]) {
                let a = nope();
                y[0] = a;
                y[1] = a * 2.0;
            }
        ),
    )
    .expect_err("one problem");
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

#[test]
fn bad_attribute_argument() {
    let errors = lower_kernel(
        quote!(fast),
        quote!(
            fn k(y: &mut [f32]) {}
        ),
    )
    .expect_err("unknown argument");
    assert!(
        errors[0].contains("unknown `#[vibee::kernel]` argument `fast`"),
        "{errors:?}"
    );
}

#[test]
fn assigning_a_comptime_parameter() {
    let e = one_error(quote!(
        fn k(y: &mut [f32], #[comptime] d: u32) {
            d = 3;
        }
    ));
    assert!(e.contains("comptime parameter `d`"), "{e}");
}

#[test]
fn a_panic_becomes_a_bug_report() {
    let payload: Box<dyn std::any::Any + Send> = Box::new("index out of bounds");
    let out = crate::expand::bug(&payload).to_string();
    assert!(out.contains("this is a bug in vibee"), "{out}");
    assert!(out.contains("index out of bounds"), "{out}");
}

#[test]
fn fallback_keeps_a_stub_launcher_with_the_signature() {
    let out = crate::expand::kernel(
        TokenStream::new(),
        quote!(
            pub fn k<const B: usize>(a: f32, y: &mut [f32]) {
                y[0] = a * 2;
            }
        ),
    );
    let file: syn::File = syn::parse2(out).expect("fallback output is valid Rust");
    let text = crate::debug::pretty(&quote::ToTokens::to_token_stream(&file));
    assert!(text.contains("compile_error!"), "{text}");
    assert!(text.contains("pub mod k"), "{text}");
    assert!(text.contains("pub fn launch<const B: usize>"), "{text}");
    assert!(
        text.contains("y: &mut ::vibee::__private::Buffer<f32>"),
        "{text}"
    );
}
