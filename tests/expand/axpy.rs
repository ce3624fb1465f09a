//! `y = a * x + y`, one unit per element.

/// `y[i] = a * x[i] + y[i]`.
#[vibee::kernel]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}
