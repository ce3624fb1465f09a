//! vibee's port of Python's `random` against draws recorded from CPython.

use std::path::Path;

use serde_json::Value;
use vibee_eval::metrics;
use vibee_eval::py_random::PyRandom;

fn golden() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/py_random.json");
    serde_json::from_str(&std::fs::read_to_string(p).expect("golden")).expect("json")
}

fn ints(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("list")
        .iter()
        .map(|x| x.as_u64().expect("int"))
        .collect()
}

#[test]
fn mersenne_twister_matches_cpython() {
    let g = golden();
    for (seed, draws) in g["seeds"].as_object().expect("seeds") {
        let seed: u64 = seed.parse().expect("seed");
        let mut rng = PyRandom::new(seed);
        let bits: Vec<u64> = (0..5).map(|_| u64::from(rng.getrandbits(32))).collect();
        assert_eq!(
            bits,
            ints(&draws["getrandbits32"]),
            "seed {seed} getrandbits"
        );
        let floats: Vec<f64> = (0..5).map(|_| rng.random()).collect();
        let want: Vec<f64> = draws["random"]
            .as_array()
            .expect("list")
            .iter()
            .map(|x| x.as_f64().expect("f"))
            .collect();
        assert_eq!(floats, want, "seed {seed} random()");
        let s: Vec<u64> = PyRandom::new(seed)
            .sample_indices(10, 3)
            .into_iter()
            .map(|x| x as u64)
            .collect();
        assert_eq!(
            s,
            ints(&draws["sample_10_3"]),
            "seed {seed} sample(range(10), 3)"
        );
        let s: Vec<u64> = PyRandom::new(seed)
            .sample_indices(100, 7)
            .into_iter()
            .map(|x| x as u64)
            .collect();
        assert_eq!(
            s,
            ints(&draws["sample_100_7"]),
            "seed {seed} sample(range(100), 7)"
        );
        let c: Vec<u64> = PyRandom::new(seed)
            .choices_indices(5, 8)
            .into_iter()
            .map(|x| x as u64)
            .collect();
        assert_eq!(c, ints(&draws["choices_5_8"]), "seed {seed} choices");
    }
}

#[test]
fn bootstrap_stderr_matches_the_harness() {
    let g = &golden()["bootstrap_median"];
    let xs: Vec<f64> = g["xs"]
        .as_array()
        .expect("xs")
        .iter()
        .map(|x| x.as_f64().expect("f"))
        .collect();
    let iters = g["iters"].as_u64().expect("iters") as usize;
    let ours = metrics::bootstrap_stderr(metrics::median, &xs, iters);
    assert_eq!(ours, g["stderr"].as_f64().expect("stderr"));
}
