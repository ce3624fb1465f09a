//! `VIBEE_DEBUG_MACRO=1` prints each expansion, formatted by prettyplease, to stderr.

use proc_macro2::TokenStream;

/// The expansion as formatted Rust, or its raw tokens if it is not a valid file.
pub fn pretty(tokens: &TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    }
}

/// Prints `tokens` when `VIBEE_DEBUG_MACRO` is set to anything but `0`.
pub fn dump(tokens: &TokenStream) {
    if std::env::var("VIBEE_DEBUG_MACRO").is_ok_and(|v| v != "0") {
        eprintln!("{}", pretty(tokens));
    }
}
