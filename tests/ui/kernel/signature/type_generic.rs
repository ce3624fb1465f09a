#[vibee::kernel]
fn copy<T>(x: &[f32], y: &mut [f32]) {
    y[global_pos()] = x[global_pos()];
}

fn main() {}
