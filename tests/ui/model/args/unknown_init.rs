#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[param(shape = [width, width], init = kaiming_uniform)]
    w: Param,
}

fn main() {}
