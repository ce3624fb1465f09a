// Every problem of one model is reported in the same build.
#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[param(init = zeros)]
    scale: Param,
    #[module(config = LinearConfig::new(width, width), len = 2)]
    fc: Linear,
    bias: Param,
}

fn main() {}
