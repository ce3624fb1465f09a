//! The finite-difference checker the per-op gradient tests share.

use std::collections::HashMap;

use vibee_dsl::graph::autodiff::gradients;
use vibee_dsl::graph::reference::evaluate;
use vibee_dsl::graph::{DType, Graph, InputRole, NodeId};

/// A small deterministic generator (xorshift), so every test sees the same numbers.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }
}

/// A function under test: builds its output from parameters and data inputs.
pub type Forward<'a> = &'a dyn Fn(&mut Graph, &[NodeId], &[NodeId]) -> NodeId;

/// One differentiable input of a check: its shape and values.
pub struct Param {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// Builds `forward(g, params, data)` and checks the autodiff gradient of
/// `Σ forward · r` (`r` random) against central differences of the reference evaluator,
/// for every element of every parameter. Data inputs (`U32` ids) are fed as given.
pub fn check_grad(
    params: &[Param],
    data: &[(&str, Vec<usize>, Vec<f64>)],
    forward: impl Fn(&mut Graph, &[NodeId], &[NodeId]) -> NodeId,
) -> Result<(), String> {
    check_pair(params, data, &forward, &forward)
}

/// Like [`check_grad`], but autodiff differentiates `for_grad` while the finite
/// differences are taken of `for_fd` (the same function, except in the test that proves a
/// wrong derivative is caught).
pub fn check_pair(
    params: &[Param],
    data: &[(&str, Vec<usize>, Vec<f64>)],
    for_grad: Forward<'_>,
    for_fd: Forward<'_>,
) -> Result<(), String> {
    let mut g = Graph::new();
    let mut feeds = HashMap::new();
    let ps: Vec<NodeId> = params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            feeds.insert(format!("p{i}"), p.values.clone());
            g.input(&format!("p{i}"), &p.shape, DType::F32, InputRole::Param)
                .unwrap()
        })
        .collect();
    let ds: Vec<NodeId> = data
        .iter()
        .map(|(name, shape, v)| {
            feeds.insert(name.to_string(), v.clone());
            g.input(name, shape, DType::U32, InputRole::Data).unwrap()
        })
        .collect();
    let out = for_grad(&mut g, &ps, &ds);
    let oshape = g.shape(out).to_vec();
    let r = g.input("r", &oshape, DType::F32, InputRole::Data).unwrap();
    let mut rng = Rng::new(99);
    feeds.insert("r".into(), rng.vec(oshape.iter().product(), -1.0, 1.0));
    let axes: Vec<usize> = (0..oshape.len()).collect();
    let weighted = g.mul(out, r).unwrap();
    let loss = g.sum(weighted, &axes, false).unwrap();
    let out_fd = for_fd(&mut g, &ps, &ds);
    let weighted_fd = g.mul(out_fd, r).unwrap();
    let loss_fd = g.sum(weighted_fd, &axes, false).unwrap();
    let grads = gradients(&mut g, loss, &ps).map_err(|e| e.to_string())?;
    let vals = evaluate(&g, &feeds, 0).map_err(|e| e.to_string())?;
    compare(&g, &feeds, loss_fd, &grads, &vals)
}

fn compare(
    g: &Graph,
    feeds: &HashMap<String, Vec<f64>>,
    loss: NodeId,
    grads: &[NodeId],
    vals: &[Vec<f64>],
) -> Result<(), String> {
    let h = 1e-6;
    for (pi, gnode) in grads.iter().enumerate() {
        let name = format!("p{pi}");
        let analytic = &vals[gnode.index()];
        for (e, &a) in analytic.iter().enumerate() {
            let at = |delta: f64| {
                let mut f = feeds.clone();
                f.get_mut(&name).unwrap()[e] += delta;
                evaluate(g, &f, 0).unwrap()[loss.index()][0]
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            if (a - numeric).abs() > 1e-5 * (1.0 + numeric.abs()) {
                return Err(format!(
                    "{name}[{e}]: autodiff {a}, finite differences {numeric}"
                ));
            }
        }
    }
    Ok(())
}

/// A parameter of `shape` with values uniform in `[lo, hi)`.
pub fn param(rng: &mut Rng, shape: &[usize], lo: f64, hi: f64) -> Param {
    Param {
        shape: shape.to_vec(),
        values: rng.vec(shape.iter().product(), lo, hi),
    }
}
