//! Factored second moments on the device, shared by Adafactor and CAME, and the sum of
//! squares behind every RMS.
//!
//! The row and column statistics are one unit per row and one unit per column, each summing
//! its line sequentially, in the order the host
//! [`Factored::ema`](vibee_runtime::optim::Factored::ema) sums it, so they are bit-identical
//! on the CPU backend. Sums of squares (the RMS of a parameter or an update) are reduced per
//! group of [`GROUP`](super::GROUP) units in `f32` and the group partials summed on the host
//! in `f64`: that order differs from the host optimizer's sequential `f64` sum, so what
//! depends on an RMS agrees to about `1e-7` relative, not bit for bit.

// Generated launchers take one argument per kernel parameter, plus the device and grid.
#![allow(clippy::too_many_arguments)]

use vibee_runtime::optim::{Factored, FactoredMoment};
use vibee_runtime::{Buffer, Device, Grid, LaunchError};

use super::{FusedError, GROUP, grid};

/// Groups a reduction uses at most: enough to fill a GPU, few partials to read back.
const MAX_REDUCE_GROUPS: usize = 1024;

/// The grid of a reduction over `n` elements (groups of [`GROUP`] units, as the reduction
/// kernels' shared memory expects) and its group count.
pub(super) fn reduce_grid(n: usize) -> (Grid, usize) {
    let groups = n.div_ceil(GROUP as usize).clamp(1, MAX_REDUCE_GROUPS);
    (Grid::linear(groups as u32, GROUP), groups)
}

/// `out ← x² + eps` (the statistic Adafactor and CAME average).
#[vibee::kernel]
pub fn square_plus(x: &[f32], out: &mut [f32], eps: f32) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < x.len() {
        out[i] = x[i] * x[i] + eps;
        i += stride;
    }
}

/// One unit per row of `x: [rows, cols]`: `row ← β·row + (1−β)·Σ_c x / cols_f`.
#[vibee::kernel]
pub fn factored_row_ema(x: &[f32], row: &mut [f32], cols: u32, beta: f32, keep: f32, cols_f: f32) {
    let stride = num_groups() * group_size();
    let mut r = global_pos();
    while r < row.len() {
        let mut sum = 0.0;
        for c in 0..cols {
            sum += x[r * cols + c];
        }
        row[r] = beta * row[r] + keep * (sum / cols_f);
        r += stride;
    }
}

/// One unit per column of `x: [batch, rows, cols]`: `col ← β·col + (1−β)·Σ_r x / rows_f`.
#[vibee::kernel]
pub fn factored_col_ema(
    x: &[f32],
    col: &mut [f32],
    rows: u32,
    cols: u32,
    beta: f32,
    keep: f32,
    rows_f: f32,
) {
    let stride = num_groups() * group_size();
    let mut j = global_pos();
    while j < col.len() {
        let base = (j / cols) * rows * cols + j % cols;
        let mut sum = 0.0;
        for r in 0..rows {
            sum += x[base + r * cols];
        }
        col[j] = beta * col[j] + keep * (sum / rows_f);
        j += stride;
    }
}

/// One unit per matrix: `mean ← Σ_r row / rows_f`.
#[vibee::kernel]
pub fn row_mean(row: &[f32], mean: &mut [f32], rows: u32, rows_f: f32) {
    let stride = num_groups() * group_size();
    let mut b = global_pos();
    while b < mean.len() {
        let mut sum = 0.0;
        for r in 0..rows {
            sum += row[b * rows + r];
        }
        mean[b] = sum / rows_f;
        b += stride;
    }
}

/// `out = x / √(row / mean(row) · col)`, as `(1/√(row/mean))·(1/√col)·x`.
#[vibee::kernel]
pub fn factored_scale(
    row: &[f32],
    col: &[f32],
    mean: &[f32],
    x: &[f32],
    out: &mut [f32],
    rows: u32,
    cols: u32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < x.len() {
        let r = i / cols;
        let b = r / rows;
        let r_factor = 1.0 / sqrt(row[r] / mean[b]);
        out[i] = r_factor * (1.0 / sqrt(col[b * cols + i % cols])) * x[i];
        i += stride;
    }
}

/// The unfactored moment: `v ← β·v + (1−β)·stat`, `out = (1/√v)·x`.
#[vibee::kernel]
pub fn full_ema_scale(
    stat: &[f32],
    v: &mut [f32],
    x: &[f32],
    out: &mut [f32],
    beta: f32,
    keep: f32,
) {
    let stride = num_groups() * group_size();
    let mut i = global_pos();
    while i < v.len() {
        let vi = beta * v[i] + keep * stat[i];
        v[i] = vi;
        out[i] = (1.0 / sqrt(vi)) * x[i];
        i += stride;
    }
}

