//! Elementwise fusion: connected elementwise nodes of one shape become one
//! [`Op::Fused`] node whose kernel reads each operand once and writes only the values
//! something outside the group reads.
//!
//! Members are [`Op::Unary`], [`Op::Binary`] and [`Op::Cast`] nodes of a float dtype whose
//! every operand is a [`Op::Constant`] (inlined as a literal) or reads through an
//! [`OperandMap`]: the same shape, or broadcast so that its kept axes are one contiguous
//! run (a bias `[n]` against `[m, n]`, a column `[m, 1]`, a scalar). A node with any other
//! broadcast (`[m, 1, k]` against `[m, n, k]`) stays unfused, as does every other op.
//!
//! Groups grow in graph order: a node joins the groups of its same-shape member operands
//! when no member of those groups has a reader outside them placed before the node. The
//! fused node takes the place of its last member, so every reader of its outputs still
//! comes after it and every operand before it, without reordering anything else. A group's
//! outputs are its members read outside it or returned by the graph (a forward value the
//! backward reads stays materialised, as an extra output). Groups of one node stay as they
//! are: the executor's single-op loops are as good.
//!
//! A column reduction ([`Op::Reduce`] over leading axes, as a bias gradient sums rows,
//! see [`columns::column_axes`]) joins the group of the value it reduces, or the groups
//! reading the same operand, as a reduction the kernel accumulates: the reduced value is
//! then stored only when something else reads it. Its result is a further output; an
//! elementwise op reading a reduction's result starts a new group (reductions end groups:
//! no epilogues). A group keeps at least one elementwise output, all its reductions reduce
//! the same axes, and it still needs two elementwise members (one op and the sums of its
//! value are left to the executor's loops, which are as fast). Reshapes are first moved to just before their first reader, so
//! that a gradient's reshape does not keep its reduction out of a later group.
//!
//! Run it last, after autodiff and recomputation: nothing differentiates or recomputes a
//! fused node.

mod columns;

use std::collections::HashMap;

use super::dce::eliminate_dead_code;
use crate::graph::error::GraphError;
use crate::graph::fused::{FusedArg, FusedFn, FusedOp, FusedReduction, FusedStep, OperandMap};
use crate::graph::ir::{Graph, Node, NodeId, Op};

/// `g` with its elementwise groups of two or more nodes fused (and constants only they
/// read dropped).
///
/// ```
/// use vibee_dsl::graph::{DType, Graph, InputRole, Op, UnaryOp};
/// use vibee_dsl::graph::passes::fuse_elementwise;
/// let mut g = Graph::new();
/// let x = g.input("x", &[4, 8], DType::F32, InputRole::Data).unwrap();
/// let b = g.input("b", &[8], DType::F32, InputRole::Param).unwrap();
/// let y = g.add(x, b).unwrap();
/// let z = g.gelu(y).unwrap();
/// g.outputs.push(z);
/// let fused = fuse_elementwise(&g).unwrap();
/// assert!(matches!(fused.node(fused.outputs[0]).op, Op::Fused(_)));
/// assert_eq!(fused.nodes.len(), 3);
/// ```
pub fn fuse_elementwise(g: &Graph) -> Result<Graph, GraphError> {
    fuse_elementwise_with(g, FuseOptions::ALL)
}

/// Which elementwise ops may join a fused group.
///
/// A fused kernel saves passes over memory; an op that costs far more arithmetic than
/// memory traffic gains little from that, and loses where the backend's fused kernels run
/// narrower vectors than its own single-op loops. On the CPU they do (4-lane Cranelift
/// kernels against 8-lane AVX2 loops): measured on a GELU over `[2048, 512]`, the fused
/// bias-add + GELU took about twice the time of the two unfused ops, while a chain of adds
/// ran faster fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuseOptions {
    /// Whether the compute-bound functions join groups: `exp`, `log`, `tanh`, `sigmoid`,
    /// GELU and its gradient (see [`is_compute_bound`]).
    pub compute_bound: bool,
    /// Whether column reductions of a group's values (or of operands it reads) join it.
    pub reductions: bool,
}

