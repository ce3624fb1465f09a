#[vibee::kernel]
fn stage(x: &[f32], y: &mut [f32]) {
    if global_pos() < x.len() {
        let tile = shared::<f32>(256);
        tile[unit_pos()] = x[global_pos()];
        y[global_pos()] = tile[unit_pos()];
    }
}

fn main() {}