/// Per group: the sum of `x[i]²` over the first `n` elements this group strides over,
/// reduced through shared memory; launched with groups of 256 units.
#[vibee::kernel]
pub fn sum_squares_partial(x: &[f32], partials: &mut [f32], n: u32) {
    let scratch = shared::<f32>(256);
    let stride = num_groups() * group_size();
    let mut acc = 0.0;
    let mut i = global_pos();
    while i < n {
        acc += x[i] * x[i];
        i += stride;
    }
    scratch[unit_pos()] = acc;
    barrier();
    let mut half = group_size() / 2;
    while half > 0 {
        if unit_pos() < half {
            scratch[unit_pos()] += scratch[unit_pos() + half];
        }
        barrier();
        half /= 2;
    }
    if unit_pos() == 0 {
        partials[group_pos()] = scratch[0];
    }
}

/// Root mean square of the first `n` elements of `x`: group partials on the device, their
/// sum in `f64` on the host.
pub(super) fn rms(device: &Device, x: &Buffer<f32>, n: usize) -> Result<f64, FusedError> {
    Ok((sum_squares(device, x, n)? / n.max(1) as f64).sqrt())
}

/// The sum of squares of the first `n` elements of `x`: group partials on the device, their
/// sum in `f64` on the host.
pub(super) fn sum_squares(device: &Device, x: &Buffer<f32>, n: usize) -> Result<f64, FusedError> {
    let (grid, groups) = reduce_grid(n);
    let mut partials = Buffer::<f32>::zeros(device, groups)?;
    sum_squares_partial::launch(device, grid, x, &mut partials, n as u32)?;
    Ok(partials.to_vec()?.iter().map(|&v| f64::from(v)).sum())
}

/// A second-moment statistic on the device: factored for matrices, full for vectors; the
/// device form of [`FactoredMoment`].
#[allow(
    clippy::large_enum_variant,
    reason = "one per parameter tensor, held for the whole run: boxing saves nothing that matters"
)]
pub(super) enum DeviceMoment {
    /// Row and column means, and a scratch row mean per matrix.
    Factored {
        shape: Factored,
        row: Buffer<f32>,
        col: Buffer<f32>,
        mean: Buffer<f32>,
    },
    /// The full statistic.
    Full(Buffer<f32>),
}

impl DeviceMoment {
    /// The device copy of a host statistic.
    pub(super) fn upload(device: &Device, host: &FactoredMoment<f32>) -> Result<Self, LaunchError> {
        Ok(match host {
            FactoredMoment::Factored { shape, row, col } => DeviceMoment::Factored {
                shape: *shape,
                row: Buffer::from_slice(device, row)?,
                col: Buffer::from_slice(device, col)?,
                mean: Buffer::zeros(device, shape.batch())?,
            },
            FactoredMoment::Full(v) => DeviceMoment::Full(Buffer::from_slice(device, v)?),
        })
    }

    /// The statistic read back to the host.
    pub(super) fn download(&self) -> Result<FactoredMoment<f32>, LaunchError> {
        Ok(match self {
            DeviceMoment::Factored {
                shape, row, col, ..
            } => FactoredMoment::Factored {
                shape: *shape,
                row: row.to_vec()?,
                col: col.to_vec()?,
            },
            DeviceMoment::Full(v) => FactoredMoment::Full(v.to_vec()?),
        })
    }

    /// Folds `stat` into the statistic with decay `beta`, then writes `x / √statistic` into
    /// `out` (its first `x.len()` elements), as
    /// [`FactoredMoment::update_and_scale`].
    pub(super) fn update_and_scale(
        &mut self,
        device: &Device,
        stat: &Buffer<f32>,
        beta: f64,
        x: &Buffer<f32>,
        out: &mut Buffer<f32>,
    ) -> Result<(), LaunchError> {
        let (b, keep) = (beta as f32, (1.0 - beta) as f32);
        match self {
            DeviceMoment::Factored {
                shape,
                row,
                col,
                mean,
            } => {
                let (rows, cols) = (shape.rows() as u32, shape.cols() as u32);
                // Through `f64`, as the host rounds its counts (`T::of(n as f64)`).
                let (rows_f, cols_f) = (shape.rows() as f64 as f32, shape.cols() as f64 as f32);
                let g = grid(device, row.len());
                factored_row_ema::launch(device, g, stat, row, cols, b, keep, cols_f)?;
                let g = grid(device, col.len());
                factored_col_ema::launch(device, g, stat, col, rows, cols, b, keep, rows_f)?;
                let g = grid(device, mean.len());
                row_mean::launch(device, g, row, mean, rows, rows_f)?;
                let g = grid(device, x.len());
                factored_scale::launch(device, g, row, col, mean, x, out, rows, cols)
            }
            DeviceMoment::Full(v) => {
                let g = grid(device, v.len());
                full_ema_scale::launch(device, g, stat, v, x, out, b, keep)
            }
        }
    }
}
