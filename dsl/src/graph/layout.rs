//! Index arithmetic shared by the reference evaluator and executors: row-major strides,
//! broadcast strides, and the counter-based hash behind dropout masks.

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Strides for reading a tensor of shape `from` broadcast to `to` (numpy rules): axes that
/// are broadcast (absent or of length 1) get stride 0.
pub fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let own = strides(from);
    let off = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < off || from[i - off] == 1 {
                0
            } else {
                own[i - off]
            }
        })
        .collect()
}

/// The offset that flat output index `flat` (row-major in `shape`) reads through `strides`.
pub fn offset_of(flat: usize, shape: &[usize], strides: &[usize]) -> usize {
    let mut rem = flat;
    let mut off = 0;
    for i in (0..shape.len()).rev() {
        let d = shape[i].max(1);
        off += (rem % d) * strides[i];
        rem /= d;
    }
    off
}

/// Rotary embedding tables for positions `0..t` and an even row length `d`: the cosine and
/// sine of `pos·θ^(−2i/d)` for `i < d/2`, row-major `[t, d/2]`; sines negated for the
/// inverse rotation.
pub fn rope_tables(t: usize, d: usize, theta: f64, inverse: bool) -> (Vec<f64>, Vec<f64>) {
    let half = d / 2;
    let sign = if inverse { -1.0 } else { 1.0 };
    let angles = (0..t).flat_map(|pos| {
        (0..half).map(move |i| pos as f64 * theta.powf(-2.0 * i as f64 / d as f64))
    });
    angles.map(|a| (a.cos(), sign * a.sin())).unzip()
}

/// SplitMix64's finaliser: a good 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether dropout keeps element `index` for `(seed, step)`: a pure function of its
/// arguments, so forward and backward (and every thread split) agree.
pub fn dropout_keep(seed: u64, step: u64, index: u64, p: f64) -> bool {
    let h = mix(dropout_key(seed, step) ^ index);
    // 53 high-quality bits → a uniform in [0, 1).
    let u = (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    u >= p
}

/// The part of [`dropout_keep`]'s hash shared by every element of one `(seed, step)`:
/// element `index` is kept when `mix(key ^ index) >> 11 ≥ dropout_threshold(p)`.
pub fn dropout_key(seed: u64, step: u64) -> u64 {
    mix(seed ^ mix(step))
}

/// The 53-bit integer form of [`dropout_keep`]'s test `u ≥ p` with `u = k / 2⁵³`:
/// `k ≥ ⌈p·2⁵³⌉` (exact, as `p·2⁵³` is).
pub fn dropout_threshold(p: f64) -> u64 {
    (p * (1u64 << 53) as f64).ceil() as u64
}

/// GELU, tanh approximation.
pub fn gelu(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
}

/// Derivative of [`gelu`].
pub fn gelu_grad(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let u = c * (x + 0.044715 * x * x * x);
    let t = u.tanh();
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x)
}
