#[vibee::kernel]
fn affine((a, b): (f32, f32), y: &mut [f32]) {
    y[global_pos()] = 1.0;
}

fn main() {}
