//! Fused causal self-attention ([`vibee_dsl::graph::Op::SelfAttention`]) and its gradient,
//! straight from the `qkv: [B, T, 3·C]` projection: each (batch row, head) is one task
//! that computes its `T × hd` results into its columns of the output (the tiled path
//! directly, the `gemm` path through a scratch). Nothing moves the heads. The backward
//! recomputes the softmax's numerators, unless the forward kept them for it ([`kept_len`]:
//! the tiled path, when the program links the two, see `Program::kept_attention_floats`);
//! either way the same bits. [`backward_sums`] also sums `dqkv`'s columns (the `qkv`
//! bias gradient) while each task's rows are in cache.
//!
//! Two paths compute a head, picked once per call ([`Path::for_dims`]): [`tiled`], which
//! packs the head's keys and values once and runs register-tiled AVX2 + FMA kernels with
//! the softmax fused into blocks of scores (hosts with AVX2 and FMA but no AVX-512, heads a multiple of 16
//! wide), and [`gemm_path`], block products through the `gemm` crate (everything else).
//! Each task runs on one thread in a fixed order, so results do not depend on the thread
//! count.

mod gemm_path;
#[cfg(target_arch = "x86_64")]
mod kernels;
#[cfg(target_arch = "x86_64")]
mod softmax;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod tiled;

use rayon::prelude::*;
use vibee_dsl::graph::fused::reduce::partial_rows;

/// Shapes of one attention: batch, positions, width, heads, head width.
#[derive(Debug, Clone, Copy)]
pub(super) struct Dims {
    pub b: usize,
    pub t: usize,
    pub c: usize,
    pub heads: usize,
    pub hd: usize,
}

impl Dims {
    /// From `qkv`'s shape `[B, T, 3·C]` (as shape inference admitted it).
    pub(super) fn new(qkv: &[usize], heads: usize) -> Self {
        let (c, heads) = (qkv[2] / 3, heads.max(1));
        Self {
            b: qkv[0],
            t: qkv[1],
            c,
            heads,
            hd: c / heads,
        }
    }

    /// Offset in `qkv` of part `p` (0 queries, 1 keys, 2 values) of head `h`, row `i` of
    /// batch `b`; rows are `3·C` apart.
    fn qkv(&self, b: usize, h: usize, p: usize, i: usize) -> usize {
        (b * self.t + i) * 3 * self.c + p * self.c + h * self.hd
    }

    /// Offset in a `[B, T, C]` tensor of head `h`, row `i` of batch `b`; rows `C` apart.
    fn y(&self, b: usize, h: usize, i: usize) -> usize {
        (b * self.t + i) * self.c + h * self.hd
    }
}

/// Which kernels compute each head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// Block products through `gemm` ([`gemm_path`]).
    Gemm,
    /// AVX2 + FMA tiles ([`tiled`]); only ever chosen where [`tiled::supported`] holds.
    #[cfg(target_arch = "x86_64")]
    Tiled,
}

impl Path {
    /// The faster path this host and head width allow.
    fn for_dims(d: Dims) -> Self {
        #[cfg(target_arch = "x86_64")]
        if tiled::supported(d.hd) {
            return Path::Tiled;
        }
        let _ = d;
        Path::Gemm
    }

    fn forward_scratch(self, d: Dims) -> usize {
        match self {
            Path::Gemm => gemm_path::forward_scratch(d),
            #[cfg(target_arch = "x86_64")]
            Path::Tiled => tiled::forward_scratch(d),
        }
    }

    fn backward_scratch(self, d: Dims) -> usize {
        match self {
            Path::Gemm => gemm_path::backward_scratch(d),
            #[cfg(target_arch = "x86_64")]
            Path::Tiled => tiled::backward_scratch(d),
        }
    }

    /// Head `h` of batch `b`'s output into its columns of `y`.
    ///
    /// # Safety
    /// `y` must hold `[B, T, C]` and this task's columns be touched by no other task.
    unsafe fn forward_head(
        self,
        qkv: &[f32],
        s: &mut [f32],
        d: Dims,
        (b, h): (usize, usize),
        scale: f32,
        (y, keep): (Shared, Option<&mut [f32]>),
    ) {
        match self {
            Path::Gemm => {
                debug_assert!(keep.is_none(), "only the tiled path keeps numerators");
                let yh = gemm_path::forward_head(qkv, s, d, (b, h), scale);
                // SAFETY: this task's rows of head `h` in batch `b` (the contract).
                unsafe { y.write(d.y(b, h, 0), d.c, yh, d) };
            }
            #[cfg(target_arch = "x86_64")]
            Path::Tiled => {
                let out = tiled::Dst {
                    ptr: y.0.wrapping_add(d.y(b, h, 0)),
                    rs: d.c,
                };
                // SAFETY: `Tiled` is only chosen where the CPU has AVX2 and FMA; the
                // head's `T` rows of `hd` in `y` are this task's (the contract).
                unsafe { tiled::forward_head(qkv, s, d, (b, h), scale, (out, keep)) };
            }
        }
    }

