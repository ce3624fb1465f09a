#[vibee::kernel]
fn scale(a: f64, y: &mut [f32]) {
    y[global_pos()] = 0.0;
}

fn main() {}
