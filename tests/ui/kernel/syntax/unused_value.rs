#[vibee::kernel]
fn forgot_store(x: &[f32], y: &mut [f32]) {
    let i = global_pos();
    x[i] * 2.0;
}

fn main() {}
