//! Histogram of values in `[0, 1)` with atomics.

/// Counts `x` into `bins.len()` equal bins over `[0, 1)`.
#[vibee::kernel]
pub fn histogram(x: &[f32], bins: &mut [u32]) {
    let i = global_pos();
    if i >= x.len() {
        return;
    }
    let b = (x[i] * bins.len() as f32) as u32;
    atomic_add(&mut bins, min(b, bins.len() - 1), 1);
}
