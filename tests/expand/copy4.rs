//! A vectorized copy: four lanes per unit, with a scaled last lane to show lane access.

/// `y[4i..4i+4] = x[4i..4i+4]`, lane 3 scaled by `s`.
#[vibee::kernel]
pub fn copy4(x: &[f32], y: &mut [f32], s: f32) {
    let i = global_pos();
    if i * 4 < x.len() {
        let mut v = load4(&x, i);
        v[3] = v[3] * s;
        store4(&mut y, i, v);
    }
}
