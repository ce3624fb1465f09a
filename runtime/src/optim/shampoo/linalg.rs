//! Dense symmetric linear algebra for Shampoo's preconditioners, in `f64`.

/// A square row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mat {
    pub n: usize,
    pub data: Vec<f64>,
}

impl Mat {
    /// `scale·I`.
    pub fn identity(n: usize, scale: f64) -> Self {
        let mut data = vec![0.0; n * n];
        (0..n).for_each(|i| data[i * n + i] = scale);
        Self { n, data }
    }

    /// `A^(−1/p)` of a symmetric positive semi-definite `A`, from its eigendecomposition
    /// `Q·diag(λ)·Qᵀ` as `Q·diag(λ^(−1/p))·Qᵀ` — what the reference's SVD path computes.
    pub fn inverse_root(&self, p: f64) -> Mat {
        let (values, vectors) = jacobi_eigen(self);
        let n = self.n;
        let powered: Vec<f64> = values.iter().map(|&l| l.abs().powf(-1.0 / p)).collect();
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = (0..n)
                    .map(|k| vectors[i * n + k] * powered[k] * vectors[j * n + k])
                    .sum();
            }
        }
        Mat { n, data: out }
    }
}

/// `A^(−1/p)` of the symmetric positive semi-definite `n × n` row-major matrix `a`, as
/// [`Shampoo`](super::Shampoo) recomputes its roots (exported for device implementations,
/// which keep their statistics on the device and compute the roots on the host).
pub fn inverse_root(a: &[f64], n: usize, p: f64) -> Vec<f64> {
    let m = Mat {
        n,
        data: a.to_vec(),
    };
    m.inverse_root(p).data
}

/// Cyclic Jacobi eigenvalue iteration for a symmetric matrix: returns the eigenvalues and
/// the eigenvectors as the columns of a row-major matrix. Jacobi is slow for large `n` but
/// accurate in the small eigenvalues, which the inverse root magnifies.
fn jacobi_eigen(m: &Mat) -> (Vec<f64>, Vec<f64>) {
    let n = m.n;
    let mut a = m.data.clone();
    let mut v = Mat::identity(n, 1.0).data;
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        let scale: f64 = (0..n).map(|i| a[i * n + i] * a[i * n + i]).sum();
        if off <= 1e-32 * scale || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                rotate(&mut a, &mut v, n, p, q);
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// One Jacobi rotation zeroing `a[p][q]`, accumulated into `v`.
fn rotate(a: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = a[p * n + q];
    if apq == 0.0 {
        return;
    }
    let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let t = if theta == 0.0 { 1.0 } else { t };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..n {
        let (akp, akq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
    }
    for k in 0..n {
        let (apk, aqk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
    }
    for k in 0..n {
        let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
        v[k * n + p] = c * vkp - s * vkq;
        v[k * n + q] = s * vkp + c * vkq;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_square_root_squares_back_to_the_inverse() {
        let a = Mat {
            n: 3,
            data: vec![4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0],
        };
        let r = a.inverse_root(2.0);
        // r·r·a = I
        let mul = |x: &[f64], y: &[f64]| -> Vec<f64> {
            (0..9)
                .map(|k| (0..3).map(|m| x[(k / 3) * 3 + m] * y[m * 3 + k % 3]).sum())
                .collect()
        };
        let eye = mul(&mul(&r.data, &r.data), &a.data);
        for (k, v) in eye.iter().enumerate() {
            let want = if k % 4 == 0 { 1.0 } else { 0.0 };
            assert!((v - want).abs() < 1e-13, "{k}: {v}");
        }
    }
}
