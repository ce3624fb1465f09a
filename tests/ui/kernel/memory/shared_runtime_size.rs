#[vibee::kernel]
fn stage(x: &[f32], y: &mut [f32], n: u32) {
    let tile = shared::<f32>(n);
    tile[unit_pos()] = x[global_pos()];
    barrier();
    y[global_pos()] = tile[unit_pos()];
}

fn main() {}