    /// Head `h` of batch `b`'s `dq`, `dk`, `dv` into its columns of `dqkv`.
    ///
    /// # Safety
    /// `dqkv` must hold `[B, T, 3·C]` and this task's columns be touched by no other task.
    unsafe fn backward_head(
        self,
        ins: (&[f32], &[f32]),
        s: &mut [f32],
        d: Dims,
        (b, h): (usize, usize),
        scale: f32,
        (dqkv, kept): (Shared, Option<&[f32]>),
    ) {
        match self {
            Path::Gemm => {
                debug_assert!(kept.is_none(), "only the tiled path keeps numerators");
                let grads = gemm_path::backward_head(ins, s, d, (b, h), scale);
                for (part, g) in grads.into_iter().enumerate() {
                    // SAFETY: this task's rows of part `part` of head `h` in batch `b`
                    // (the contract).
                    unsafe { dqkv.write(d.qkv(b, h, part, 0), 3 * d.c, g, d) };
                }
            }
            #[cfg(target_arch = "x86_64")]
            Path::Tiled => {
                let outs = [0, 1, 2].map(|part| tiled::Dst {
                    ptr: dqkv.0.wrapping_add(d.qkv(b, h, part, 0)),
                    rs: 3 * d.c,
                });
                // SAFETY: `Tiled` is only chosen where the CPU has AVX2 and FMA; the
                // head's `T` rows of `hd` in each part of `dqkv` are this task's (the
                // contract).
                unsafe { tiled::backward_head(ins, s, d, (b, h), scale, (outs, kept)) };
            }
        }
    }
}

/// The output's buffer, which every task writes its own (batch, head) columns of.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: tasks write disjoint elements (distinct (batch, head) column ranges) and nothing
// reads them while the tasks run.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// The `len` floats from `offset`.
    ///
    /// # Safety
    /// They must lie inside the buffer and be touched by no other task.
    #[allow(clippy::mut_from_ref)] // (reason: each task's own elements, see `Shared`)
    unsafe fn row<'a>(self, offset: usize, len: usize) -> &'a mut [f32] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(offset), len) }
    }

    /// Copies `src` (`T` rows of `hd`, contiguous) to the rows `stride` apart from `offset`.
    ///
    /// # Safety
    /// Those rows must lie inside the buffer and be written by no other task.
    unsafe fn write(self, offset: usize, stride: usize, src: &[f32], d: Dims) {
        for (r, row) in src.chunks_exact(d.hd).take(d.t).enumerate() {
            // SAFETY: row `r` of this task's columns (the caller's contract).
            unsafe { self.row(offset + r * stride, d.hd) }.copy_from_slice(row);
        }
    }
}

/// Floats [`forward`] can keep for [`backward`] (the tiled path's softmax numerators and
/// normalising factors, per head), or `None` where this host and shape run the `gemm`
/// path, which keeps nothing.
pub(super) fn kept_len(d: Dims) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if Path::for_dims(d) == Path::Tiled {
        return Some(d.b * d.heads * tiled::kept_len(d));
    }
    let _ = d;
    None
}

/// Floats of each head's task in a buffer of `len` kept floats, after checking the buffer
/// is [`kept_len`]'s whole and `path` the one that keeps them.
fn kept_per_head(path: Path, d: Dims, len: usize) -> usize {
    let per = kept_len(d).map_or(0, |n| n / (d.b * d.heads).max(1));
    assert!(per > 0 && path == Path::for_dims(d) && len >= per * d.b * d.heads);
    per
}

/// `y = attention(qkv)`, `y: [B, T, C]`; with `keep` ([`kept_len`] floats), the
/// numerators the gradient would recompute are left there for [`backward`].
pub(super) fn forward(qkv: &[f32], y: &mut [f32], d: Dims, scale: f32, keep: Option<&mut [f32]>) {
    forward_on(Path::for_dims(d), qkv, y, d, scale, keep);
}

fn forward_on(
    path: Path,
    qkv: &[f32],
    y: &mut [f32],
    d: Dims,
    scale: f32,
    keep: Option<&mut [f32]>,
) {
    assert!(qkv.len() >= d.b * d.t * 3 * d.c && y.len() >= d.b * d.t * d.c);
    let out = Shared(y.as_mut_ptr());
    let task = |scratch: &mut Vec<f32>, bh: usize, keep: Option<&mut [f32]>| {
        let (b, h) = (bh / d.heads, bh % d.heads);
        // SAFETY: `y` holds `[B, T, C]` (checked above) and the task for (b, h) is the
        // only one with head `h` of batch `b`.
        unsafe { path.forward_head(qkv, scratch, d, (b, h), scale, (out, keep)) };
    };
    let scratch = || vec![0.0f32; path.forward_scratch(d)];
    match keep {
        Some(kept) => {
            let per = kept_per_head(path, d, kept.len());
            kept.par_chunks_mut(per)
                .take(d.b * d.heads)
                .enumerate()
                .for_each_init(scratch, |s, (bh, kh)| task(s, bh, Some(kh)));
        }
        None => (0..d.b * d.heads)
            .into_par_iter()
            .for_each_init(scratch, |s, bh| task(s, bh, None)),
    }
}

