#[vibee::kernel]
fn widen(y: &mut [f32]) {
    let big: i64 = 1;
    y[global_pos()] = 0.0;
}

fn main() {}
