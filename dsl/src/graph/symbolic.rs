//! Symbolic dimensions: inputs declared with named sizes (`batch`, `seq`) that a trace
//! binds to numbers. A graph is always concrete; a model traced under other [`Bindings`]
//! is another specialization, which executors cache by [`Bindings::key`]
//! (`vibee_runtime::exec::Specialized`).
//!
//! ```
//! use vibee_dsl::graph::symbolic::{Bindings, Dim};
//! use vibee_dsl::graph::{DType, InputRole, Tracer};
//! let shape = [Dim::sym("batch"), Dim::sym("seq"), Dim::Fixed(64)];
//! let tr = Tracer::with_bindings(Bindings::new(&[("batch", 4), ("seq", 128)]));
//! let x = tr.input_dims("x", &shape, DType::F32, InputRole::Data);
//! assert_eq!(x.shape(), [4, 128, 64]);
//! let tr = Tracer::with_bindings(Bindings::new(&[("batch", 4)]));
//! let x = tr.input_dims("x", &shape, DType::F32, InputRole::Data);
//! let err = tr.finish(&[&x]).unwrap_err();
//! assert!(err.to_string().contains("`seq` is not bound"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

/// One axis of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A size known when the model is written.
    Fixed(usize),
    /// A size named here and given by the trace's [`Bindings`].
    Sym(String),
}

impl Dim {
    /// The symbolic dimension `name`.
    pub fn sym(name: &str) -> Self {
        Dim::Sym(name.to_string())
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Self {
        Dim::Fixed(n)
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// The sizes of symbolic dimensions for one trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bindings(BTreeMap<String, usize>);

impl Bindings {
    /// Bindings from `(name, size)` pairs (a later pair for the same name wins).
    pub fn new(pairs: &[(&str, usize)]) -> Self {
        Self(pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect())
    }

    /// The size bound to `name`.
    pub fn get(&self, name: &str) -> Option<usize> {
        self.0.get(name).copied()
    }

    /// The cache key of a specialization: every `(name, size)`, sorted by name.
    pub fn key(&self) -> Vec<(String, usize)> {
        self.0.iter().map(|(k, &v)| (k.clone(), v)).collect()
    }

    /// `dims` with every symbol replaced by its size; `Err` names the first unbound
    /// symbol, or one bound to 0.
    pub fn resolve(&self, dims: &[Dim]) -> Result<Vec<usize>, String> {
        dims.iter()
            .map(|d| match d {
                Dim::Fixed(n) => Ok(*n),
                Dim::Sym(s) => match self.get(s) {
                    Some(0) => Err(format!("`{s}` is bound to 0; sizes must be positive")),
                    Some(n) => Ok(n),
                    None => Err(format!("`{s}` is not bound (bound: {})", self.describe())),
                },
            })
            .collect()
    }

    /// `batch=4, seq=128` (or `nothing`).
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "nothing".into();
        }
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.join(", ")
    }
}

/// `[batch, seq, 64]`.
pub fn shape_string(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims.iter().map(Dim::to_string).collect();
    format!("[{}]", parts.join(", "))
}
