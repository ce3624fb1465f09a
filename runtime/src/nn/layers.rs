//! Built-in layers, declared with `#[vibee::model]` like a user's model; `forward` traces
//! into a graph and is `#[track_caller]`, so a shape error names the model line that called
//! the layer.

use vibee_dsl::graph::Tensor;

use super::param::Param;

/// `y = x·Wᵀ + b` with `W: [out, in]` (PyTorch's layout and default initialisation).
#[vibee_macros::model(crate = crate)]
#[derive(Debug, Clone)]
pub struct Linear {
    /// Input width.
    #[config(check = d_in >= 1)]
    pub d_in: usize,
    /// Output width.
    #[config(check = d_out >= 1)]
    pub d_out: usize,
    /// Whether the layer adds a bias.
    #[config(default = true)]
    pub with_bias: bool,
    /// `[out, in]`, uniform in `±1/√in`.
    #[param(shape = [d_out, d_in], init = uniform(1.0 / (d_in as f32).sqrt()))]
    pub weight: Param,
    /// `[out]`, if any, initialised like the weight.
    #[param(shape = [d_out], init = uniform(1.0 / (d_in as f32).sqrt()), when = with_bias)]
    pub bias: Option<Param>,
}

impl Linear {
    /// Applies the layer to `x: [.., in]`.
    #[track_caller]
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.matmul_t(&self.weight.tensor(x));
        match &self.bias {
            Some(b) => y + b.tensor(x),
            None => y,
        }
    }
}

/// A table of `[rows, dim]` vectors looked up by index.
#[vibee_macros::model(crate = crate)]
#[derive(Debug, Clone)]
pub struct Embedding {
    /// Rows in the table (the vocabulary, or positions).
    #[config(check = rows >= 1)]
    pub rows: usize,
    /// Width of each row.
    #[config(check = dim >= 1)]
    pub dim: usize,
    /// `[rows, dim]`, standard normal (PyTorch's default).
    #[param(shape = [rows, dim], init = normal(0.0, 1.0))]
    pub weight: Param,
}

impl Embedding {
    /// Rows at `ids` (U32).
    #[track_caller]
    pub fn forward(&self, ids: &Tensor) -> Tensor {
        self.weight.tensor(ids).gather(ids)
    }
}

/// Layer normalisation over the last axis, with weight and bias.
#[vibee_macros::model(crate = crate)]
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// Width of the normalised axis.
    #[config(check = dim >= 1)]
    pub dim: usize,
    /// Added to the variance (PyTorch: 1e-5).
    #[config(default = 1e-5, check = eps >= 0.0)]
    pub eps: f64,
    /// `[dim]`, ones.
    #[param(shape = [dim], init = ones)]
    pub weight: Param,
    /// `[dim]`, zeros.
    #[param(shape = [dim], init = zeros)]
    pub bias: Param,
}

impl LayerNorm {
    /// Normalises `x: [.., dim]`.
    #[track_caller]
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (w, b) = (self.weight.tensor(x), self.bias.tensor(x));
        x.layer_norm(Some(&w), Some(&b), self.eps)
    }
}

/// RMS normalisation over the last axis, with weight.
#[vibee_macros::model(crate = crate)]
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// Width of the normalised axis.
    #[config(check = dim >= 1)]
    pub dim: usize,
    /// Added to the mean square.
    #[config(default = 1e-6, check = eps >= 0.0)]
    pub eps: f64,
    /// `[dim]`, ones.
    #[param(shape = [dim], init = ones)]
    pub weight: Param,
}

impl RmsNorm {
    /// Normalises `x: [.., dim]`.
    #[track_caller]
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.rms_norm(Some(&self.weight.tensor(x)), self.eps)
    }
}

/// `proj(gelu(fc(x)))` with a 4× hidden width.
#[vibee_macros::model(crate = crate)]
#[derive(Debug, Clone)]
pub struct Mlp {
    /// Width of the input and output.
    #[config]
    pub dim: usize,
    /// `dim → 4·dim`.
    #[module(config = LinearConfig::new(dim, 4 * dim))]
    pub fc: Linear,
    /// `4·dim → dim`.
    #[module(config = LinearConfig::new(4 * dim, dim))]
    pub proj: Linear,
}

impl Mlp {
    /// Applies the MLP to `x: [.., dim]`.
    #[track_caller]
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.proj.forward(&self.fc.forward(x).gelu())
    }
}
