#[vibee::kernel(differentiable)]
fn ramp(x: f32) -> f32 {
    x * global_pos() as f32
}

fn main() {}
