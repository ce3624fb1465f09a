//! Expansion snapshots: each example kernel and model under `tests/expand/` of the workspace,
//! expanded and formatted by prettyplease, compared with `snapshots/expand/`.

use std::path::{Path, PathBuf};

use quote::ToTokens;

use crate::debug::pretty;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `#[vibee::kernel]` function of `file`, expanded.
fn expand_file(file: &Path) -> String {
    let text = std::fs::read_to_string(file).expect("example kernel readable");
    let parsed: syn::File = syn::parse_file(&text).expect("example kernel parses");
    let mut out = String::new();
    for item in parsed.items {
        let expanded = match item {
            syn::Item::Fn(mut f) => take_attr(&mut f.attrs, "kernel")
                .map(|args| crate::expand::kernel(args, f.into_token_stream())),
            syn::Item::Struct(mut s) => take_attr(&mut s.attrs, "model")
                .map(|args| crate::model::model(args, s.into_token_stream())),
            _ => None,
        };
        if let Some(tokens) = expanded {
            out.push_str(&pretty(&tokens));
        }
    }
    out
}

/// Removes `#[vibee::<name>(args)]` from `attrs`, returning its arguments.
fn take_attr(attrs: &mut Vec<syn::Attribute>, name: &str) -> Option<proc_macro2::TokenStream> {
    let pos = attrs.iter().position(|a| {
        let p = a.path();
        p.segments.len() == 2 && p.segments[1].ident == name
    })?;
    Some(match attrs.remove(pos).meta {
        syn::Meta::List(l) => l.tokens,
        _ => Default::default(),
    })
}

#[test]
fn expansions_match_snapshots() {
    let dir = workspace().join("tests/expand");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/expand exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(workspace().join("snapshots/expand"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for file in files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            insta::assert_snapshot!(name, expand_file(&file));
        }
    });
}

/// The IR of every example kernel, printed by the IR's pretty printer; the facade's
/// `tests/expand.rs` checks the same snapshots against the IR the generated modules embed.
#[test]
fn ir_matches_snapshots() {
    use vibee_dsl::kernel::{autodiff, pretty};
    let dir = workspace().join("tests/expand");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(workspace().join("snapshots/ir"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/expand exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    settings.bind(|| {
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable");
            let parsed = syn::parse_file(&text).expect("parses");
            for item in parsed.items {
                let syn::Item::Fn(mut f) = item else { continue };
                let Some(pos) = f.attrs.iter().position(|a| a.path().segments.len() == 2) else {
                    continue;
                };
                let attr = f.attrs.remove(pos);
                let args = match attr.meta {
                    syn::Meta::List(l) => l.tokens,
                    _ => Default::default(),
                };
                let name = f.sig.ident.to_string();
                let cx = crate::ctxt::Ctxt::new();
                let k = crate::parse::kernel(&cx, args, &f);
                if k.attrs.differentiable.is_some() {
                    let lowered = crate::lower::elementwise(&cx, &k).expect("lowers");
                    let function = lowered.function;
                    let backward = autodiff::vjp(&function).expect("differentiable");
                    insta::assert_snapshot!(name.clone(), pretty::print_elementwise(&function));
                    insta::assert_snapshot!(
                        format!("{name}_forward"),
                        pretty::print(&function.to_kernel())
                    );
                    insta::assert_snapshot!(
                        format!("{name}_backward"),
                        pretty::print(&backward.to_kernel())
                    );
                } else {
                    let lowered = crate::lower::kernel(&cx, &k).expect("lowers");
                    insta::assert_snapshot!(name, pretty::print(&lowered.kernel));
                }
                cx.check().expect("example kernels are valid");
            }
        }
    });
}
