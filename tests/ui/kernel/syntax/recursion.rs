#[vibee::kernel]
fn fill(y: &mut [f32], n: u32) {
    if n > 0 {
        fill(y, n - 1);
    }
}

fn main() {}
