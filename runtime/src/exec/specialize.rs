//! Programs specialized per binding of symbolic dimensions: a model traced under
//! [`Bindings`] (`batch=16, seq=128`) is compiled once and reused for every later run with
//! the same sizes, as `torch.compile` recompiles per new static shape. The GPT trainer's
//! own cache ([`crate::nn::CpuGpt`]) works the same way, keyed by its batch and sequence.

use std::collections::HashMap;

use vibee_dsl::graph::symbolic::Bindings;
use vibee_dsl::graph::{Graph, GraphError};

use super::{CompileOptions, ExecError, Program};

/// How a graph is traced for given sizes.
pub type Trace<'a> = dyn Fn(&Bindings) -> Result<Graph, GraphError> + 'a;

/// Compiled programs of one traced model, one per binding of its symbolic dimensions.
///
/// ```
/// use vibee_dsl::graph::symbolic::{Bindings, Dim};
/// use vibee_dsl::graph::{DType, InputRole, Tracer};
/// use vibee_runtime::exec::{CompileOptions, Feed, Specialized};
/// let mut rows = Specialized::new(
///     |b: &Bindings| {
///         let tr = Tracer::with_bindings(b.clone());
///         let x = tr.input_dims("x", &[Dim::sym("n"), Dim::Fixed(2)], DType::F32, InputRole::Data);
///         let y = x.sum(&[1], false);
///         tr.finish(&[&y])
///     },
///     1,
///     CompileOptions::default(),
/// );
/// let p = rows.program(&Bindings::new(&[("n", 3)])).unwrap();
/// p.run(&[Feed::F32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])], 0).unwrap();
/// assert_eq!(p.output(0), [3.0, 7.0, 11.0]);
/// rows.program(&Bindings::new(&[("n", 1)])).unwrap();
/// rows.program(&Bindings::new(&[("n", 3)])).unwrap(); // cached
/// assert_eq!(rows.len(), 2);
/// ```
pub struct Specialized<'a> {
    trace: Box<Trace<'a>>,
    threads: usize,
    options: CompileOptions,
    programs: HashMap<Vec<(String, usize)>, Program>,
}

impl std::fmt::Debug for Specialized<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut keys: Vec<_> = self.programs.keys().collect();
        keys.sort();
        f.debug_struct("Specialized")
            .field("threads", &self.threads)
            .field("options", &self.options)
            .field("compiled", &keys)
            .finish_non_exhaustive()
    }
}

impl<'a> Specialized<'a> {
    /// Programs of `trace`, compiled on first use with `threads` and `options`.
    pub fn new(
        trace: impl Fn(&Bindings) -> Result<Graph, GraphError> + 'a,
        threads: usize,
        options: CompileOptions,
    ) -> Self {
        Self {
            trace: Box::new(trace),
            threads,
            options,
            programs: HashMap::new(),
        }
    }

    /// The program for `bindings`: traced and compiled the first time these sizes are
    /// seen, the cached one after. A trace error (an unbound symbol, a shape mismatch)
    /// compiles nothing and is returned.
    pub fn program(&mut self, bindings: &Bindings) -> Result<&mut Program, ExecError> {
        use std::collections::hash_map::Entry;
        match self.programs.entry(bindings.key()) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let graph = (self.trace)(bindings)?;
                let program = Program::compile_with_options(&graph, self.threads, self.options)?;
                Ok(e.insert(program))
            }
        }
    }

    /// Specializations compiled so far.
    pub fn len(&self) -> usize {
        self.programs.len()
    }

    /// Whether nothing has been compiled yet.
    pub fn is_empty(&self) -> bool {
        self.programs.is_empty()
    }

    /// Drops every compiled program (they are compiled again on next use).
    pub fn clear(&mut self) {
        self.programs.clear();
    }
}
