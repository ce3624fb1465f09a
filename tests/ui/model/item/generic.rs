// Sizes come from config fields, not type parameters.
#[vibee::model]
pub struct Net<T> {
    #[config]
    width: T,
}

fn main() {}