impl FuseOptions {
    /// Every elementwise op and column reduction may be fused (what [`fuse_elementwise`]
    /// does).
    pub const ALL: Self = Self {
        compute_bound: true,
        reductions: true,
    };
    /// Only ops whose cost is their memory traffic: the compute-bound functions run on
    /// their own; column reductions join the groups of memory-bound ops.
    pub const MEMORY_BOUND: Self = Self {
        compute_bound: false,
        reductions: true,
    };

    /// These options with column reductions left out of groups (`on` false) or in.
    pub const fn with_reductions(self, on: bool) -> Self {
        Self {
            reductions: on,
            ..self
        }
    }
}

impl Default for FuseOptions {
    fn default() -> Self {
        Self::ALL
    }
}

/// Whether `op` is an elementwise function whose arithmetic (a polynomial, a rational
/// function or a range reduction per element) outweighs its memory traffic.
pub fn is_compute_bound(op: &Op) -> bool {
    use crate::graph::ir::{BinaryOp, UnaryOp};
    matches!(
        op,
        Op::Unary(UnaryOp::Exp | UnaryOp::Log | UnaryOp::Tanh | UnaryOp::Sigmoid | UnaryOp::Gelu)
            | Op::Binary(BinaryOp::GeluGrad)
    )
}

/// [`fuse_elementwise`] with the members `options` allow.
///
/// ```
/// use vibee_dsl::graph::{DType, Graph, InputRole, Op};
/// use vibee_dsl::graph::passes::fuse::{FuseOptions, fuse_elementwise_with};
/// let mut g = Graph::new();
/// let x = g.input("x", &[4, 8], DType::F32, InputRole::Data).unwrap();
/// let b = g.input("b", &[8], DType::F32, InputRole::Param).unwrap();
/// let y = g.add(x, b).unwrap();
/// let z = g.gelu(y).unwrap();
/// g.outputs.push(z);
/// let kept = fuse_elementwise_with(&g, FuseOptions::MEMORY_BOUND).unwrap();
/// assert!(!kept.nodes.iter().any(|n| matches!(n.op, Op::Fused(_))));
/// ```
pub fn fuse_elementwise_with(g: &Graph, options: FuseOptions) -> Result<Graph, GraphError> {
    let sunk;
    let g = if options.reductions {
        sunk = columns::sink_reshapes(g);
        &sunk
    } else {
        g
    };
    let groups = Grouping::new(g, options).groups();
    let mut group_of: Vec<Option<usize>> = vec![None; g.nodes.len()];
    for (k, members) in groups.iter().enumerate() {
        for &m in members {
            group_of[m] = Some(k);
        }
    }
    let users = users(g);
    let mut out = Graph::new();
    let mut map: Vec<Option<NodeId>> = vec![None; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        match group_of[i] {
            Some(k) if groups[k].last() == Some(&i) => {
                let group = Group {
                    g,
                    members: &groups[k],
                    group_of: &group_of,
                    id: k,
                };
                group.emit(&mut out, &mut map, &users)?;
            }
            Some(_) => {}
            None => {
                let mut n = node.clone();
                n.inputs = remap(&node.inputs, &map, node)?;
                map[i] = Some(NodeId(out.nodes.len() as u32));
                out.nodes.push(n);
            }
        }
    }
    out.outputs = g
        .outputs
        .iter()
        .map(|o| map[o.index()].ok_or_else(|| internal(g.node(*o))))
        .collect::<Result<_, _>>()?;
    Ok(eliminate_dead_code(&out).0)
}

/// Readers of every node (in graph order, repeated per operand slot).
fn users(g: &Graph) -> Vec<Vec<usize>> {
    let mut users = vec![Vec::new(); g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        for j in &node.inputs {
            users[j.index()].push(i);
        }
    }
    users
}

fn remap(
    inputs: &[NodeId],
    map: &[Option<NodeId>],
    node: &Node,
) -> Result<Vec<NodeId>, GraphError> {
    inputs
        .iter()
        .map(|j| map[j.index()].ok_or_else(|| internal(node)))
        .collect()
}

/// A broken invariant of the pass (a reader of a value the fusion dropped).
fn internal(node: &Node) -> GraphError {
    GraphError::Shape {
        op: node.op.name(),
        site: crate::graph::error::site_string(node.site.as_ref()),
        shapes: vec![node.shape.clone()],
        reason: "elementwise fusion lost one of its operands (a bug in the pass)".into(),
    }
}

