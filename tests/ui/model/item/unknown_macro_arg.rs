#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model(cfg = NetSettings)]
pub struct Net {
    #[config]
    width: usize,
    #[module(config = LinearConfig::new(width, width))]
    fc: Linear,
}

fn main() {}
