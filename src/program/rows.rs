//! Row kernels of the device executor: one unit per row of the last axis, each looping over
//! its row in order (the CPU executor's order), so a row's sums are deterministic.

/// `softmax(scale·x)` per row of `d`; with `causal = 1`, row `r` keeps its first
/// `r % d + 1` entries (the rest are 0), as attention scores `[.., T, T]`.
#[vibee::kernel]
pub fn softmax_rows(x: &[f32], out: &mut [f32], d: u32, scale: f32, causal: u32, rows: u32) {
    let stride = num_groups() * group_size();
    let mut r = global_pos();
    while r < rows {
        let base = r * d;
        let mut len = d;
        if causal != 0 {
            len = r % d + 1;
        }
        let mut m = x[base] * scale;
        for j in 1..len {
            m = max(m, x[base + j] * scale);
        }
        let mut sum = 0.0;
        for j in 0..len {
            let e = exp(x[base + j] * scale - m);
            out[base + j] = e;
            sum += e;
        }
        let inv = 1.0 / sum;
        for j in 0..d {
            if j < len {
                out[base + j] = out[base + j] * inv;
            } else {
                out[base + j] = 0.0;
            }
        }
        r += stride;
    }
}

/// Rotary embedding per row of `d` (see [`Op::Rope`](vibee::dsl::graph::Op::Rope)): row
/// `r` is at position `r % t`; `cos`/`sin` are the `[t, d/2]` tables (sines negated for
/// the inverse rotation).
#[vibee::kernel]
pub fn rope_rows(x: &[f32], cos: &[f32], sin: &[f32], out: &mut [f32], t: u32, d: u32, rows: u32) {
    let stride = num_groups() * group_size();
    let half = d / 2;
    let mut r = global_pos();
    while r < rows {
        let base = r * d;
        let at = (r % t) * half;
        for i in 0..half {
            let c = cos[at + i];
            let s = sin[at + i];
            let a = x[base + i];
            let b = x[base + i + half];
            out[base + i] = a * c - b * s;
            out[base + i + half] = b * c + a * s;
        }
        r += stride;
    }
}

/// `x − logsumexp(x)` per row of `d`.
#[vibee::kernel]
pub fn log_softmax_rows(x: &[f32], out: &mut [f32], d: u32, rows: u32) {
    let stride = num_groups() * group_size();
    let mut r = global_pos();
    while r < rows {
        let base = r * d;
        let mut m = x[base];
        for j in 1..d {
            m = max(m, x[base + j]);
        }
        let mut sum = 0.0;
        for j in 0..d {
            sum += exp(x[base + j] - m);
        }
        let l = m + log(sum);
        for j in 0..d {
            out[base + j] = x[base + j] - l;
        }
        r += stride;
    }
}

/// Softmax's backward `scale·y·(dy − Σ dy·y)` (`log = 0`), or log-softmax's
/// `dy − exp(y)·Σ dy` (`log = 1`), per row of `d`.
#[vibee::kernel]
pub fn softmax_grad_rows(
    y: &[f32],
    dy: &[f32],
    out: &mut [f32],
    d: u32,
    scale: f32,
    log: u32,
    rows: u32,
) {
    let stride = num_groups() * group_size();
    let mut r = global_pos();
    while r < rows {
        let base = r * d;
        let mut acc = 0.0;
        for j in 0..d {
            if log != 0 {
                acc += dy[base + j];
            } else {
                acc += y[base + j] * dy[base + j];
            }
        }
        for j in 0..d {
            if log != 0 {
                out[base + j] = dy[base + j] - exp(y[base + j]) * acc;
            } else {
                out[base + j] = scale * y[base + j] * (dy[base + j] - acc);
            }
        }
        r += stride;
    }
}

