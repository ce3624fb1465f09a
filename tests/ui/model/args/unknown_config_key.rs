#[vibee::model]
pub struct Net {
    #[config(min = 1)]
    width: usize,
}

fn main() {}
