#[vibee::kernel]
fn act(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    y[i] = exp(x[i], 2.0);
}

fn main() {}