/// Normalisation per row of `d`: layer norm `(x − μ)/σ` (`rms = 0`) or RMS norm `x / rms`
/// (`rms = 1`), without affine parameters (those are separate graph ops).
#[vibee::kernel]
pub fn norm_rows(x: &[f32], out: &mut [f32], d: u32, eps: f32, rms: u32, rows: u32) {
    let stride = num_groups() * group_size();
    let mut r = global_pos();
    while r < rows {
        let base = r * d;
        let n = d as f32;
        let mut mu = 0.0;
        if rms == 0 {
            for j in 0..d {
                mu += x[base + j];
            }
            mu = mu / n;
        }
        let mut var = 0.0;
        for j in 0..d {
            var += (x[base + j] - mu) * (x[base + j] - mu);
        }
        let rstd = 1.0 / sqrt(var / n + eps);
        for j in 0..d {
            out[base + j] = (x[base + j] - mu) * rstd;
        }
        r += stride;
    }
}

/// The backward of [`norm_rows`] for `(x, dy)`.
#[vibee::kernel]
pub fn norm_grad_rows(
    x: &[f32],
    dy: &[f32],
    out: &mut [f32],
    d: u32,
    eps: f32,
    rms: u32,
    rows: u32,
) {
    let stride = num_groups() * group_size();
    let mut r = global_pos();
    while r < rows {
        let base = r * d;
        let n = d as f32;
        let mut mu = 0.0;
        if rms == 0 {
            for j in 0..d {
                mu += x[base + j];
            }
            mu = mu / n;
        }
        let mut var = 0.0;
        for j in 0..d {
            var += (x[base + j] - mu) * (x[base + j] - mu);
        }
        let rstd = 1.0 / sqrt(var / n + eps);
        let mut sdy = 0.0;
        let mut sdyx = 0.0;
        for j in 0..d {
            sdy += dy[base + j];
            sdyx += dy[base + j] * (x[base + j] - mu) * rstd;
        }
        let mdy = sdy / n;
        let mdyx = sdyx / n;
        for j in 0..d {
            let xhat = (x[base + j] - mu) * rstd;
            if rms == 0 {
                out[base + j] = rstd * (dy[base + j] - mdy - xhat * mdyx);
            } else {
                out[base + j] = rstd * dy[base + j] - xhat * rstd * mdyx;
            }
        }
        r += stride;
    }
}

/// Per row of `d`: `logsumexp(x) − x[target]` into `losses`.
#[vibee::kernel]
pub fn cross_entropy_rows(x: &[f32], targets: &[u32], losses: &mut [f32], d: u32) {
    let stride = num_groups() * group_size();
    let mut r = global_pos();
    while r < losses.len() {
        let base = r * d;
        let mut m = x[base];
        for j in 1..d {
            m = max(m, x[base + j]);
        }
        let mut sum = 0.0;
        for j in 0..d {
            sum += exp(x[base + j] - m);
        }
        losses[r] = m + log(sum) - x[base + targets[r]];
        r += stride;
    }
}

/// `out[0] ← mean(losses)`, summed in order by one unit.
#[vibee::kernel]
pub fn mean_into(losses: &[f32], out: &mut [f32]) {
    if global_pos() == 0 {
        let mut sum = 0.0;
        for r in 0..losses.len() {
            sum += losses[r];
        }
        out[0] = sum / (losses.len() as f32);
    }
}

/// Cross-entropy's backward per row of `d`: `(softmax(x) − onehot(target))·dl / rows`.
#[vibee::kernel]
pub fn cross_entropy_grad_rows(
    x: &[f32],
    targets: &[u32],
    dl: &[f32],
    out: &mut [f32],
    d: u32,
    rows: u32,
) {
    let stride = num_groups() * group_size();
    let scale = dl[0] / (rows as f32);
    let mut r = global_pos();
    while r < rows {
        let base = r * d;
        let mut m = x[base];
        for j in 1..d {
            m = max(m, x[base + j]);
        }
        let mut sum = 0.0;
        for j in 0..d {
            let e = exp(x[base + j] - m);
            out[base + j] = e;
            sum += e;
        }
        let inv = 1.0 / sum;
        for j in 0..d {
            let mut p = out[base + j] * inv;
            if j == targets[r] {
                p = p - 1.0;
            }
            out[base + j] = p * scale;
        }
        r += stride;
    }
}
