//! Shampoo's per-tensor preconditioner, as `pytorch_optimizer`'s `PreConditioner`: the tensor
//! is reshaped (small dimensions merged), cut into blocks of at most `block_size` along each
//! dimension, and every block keeps one statistic `G₍ₖ₎G₍ₖ₎ᵀ` per dimension `k` whose inverse
//! `2·rank`-th root preconditions it.

use super::ShampooLayout;
use super::linalg::Mat;

/// The weight of a new Gram matrix in the statistics' moving average: `1 − β₂`, or 1 when
/// `β₂ = 1` (a plain sum, AdaGrad-style), as the reference.
pub(crate) fn statistics_weight(beta2: f64) -> f64 {
    if beta2 == 1.0 { 1.0 } else { 1.0 - beta2 }
}

/// Merges consecutive small dimensions while their product stays within `max_dim`
/// (`merge_small_dims`): `[1, 2, 512, 1, 2048, 1, 3, 4]` → `[1024, 2048, 12]`; a shape that
/// merges into one dimension becomes `[1]` (no preconditioning).
pub(crate) fn merge_small_dims(shape: &[usize], max_dim: usize) -> Vec<usize> {
    let mut merged = Vec::new();
    let mut product = 1;
    for &dim in shape {
        product *= dim;
        if product > max_dim {
            merged.push(product / dim);
            product = dim;
        }
    }
    merged.push(product);
    if merged.len() > 1 { merged } else { vec![1] }
}

/// Row-major strides of `shape`.
fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The block grid of a tensor: per dimension, the sizes of its pieces.
#[derive(Debug, Clone, PartialEq)]
struct Blocks {
    shape: Vec<usize>,
    sizes: Vec<Vec<usize>>,
}

impl Blocks {
    fn new(shape: &[usize], block_size: usize) -> Self {
        let sizes = shape
            .iter()
            .map(|&d| {
                if block_size == 0 || block_size >= d {
                    return vec![d];
                }
                let full = (d - 1) / block_size;
                let mut v = vec![block_size; full];
                v.push(d - full * block_size);
                v
            })
            .collect();
        Self {
            shape: shape.to_vec(),
            sizes,
        }
    }

    /// Every block as (offset per dimension, shape), in row-major block order.
    fn layout(&self) -> Vec<(Vec<usize>, Vec<usize>)> {
        let mut out = vec![(Vec::new(), Vec::new())];
        for sizes in &self.sizes {
            let mut next = Vec::new();
            for (offs, shape) in &out {
                let mut start = 0;
                for &s in sizes {
                    let (mut o, mut sh) = (offs.clone(), shape.clone());
                    o.push(start);
                    sh.push(s);
                    next.push((o, sh));
                    start += s;
                }
            }
            out = next;
        }
        out
    }

    /// Calls `f(block_index, flat_index_in_tensor)` for every element of every block, in
    /// the block's row-major order.
    fn visit(&self, mut f: impl FnMut(usize, usize)) {
        let st = strides(&self.shape);
        for (b, (offs, shape)) in self.layout().into_iter().enumerate() {
            let n: usize = shape.iter().product();
            let bs = strides(&shape);
            for flat in 0..n {
                let src: usize = (0..shape.len())
                    .map(|d| (offs[d] + (flat / bs[d]) % shape[d]) * st[d])
                    .sum();
                f(b, src);
            }
        }
    }

    fn shapes(&self) -> Vec<Vec<usize>> {
        self.layout().into_iter().map(|(_, s)| s).collect()
    }
}

/// `M₍ₖ₎·M₍ₖ₎ᵀ` for the mode-`k` unfolding of a block.
fn mode_gram(x: &[f64], shape: &[usize], k: usize) -> Mat {
    let d = shape[k];
    let inner: usize = shape[k + 1..].iter().product();
    let outer: usize = shape[..k].iter().product();
    let mut g = Mat::identity(d, 0.0);
    for i in 0..d {
        for j in i..d {
            let mut s = 0.0;
            for o in 0..outer {
                let base = o * d * inner;
                for r in 0..inner {
                    s += x[base + i * inner + r] * x[base + j * inner + r];
                }
            }
            g.data[i * d + j] = s;
            g.data[j * d + i] = s;
        }
    }
    g
}

/// `Y = Xᵀ·P` with `X` viewed as `(d₀ × rest)`: contracts the leading dimension with `P` and
/// moves it last (the reference's cyclic `tensordot`).
fn contract_leading(x: &[f64], shape: &mut [usize], p: &Mat) -> Vec<f64> {
    let d = shape[0];
    let rest = x.len() / d.max(1);
    let mut y = vec![0.0; x.len()];
    for r in 0..rest {
        for k in 0..d {
            y[r * d + k] = (0..d).map(|a| x[a * rest + r] * p.data[a * d + k]).sum();
        }
    }
    shape.rotate_left(1);
    y
}

/// One tensor's statistics and inverse roots.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Preconditioner {
    blocks: Option<Blocks>,
    exponent: f64,
    beta2: f64,
    pub statistics: Vec<Mat>,
    pub roots: Vec<Mat>,
}

