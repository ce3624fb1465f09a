//! Syntax validation of source code with tree-sitter grammars (Python, Rust, JavaScript,
//! C). The parser recovers from errors by wrapping what it cannot parse in `ERROR` nodes
//! and inserting zero-width `MISSING` nodes; their number, and the share of the file's
//! bytes inside `ERROR` nodes, are the two thresholds. The language comes from the config,
//! a record field (`lang`), or the extension of a path field (`path`).

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser};

use crate::document::{Document, Verdict};
use crate::filters::{Filter, ratio};

/// A language with a bundled grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeLanguage {
    /// Python 3.
    Python,
    /// Rust.
    Rust,
    /// JavaScript (with JSX).
    Javascript,
    /// C.
    C,
}

impl CodeLanguage {
    /// Recognizes a language name (`python`, `py`, `Rust`, `js`, `c` …).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "python" | "py" | "python3" => Some(CodeLanguage::Python),
            "rust" | "rs" => Some(CodeLanguage::Rust),
            "javascript" | "js" | "jsx" | "mjs" | "cjs" => Some(CodeLanguage::Javascript),
            "c" | "h" => Some(CodeLanguage::C),
            _ => None,
        }
    }

    /// Recognizes a language by a file path's extension.
    pub fn from_path(path: &str) -> Option<Self> {
        let ext = std::path::Path::new(path).extension()?.to_str()?;
        Self::from_name(ext)
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            CodeLanguage::Python => tree_sitter_python::LANGUAGE.into(),
            CodeLanguage::Rust => tree_sitter_rust::LANGUAGE.into(),
            CodeLanguage::Javascript => tree_sitter_javascript::LANGUAGE.into(),
            CodeLanguage::C => tree_sitter_c::LANGUAGE.into(),
        }
    }

    /// The name written to metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeLanguage::Python => "python",
            CodeLanguage::Rust => "rust",
            CodeLanguage::Javascript => "javascript",
            CodeLanguage::C => "c",
        }
    }
}

/// What syntax checking found in one file.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SyntaxReport {
    /// `ERROR` plus `MISSING` nodes.
    pub error_nodes: usize,
    /// Fraction of the file's bytes inside (outermost) `ERROR` nodes.
    pub error_fraction: f64,
}

thread_local! {
    // Parsers are not `Sync`; each rayon worker keeps one per language.
    static PARSERS: RefCell<HashMap<CodeLanguage, Parser>> = RefCell::new(HashMap::new());
}

/// Parses `source` and counts its syntax errors; `None` if the parser gave up.
///
/// ```
/// use vibee_data::filters::{CodeLanguage, check_syntax};
/// let ok = check_syntax(CodeLanguage::Python, "def f(x):\n    return x\n");
/// assert_eq!(ok.map(|r| r.error_nodes), Some(0));
/// let bad = check_syntax(CodeLanguage::Python, "def f(x:\n    return x\n");
/// assert!(bad.is_some_and(|r| r.error_nodes > 0));
/// ```
pub fn check_syntax(language: CodeLanguage, source: &str) -> Option<SyntaxReport> {
    PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = match parsers.entry(language) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut parser = Parser::new();
                // The bundled grammars match the tree-sitter ABI this crate is built with.
                parser.set_language(&language.grammar()).ok()?;
                e.insert(parser)
            }
        };
        let tree = parser.parse(source, None)?;
        let mut report = SyntaxReport::default();
        let mut error_bytes = 0;
        count_errors(tree.root_node(), &mut report.error_nodes, &mut error_bytes);
        report.error_fraction = ratio(error_bytes, source.len());
        Some(report)
    })
}

/// Walks only the subtrees that contain errors; an `ERROR` node's bytes are counted once,
/// without descending into it.
fn count_errors(node: Node, nodes: &mut usize, bytes: &mut usize) {
    if node.is_error() {
        *nodes += 1;
        *bytes += node.end_byte() - node.start_byte();
        return;
    }
    if node.is_missing() {
        *nodes += 1;
    }
    if !node.has_error() {
        return;
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        count_errors(child, nodes, bytes);
    }
}

/// What to do with a document whose language cannot be told or has no grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownLanguage {
    /// Keep it unchecked.
    #[default]
    Keep,
    /// Reject it (`syntax_unknown_language`).
    Reject,
}

/// The `code_syntax` filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeSyntax {
    /// The language of every document; otherwise read from `language_field`/`path_field`.
    pub language: Option<CodeLanguage>,
    /// Record field naming the language.
    pub language_field: String,
    /// Record field holding a file path whose extension names the language.
    pub path_field: String,
    /// Most `ERROR`/`MISSING` nodes a kept file may have.
    pub max_error_nodes: usize,
    /// Largest fraction of bytes inside `ERROR` nodes.
    pub max_error_fraction: f64,
    /// Documents of unknown language.
    pub on_unknown_language: UnknownLanguage,
}

impl Default for CodeSyntax {
    fn default() -> Self {
        CodeSyntax {
            language: None,
            language_field: "lang".into(),
            path_field: "path".into(),
            max_error_nodes: 0,
            max_error_fraction: 0.0,
            on_unknown_language: UnknownLanguage::Keep,
        }
    }
}

impl CodeSyntax {
    fn language_of(&self, doc: &Document) -> Option<CodeLanguage> {
        let field = |name: &str| doc.fields.get(name).and_then(|v| v.as_str());
        self.language
            .or_else(|| field(&self.language_field).and_then(CodeLanguage::from_name))
            .or_else(|| field(&self.path_field).and_then(CodeLanguage::from_path))
    }
}

impl Filter for CodeSyntax {
    fn name(&self) -> &str {
        "code_syntax"
    }

    fn check(&self, doc: &mut Document) -> Verdict {
        let report = self
            .language_of(doc)
            .and_then(|lang| Some((lang, check_syntax(lang, &doc.text)?)));
        let Some((lang, report)) = report else {
            return match self.on_unknown_language {
                UnknownLanguage::Keep => Verdict::Keep,
                UnknownLanguage::Reject => Verdict::Reject {
                    reason: "syntax_unknown_language".into(),
                    score: None,
                },
            };
        };
        doc.metadata
            .insert("code_language".into(), lang.as_str().into());
        doc.metadata
            .insert("syntax_errors".into(), report.error_nodes.into());
        if report.error_nodes > self.max_error_nodes {
            return Verdict::reject("syntax_errors", report.error_nodes as f64);
        }
        if report.error_fraction > self.max_error_fraction {
            return Verdict::reject("syntax_error_fraction", report.error_fraction);
        }
        Verdict::Keep
    }
}
