// Parameters are named after fields, so fields need names.
#[allow(unused_imports)]
use vibee::runtime::nn::{Linear, LinearConfig, Param};

#[vibee::model]
pub struct Net(Linear);

fn main() {}
