#[vibee::kernel]
fn pick(x: &[f32], y: &mut [f32], mode: u32) {
    let i = global_pos();
    match mode {
        0 => y[i] = x[i],
        _ => y[i] = 0.0,
    }
}

fn main() {}
