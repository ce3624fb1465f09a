#[vibee::kernel]
fn clear(x: &[f32]) {
    x[global_pos()] = 0.0;
}

fn main() {}