/// `dqkv = ∂attention(qkv)/∂qkv · dy`, `dqkv: [B, T, 3·C]`; with `kept`, what
/// [`forward`] kept of this `qkv` (instead of recomputing it: the same bits).
pub(super) fn backward(
    (qkv, dy, kept): (&[f32], &[f32], Option<&[f32]>),
    dqkv: &mut [f32],
    d: Dims,
    scale: f32,
) {
    backward_on(Path::for_dims(d), (qkv, dy, kept), dqkv, d, None, scale);
}

/// [`backward`], and the column sums of `dqkv` (the `qkv` projection's bias gradient) as
/// the executor's column reduction sums them: blocks of `partial_rows(3·C)` rows, each
/// summed in row order from zero; returns the blocks' sums (one row of `3·C` each, in
/// order, for [`super::reduce::finish_columns`]). Each task sums the blocks that start in
/// its batch row while its results are in cache, up to the batch row's end; a block that
/// runs on into later batch rows is finished from `dqkv` afterwards, in order, so every
/// sum has the reduction's bits.
pub(super) fn backward_sums(
    (qkv, dy, kept): (&[f32], &[f32], Option<&[f32]>),
    dqkv: &mut [f32],
    d: Dims,
    scale: f32,
) -> Vec<f32> {
    let (w, rows) = (3 * d.c, d.b * d.t);
    let group = partial_rows(w);
    let mut sums = vec![0.0f32; rows.div_ceil(group) * w];
    let path = Path::for_dims(d);
    backward_on(
        path,
        (qkv, dy, kept),
        dqkv,
        d,
        Some((&mut sums, group)),
        scale,
    );
    let dqkv = &dqkv[..rows * w];
    sums.par_chunks_mut(w.max(1))
        .enumerate()
        .for_each(|(k, acc)| {
            let (start, end) = (k * group, ((k + 1) * group).min(rows));
            let from = (start / d.t + 1) * d.t;
            for row in dqkv[..end * w].chunks_exact(w).skip(from) {
                acc.iter_mut().zip(row).for_each(|(a, &x)| *a += x);
            }
        });
    sums
}

fn backward_on(
    path: Path,
    (qkv, dy, kept): (&[f32], &[f32], Option<&[f32]>),
    dqkv: &mut [f32],
    d: Dims,
    sums: Option<(&mut [f32], usize)>,
    scale: f32,
) {
    let n = d.b * d.t * 3 * d.c;
    assert!(qkv.len() >= n && dqkv.len() >= n && dy.len() >= d.b * d.t * d.c);
    let sums = sums.map(|(s, group)| {
        assert!(group > 0 && s.len() >= (d.b * d.t).div_ceil(group) * 3 * d.c);
        (Shared(s.as_mut_ptr()), group)
    });
    let per = kept.map(|kept| kept_per_head(path, d, kept.len()));
    let out = Shared(dqkv.as_mut_ptr());
    (0..d.b * d.heads).into_par_iter().for_each_init(
        || vec![0.0f32; path.backward_scratch(d)],
        |scratch, bh| {
            let (b, h) = (bh / d.heads, bh % d.heads);
            let kh = kept.zip(per).map(|(kept, per)| &kept[bh * per..][..per]);
            let ins = (qkv, dy);
            // SAFETY: `dqkv` holds `[B, T, 3·C]` (checked above) and the task for (b, h)
            // is the only one with head `h` of batch `b`.
            unsafe { path.backward_head(ins, scratch, d, (b, h), scale, (out, kh)) };
            let Some((sums, group)) = sums else {
                return;
            };
            // The blocks of rows that start in batch row `b`, up to its end.
            let (first, last) = (b * d.t, (b + 1) * d.t);
            for start in (first.next_multiple_of(group)..last).step_by(group) {
                for part in 0..3 {
                    let col = start / group * 3 * d.c + part * d.c + h * d.hd;
                    // SAFETY: this task's columns of a block that starts in its batch row
                    // (no other task's; inside `sums`, checked above).
                    let acc = unsafe { sums.row(col, d.hd) };
                    for i in start - first..(start + group).min(last) - first {
                        // SAFETY: row `i` of this task's columns of `dqkv`, written above
                        // (inside `dqkv`, checked above).
                        let row = unsafe { out.row(d.qkv(b, h, part, i), d.hd) };
                        acc.iter_mut().zip(&*row).for_each(|(a, &x)| *a += x);
                    }
                }
            }
        },
    );
}
