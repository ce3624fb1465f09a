#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model]
pub struct Net {
    #[config]
    width: usize,
    #[param(shape = [width], name = "scale")]
    gain: Param,
    #[param(shape = [width])]
    scale: Param,
}

fn main() {}
