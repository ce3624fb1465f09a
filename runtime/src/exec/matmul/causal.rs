//! Causal attention's products on their triangles. Scores feeding a causal softmax (and
//! the gradient of its probabilities, read by that softmax's gradient) are read only on
//! and below the diagonal; the probabilities and their gradient are zero above it. Such
//! products run as row blocks with a shortened `n` or `k`, about half the work. Found once
//! per program ([`plan`]); entries above the diagonal of a [`Causal::LowerOut`] product
//! are left as they were, so nothing may read them — [`plan`] checks that nothing does.

use vibee_dsl::graph::{Graph, Op};

/// Which part of a batched `[.., T, T]`-shaped product is needed or nonzero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::exec) enum Causal {
    /// An ordinary product.
    Full,
    /// Every reader reads only each output row's prefix up to the diagonal.
    LowerOut,
    /// The left operand, as stored (`[.., T, T]`), is zero above its diagonal.
    LowerA,
}

/// Output rows per block: the blocks' shortened products are narrower by a block's width
/// each, so smaller blocks skip more, at more `gemm` calls.
const BLOCK: usize = 16;

/// Per node of `g`, how its product may be cut ([`Causal::Full`] for every other node).
pub(in crate::exec) fn plan(g: &Graph) -> Vec<Causal> {
    let mut readers: Vec<Vec<(usize, usize)>> = vec![Vec::new(); g.nodes.len()];
    for (c, node) in g.nodes.iter().enumerate() {
        for (slot, input) in node.inputs.iter().enumerate() {
            readers[input.index()].push((c, slot));
        }
    }
    let is_output = |i: usize| g.outputs.iter().any(|o| o.index() == i);
    (0..g.nodes.len())
        .map(|i| {
            let node = &g.nodes[i];
            if !matches!(node.op, Op::MatMul { .. }) {
                return Causal::Full;
            }
            let prefix_readers = !readers[i].is_empty()
                && readers[i].iter().all(|&(c, slot)| reads_prefix(g, c, slot));
            if square(&node.shape) && prefix_readers && !is_output(i) {
                Causal::LowerOut
            } else if lower_triangular(g, node.inputs[0].index()) {
                Causal::LowerA
            } else {
                Causal::Full
            }
        })
        .collect()
}

fn square(shape: &[usize]) -> bool {
    let r = shape.len();
    r >= 2 && shape[r - 1] == shape[r - 2]
}

/// Whether node `c` reads its operand `slot` only on and below each row's diagonal: a
/// causal softmax's scores, or the `dy` of a causal softmax's gradient.
fn reads_prefix(g: &Graph, c: usize, slot: usize) -> bool {
    match g.nodes[c].op {
        Op::CausalSoftmax { .. } => slot == 0,
        Op::SoftmaxGrad { .. } => slot == 1 && causal_softmax_grad(g, c),
        _ => false,
    }
}

/// Whether node `c` is the gradient of a causal softmax (its `y` is one).
fn causal_softmax_grad(g: &Graph, c: usize) -> bool {
    matches!(g.nodes[c].op, Op::SoftmaxGrad { .. })
        && matches!(g.node(g.nodes[c].inputs[0]).op, Op::CausalSoftmax { .. })
}

/// Whether node `i` is zero above the diagonal of its trailing `[T, T]` block.
fn lower_triangular(g: &Graph, i: usize) -> bool {
    square(&g.nodes[i].shape)
        && (matches!(g.nodes[i].op, Op::CausalSoftmax { .. }) || causal_softmax_grad(g, i))
}

/// Strides of a matrix operand as the product reads it (`op(x)[i, j]` at `i·rs + j·cs`).
#[derive(Debug, Clone, Copy)]
pub(in crate::exec) struct View {
    pub rs: usize,
    pub cs: usize,
}

impl View {
    fn at(self, i: usize, j: usize) -> usize {
        i * self.rs + j * self.cs
    }
}

