#[vibee::kernel]
fn fill(self, y: &mut [f32]) {
    y[global_pos()] = 1.0;
}

fn main() {}
