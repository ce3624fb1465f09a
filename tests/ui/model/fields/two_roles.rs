#[vibee::model]
pub struct Net {
    #[config]
    #[config]
    width: usize,
}

fn main() {}
