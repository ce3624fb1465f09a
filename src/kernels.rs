//! Standard kernels written in the DSL: the building blocks of a transformer, and the
//! examples every backend is tested on against the interpreter.
//!
//! Row-wise kernels (`softmax`, `layer_norm`, `rms_norm`, `cross_entropy`) run one group of
//! `BLOCK` units per row and reduce through shared memory with a tree of barriers.

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

/// `y = a * x + y`, one unit per element.
#[vibee::kernel]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

/// `c = a · b` for row-major `a: m×k`, `b: k×n`; `TILE × TILE` units per group, tiles of
/// both operands staged in shared memory.
#[vibee::kernel]
pub fn matmul<#[comptime(power_of_two)] const TILE: usize>(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: u32,
    n: u32,
    k: u32,
) {
    let tile_a = shared::<f32>(TILE * TILE);
    let tile_b = shared::<f32>(TILE * TILE);
    let row = group_pos_y() * TILE + unit_pos_y();
    let col = group_pos_x() * TILE + unit_pos_x();
    let local = unit_pos_y() * TILE + unit_pos_x();
    let mut acc = 0.0;
    for t in (0..k).step_by(TILE) {
        let ka = t + unit_pos_x();
        let kb = t + unit_pos_y();
        tile_a[local] = 0.0;
        tile_b[local] = 0.0;
        if row < m && ka < k {
            tile_a[local] = a[row * k + ka];
        }
        if col < n && kb < k {
            tile_b[local] = b[kb * n + col];
        }
        barrier();
        for j in 0..TILE {
            acc = fma(
                tile_a[unit_pos_y() * TILE + j],
                tile_b[j * TILE + unit_pos_x()],
                acc,
            );
        }
        barrier();
    }
    if row < m && col < n {
        c[row * n + col] = acc;
    }
}

/// `y[r] = softmax(x[r])` over rows of `d` elements; one group of `BLOCK` units per row.
#[vibee::kernel]
pub fn softmax<#[comptime(power_of_two)] const BLOCK: usize>(
    x: &[f32],
    y: &mut [f32],
    #[comptime] d: u32,
) {
    let scratch = shared::<f32>(BLOCK);
    let base = group_pos() * d;
    // Start from an element of the row, so the running max is always a real value.
    let mut m = x[base + min(unit_pos(), d - 1)];
    for j in (unit_pos()..d).step_by(BLOCK) {
        m = max(m, x[base + j]);
    }
    scratch[unit_pos()] = m;
    barrier();
    let mut stride = BLOCK / 2;
    while stride > 0 {
        if unit_pos() < stride {
            scratch[unit_pos()] = max(scratch[unit_pos()], scratch[unit_pos() + stride]);
        }
        barrier();
        stride /= 2;
    }
    let row_max = scratch[0];
    barrier();
    let mut s = 0.0;
    for j in (unit_pos()..d).step_by(BLOCK) {
        s += exp(x[base + j] - row_max);
    }
    scratch[unit_pos()] = s;
    barrier();
    stride = BLOCK / 2;
    while stride > 0 {
        if unit_pos() < stride {
            scratch[unit_pos()] += scratch[unit_pos() + stride];
        }
        barrier();
        stride /= 2;
    }
    let inv = 1.0 / scratch[0];
    for j in (unit_pos()..d).step_by(BLOCK) {
        y[base + j] = exp(x[base + j] - row_max) * inv;
    }
}

/// Layer normalization over rows of `d`: `y = (x - mean) / sqrt(var + eps) * w + b`
/// (biased variance, as PyTorch's `LayerNorm`).
#[vibee::kernel]
pub fn layer_norm<#[comptime(power_of_two)] const BLOCK: usize>(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    #[comptime] d: u32,
    eps: f32,
) {
    let scratch = shared::<f32>(BLOCK);
    let base = group_pos() * d;
    let mut s = 0.0;
    for j in (unit_pos()..d).step_by(BLOCK) {
        s += x[base + j];
    }
    scratch[unit_pos()] = s;
    barrier();
    let mut stride = BLOCK / 2;
    while stride > 0 {
        if unit_pos() < stride {
            scratch[unit_pos()] += scratch[unit_pos() + stride];
        }
        barrier();
        stride /= 2;
    }
    let mean = scratch[0] / (d as f32);
    barrier();
    let mut q = 0.0;
    for j in (unit_pos()..d).step_by(BLOCK) {
        let c = x[base + j] - mean;
        q += c * c;
    }
    scratch[unit_pos()] = q;
    barrier();
    stride = BLOCK / 2;
    while stride > 0 {
        if unit_pos() < stride {
            scratch[unit_pos()] += scratch[unit_pos() + stride];
        }
        barrier();
        stride /= 2;
    }
    let rstd = rsqrt(scratch[0] / (d as f32) + eps);
    for j in (unit_pos()..d).step_by(BLOCK) {
        y[base + j] = (x[base + j] - mean) * rstd * w[j] + b[j];
    }
}

