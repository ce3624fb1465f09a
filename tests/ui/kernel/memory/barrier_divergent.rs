#[vibee::kernel]
fn stage(x: &[f32], y: &mut [f32]) {
    let tile = shared::<f32>(256);
    tile[unit_pos()] = x[global_pos()];
    if global_pos() < x.len() {
        barrier();
    }
    y[global_pos()] = tile[255 - unit_pos()];
}

fn main() {}
