#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[module(config = LinearConfig::new(width, width))]
    layers: Vec<Linear>,
}

fn main() {}