/// One `[t, t]` product of a batch: `dst = op(a)·op(b)` with `op(a)` `[t, k]`, `op(b)`
/// `[k, n]` — `k == t` for [`Causal::LowerA`], `n == t` for [`Causal::LowerOut`].
#[allow(clippy::too_many_arguments)] // (reason: the BLAS shape — dst, operands, m, n, k, flags, mode)
pub(super) fn triangular(
    dst: &mut [f32],
    a: &[f32],
    b: &[f32],
    (t, n, k): (usize, usize, usize),
    ta: bool,
    tb: bool,
    mode: Causal,
) {
    let va = if ta {
        View { rs: 1, cs: t }
    } else {
        View { rs: k, cs: 1 }
    };
    let vb = if tb {
        View { rs: 1, cs: k }
    } else {
        View { rs: n, cs: 1 }
    };
    for r0 in (0..t).step_by(BLOCK) {
        let r1 = (r0 + BLOCK).min(t);
        // Output rows r0..r1: its columns, and the inner indices with nonzero terms.
        let (cols, inner) = match mode {
            Causal::LowerOut => (0..r1, 0..k),
            Causal::LowerA if ta => (0..n, r0..k),
            _ => (0..n, 0..r1),
        };
        let block = Block {
            rows: r0..r1,
            cols,
            inner,
        };
        block.run(dst, n, a, va, b, vb);
    }
}

/// A sub-product: `dst[rows, cols] = Σ_{p ∈ inner} op(a)[rows, p]·op(b)[p, cols]`, on
/// the calling thread.
pub(in crate::exec) struct Block {
    pub rows: std::ops::Range<usize>,
    pub cols: std::ops::Range<usize>,
    pub inner: std::ops::Range<usize>,
}

impl Block {
    /// Runs the sub-product; `dst`'s rows are `dst_rs` apart. Panics if a view reaches
    /// past its slice.
    pub(in crate::exec) fn run(
        &self,
        dst: &mut [f32],
        dst_rs: usize,
        a: &[f32],
        va: View,
        b: &[f32],
        vb: View,
    ) {
        let (m, n, k) = (self.rows.len(), self.cols.len(), self.inner.len());
        if m == 0 || n == 0 {
            return;
        }
        let d0 = self.rows.start * dst_rs + self.cols.start;
        if k == 0 {
            for r in 0..m {
                dst[d0 + r * dst_rs..][..n].fill(0.0);
            }
            return;
        }
        let a0 = va.at(self.rows.start, self.inner.start);
        let b0 = vb.at(self.inner.start, self.cols.start);
        // The last element each operand's view touches must lie inside its slice.
        assert!(
            d0 + (m - 1) * dst_rs + n <= dst.len(),
            "causal product: dst"
        );
        assert!(a0 + va.at(m - 1, k - 1) < a.len(), "causal product: a");
        assert!(b0 + vb.at(k - 1, n - 1) < b.len(), "causal product: b");
        // SAFETY: the asserts keep every access of the m×k, k×n and m×n views inside their
        // slices; `dst` is exclusively borrowed and does not alias `a` or `b`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr().add(d0),
                1,
                dst_rs as isize,
                false,
                a.as_ptr().add(a0),
                va.cs as isize,
                va.rs as isize,
                b.as_ptr().add(b0),
                vb.cs as isize,
                vb.rs as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap in a test is a failed test

    use vibee_dsl::graph::autodiff::gradients;
    use vibee_dsl::graph::{DType, Graph, InputRole};

    use super::{Causal, plan};

    fn count(p: &[Causal], mode: Causal) -> usize {
        p.iter().filter(|&&c| c == mode).count()
    }

    #[test]
    fn attention_products_are_cut_and_nothing_else() {
        let mut g = Graph::new();
        let s: &[usize] = &[2, 4, 9, 4];
        let [q, k, v] =
            ["q", "k", "v"].map(|n| g.input(n, s, DType::F32, InputRole::Param).unwrap());
        let o = g.causal_attention(q, k, v).unwrap();
        let loss = g.sum(o, &[0, 1, 2, 3], false).unwrap();
        let grads = gradients(&mut g, loss, &[q, k, v]).unwrap();
        g.outputs = [loss].into_iter().chain(grads).collect();
        let p = plan(&g);
        // Scores and the probabilities' gradient; the four products reading the
        // probabilities or the scores' gradient.
        assert_eq!(
            (count(&p, Causal::LowerOut), count(&p, Causal::LowerA)),
            (2, 4)
        );

        // Scores that are an output are computed whole.
        let mut g = Graph::new();
        let [q, k] = ["q", "k"].map(|n| g.input(n, s, DType::F32, InputRole::Param).unwrap());
        let scores = g.matmul(q, k, false, true).unwrap();
        let probs = g.causal_softmax(scores, 0.5).unwrap();
        g.outputs = vec![probs, scores];
        assert!(plan(&g).iter().all(|&c| c == Causal::Full));
    }
}
