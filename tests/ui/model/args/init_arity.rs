#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[param(shape = [width], init = uniform(-1.0, 1.0))]
    w: Param,
}

fn main() {}
