#[vibee::kernel(differentiable)]
fn gelu(x: f32) {
    let y = x * 2.0;
}

fn main() {}