/// Which tensors get preconditioned and how; see `ShampooConfig`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PrecondOptions {
    pub block_size: usize,
    pub shape_interpretation: bool,
    pub skip_rank_lt: usize,
    pub max_dim: usize,
    pub exponent_override: u32,
    pub matrix_eps: f64,
    pub beta2: f64,
}

impl Preconditioner {
    pub fn new(shape: &[usize], o: &PrecondOptions) -> Self {
        let transformed = if o.shape_interpretation {
            merge_small_dims(shape, o.block_size)
        } else {
            shape.to_vec()
        };
        let skip = shape.len() < o.skip_rank_lt || shape.iter().any(|&d| d > o.max_dim);
        let rank = transformed.len();
        let exponent = if o.exponent_override > 0 {
            o.exponent_override
        } else {
            2 * rank as u32
        };
        let blocks =
            (transformed.len() > 1 && !skip).then(|| Blocks::new(&transformed, o.block_size));
        let dims: Vec<usize> = blocks.iter().flat_map(|b| b.shapes()).flatten().collect();
        Self {
            statistics: dims
                .iter()
                .map(|&d| Mat::identity(d, o.matrix_eps))
                .collect(),
            roots: dims.iter().map(|&d| Mat::identity(d, 1.0)).collect(),
            blocks,
            exponent: f64::from(exponent),
            beta2: o.beta2,
        }
    }

    /// The block layout, or `None` for a tensor that is not preconditioned.
    pub fn layout(&self) -> Option<ShampooLayout> {
        let blocks = self.blocks.as_ref()?;
        let mut order = Vec::with_capacity(blocks.shape.iter().product());
        blocks.visit(|_, src| order.push(src));
        Some(ShampooLayout {
            blocks: blocks.shapes(),
            order,
            exponent: self.exponent,
        })
    }

    /// Splits a flat tensor into its blocks.
    fn partition(&self, blocks: &Blocks, x: &[f64]) -> Vec<Vec<f64>> {
        let mut parts: Vec<Vec<f64>> = blocks
            .shapes()
            .iter()
            .map(|s| Vec::with_capacity(s.iter().product()))
            .collect();
        blocks.visit(|b, src| parts[b].push(x[src]));
        parts
    }

    /// `S ← β₂·S + (1 − β₂)·G₍ₖ₎G₍ₖ₎ᵀ` for every block and dimension.
    pub fn add_statistics(&mut self, g: &[f64]) {
        let Some(blocks) = &self.blocks else { return };
        let w2 = statistics_weight(self.beta2);
        let shapes = blocks.shapes();
        let rank = blocks.shape.len();
        for (b, part) in self.partition(blocks, g).iter().enumerate() {
            for k in 0..rank {
                let gram = mode_gram(part, &shapes[b], k);
                let stat = &mut self.statistics[b * rank + k];
                for (s, v) in stat.data.iter_mut().zip(&gram.data) {
                    *s = self.beta2 * *s + w2 * v;
                }
            }
        }
    }

    /// Recomputes every inverse root from the statistics.
    pub fn compute_roots(&mut self) {
        self.roots = self
            .statistics
            .iter()
            .map(|s| s.inverse_root(self.exponent))
            .collect();
    }

    /// The preconditioned gradient, or `None` for tensors that are not preconditioned.
    pub fn precondition(&self, g: &[f64]) -> Option<Vec<f64>> {
        let blocks = self.blocks.as_ref()?;
        let rank = blocks.shape.len();
        let shapes = blocks.shapes();
        let done: Vec<Vec<f64>> = self
            .partition(blocks, g)
            .into_iter()
            .enumerate()
            .map(|(b, mut x)| {
                let mut shape = shapes[b].clone();
                for k in 0..rank {
                    x = contract_leading(&x, &mut shape, &self.roots[b * rank + k]);
                }
                x
            })
            .collect();
        let mut out = vec![0.0; g.len()];
        let mut cursor = vec![0; done.len()];
        blocks.visit(|b, dst| {
            out[dst] = done[b][cursor[b]];
            cursor[b] += 1;
        });
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_small_dims_like_the_reference() {
        assert_eq!(
            merge_small_dims(&[1, 2, 512, 1, 2048, 1, 3, 4], 1024),
            [1024, 2048, 12]
        );
        assert_eq!(
            merge_small_dims(&[1, 2, 768, 1, 2048], 1024),
            [2, 768, 2048]
        );
        assert_eq!(merge_small_dims(&[3, 4], 512), [1]);
        assert_eq!(merge_small_dims(&[6, 5], 4), [1, 6, 5]);
    }

    #[test]
    fn partition_and_merge_round_trip() {
        let blocks = Blocks::new(&[5, 3], 2);
        assert_eq!(blocks.sizes, [vec![2, 2, 1], vec![2, 1]]);
        let p = Preconditioner {
            blocks: Some(blocks.clone()),
            exponent: 4.0,
            beta2: 1.0,
            statistics: Vec::new(),
            roots: Vec::new(),
        };
        let x: Vec<f64> = (0..15).map(f64::from).collect();
        let parts = p.partition(&blocks, &x);
        assert_eq!(parts[0], [0.0, 1.0, 3.0, 4.0]);
        assert_eq!(parts[1], [2.0, 5.0]);
        assert_eq!(parts[5], [14.0]);
    }
}