/// RMS normalization over rows of `d`: `y = x / sqrt(mean(x²) + eps) * w`.
#[vibee::kernel]
pub fn rms_norm<#[comptime(power_of_two)] const BLOCK: usize>(
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    #[comptime] d: u32,
    eps: f32,
) {
    let scratch = shared::<f32>(BLOCK);
    let base = group_pos() * d;
    let mut q = 0.0;
    for j in (unit_pos()..d).step_by(BLOCK) {
        q += x[base + j] * x[base + j];
    }
    scratch[unit_pos()] = q;
    barrier();
    let mut stride = BLOCK / 2;
    while stride > 0 {
        if unit_pos() < stride {
            scratch[unit_pos()] += scratch[unit_pos() + stride];
        }
        barrier();
        stride /= 2;
    }
    let rstd = rsqrt(scratch[0] / (d as f32) + eps);
    for j in (unit_pos()..d).step_by(BLOCK) {
        y[base + j] = x[base + j] * rstd * w[j];
    }
}

/// Rotary position embedding on `x: [tokens, heads, d]`, rotating interleaved pairs
/// `(2i, 2i+1)` of each head by `pos · theta^(-2i/d)` where `pos` is the token index
/// (the RoFormer / GPT-J layout). One unit per pair.
#[vibee::kernel]
pub fn rope(x: &[f32], y: &mut [f32], heads: u32, d: u32, theta: f32) {
    let p = global_pos();
    let half = d / 2;
    if p * 2 < x.len() {
        let pair = p % half;
        let row = p / half;
        let pos = row / heads;
        let freq = powf(theta, -((2 * pair) as f32) / (d as f32));
        let angle = (pos as f32) * freq;
        let c = cos(angle);
        let s = sin(angle);
        let i = row * d + 2 * pair;
        let x0 = x[i];
        let x1 = x[i + 1];
        y[i] = x0 * c - x1 * s;
        y[i + 1] = x0 * s + x1 * c;
    }
}

/// Cross-entropy of each row of `logits: [rows, vocab]` against `targets[row]`:
/// `loss[row] = logsumexp(logits[row]) - logits[row][target]`.
#[vibee::kernel]
pub fn cross_entropy<#[comptime(power_of_two)] const BLOCK: usize>(
    logits: &[f32],
    targets: &[u32],
    loss: &mut [f32],
    #[comptime] vocab: u32,
) {
    let scratch = shared::<f32>(BLOCK);
    let row = group_pos();
    let base = row * vocab;
    let mut m = logits[base + min(unit_pos(), vocab - 1)];
    for j in (unit_pos()..vocab).step_by(BLOCK) {
        m = max(m, logits[base + j]);
    }
    scratch[unit_pos()] = m;
    barrier();
    let mut stride = BLOCK / 2;
    while stride > 0 {
        if unit_pos() < stride {
            scratch[unit_pos()] = max(scratch[unit_pos()], scratch[unit_pos() + stride]);
        }
        barrier();
        stride /= 2;
    }
    let row_max = scratch[0];
    barrier();
    let mut s = 0.0;
    for j in (unit_pos()..vocab).step_by(BLOCK) {
        s += exp(logits[base + j] - row_max);
    }
    scratch[unit_pos()] = s;
    barrier();
    stride = BLOCK / 2;
    while stride > 0 {
        if unit_pos() < stride {
            scratch[unit_pos()] += scratch[unit_pos() + stride];
        }
        barrier();
        stride /= 2;
    }
    if unit_pos() == 0 {
        let target = targets[row];
        loss[row] = log(scratch[0]) + row_max - logits[base + min(target, vocab - 1)];
    }
}

