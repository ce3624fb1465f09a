#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[param(shape = [width])]
    scale: Vec<f32>,
}

fn main() {}
