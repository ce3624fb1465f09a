#[vibee::kernel]
fn act(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    y[i] = sigmoid(x[i]);
}

fn main() {}