/// `out = inᵀ` for row-major `input: rows×cols`, through a shared `TILE × TILE` tile so
/// that both the reads and the writes of a group touch contiguous memory.
#[vibee::kernel]
pub fn transpose<#[comptime(power_of_two)] const TILE: usize>(
    input: &[f32],
    out: &mut [f32],
    rows: u32,
    cols: u32,
) {
    let tile = shared::<f32>(TILE * (TILE + 1));
    let c = group_pos_x() * TILE + unit_pos_x();
    let r = group_pos_y() * TILE + unit_pos_y();
    if r < rows && c < cols {
        tile[unit_pos_y() * (TILE + 1) + unit_pos_x()] = input[r * cols + c];
    }
    barrier();
    let oc = group_pos_y() * TILE + unit_pos_x();
    let or = group_pos_x() * TILE + unit_pos_y();
    if or < cols && oc < rows {
        out[or * rows + oc] = tile[unit_pos_x() * (TILE + 1) + unit_pos_y()];
    }
}

/// Inclusive prefix sum of each block of `BLOCK` elements (Hillis–Steele in shared
/// memory); the total of block `g` goes to `sums[g]`. With [`add_block_offsets`] over the
/// scanned `sums`, this scans arrays of any length.
#[vibee::kernel]
pub fn scan_blocks<#[comptime(power_of_two)] const BLOCK: usize>(
    x: &[f32],
    y: &mut [f32],
    sums: &mut [f32],
) {
    let buf = shared::<f32>(BLOCK);
    let t = unit_pos();
    let i = group_pos() * BLOCK + t;
    buf[t] = 0.0;
    if i < x.len() {
        buf[t] = x[i];
    }
    barrier();
    let mut offset = 1;
    while offset < BLOCK {
        let mut v = 0.0;
        if t >= offset {
            v = buf[t - offset];
        }
        barrier();
        buf[t] += v;
        barrier();
        offset *= 2;
    }
    if i < y.len() {
        y[i] = buf[t];
    }
    if t == BLOCK - 1 {
        sums[group_pos()] = buf[t];
    }
}

/// Adds the scanned total of all previous blocks to every element of block `g > 0`.
#[vibee::kernel]
pub fn add_block_offsets<const BLOCK: usize>(y: &mut [f32], scanned_sums: &[f32]) {
    let i = global_pos();
    let g = i / BLOCK;
    if i < y.len() && g > 0 {
        y[i] += scanned_sums[g - 1];
    }
}

/// Counts values of `x` in `[0, 1)` into `bins.len()` equal bins (values outside are
/// clamped to the first and last bin), with atomic adds.
#[vibee::kernel]
pub fn histogram(x: &[f32], bins: &mut [u32]) {
    let i = global_pos();
    if i >= x.len() {
        return;
    }
    let b = (max(x[i], 0.0) * (bins.len() as f32)) as u32;
    atomic_add(&mut bins, min(b, bins.len() - 1), 1);
}

/// GELU (tanh approximation); its backward kernel is derived from the IR.
#[vibee::kernel(differentiable)]
pub fn gelu(x: f32) -> f32 {
    let inner = 0.7978845608 * (x + 0.044715 * x * x * x);
    0.5 * x * (1.0 + tanh(inner))
}

/// A vectorized copy: four lanes per unit (`y[4i..4i+4] = x[4i..4i+4]`).
#[vibee::kernel]
pub fn copy4(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    if i * 4 < x.len() {
        let v = load4(&x, i);
        store4(&mut y, i, v);
    }
}

/// `y = x * scale` on `f16` buffers, computed in `f16`.
#[vibee::kernel]
pub fn scale_f16(x: &[f16], y: &mut [f16], scale: f16) {
    let i = global_pos();
    if i < y.len() {
        y[i] = x[i] * scale;
    }
}

/// `y = x²` with no guard: the grid must cover the buffers exactly, and a launch whose
/// buffers are shorter than the grid is refused before it runs (`LaunchError::BufferTooSmall`).
#[vibee::kernel]
pub fn square(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    y[i] = x[i] * x[i];
}
