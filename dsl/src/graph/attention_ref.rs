//! The f64 reference of [`Op::SelfAttention`](super::ir::Op::SelfAttention) and its
//! gradient: plain loops over batch, head and the causal triangle, the definition every
//! executor's result is checked against.

/// Where one head's rows live in `qkv: [B, T, 3·C]`.
struct Heads {
    t: usize,
    c: usize,
    hd: usize,
}

impl Heads {
    fn new(shape: &[usize], heads: usize) -> Self {
        let (t, c) = (shape[1], shape[2] / 3);
        Self {
            t,
            c,
            hd: c / heads.max(1),
        }
    }

    /// Offset of part `p` (0 queries, 1 keys, 2 values) of head `h` at position `i` of
    /// batch row `b`.
    fn at(&self, b: usize, i: usize, p: usize, h: usize) -> usize {
        (b * self.t + i) * 3 * self.c + p * self.c + h * self.hd
    }

    /// Causal softmax probabilities of one head: row `i` holds `i + 1` entries.
    fn probs(&self, qkv: &[f64], b: usize, h: usize, scale: f64) -> Vec<Vec<f64>> {
        (0..self.t)
            .map(|i| {
                let q = &qkv[self.at(b, i, 0, h)..][..self.hd];
                let s: Vec<f64> = (0..=i)
                    .map(|j| {
                        let k = &qkv[self.at(b, j, 1, h)..][..self.hd];
                        scale * q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>()
                    })
                    .collect();
                let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
                let z: f64 = e.iter().sum();
                e.iter().map(|v| v / z).collect()
            })
            .collect()
    }
}

/// `[B, T, C]` attention output of `qkv` shaped `shape` (`[B, T, 3·C]`).
pub(super) fn forward(qkv: &[f64], shape: &[usize], heads: usize, scale: f64) -> Vec<f64> {
    let a = Heads::new(shape, heads);
    let mut y = vec![0.0; shape[0] * a.t * a.c];
    for b in 0..shape[0] {
        for h in 0..heads {
            for (i, p) in a.probs(qkv, b, h, scale).iter().enumerate() {
                let out = &mut y[(b * a.t + i) * a.c + h * a.hd..][..a.hd];
                for (j, &pj) in p.iter().enumerate() {
                    let v = &qkv[a.at(b, j, 2, h)..][..a.hd];
                    out.iter_mut().zip(v).for_each(|(o, v)| *o += pj * v);
                }
            }
        }
    }
    y
}

/// The gradient of `qkv` for the output gradient `dy` (`[B, T, C]`).
pub(super) fn backward(
    qkv: &[f64],
    dy: &[f64],
    shape: &[usize],
    heads: usize,
    scale: f64,
) -> Vec<f64> {
    let a = Heads::new(shape, heads);
    let mut d = vec![0.0; qkv.len()];
    for b in 0..shape[0] {
        for h in 0..heads {
            let p = a.probs(qkv, b, h, scale);
            for (i, p) in p.iter().enumerate() {
                let g = &dy[(b * a.t + i) * a.c + h * a.hd..][..a.hd];
                // dP_ij = dy_i·v_j; dS_ij = P_ij (dP_ij − Σ_j P_ij dP_ij).
                let dp: Vec<f64> = (0..=i)
                    .map(|j| {
                        let v = &qkv[a.at(b, j, 2, h)..][..a.hd];
                        g.iter().zip(v).map(|(x, y)| x * y).sum()
                    })
                    .collect();
                let mean: f64 = p.iter().zip(&dp).map(|(x, y)| x * y).sum();
                for j in 0..=i {
                    let ds = scale * p[j] * (dp[j] - mean);
                    for e in 0..a.hd {
                        let (qi, kj) = (a.at(b, i, 0, h) + e, a.at(b, j, 1, h) + e);
                        d[qi] += ds * qkv[kj];
                        d[kj] += ds * qkv[qi];
                        d[a.at(b, j, 2, h) + e] += p[j] * g[e];
                    }
                }
            }
        }
    }
    d
}
