// A default is a constant: it cannot read another field.
#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[config(default = width * 4)]
    hidden: usize,
}

fn main() {}
