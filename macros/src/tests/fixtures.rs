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
