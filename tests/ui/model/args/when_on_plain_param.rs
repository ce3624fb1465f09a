#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[param(shape = [width], when = width > 1)]
    bias: Param,
}

fn main() {}
