//! The CPU executor of the graph IR.
//!
//! [`Program::compile`] takes a [`vibee_dsl::graph::Graph`], merges common subexpressions,
//! drops dead nodes, fuses elementwise chains into kernel-IR kernels (compiled once by the
//! Cranelift backend, [`crate::cpu`]) and plans storage by liveness (slots allocated once
//! and reused every step); [`Program::run`] binds the inputs and executes the nodes in
//! order — matrix products through `gemm` (its AVX-512 kernels picked at run time where
//! the CPU has them), fused kernels through the backend over rayon, every other op in Rust
//! loops split over rayon threads. [`CompileOptions`] turns fusion off and recomputation on. Results depend only on
//! the inputs, the step (dropout) and the thread count: no reduction order depends on
//! scheduling.
//!
//! ```
//! use vibee_dsl::graph::{DType, Graph, InputRole};
//! use vibee_runtime::exec::{Feed, Program};
//! let mut g = Graph::new();
//! let x = g.input("x", &[2, 2], DType::F32, InputRole::Data).unwrap();
//! let y = g.matmul(x, x, false, false).unwrap();
//! g.outputs.push(y);
//! let mut p = Program::compile(&g, 1).unwrap();
//! p.run(&[Feed::F32(&[1.0, 2.0, 3.0, 4.0])], 0).unwrap();
//! assert_eq!(p.output(0), &[7.0, 10.0, 15.0, 22.0]);
//! ```

mod attention;
mod elementwise;
mod fused;
mod math;
mod matmul;
mod merge;
mod movement;
mod prepare;
mod program;
mod reduce;
mod rope;
mod rows;
mod specialize;

pub use matmul::{gemm_f32, gemm_isa};
pub use prepare::{CPU_FUSION, Prepared, check_feeds, prepare, prepare_with};
pub use program::{CompileOptions, InputSpec, Program};
pub use specialize::{Specialized, Trace};

use vibee_dsl::graph::DType;

/// A value bound to a program input.
#[derive(Debug, Clone, Copy)]
pub enum Feed<'a> {
    /// Float data (parameters, activations).
    F32(&'a [f32]),
    /// Indices (tokens, targets).
    U32(&'a [u32]),
}

/// Errors of compiling or running a [`Program`].
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The graph is malformed (an op the executor cannot run with these operands).
    #[error(transparent)]
    Graph(#[from] vibee_dsl::graph::GraphError),
    /// A bound value does not fit its input.
    #[error("input `{name}` expects {want} values of {dtype:?}, got {got} of {got_dtype:?}")]
    Feed {
        /// The input's name.
        name: String,
        /// Its dtype.
        dtype: DType,
        /// Values expected.
        want: usize,
        /// The dtype bound.
        got_dtype: DType,
        /// Values bound.
        got: usize,
    },
    /// The number of bound values differs from the number of inputs.
    #[error("the program has {want} inputs, {got} values were bound")]
    FeedCount {
        /// Inputs of the program.
        want: usize,
        /// Values bound.
        got: usize,
    },
    /// An index is outside the table it selects from.
    #[error("`{op}` at {site}: index {index} is out of range for {rows} rows")]
    IndexOutOfRange {
        /// The op's name.
        op: &'static str,
        /// Its call site.
        site: String,
        /// The bad index.
        index: u32,
        /// Rows available.
        rows: usize,
    },
    /// The graph uses a dtype the CPU executor does not compute in.
    #[error("node {node} (`{op}`) has dtype {dtype:?}; the CPU executor computes in f32")]
    Unsupported {
        /// The node.
        node: usize,
        /// Its op.
        op: &'static str,
        /// Its dtype.
        dtype: DType,
    },
    /// A fused kernel failed to compile or run on the CPU backend.
    #[error("fused node {node}: {source}")]
    Kernel {
        /// The fused node.
        node: usize,
        /// What the backend reported.
        source: crate::LaunchError,
    },
    /// The thread pool could not be built.
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads {
        /// Threads asked for.
        threads: usize,
        /// Why rayon refused.
        reason: String,
    },
}
