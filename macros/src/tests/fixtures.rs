//! Every trybuild fixture under `tests/ui/kernel/` makes the macro report exactly one
//! error (rustc itself adds nothing, which `tests/ui.rs` checks with the real compiler).

use std::path::{Path, PathBuf};

use quote::ToTokens;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ui/kernel");
    let mut out = Vec::new();
    for topic in std::fs::read_dir(root).expect("fixtures folder").flatten() {
        for file in std::fs::read_dir(topic.path())
            .expect("topic folder")
            .flatten()
        {
            if file.path().extension().is_some_and(|e| e == "rs") {
                out.push(file.path());
            }
        }
    }
    out.sort();
    out
}

/// The attribute arguments and the item of the fixture's `#[vibee::kernel]`.
fn kernel_item(file: &Path) -> (proc_macro2::TokenStream, proc_macro2::TokenStream) {
    let text = std::fs::read_to_string(file).expect("fixture readable");
    let parsed = syn::parse_file(&text).expect("fixture parses");
    for mut item in parsed.items {
        let attrs = match &mut item {
            syn::Item::Fn(f) => &mut f.attrs,
            syn::Item::Struct(s) => &mut s.attrs,
            _ => continue,
        };
        if let Some(pos) = attrs.iter().position(|a| a.path().segments.len() == 2) {
            let attr = attrs.remove(pos);
            let args = match attr.meta {
                syn::Meta::List(l) => l.tokens,
                _ => Default::default(),
            };
            return (args, item.into_token_stream());
        }
    }
    panic!("{} has no #[vibee::kernel] item", file.display());
}

#[test]
fn each_fixture_has_exactly_one_error() {
    let files = fixtures();
    assert!(files.len() >= 25, "only {} fixtures", files.len());
    let mut wrong = Vec::new();
    for file in files {
        let (args, item) = kernel_item(&file);
        let out = crate::expand::kernel(args, item).to_string();
        if out.matches("compile_error").count() != 1 {
            wrong.push(format!("{}: {out}", file.display()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
#[ignore = "prints every fixture's message, for review"]
fn print_fixture_messages() {
    for file in fixtures() {
        let (args, item) = kernel_item(&file);
        let out = crate::expand::kernel(args, item).to_string();
        let msg = out.split('"').nth(1).unwrap_or_default().to_string();
        eprintln!(
            "{}: {msg}",
            file.strip_prefix(file.parent().and_then(|p| p.parent()).unwrap_or(&file))
                .unwrap_or(&file)
                .display()
        );
    }
}

/// Renders the macro's error for a fixture the way rustc prints it, for the `.stderr`
/// files next to the fixtures (`TRYBUILD=overwrite` regenerates them from rustc itself).
fn render(file: &Path, rel: &str) -> String {
    let text = std::fs::read_to_string(file).expect("fixture readable");
    let (args, item) = kernel_item(file);
    // The first tokens of the expansion are `::core::compile_error! { "message" }`, spanned
    // from the culprit's first token to its last.
    let tokens: Vec<proc_macro2::TokenTree> =
        crate::expand::kernel(args, item).into_iter().collect();
    let group = tokens
        .iter()
        .find_map(|t| match t {
            proc_macro2::TokenTree::Group(g) => Some(g),
            _ => None,
        })
        .expect("a compile_error! invocation");
    let message: String = syn::parse2::<syn::LitStr>(group.stream())
        .expect("message")
        .value();
    let (start, end) = (tokens[0].span().start(), group.span().end());
    let lines: Vec<&str> = text.lines().collect();
    let width = end.line.to_string().len();
    let pad = " ".repeat(width);
    let mut out = format!(
        "error: {message}\n{pad}--> {rel}:{}:{}\n{pad} |\n",
        start.line,
        start.column + 1
    );
    if start.line == end.line {
        out += &format!("{:>width$} | {}\n", start.line, lines[start.line - 1]);
        out += &format!(
            "{pad} | {}{}\n",
            " ".repeat(start.column),
            "^".repeat(end.column - start.column)
        );
    } else {
        out += &format!("{:>width$} | / {}\n", start.line, lines[start.line - 1]);
        for l in start.line + 1..=end.line {
            out += &format!("{:>width$} | | {}\n", l, lines[l - 1]);
        }
        out += &format!("{pad} | |{}^\n", "_".repeat(end.column));
    }
    out
}

#[test]
#[ignore = "writes the expected .stderr files of the UI fixtures"]
fn write_expected_stderr() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in fixtures() {
        let rel = file
            .strip_prefix(&root)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let rel = rel.trim_start_matches("macros/../").to_string();
        let rendered = render(&file, &rel);
        std::fs::write(file.with_extension("stderr"), rendered).expect("write .stderr");
    }
}
