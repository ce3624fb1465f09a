// Config values are read from TOML, so they own their data.
#[vibee::model]
pub struct Net {
    #[config]
    task: &'static str,
}

fn main() {}
