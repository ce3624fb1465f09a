#[vibee::kernel]
fn rows(y: &mut [f32], #[comptime(prime)] d: u32) {
    y[global_pos()] = 0.0;
}

fn main() {}
