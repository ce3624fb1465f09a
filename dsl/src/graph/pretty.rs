//! The graph's text form, one node per line:
//! `%3 = matmul[trans_b](%1, %2) : f32[2, 4]  @ src/model.rs:12:9`.

use std::fmt;

use super::ir::{Graph, Node, Op};

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, node) in self.nodes.iter().enumerate() {
            write!(f, "%{i} = ")?;
            write_node(f, node)?;
            writeln!(f)?;
        }
        let outs: Vec<String> = self.outputs.iter().map(ToString::to_string).collect();
        writeln!(f, "outputs: {}", outs.join(", "))
    }
}

fn write_node(f: &mut fmt::Formatter<'_>, node: &Node) -> fmt::Result {
    write!(f, "{}", node.op.name())?;
    let attrs = attributes(&node.op);
    if !attrs.is_empty() {
        write!(f, "[{attrs}]")?;
    }
    let args: Vec<String> = node.inputs.iter().map(ToString::to_string).collect();
    let dtype = format!("{:?}", node.dtype).to_lowercase();
    write!(f, "({}) : {dtype}{:?}", args.join(", "), node.shape)?;
    if let Some(site) = &node.site {
        write!(f, "  @ {site}")?;
    }
    Ok(())
}

fn attributes(op: &Op) -> String {
    match op {
        Op::Input { name, role } => format!("{name}, {role:?}"),
        Op::Constant { value } => format!("{value}"),
        Op::Unary(u) => format!("{u:?}"),
        Op::Binary(b) => format!("{b:?}"),
        Op::MatMul { trans_a, trans_b } => {
            let t: Vec<&str> = [(*trans_a, "trans_a"), (*trans_b, "trans_b")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| *n)
                .collect();
            t.join(", ")
        }
        Op::Reduce {
            op,
            axes,
            keep_dims,
        } => format!("{op:?}, axes {axes:?}, keep_dims {keep_dims}"),
        Op::Permute { perm } => format!("{perm:?}"),
        Op::Slice { axis, start, end } => format!("axis {axis}, {start}..{end}"),
        Op::Pad {
            axis,
            before,
            after,
        } => format!("axis {axis}, {before}+{after}"),
        Op::Concat { axis } => format!("axis {axis}"),
        Op::CausalSoftmax { scale } | Op::SoftmaxGrad { scale } => format!("scale {scale}"),
        Op::SelfAttention { heads, scale } | Op::SelfAttentionGrad { heads, scale } => {
            format!("heads {heads}, scale {scale}")
        }
        Op::LayerNorm { eps }
        | Op::LayerNormGrad { eps }
        | Op::RmsNorm { eps }
        | Op::RmsNormGrad { eps } => {
            format!("eps {eps}")
        }
        Op::ScatterAdd { rows } => format!("rows {rows}"),
        Op::Dropout { p, seed } => format!("p {p}, seed {seed}"),
        Op::Cast { to } => format!("to {to:?}"),
        Op::Rope { theta, inverse } => match inverse {
            false => format!("theta {theta}"),
            true => format!("theta {theta}, inverse"),
        },
        Op::Call(c) => format!("{}[{}]", c.function.name, c.output),
        Op::Fused(fused) => fused.describe(),
        Op::FusedOutput { index, .. } => format!("{index}"),
        _ => String::new(),
    }
}
