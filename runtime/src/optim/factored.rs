//! Factored second moments (Shazeer & Stern 2018), shared by Adafactor and CAME: a tensor of
//! shape `[…, R, C]` keeps row means `[…, R]` and column means `[…, C]` of a statistic
//! instead of the statistic itself, and rebuilds it as `row·col / mean(row)`.

use super::{Float, OptimError, StateDict};

/// How a parameter's last two dimensions split its elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factored {
    batch: usize,
    rows: usize,
    cols: usize,
}

impl Factored {
    /// The factoring of `shape`, or `None` below two dimensions (those keep a full moment).
    pub fn of(shape: &[usize]) -> Option<Self> {
        match shape {
            [lead @ .., rows, cols] => Some(Self {
                batch: lead.iter().product(),
                rows: *rows,
                cols: *cols,
            }),
            _ => None,
        }
    }

    /// Matrices: the product of the leading dimensions.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Rows of each matrix (the second-to-last dimension).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of each matrix (the last dimension).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Elements of the row statistic: `batch · rows`.
    pub fn row_len(&self) -> usize {
        self.batch * self.rows
    }

    /// Elements of the column statistic: `batch · cols`.
    pub fn col_len(&self) -> usize {
        self.batch * self.cols
    }

    /// `row ← β·row + (1−β)·mean over columns of x`, and the same for `col` over rows.
    pub fn ema<T: Float>(&self, x: &[T], row: &mut [T], col: &mut [T], beta: f64) {
        let (b, keep) = (T::of(beta), T::of(1.0 - beta));
        let (r_n, c_n) = (T::of(self.cols as f64), T::of(self.rows as f64));
        let per_row = row.chunks_mut(self.rows).zip(col.chunks_mut(self.cols));
        for (x, (row, col)) in x.chunks(self.rows * self.cols).zip(per_row) {
            let mut col_sum = vec![T::ZERO; self.cols];
            for (r, line) in x.chunks(self.cols).enumerate() {
                let mut sum = T::ZERO;
                for (acc, &v) in col_sum.iter_mut().zip(line) {
                    sum += v;
                    *acc += v;
                }
                row[r] = b * row[r] + keep * (sum / r_n);
            }
            for (c, s) in col.iter_mut().zip(col_sum) {
                *c = b * *c + keep * (s / c_n);
            }
        }
    }

    /// `out[…, r, c] = x[…, r, c] / sqrt(row[…, r] / mean(row[…, :]) · col[…, c])`.
    pub fn scale_by_rsqrt<T: Float>(&self, row: &[T], col: &[T], x: &[T], out: &mut [T]) {
        let per = self.rows * self.cols;
        for (bi, (out, x)) in out.chunks_mut(per).zip(x.chunks(per)).enumerate() {
            let row = &row[bi * self.rows..(bi + 1) * self.rows];
            let col = &col[bi * self.cols..(bi + 1) * self.cols];
            let mean = row.iter().fold(T::ZERO, |a, &v| a + v) / T::of(self.rows as f64);
            for (r, (out, x)) in out
                .chunks_mut(self.cols)
                .zip(x.chunks(self.cols))
                .enumerate()
            {
                let r_factor = T::ONE / (row[r] / mean).sqrt();
                for ((o, &x), &c) in out.iter_mut().zip(x).zip(col) {
                    *o = r_factor * (T::ONE / c.sqrt()) * x;
                }
            }
        }
    }
}

/// The divisor of update clipping: `max(1, rms(update) / threshold)`.
pub fn update_clip(update_rms: f64, threshold: f64) -> f64 {
    (update_rms / threshold).max(1.0)
}

/// Root mean square, accumulated in `f64`.
pub(crate) fn rms<T: Float>(x: &[T]) -> f64 {
    let sum: f64 = x.iter().map(|v| v.f64() * v.f64()).sum();
    (sum / x.len().max(1) as f64).sqrt()
}

/// A second-moment statistic: factored for matrices, full for vectors.
#[derive(Debug, Clone, PartialEq)]
pub enum Moment<T> {
    /// Row and column means.
    Factored {
        /// How the parameter splits.
        shape: Factored,
        /// Row means, `[…, R]`.
        row: Vec<T>,
        /// Column means, `[…, C]`.
        col: Vec<T>,
    },
    /// The full statistic.
    Full(Vec<T>),
}

impl<T: Float> Moment<T> {
    /// Zero statistic for a parameter of `shape`.
    pub fn zeros(shape: &[usize]) -> Self {
        match Factored::of(shape) {
            Some(f) => Moment::Factored {
                shape: f,
                row: vec![T::ZERO; f.row_len()],
                col: vec![T::ZERO; f.col_len()],
            },
            None => Moment::Full(vec![T::ZERO; shape.iter().product()]),
        }
    }

    /// Folds `x` into the statistic with decay `beta`, then writes `g / sqrt(statistic)`
    /// into `out`.
    pub fn update_and_scale(&mut self, x: &[T], beta: f64, g: &[T], out: &mut [T]) {
        match self {
            Moment::Factored { shape, row, col } => {
                shape.ema(x, row, col, beta);
                shape.scale_by_rsqrt(row, col, g, out);
            }
            Moment::Full(v) => {
                let (b, keep) = (T::of(beta), T::of(1.0 - beta));
                for (((o, v), &x), &g) in out.iter_mut().zip(v.iter_mut()).zip(x).zip(g) {
                    *v = b * *v + keep * x;
                    *o = (T::ONE / v.sqrt()) * g;
                }
            }
        }
    }

    /// Saves the statistic under `<name>/<slot>_row|_col` or `<name>/<slot>`.
    pub fn save(&self, sd: &mut StateDict, name: &str, slot: &str) {
        let wide = |v: &[T]| v.iter().map(|x| x.f64()).collect::<Vec<_>>();
        match self {
            Moment::Factored { row, col, .. } => {
                sd.tensors.insert(format!("{name}/{slot}_row"), wide(row));
                sd.tensors.insert(format!("{name}/{slot}_col"), wide(col));
            }
            Moment::Full(v) => {
                sd.tensors.insert(format!("{name}/{slot}"), wide(v));
            }
        }
    }

    /// Restores what [`Self::save`] wrote, checking lengths against this statistic.
    pub fn load(&mut self, sd: &StateDict, name: &str, slot: &str) -> Result<(), OptimError> {
        match self {
            Moment::Factored { row, col, .. } => {
                *row = sd.take(name, &format!("{slot}_row"), row.len())?;
                *col = sd.take(name, &format!("{slot}_col"), col.len())?;
            }
            Moment::Full(v) => *v = sd.take(name, slot, v.len())?,
        }
        Ok(())
    }
}