/// The grouping decision, in graph order.
struct Grouping<'g> {
    g: &'g Graph,
    options: FuseOptions,
    users: Vec<Vec<usize>>,
    group_of: Vec<Option<usize>>,
    members: Vec<Vec<usize>>,
    /// Per group, the axes its reductions reduce (`None`: it has none).
    axes: Vec<Option<&'g [usize]>>,
}

impl<'g> Grouping<'g> {
    fn new(g: &'g Graph, options: FuseOptions) -> Self {
        Self {
            g,
            options,
            users: users(g),
            group_of: vec![None; g.nodes.len()],
            members: Vec::new(),
            axes: Vec::new(),
        }
    }

    /// Every group of two or more elementwise members (and any reductions), members in
    /// graph order.
    fn groups(mut self) -> Vec<Vec<usize>> {
        for i in 0..self.g.nodes.len() {
            let elementwise = fusable(self.g, i)
                && (self.options.compute_bound || !is_compute_bound(&self.g.nodes[i].op));
            let reduction = self.options.reductions && self.reduction_axes(i).is_some();
            if elementwise || reduction {
                self.join(i);
            }
        }
        // Reductions do not count: one elementwise op and the sums of its value save only
        // the sums' read of it, and the executor's 8-lane loops for the op and the sum are
        // as fast as the 4-lane fused kernel (measured on a bias gradient `Σ(a + b)` over
        // `[2048, 128]`: fused 1.0–1.6× the time of the two unfused loops).
        let g = self.g;
        self.members.retain(|m| {
            m.iter()
                .filter(|&&x| !matches!(g.nodes[x].op, Op::Reduce { .. }))
                .count()
                >= 2
        });
        self.members
    }

    /// The axes node `i` reduces, when it is a reduction groups may take.
    fn reduction_axes(&self, i: usize) -> Option<&'g [usize]> {
        columns::column_axes(self.g, i)
    }

    /// The shape of the elements node `i` works on: its own, or a reduction's operand's.
    fn domain(&self, i: usize) -> &'g [usize] {
        let node = &self.g.nodes[i];
        match node.op {
            Op::Reduce { .. } => self.g.shape(node.inputs[0]),
            _ => &node.shape,
        }
    }

    /// Puts `i` in a new group, merged with the groups it can join: those of its operands
    /// of its shape, and those of earlier readers of its full-size operands (siblings: one
    /// kernel then reads the shared operand once). A reduction's operand is of its domain;
    /// a reduction's result is never merged through.
    fn join(&mut self, i: usize) {
        let node = &self.g.nodes[i];
        let domain = self.domain(i);
        let mut candidates: Vec<usize> = Vec::new();
        let mut add = |k: Option<usize>| {
            if let Some(k) = k.filter(|k| !candidates.contains(k)) {
                candidates.push(k);
            }
        };
        for j in node.inputs.iter().map(|j| j.index()) {
            let operand = &self.g.nodes[j];
            if operand.shape != domain || matches!(operand.op, Op::Reduce { .. }) {
                continue;
            }
            add(self.group_of[j]);
            if !matches!(operand.op, Op::Constant { .. }) {
                for &u in self.users[j].iter().filter(|&&u| u < i) {
                    if self.domain(u) == domain {
                        add(self.group_of[u]);
                    }
                }
            }
        }
        // One set of reduced axes per group.
        let own = self.reduction_axes(i).filter(|_| self.options.reductions);
        let own = matches!(node.op, Op::Reduce { .. })
            .then_some(own)
            .flatten();
        let mut axes = own;
        candidates.retain(|&k| match (axes, self.axes[k]) {
            (Some(a), Some(b)) => a == b,
            (None, b) => {
                axes = b;
                true
            }
            (Some(_), None) => true,
        });
        // Drop groups read before `i` outside the merged set, until none is.
        loop {
            let kept: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&k| self.closed_before(k, i, &candidates))
                .collect();
            if kept.len() == candidates.len() {
                break;
            }
            candidates = kept;
        }
        let mut members = vec![i];
        let mut axes = own;
        for &k in &candidates {
            members.append(&mut self.members[k]);
            axes = axes.or(self.axes[k]);
        }
        members.sort_unstable();
        let id = self.members.len();
        for &m in &members {
            self.group_of[m] = Some(id);
        }
        self.members.push(members);
        self.axes.push(axes);
    }

    /// Whether no member of group `k` is read before node `i` outside the groups `with`
    /// (graph outputs are read at the end, after `i`).
    fn closed_before(&self, k: usize, i: usize, with: &[usize]) -> bool {
        self.members[k].iter().all(|&m| {
            self.users[m]
                .iter()
                .all(|&u| u >= i || self.group_of[u].is_some_and(|g| with.contains(&g)))
        })
    }
}

