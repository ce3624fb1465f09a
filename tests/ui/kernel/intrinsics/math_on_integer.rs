#[vibee::kernel]
fn roots(y: &mut [f32]) {
    let i = global_pos();
    y[i] = i.sqrt();
}

fn main() {}
