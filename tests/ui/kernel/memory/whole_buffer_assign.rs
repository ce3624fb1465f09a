#[vibee::kernel]
fn alias(x: &[f32], y: &mut [f32]) {
    y = x;
}

fn main() {}
