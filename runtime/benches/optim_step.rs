//! Optimizer-step throughput benchmark (being written).
fn main() {}
