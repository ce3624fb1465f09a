#[vibee::kernel]
fn copy(x: Vec<f32>, y: &mut [f32]) {
    y[global_pos()] = 0.0;
}

fn main() {}
