//! Compile-fail fixtures of `#[vibee::kernel]` and `#[vibee::model]`: one diagnostic each
//! (but `all_at_once`), grouped by topic under `tests/ui/kernel/` and `tests/ui/model/`. Regenerate the `.stderr` files with `TRYBUILD=overwrite` and
//! review them like code.

#[test]
fn kernel_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/kernel/*/*.rs");
}

#[test]
fn model_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/model/*/*.rs");
}
