#[vibee::kernel]
fn scale(x: &[f32], y: &mut [f32]) {
    let double = |v: f32| v * 2.0;
    y[global_pos()] = x[global_pos()];
}

fn main() {}
