#[vibee::kernel]
fn sync(y: &mut [f32]) {
    let done = barrier();
    y[global_pos()] = 1.0;
}

fn main() {}
