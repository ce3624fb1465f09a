#[vibee::kernel]
fn offset(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    y[i] = x[i] + i;
}

fn main() {}
