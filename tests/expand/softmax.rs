//! Row softmax: one group per row, a shared-memory tree reduction for the max and the sum.

/// `y[row] = softmax(x[row])` for rows of `d` elements; `BLOCK` units per group.
#[vibee::kernel]
pub fn softmax<#[comptime(power_of_two)] const BLOCK: usize>(
    x: &[f32],
    y: &mut [f32],
    #[comptime] d: u32,
) {
    let scratch = shared::<f32>(BLOCK);
    let row = group_pos();
    let base = row * d;
    let mut m = f32::MIN;
    for j in (unit_pos()..d).step_by(BLOCK) {
        m = m.max(x[base + j]);
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
        s += (x[base + j] - row_max).exp();
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
        y[base + j] = (x[base + j] - row_max).exp() * inv;
    }
}
