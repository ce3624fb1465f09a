//! What every executor of the graph IR does before it runs anything — the CPU [`Program`]
//! and the device executor of the facade crate alike: optimise, recompute, give aliased
//! outputs their own copy, check dtypes, list the inputs, and check what is bound to them.

use vibee_dsl::graph::passes::fuse::{FuseOptions, fuse_elementwise_with};
use vibee_dsl::graph::passes::{Recompute, optimize, recompute};
use vibee_dsl::graph::{DType, Graph};

use super::program::{check_dtypes, copy_aliased_outputs};
use super::{CompileOptions, ExecError, Feed, InputSpec};

/// A graph ready to run, as [`prepare`] returns it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The graph to run.
    pub graph: Graph,
    /// Its inputs, in binding order.
    pub inputs: Vec<InputSpec>,
    /// Per node, the input it is (if any).
    pub input_of_node: Vec<Option<usize>>,
}

/// A graph ready to run: optimised (CSE, DCE), recomputation and elementwise fusion applied
/// as `options` say, every output in its own storage, dtypes checked; and its inputs in
/// binding order.
/// [`CompileOptions::fuse`] fuses the ops [`CPU_FUSION`] allows.
pub fn prepare(graph: &Graph, options: CompileOptions) -> Result<Prepared, ExecError> {
    prepare_with(graph, options.recompute, options.fuse.then_some(CPU_FUSION))
}

/// What the CPU executor fuses: only memory-bound ops. Its fused kernels run 4-lane
/// vectors (Cranelift's widest on x86) and its own loops 8 (AVX2), so a compute-bound
/// function (GELU, `exp`, …) is faster on its own than inside a fused kernel.
pub const CPU_FUSION: FuseOptions = FuseOptions::MEMORY_BOUND;

/// [`prepare`] with recomputation `policy` and elementwise fusion as `fusion` allows
/// (`None`: none).
pub fn prepare_with(
    graph: &Graph,
    policy: Recompute,
    fusion: Option<FuseOptions>,
) -> Result<Prepared, ExecError> {
    let (graph, _) = optimize(graph);
    let mut graph = recompute(&graph, policy);
    if let Some(options) = fusion {
        graph = fuse_elementwise_with(&graph, options)?;
    }
    copy_aliased_outputs(&mut graph)?;
    check_dtypes(&graph)?;
    let mut inputs = Vec::new();
    let mut input_of_node = vec![None; graph.nodes.len()];
    for (id, name, role) in graph.inputs() {
        input_of_node[id.index()] = Some(inputs.len());
        let n = graph.node(id);
        inputs.push(InputSpec {
            name: name.to_string(),
            shape: n.shape.clone(),
            dtype: n.dtype,
            role,
        });
    }
    Ok(Prepared {
        graph,
        inputs,
        input_of_node,
    })
}

/// Checks that `feeds` bind every input, in order, with its dtype and element count.
pub fn check_feeds(inputs: &[InputSpec], feeds: &[Feed<'_>]) -> Result<(), ExecError> {
    if feeds.len() != inputs.len() {
        return Err(ExecError::FeedCount {
            want: inputs.len(),
            got: feeds.len(),
        });
    }
    for (spec, feed) in inputs.iter().zip(feeds) {
        let (got_dtype, got) = match feed {
            Feed::F32(x) => (DType::F32, x.len()),
            Feed::U32(x) => (DType::U32, x.len()),
        };
        let want = spec.shape.iter().product();
        if got_dtype != spec.dtype || got != want {
            let (name, dtype) = (spec.name.clone(), spec.dtype);
            return Err(ExecError::Feed {
                name,
                dtype,
                want,
                got_dtype,
                got,
            });
        }
    }
    Ok(())
}
