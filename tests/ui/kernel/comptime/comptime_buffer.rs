#[vibee::kernel]
fn rows(#[comptime] table: &[f32], y: &mut [f32]) {
    y[global_pos()] = 0.0;
}

fn main() {}
