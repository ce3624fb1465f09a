// Shapes read config fields only; `hidden` is not one.
#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[module(config = LinearConfig::new(width, hidden))]
    fc: Linear,
}

fn main() {}
