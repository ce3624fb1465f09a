#[vibee::kernel]
fn noisy(y: &mut [f32]) {
    println!("unit {}", global_pos());
    y[global_pos()] = 1.0;
}

fn main() {}
