//! Comptime checks: a `#[comptime(power_of_two)]` argument and an `assert(…)` over it.

/// Fills each row of `d` elements with its row number.
#[vibee::kernel(assert(d >= 4))]
pub fn fill_rows(y: &mut [f32], #[comptime(power_of_two)] d: u32) {
    let i = global_pos();
    if i < y.len() {
        y[i] = (i / d) as f32;
    }
}
