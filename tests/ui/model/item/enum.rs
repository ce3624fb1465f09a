// A model is a struct: an enum has no fields to traverse.
#[vibee::model]
pub enum Net {
    Small,
    Large,
}

fn main() {}
