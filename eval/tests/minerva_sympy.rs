//! Minerva MATH `exact_match` (sympy) and `math_verify` against the harness's
//! per-document verdicts in the minerva_math golden, through vibee's Python
//! helper. Needs a python with `lm-eval[math]`'s packages: `$VIBEE_EVAL_PYTHON`,
//! else the checkout's `.venv` (where scripts/eval_goldens.py runs); without
//! one, the fallback is checked instead.

use std::path::{Path, PathBuf};

use serde_json::Value;
use vibee_eval::score::minerva;
use vibee_eval::score::minerva_equiv::Checker;

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VIBEE_EVAL_PYTHON") {
        return Some(p.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    venv.exists().then_some(venv)
}

#[test]
fn sympy_verdicts_match_the_harness() {
    let Some(py) = python() else {
        eprintln!("skipped: no python with lm-eval[math] (set VIBEE_EVAL_PYTHON)");
        return;
    };
    let mut checker = Checker::start(&py);
    if let Checker::Unavailable(reason) = &checker {
        eprintln!("skipped: {} cannot check ({reason})", py.display());
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/minerva_math.json");
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("golden")).expect("json");
    let mut checked = 0;
    for s in g["samples"]["minerva_math_algebra"]
        .as_array()
        .expect("samples")
    {
        let generation = s["resps"][0][0].as_str().expect("generation");
        let gold = s["doc"]["answer"].as_str().expect("answer");
        let solution = s["doc"]["solution"].as_str().expect("solution");
        let answer = minerva::normalize_final_answer(&minerva::get_unnormalized_answer(generation));
        let v = checker
            .judge(&answer, gold, solution, generation)
            .expect("checker runs");
        let want = |m: &str| s["metrics"][m].as_f64().map(|x| x == 1.0);
        assert_eq!(
            Some(v.exact_match),
            want("exact_match"),
            "doc {}: exact_match of {answer:?} vs {gold:?}",
            s["doc_id"]
        );
        assert_eq!(
            v.math_verify,
            want("math_verify"),
            "doc {}: math_verify",
            s["doc_id"]
        );
        checked += 1;
    }
    assert!(checked >= 5);
    // Pairs where sympy's verdict differs from string equality.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/minerva_equiv.json");
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("golden")).expect("json");
    for p in g["is_equiv"].as_array().expect("pairs") {
        let (a, b) = (p[0].as_str().expect("a"), p[1].as_str().expect("b"));
        let v = checker.judge(a, b, "", "").expect("runs");
        assert_eq!(
            Some(v.exact_match),
            p[2].as_bool(),
            "is_equiv({a:?}, {b:?})"
        );
    }
    for p in g["math_verify"].as_array().expect("pairs") {
        let (generation, solution) = (p[0].as_str().expect("gen"), p[1].as_str().expect("sol"));
        let v = checker.judge("", "x", solution, generation).expect("runs");
        assert_eq!(
            v.math_verify,
            p[2].as_bool(),
            "math_verify({generation:?}, {solution:?})"
        );
    }
}

#[test]
fn missing_python_is_unavailable_with_a_reason() {
    let mut checker = Checker::start(Path::new("/nonexistent/python3"));
    let Checker::Unavailable(reason) = &checker else {
        panic!("a missing interpreter cannot be ready");
    };
    assert!(reason.contains("/nonexistent/python3"), "{reason}");
    assert_eq!(checker.judge("1", "1", "", ""), None);
}
