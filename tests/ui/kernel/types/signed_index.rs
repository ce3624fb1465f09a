#[vibee::kernel]
fn gather(x: &[f32], idx: &[i32], y: &mut [f32]) {
    let i = global_pos();
    y[i] = x[idx[i]];
}

fn main() {}
