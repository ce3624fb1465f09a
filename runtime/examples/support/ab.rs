//! What the A/B examples (`gpt_profile`, `fused_reductions`) share: their command line (the
//! anchor's shape flags and one more number), the GPT and the fixed batch they time, and the
//! summary of two variants' step times.

use vibee_runtime::nn::GptConfig;

/// Errors of an example's `main`.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// `layers dim heads block batch threads [last]` from the command line: the anchor's small
/// shape on 1 thread by default, `last` defaulting to `last_default`.
pub fn shape_args(last_name: &str, last_default: usize) -> Result<[usize; 7]> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse::<usize>()
                .map_err(|e| format!("argument {a:?}: {e}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    match args.as_slice() {
        [] => Ok([4, 128, 4, 128, 16, 1, last_default]),
        &[a, b, c, d, e, f] => Ok([a, b, c, d, e, f, last_default]),
        &[a, b, c, d, e, f, g] => Ok([a, b, c, d, e, f, g]),
        _ => Err(format!(
            "expected six or seven numbers: layers dim heads block batch threads [{last_name}]"
        )
        .into()),
    }
}

/// The anchor's GPT (vocabulary 256, learned positions) at this shape.
pub fn gpt_config(layers: usize, dim: usize, heads: usize, block: usize) -> GptConfig {
    GptConfig {
        vocab_size: 256,
        n_layer: layers,
        n_head: heads,
        d_model: dim,
        block_size: block,
        rope_theta: None,
    }
}

/// A fixed batch of `rows × seq` tokens and targets.
pub fn batch(rows: usize, seq: usize) -> (Vec<u32>, Vec<u32>) {
    let tokens = (0..rows * seq).map(|i| (i * 7 % 256) as u32).collect();
    let targets = (0..rows * seq).map(|i| (i * 13 % 256) as u32).collect();
    (tokens, targets)
}

/// The median and fastest step (seconds) of two variants named `names`, and their ratios.
pub fn summary(names: [&str; 2], times: [Vec<f64>; 2]) -> String {
    let [a, b] = times.map(|mut v| {
        v.sort_by(f64::total_cmp);
        (
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
            v.first().copied().unwrap_or(f64::NAN),
        )
    });
    let [x, y] = names;
    format!(
        "median step: {x} {:.1} ms, {y} {:.1} ms, {x}/{y} {:.3}; fastest: {:.1} vs {:.1} ms, {:.3}",
        a.0 * 1e3,
        b.0 * 1e3,
        a.0 / b.0,
        a.1 * 1e3,
        b.1 * 1e3,
        a.1 / b.1
    )
}
