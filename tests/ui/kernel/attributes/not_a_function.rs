#[vibee::kernel]
struct Axpy {
    a: f32,
}

fn main() {}
