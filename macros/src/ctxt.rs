//! Error accumulation: every problem of a kernel is reported at once.
//!
//! Like serde_derive's `Ctxt`, a context must be checked before it is dropped; a context
//! that is dropped unchecked (outside a panic) means the macro forgot to report errors,
//! which is a bug, so it panics.

use std::cell::RefCell;
use std::fmt::Display;

use quote::ToTokens;

use crate::src::Src;

/// Collects the errors of one macro invocation.
#[derive(Debug, Default)]
pub struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanning the tokens of `node`.
    pub fn error_spanned_by<T: ToTokens, M: Display>(&self, node: T, message: M) {
        self.syn_error(syn::Error::new_spanned(node.into_token_stream(), message));
    }

    /// Records an error at a source range.
    pub fn error_at<M: Display>(&self, src: Src, message: M) {
        self.error_spanned_by(src, message);
    }

    pub fn syn_error(&self, error: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after check")
            .push(error);
    }

    /// Whether any error was recorded so far.
    pub fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|e| !e.is_empty())
    }

    /// Consumes the context: all recorded errors combined into one, or `Ok`.
    pub fn check(self) -> Result<(), syn::Error> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        let mut iter = errors.into_iter();
        let Some(mut combined) = iter.next() else {
            return Ok(());
        };
        for rest in iter {
            combined.combine(rest);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("vibee-macros: Ctxt dropped without checking its errors");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combines_every_error() {
        let cx = Ctxt::new();
        cx.error_at(Src::call_site(), "first");
        cx.error_at(Src::call_site(), "second");
        let err = cx.check().expect_err("two errors were recorded");
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    #[should_panic(expected = "without checking")]
    fn unchecked_context_panics() {
        let _cx = Ctxt::new();
    }
}
