#[vibee::kernel]
fn search(x: &[f32], y: &mut [f32]) {
    'rows: for r in 0..4 {
        for c in 0..4 {
            if x[r * 4 + c] > 0.0 {
                break 'rows;
            }
        }
    }
    y[0] = 1.0;
}

fn main() {}
