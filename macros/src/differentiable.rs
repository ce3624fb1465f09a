//! `#[vibee::kernel(differentiable)]`: the function is lowered to an elementwise function;
//! the IR wraps it into a buffer kernel (`ElementwiseFn::to_kernel`) and derives its
//! vector-Jacobian product (`autodiff::vjp`) while the macro expands, so both kernels are
//! generated (CubeCL included) like any other.
//!
//! The module gets `launch(&device, x…, out…)` for the forward kernel and
//! `backward(&device, x…, dy…, dx…)` for the derived one; both cover the first output
//! buffer with groups of [`GROUP_SIZE`] units.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use vibee_dsl::kernel::{Kernel, ParamKind};
use vibee_dsl::kernel::{autodiff, elementwise};

use crate::ast::KernelFn;
use crate::codegen::{self, launch, paths};
use crate::ctxt::Ctxt;
use crate::{check, lower};

/// Units per group of the generated elementwise launchers.
const GROUP_SIZE: u32 = 256;

/// The module of a differentiable kernel.
pub fn generate(cx: &Ctxt, f: &KernelFn) -> TokenStream {
    let Some(lowered) = lower::elementwise(cx, f) else {
        return TokenStream::new();
    };
    let forward = lowered.function.to_kernel();
    check::kernel(cx, &forward, &lowered.spans);
    let backward = match autodiff::vjp(&lowered.function) {
        Ok(b) => b.to_kernel(),
        Err(e) => {
            let message = format!("cannot derive the backward of `{}`: {}", f.name, e.message);
            cx.error_at(lowered.spans.get(e.span), message);
            return TokenStream::new();
        }
    };
    let elementwise_json = codegen::to_json(cx, &lowered.function);
    let private = paths::private();
    let (vis, name, docs) = (&f.vis, &f.name, &f.docs);
    let forward_items = kernel_items(cx, &forward);
    let backward_items = kernel_items(cx, &backward);
    let launch = launcher(
        &forward,
        "launch",
        quote!(SOURCE),
        &[],
        format!("Applies `{name}` to every element: `out[i] = {name}(x[i], …)`."),
    );
    // `d<input>`, kept apart from every input and cotangent name (inputs may be `dx`, `dy`).
    let mut taken: Vec<String> = backward.params.iter().map(|p| p.name.clone()).collect();
    let gradients: Vec<String> = f
        .params
        .iter()
        .map(|p| {
            let refs: Vec<&str> = taken.iter().map(String::as_str).collect();
            let name = elementwise::fresh_name(format!("d{}", p.ident), &refs);
            taken.push(name.clone());
            name
        })
        .collect();
    let backward_launch = launcher(
        &backward,
        "backward",
        quote!(vjp::SOURCE),
        &gradients,
        format!(
            "The derived backward of `{name}`: the gradient of each input (`d<input>`) from the inputs and the cotangents of the outputs."
        ),
    );
    quote! {
        #(#docs)*
        #vis mod #name {
            #private::elementwise_source! { json = #elementwise_json; }
            #forward_items
            #launch
            /// The derived backward (VJP) kernel.
            pub mod vjp {
                #backward_items
            }
            #backward_launch
        }
    }
}

/// `ir()`, `SOURCE` and `CUBE` of one kernel.
fn kernel_items(cx: &Ctxt, kernel: &Kernel) -> TokenStream {
    let source = codegen::kernel_source(cx, kernel);
    let cube = codegen::cube::generate(kernel);
    quote!(#source #cube)
}

/// A launcher whose grid covers the first output buffer; `output_names`, when given,
/// rename the output buffers (arguments are positional, so names are for readers).
fn launcher(
    kernel: &Kernel,
    name: &str,
    source: TokenStream,
    output_names: &[String],
    doc: String,
) -> TokenStream {
    let mut kernel = kernel.clone();
    let outputs = kernel
        .params
        .iter_mut()
        .filter(|p| matches!(p.kind, ParamKind::Buffer { mutable: true, .. }));
    for (param, new) in outputs.zip(output_names) {
        param.name.clone_from(new);
    }
    let params = launch::params_of_ir(&kernel);
    let first_output = kernel
        .params
        .iter()
        .find(|p| matches!(p.kind, ParamKind::Buffer { mutable: true, .. }))
        .map(|p| Ident::new(&p.name, Span::call_site()));
    let private = paths::private();
    let len = match first_output {
        Some(out) => quote!(#out.len()),
        None => quote!(0),
    };
    launch::launch_fn(launch::LaunchFn {
        doc,
        name,
        generics: TokenStream::new(),
        params: &params,
        leading_args: Vec::new(),
        grid: quote!(#private::Grid::cover(#len, #GROUP_SIZE)),
        checks: TokenStream::new(),
        source,
    })
}
