//! What `#[vibee::model]` implements: a model built from a validated config, with its
//! parameters named by their place in the struct; and the config's error type.

use std::fmt::Write as _;

use super::param::{Init, InitRng, Module};

/// A config field that fails one of its checks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{config}: `{field}` {reason}")]
pub struct ConfigError {
    /// The config struct (`GptConfig`).
    pub config: &'static str,
    /// The field the check is written on.
    pub field: &'static str,
    /// What the check says and the values it saw.
    pub reason: String,
}

/// A model's config: serde data that checks itself.
pub trait ModelConfig {
    /// Every check of every field, in field order; the first failure names its field.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// A model built from its config. `#[vibee::model]` implements this (and [`Module`]) for
/// a struct of `#[config]` values, `#[param]` tensors and `#[module]` sub-models.
pub trait Model: Module + Sized {
    /// The generated config struct (`Gpt` → `GptConfig`).
    type Config: ModelConfig;

    /// Builds the model under `prefix` (`""` at the root, else `blocks.3`), drawing every
    /// parameter from `rng` in field order; `init`, when given, replaces every parameter's
    /// own initialisation (the override a parent sets on a `#[module]` field).
    fn init_named(
        config: &Self::Config,
        prefix: &str,
        init: Option<Init>,
        rng: &mut InitRng,
    ) -> Result<Self, ConfigError>;

    /// The config this model was built from.
    fn config(&self) -> Self::Config;

    /// A model initialised from `seed` (the config is validated first).
    fn init(config: &Self::Config, seed: u64) -> Result<Self, ConfigError> {
        Self::init_named(config, "", None, &mut InitRng::new(seed))
    }
}

/// `prefix.name`, or `name` at the root: the dotted names of parameters and sub-models.
pub fn join_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A table of every parameter (name, shape, count) and the total, as `print` shows it.
pub fn summary(model: &dyn Module) -> String {
    let params = model.parameters();
    let rows: Vec<(String, String, usize)> = params
        .iter()
        .map(|p| (p.name.clone(), format!("{:?}", p.shape), p.data.len()))
        .collect();
    let name_w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(9);
    let shape_w = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(5);
    let total: usize = rows.iter().map(|r| r.2).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_w$}  {:<shape_w$}  {:>12}",
        "parameter", "shape", "count"
    );
    for (name, shape, n) in &rows {
        let _ = writeln!(out, "{name:<name_w$}  {shape:<shape_w$}  {n:>12}");
    }
    let _ = writeln!(
        out,
        "{:<name_w$}  {:<shape_w$}  {total:>12}",
        format!("total ({} tensors)", rows.len()),
        ""
    );
    out
}
