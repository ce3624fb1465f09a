//! tree-sitter syntax validation: valid and broken files in each bundled language, the
//! language read from the config, a `lang` field or a `path` extension.

use serde_json::Value;
use vibee_data::filters::{CodeLanguage, CodeSyntax, Filter, UnknownLanguage, check_syntax};
use vibee_data::{Document, Verdict};

const CASES: [(CodeLanguage, &str, &str); 4] = [
    (
        CodeLanguage::Python,
        "import os\n\ndef walk(p):\n    for d in os.listdir(p):\n        yield d\n",
        "def walk(p)\n    for d in os.listdir(p):\n        yield d\n",
    ),
    (
        CodeLanguage::Rust,
        "fn main() {\n    let v: Vec<u32> = (0..3).collect();\n    println!(\"{v:?}\");\n}\n",
        "fn main() {\n    let v: Vec<u32> = (0..3).collect()\n    println!(\"{v:?}\");\n",
    ),
    (
        CodeLanguage::Javascript,
        "const f = (x) => x * 2;\nconsole.log([1, 2].map(f));\n",
        "const f = (x) => { x * 2;\nconsole.log([1, 2].map(f);\n",
    ),
    (
        CodeLanguage::C,
        "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }\n",
        "int main(void) { printf(\"hi\\n\") return 0; \n",
    ),
];

#[test]
fn valid_files_have_no_errors_and_broken_ones_do() {
    for (lang, good, bad) in CASES {
        let ok = check_syntax(lang, good).expect("parsed");
        assert_eq!(ok.error_nodes, 0, "{lang:?}: {ok:?}");
        assert_eq!(ok.error_fraction, 0.0);
        let broken = check_syntax(lang, bad).expect("parsed");
        assert!(broken.error_nodes > 0, "{lang:?}: {broken:?}");
        assert!((0.0..=1.0).contains(&broken.error_fraction));
    }
}

#[test]
fn error_fraction_measures_the_bytes_in_error_nodes() {
    // A line of garbage in otherwise valid Python: the ERROR node covers only part of it.
    let text = "x = 1\ny = 2\n)))) ((((\nz = 3\n";
    let report = check_syntax(CodeLanguage::Python, text).expect("parsed");
    assert!(report.error_nodes >= 1);
    assert!(
        report.error_fraction > 0.0 && report.error_fraction < 0.6,
        "{report:?}"
    );
}

fn doc(text: &str, fields: &[(&str, &str)]) -> Document {
    let mut d = Document::new("d", text);
    for (k, v) in fields {
        d.fields.insert((*k).into(), Value::from(*v));
    }
    d
}

#[test]
fn the_filter_finds_the_language_and_applies_thresholds() {
    let filter = CodeSyntax::default();
    let (_, good, bad) = CASES[0];
    let mut d = doc(good, &[("lang", "Python")]);
    assert_eq!(filter.check(&mut d), Verdict::Keep);
    assert_eq!(d.metadata["code_language"], "python");
    assert_eq!(d.metadata["syntax_errors"], 0);
    let mut d = doc(bad, &[("path", "src/walk.py")]);
    assert!(
        matches!(filter.check(&mut d), Verdict::Reject { reason, .. } if reason == "syntax_errors")
    );
    // Unknown language: kept unchecked by default, rejected when configured.
    let mut d = doc("whatever", &[("path", "notes.txt")]);
    assert_eq!(filter.check(&mut d), Verdict::Keep);
    let strict = CodeSyntax {
        on_unknown_language: UnknownLanguage::Reject,
        ..CodeSyntax::default()
    };
    assert!(matches!(strict.check(&mut d), Verdict::Reject { .. }));
    // Loose thresholds keep the broken Rust file; a fixed language overrides fields.
    let (_, _, bad_rust) = CASES[1];
    let loose = CodeSyntax {
        language: Some(CodeLanguage::Rust),
        max_error_nodes: 10,
        max_error_fraction: 1.0,
        ..CodeSyntax::default()
    };
    let mut d = doc(bad_rust, &[("lang", "python")]);
    assert_eq!(loose.check(&mut d), Verdict::Keep);
    assert_eq!(d.metadata["code_language"], "rust");
}
