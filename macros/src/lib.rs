//! Procedural macros of vibee. Entry points only: the work lives in modules that take
//! `proc_macro2` types so it can be unit- and snapshot-tested.

use proc_macro::TokenStream;

/// Declares a kernel. See the `vibee` crate documentation.
#[proc_macro_attribute]
pub fn kernel(attr: TokenStream, item: TokenStream) -> TokenStream {
    let _ = attr;
    item
}
