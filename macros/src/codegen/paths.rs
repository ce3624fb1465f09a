//! Every path the generated code spells, in one place. Generated code reaches vibee only
//! through `::vibee::__private`, so users need no other dependency in scope.

use proc_macro2::TokenStream;
use quote::quote;
use vibee_dsl::kernel::Elem;

/// `::vibee::__private`.
pub fn private() -> TokenStream {
    quote!(::vibee::__private)
}

/// The host type of an element: `f32`, `::vibee::__private::half::f16`, ….
pub fn elem_ty(elem: Elem) -> TokenStream {
    match elem {
        Elem::F32 => quote!(f32),
        Elem::F16 => quote!(::vibee::__private::half::f16),
        Elem::BF16 => quote!(::vibee::__private::half::bf16),
        Elem::I32 => quote!(i32),
        Elem::U32 => quote!(u32),
        Elem::Bool => quote!(bool),
    }
}

/// `&Buffer<T>` or `&mut Buffer<T>`.
pub fn buffer_ty(elem: Elem, mutable: bool) -> TokenStream {
    let private = private();
    let elem = elem_ty(elem);
    if mutable {
        quote!(&mut #private::Buffer<#elem>)
    } else {
        quote!(&#private::Buffer<#elem>)
    }
}
