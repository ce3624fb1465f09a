#[vibee::kernel]
fn flags(x: &[u32], y: &mut [u32]) {
    let i = global_pos();
    let on = x[i] as bool;
    y[i] = 1;
}

fn main() {}
