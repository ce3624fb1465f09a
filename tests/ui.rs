//! Compile-fail fixtures of `#[vibee::kernel]`: one diagnostic each, grouped by topic
//! under `tests/ui/kernel/`. Regenerate the `.stderr` files with `TRYBUILD=overwrite` and
//! review them like code.

#[test]
fn kernel_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/kernel/*/*.rs");
}
