#[vibee::kernel]
fn rows(y: &mut [f32], #[comptime] d: u32) {
    d = d * 2;
    y[global_pos()] = 0.0;
}

fn main() {}
