#[vibee::kernel]
fn scale(a: &f32, y: &mut [f32]) {
    y[global_pos()] = 0.0;
}

fn main() {}
