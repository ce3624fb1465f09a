#[vibee::kernel]
fn mask(keep: &[bool], y: &mut [f32]) {
    y[global_pos()] = 0.0;
}

fn main() {}
