//! MATH answer normalization against the harness's own functions, recorded on
//! edge cases by `scripts/eval_goldens.py` (`math_normalization.json`).

use std::path::Path;

use serde_json::Value;
use vibee_eval::score::{hendrycks_math, minerva};

fn golden() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/math_normalization.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("golden")).expect("json")
}

#[test]
fn hendrycks_strip_string_including_where_python_raises() {
    let g = golden();
    for (input, want) in g["strip_string"].as_object().expect("map") {
        let ours = hendrycks_math::strip_string(input);
        match want {
            Value::String(s) => {
                assert_eq!(ours.as_deref(), Ok(s.as_str()), "strip_string({input:?})")
            }
            _ => assert!(
                ours.is_err(),
                "strip_string({input:?}) raises in the harness ({want}), vibee gave {ours:?}"
            ),
        }
    }
}

#[test]
fn hendrycks_is_equiv() {
    for case in golden()["is_equiv"].as_array().expect("list") {
        let (a, b) = (case[0].as_str().expect("a"), case[1].as_str().expect("b"));
        let want = case[2].as_bool().expect("bool");
        assert_eq!(
            hendrycks_math::is_equiv(Some(a), Some(b)),
            want,
            "is_equiv({a:?}, {b:?})"
        );
    }
}

#[test]
fn last_boxed_only_string() {
    for (input, want) in golden()["last_boxed_only_string"].as_object().expect("map") {
        assert_eq!(
            hendrycks_math::last_boxed_only_string(input).as_deref(),
            want.as_str(),
            "{input:?}"
        );
    }
}

#[test]
fn minerva_normalize_final_answer() {
    for (input, want) in golden()["minerva_normalize_final_answer"]
        .as_object()
        .expect("map")
    {
        assert_eq!(
            minerva::normalize_final_answer(input),
            want.as_str().expect("str"),
            "normalize({input:?})"
        );
    }
}

#[test]
fn minerva_get_unnormalized_answer() {
    for (input, want) in golden()["minerva_get_unnormalized_answer"]
        .as_object()
        .expect("map")
    {
        assert_eq!(
            minerva::get_unnormalized_answer(input),
            want.as_str().expect("str"),
            "{input:?}"
        );
    }
}
