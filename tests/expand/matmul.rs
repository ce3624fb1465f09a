//! Tiled matrix product with shared memory: `c[m×n] = a[m×k] · b[k×n]`, one unit per
//! output element, `TILE × TILE` units per group.

/// `c = a · b` for row-major matrices; `k` must be a multiple of `TILE`.
#[vibee::kernel(assert(TILE * TILE <= 1024))]
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
        tile_a[local] = if row < m {
            a[row * k + t + unit_pos_x()]
        } else {
            0.0
        };
        tile_b[local] = if col < n {
            b[(t + unit_pos_y()) * n + col]
        } else {
            0.0
        };
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
