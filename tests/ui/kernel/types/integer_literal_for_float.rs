#[vibee::kernel]
fn double(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    y[i] = x[i] * 2;
}

fn main() {}
