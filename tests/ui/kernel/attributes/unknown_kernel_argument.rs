#[vibee::kernel(fast_math)]
fn fill(y: &mut [f32]) {
    y[global_pos()] = 1.0;
}

fn main() {}
