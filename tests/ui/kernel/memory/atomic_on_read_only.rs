#[vibee::kernel]
fn count(x: &[f32], bins: &[u32]) {
    atomic_add(&bins, (x[global_pos()] * 10.0) as u32, 1);
}

fn main() {}