/// Whether node `i` may be a member: a float elementwise op whose operands are constants
/// or read through an [`OperandMap`], with an element count a `u32` index covers.
fn fusable(g: &Graph, i: usize) -> bool {
    let node = &g.nodes[i];
    let elementwise = matches!(node.op, Op::Unary(_) | Op::Binary(_) | Op::Cast { .. });
    let n = node.numel();
    elementwise
        && node.dtype.is_float()
        && n > 0
        && u32::try_from(n).is_ok()
        && node.inputs.iter().all(|j| {
            let operand = g.node(*j);
            matches!(operand.op, Op::Constant { .. })
                || (operand.dtype.is_float()
                    && OperandMap::between(&operand.shape, &node.shape).is_some())
        })
}

/// One group being written into the fused graph.
struct Group<'a> {
    g: &'a Graph,
    members: &'a [usize],
    group_of: &'a [Option<usize>],
    id: usize,
}

impl Group<'_> {
    fn inside(&self, j: usize) -> bool {
        self.group_of[j] == Some(self.id)
    }

    fn is_reduction(&self, m: usize) -> bool {
        matches!(self.g.nodes[m].op, Op::Reduce { .. })
    }

    /// Appends the fused node, its extra outputs and its reductions' outputs; records
    /// where each output went.
    fn emit(
        &self,
        out: &mut Graph,
        map: &mut [Option<NodeId>],
        users: &[Vec<usize>],
    ) -> Result<(), GraphError> {
        let elementwise: Vec<usize> = self
            .members
            .iter()
            .copied()
            .filter(|&m| !self.is_reduction(m))
            .collect();
        let reductions: Vec<usize> = self
            .members
            .iter()
            .copied()
            .filter(|&m| self.is_reduction(m))
            .collect();
        let last = self
            .g
            .node(NodeId(*elementwise.last().unwrap_or(&0) as u32));
        let Parts {
            steps,
            operands,
            reduced,
        } = self.parts(&elementwise, &reductions);
        let returned: Vec<bool> = {
            let mut r = vec![false; self.g.nodes.len()];
            self.g.outputs.iter().for_each(|o| r[o.index()] = true);
            r
        };
        let mut outputs: Vec<usize> = (0..elementwise.len())
            .filter(|&s| {
                let m = elementwise[s];
                returned[m] || users[m].iter().any(|&u| !self.inside(u))
            })
            .collect();
        // The node's own value: stored even when only reductions read the group.
        if outputs.is_empty() {
            outputs.push(elementwise.len() - 1);
        }
        let maps = operands.iter().map(|&(_, m)| m).collect();
        let inputs = remap(
            &operands.iter().map(|&(j, _)| j).collect::<Vec<_>>(),
            map,
            last,
        )?;
        let first = self.g.node(NodeId(elementwise[outputs[0]] as u32));
        let fused = FusedOp::with_reductions(
            &self.name(),
            maps,
            steps,
            outputs.clone(),
            reduced,
            &last.shape,
        );
        let id = out.push_at(
            Op::Fused(Box::new(fused)),
            &inputs,
            &last.shape,
            first.site.clone(),
        )?;
        map[elementwise[outputs[0]]] = Some(id);
        for (index, &s) in outputs.iter().enumerate().skip(1) {
            let member = self.g.node(NodeId(elementwise[s] as u32));
            let op = Op::FusedOutput {
                index,
                dtype: member.dtype,
            };
            map[elementwise[s]] = Some(out.push_at(op, &[id], &[], member.site.clone())?);
        }
        for (k, &r) in reductions.iter().enumerate() {
            map[r] = Some(reduction_output(
                out,
                id,
                outputs.len() + k,
                self.g.node(NodeId(r as u32)),
            ));
        }
        Ok(())
    }

    /// The steps (elementwise members in order), the operands they and the reductions
    /// read (node, map; deduplicated in first-read order), and the reductions.
    fn parts(&self, elementwise: &[usize], reductions: &[usize]) -> Parts {
        let domain = &self.g.node(NodeId(elementwise[0] as u32)).shape;
        let mut operands: Vec<(NodeId, OperandMap)> = Vec::new();
        let mut operand_of: HashMap<NodeId, usize> = HashMap::new();
        let step_of: HashMap<usize, usize> = elementwise
            .iter()
            .enumerate()
            .map(|(s, &m)| (m, s))
            .collect();
        let mut arg = |j: NodeId| match (&self.g.node(j).op, step_of.get(&j.index())) {
            (_, Some(&s)) => FusedArg::Step(s),
            (Op::Constant { value }, None) => FusedArg::Constant {
                value: *value,
                dtype: self.g.node(j).dtype,
            },
            _ => FusedArg::Operand(*operand_of.entry(j).or_insert_with(|| {
                let map = OperandMap::between(self.g.shape(j), domain)
                    .unwrap_or(OperandMap { stride: 1, len: 1 });
                operands.push((j, map));
                operands.len() - 1
            })),
        };
        let steps = elementwise
            .iter()
            .map(|&m| {
                let node = &self.g.nodes[m];
                let args = node.inputs.iter().map(|&j| arg(j)).collect();
                let op = match node.op {
                    Op::Unary(u) => FusedFn::Unary(u),
                    Op::Binary(b) => FusedFn::Binary(b),
                    _ => FusedFn::Cast,
                };
                FusedStep {
                    op,
                    args,
                    dtype: node.dtype,
                }
            })
            .collect();
        let reduced = reductions
            .iter()
            .filter_map(|&r| {
                let node = &self.g.nodes[r];
                let Op::Reduce { op, ref axes, .. } = node.op else {
                    return None;
                };
                let rows = domain.iter().take(axes.len()).product();
                Some(FusedReduction {
                    arg: arg(node.inputs[0]),
                    op,
                    rows,
                    dtype: node.dtype,
                })
            })
            .collect();
        Parts {
            steps,
            operands,
            reduced,
        }
    }

    /// `fused_<op>_<op>…` from the member ops (shared by identical groups, so a backend
    /// that caches by kernel compiles each once).
    fn name(&self) -> String {
        let mut parts = vec!["fused".to_string()];
        for &m in self.members.iter().take(6) {
            let part = match &self.g.nodes[m].op {
                Op::Unary(u) => format!("{u:?}"),
                Op::Reduce { op, .. } => format!("{op:?}"),
                Op::Binary(b) => format!("{b:?}"),
                op => op.name().to_string(),
            };
            let word: String = part
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            parts.push(word.to_lowercase());
        }
        if self.members.len() > 6 {
            parts.push(format!("{}more", self.members.len() - 6));
        }
        parts.join("_")
    }
}

/// What a group computes, as [`FusedOp::with_reductions`] takes it.
struct Parts {
    steps: Vec<FusedStep>,
    operands: Vec<(NodeId, OperandMap)>,
    reduced: Vec<FusedReduction>,
}

/// Appends output `index` of fused node `fused`: the result of the reduction `reduce` the
/// group took in, with that node's shape and dtype.
///
/// The node is appended as it is rather than through shape inference, which gives a
/// `fused_output` its fused node's shape: a reduction's output has the reduced shape.
fn reduction_output(out: &mut Graph, fused: NodeId, index: usize, reduce: &Node) -> NodeId {
    let id = NodeId(out.nodes.len() as u32);
    out.nodes.push(Node {
        op: Op::FusedOutput {
            index,
            dtype: reduce.dtype,
        },
        inputs: vec![fused],
        shape: reduce.shape.clone(),
        dtype: reduce.dtype,
        site: reduce.site.clone(),
    });
    id
}
