//! Built-in layers as plain structs over [`Param`]s; `forward` traces into a graph and is
//! `#[track_caller]`, so a shape error names the model line that called the layer.

use vibee_dsl::graph::{Graph, GraphError, NodeId};

use super::param::{Init, InitRng, Module, Param};

type Traced = Result<NodeId, GraphError>;

/// `y = x·Wᵀ + b` with `W: [out, in]` (PyTorch's layout and default initialisation).
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Param,
    /// `[out]`, if any.
    pub bias: Option<Param>,
}

impl Linear {
    /// `prefix.weight` (and `prefix.bias`), uniform in `±1/√in`.
    pub fn new(prefix: &str, d_in: usize, d_out: usize, bias: bool, rng: &mut InitRng) -> Self {
        let bound = 1.0 / (d_in as f32).sqrt();
        let init = Init::Uniform { bound };
        let weight = Param::new(format!("{prefix}.weight"), &[d_out, d_in], init, rng);
        let bias = bias.then(|| Param::new(format!("{prefix}.bias"), &[d_out], init, rng));
        Self { weight, bias }
    }

    /// Applies the layer to `x: [.., in]`.
    #[track_caller]
    pub fn forward(&self, g: &mut Graph, x: NodeId) -> Traced {
        let w = self.weight.trace(g)?;
        let y = g.matmul(x, w, false, true)?;
        match &self.bias {
            Some(b) => {
                let b = b.trace(g)?;
                g.add(y, b)
            }
            None => Ok(y),
        }
    }
}

impl Module for Linear {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        f(&self.weight);
        if let Some(b) = &self.bias {
            f(b);
        }
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param)) {
        f(&mut self.weight);
        if let Some(b) = &mut self.bias {
            f(b);
        }
    }
}

/// A table of `[rows, dim]` vectors looked up by index.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// `[rows, dim]`.
    pub weight: Param,
}

impl Embedding {
    /// `prefix.weight`, standard normal (PyTorch's default).
    pub fn new(prefix: &str, rows: usize, dim: usize, rng: &mut InitRng) -> Self {
        let init = Init::Normal {
            mean: 0.0,
            std: 1.0,
        };
        Self {
            weight: Param::new(format!("{prefix}.weight"), &[rows, dim], init, rng),
        }
    }

    /// Rows at `ids` (U32).
    #[track_caller]
    pub fn forward(&self, g: &mut Graph, ids: NodeId) -> Traced {
        let w = self.weight.trace(g)?;
        g.gather(w, ids)
    }
}

impl Module for Embedding {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        f(&self.weight);
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param)) {
        f(&mut self.weight);
    }
}

/// Layer normalisation over the last axis, with weight and bias.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// `[dim]`, ones.
    pub weight: Param,
    /// `[dim]`, zeros.
    pub bias: Param,
    /// Added to the variance (PyTorch: 1e-5).
    pub eps: f64,
}

impl LayerNorm {
    /// `prefix.weight` and `prefix.bias`.
    pub fn new(prefix: &str, dim: usize, rng: &mut InitRng) -> Self {
        Self {
            weight: Param::new(format!("{prefix}.weight"), &[dim], Init::Ones, rng),
            bias: Param::new(format!("{prefix}.bias"), &[dim], Init::Zeros, rng),
            eps: 1e-5,
        }
    }

    /// Normalises `x: [.., dim]`.
    #[track_caller]
    pub fn forward(&self, g: &mut Graph, x: NodeId) -> Traced {
        let (w, b) = (self.weight.trace(g)?, self.bias.trace(g)?);
        g.layer_norm(x, Some(w), Some(b), self.eps)
    }
}

impl Module for LayerNorm {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        f(&self.weight);
        f(&self.bias);
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param)) {
        f(&mut self.weight);
        f(&mut self.bias);
    }
}

/// RMS normalisation over the last axis, with weight.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// `[dim]`, ones.
    pub weight: Param,
    /// Added to the mean square.
    pub eps: f64,
}

impl RmsNorm {
    /// `prefix.weight`.
    pub fn new(prefix: &str, dim: usize, rng: &mut InitRng) -> Self {
        Self {
            weight: Param::new(format!("{prefix}.weight"), &[dim], Init::Ones, rng),
            eps: 1e-6,
        }
    }

    /// Normalises `x: [.., dim]`.
    #[track_caller]
    pub fn forward(&self, g: &mut Graph, x: NodeId) -> Traced {
        let w = self.weight.trace(g)?;
        g.rms_norm(x, Some(w), self.eps)
    }
}

impl Module for RmsNorm {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        f(&self.weight);
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param)) {
        f(&mut self.weight);
    }
}

/// `proj(gelu(fc(x)))` with a 4× hidden width.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// `dim → 4·dim`.
    pub fc: Linear,
    /// `4·dim → dim`.
    pub proj: Linear,
}

impl Mlp {
    /// `prefix.fc` and `prefix.proj`.
    pub fn new(prefix: &str, dim: usize, rng: &mut InitRng) -> Self {
        Self {
            fc: Linear::new(&format!("{prefix}.fc"), dim, 4 * dim, true, rng),
            proj: Linear::new(&format!("{prefix}.proj"), 4 * dim, dim, true, rng),
        }
    }

    /// Applies the MLP to `x: [.., dim]`.
    #[track_caller]
    pub fn forward(&self, g: &mut Graph, x: NodeId) -> Traced {
        let h = self.fc.forward(g, x)?;
        let h = g.gelu(h)?;
        self.proj.forward(g, h)
    }
}

impl Module for Mlp {
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param)) {
        self.fc.visit_params(f);
        self.proj.visit_params(f);
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param)) {
        self.fc.visit_params_mut(f);
        self.proj.visit_params_mut(f);
    }
}
