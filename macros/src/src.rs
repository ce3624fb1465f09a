//! Source ranges of the user's code.
//!
//! On stable Rust a `proc_macro2::Span` cannot be joined, so a range is kept as its first
//! and last token spans; `syn::Error::new_spanned` turns that pair back into an underline
//! from the first to the last token, which is how errors point at a whole expression.

use proc_macro2::{Punct, Spacing, Span, TokenStream};
use quote::{ToTokens, TokenStreamExt};

/// The tokens a node of the user's code spans: from `first` to `last`.
#[derive(Clone, Copy, Debug)]
pub struct Src {
    pub first: Span,
    pub last: Span,
}

impl Src {
    /// The range covered by `node`'s tokens.
    pub fn of(node: &impl ToTokens) -> Src {
        let mut tokens = node.to_token_stream().into_iter();
        let first = tokens.next().map_or_else(Span::call_site, |t| t.span());
        let last = tokens.last().map_or(first, |t| t.span());
        Src { first, last }
    }

    /// A single-token range.
    pub fn at(span: Span) -> Src {
        Src {
            first: span,
            last: span,
        }
    }

    /// The macro invocation itself, for synthesized nodes.
    pub fn call_site() -> Src {
        Src::at(Span::call_site())
    }
}

impl ToTokens for Src {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        // Two placeholder tokens carrying the spans; only their spans are ever read.
        for span in [self.first, self.last] {
            let mut punct = Punct::new('.', Spacing::Alone);
            punct.set_span(span);
            tokens.append(punct);
        }
    }
}
