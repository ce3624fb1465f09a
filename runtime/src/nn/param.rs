//! Parameters, the traversal every layer implements, and seeded initialisation.

use vibee_dsl::graph::{DType, Graph, GraphError, InputRole, NodeId, Tensor};

/// One parameter tensor: its stable dotted name, shape and values.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Dotted name (`blocks.0.attn.qkv.weight`), also its graph input's name.
    pub name: String,
    /// Row-major shape.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

impl Param {
    /// A parameter filled by `init`.
    pub fn new(name: impl Into<String>, shape: &[usize], init: Init, rng: &mut InitRng) -> Self {
        let n = shape.iter().product();
        let init = init.for_shape(shape);
        let data = (0..n).map(|_| init.sample(rng)).collect();
        Self {
            name: name.into(),
            shape: shape.to_vec(),
            data,
        }
    }

    /// The traced input standing for this parameter, in `like`'s trace (created at first
    /// use, shared after).
    #[track_caller]
    pub fn tensor(&self, like: &Tensor) -> Tensor {
        like.tracer()
            .input(&self.name, &self.shape, DType::F32, InputRole::Param)
    }

    /// The graph input standing for this parameter (created at first use).
    #[track_caller]
    pub fn trace(&self, g: &mut Graph) -> Result<NodeId, GraphError> {
        match g.input_named(&self.name) {
            Some(id) => Ok(id),
            None => g.input(&self.name, &self.shape, DType::F32, InputRole::Param),
        }
    }
}

/// How a parameter starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Normal with this mean and standard deviation.
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        std: f32,
    },
    /// Uniform in `[-bound, bound)` (PyTorch's `nn.Linear` default with `1/√fan_in`).
    Uniform {
        /// Half-width.
        bound: f32,
    },
    /// Glorot uniform: `bound = gain·√(6 / (fan_in + fan_out))`.
    XavierUniform {
        /// Scale (1 for linear layers).
        gain: f32,
    },
    /// Glorot normal: `std = gain·√(2 / (fan_in + fan_out))`.
    XavierNormal {
        /// Scale (1 for linear layers).
        gain: f32,
    },
}

impl Init {
    /// The Xavier rules resolved against `shape` (`[out, in, ..]` as PyTorch lays out
    /// weights: `fan_in = in·rest`, `fan_out = out·rest`). PyTorch refuses a 1-D tensor;
    /// here both fans are its length, so a bias can share its layer's rule.
    pub fn for_shape(self, shape: &[usize]) -> Init {
        let rest: usize = shape.iter().skip(2).product();
        let (fan_out, fan_in) = match shape {
            [] => (1, 1),
            [n] => (*n, *n),
            [o, i, ..] => (o * rest, i * rest),
        };
        let fans = (fan_in + fan_out).max(1) as f32;
        match self {
            Init::XavierUniform { gain } => Init::Uniform {
                bound: gain * (6.0 / fans).sqrt(),
            },
            Init::XavierNormal { gain } => Init::Normal {
                mean: 0.0,
                std: gain * (2.0 / fans).sqrt(),
            },
            other => other,
        }
    }

    fn sample(self, rng: &mut InitRng) -> f32 {
        match self {
            Init::Zeros => 0.0,
            Init::Ones => 1.0,
            Init::Normal { mean, std } => mean + std * rng.normal(),
            Init::Uniform { bound } => bound * (2.0 * rng.uniform() - 1.0),
            // `new` resolves these first; unresolved they have no fan to scale by.
            Init::XavierUniform { .. } | Init::XavierNormal { .. } => {
                self.for_shape(&[]).sample(rng)
            }
        }
    }
}

/// The initialiser's random numbers: SplitMix64, so a seed gives the same model on every
/// machine and version.
#[derive(Debug, Clone)]
pub struct InitRng(u64);

impl InitRng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32) * (1.0 / (1u64 << 24) as f32)
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }
}

/// A layer or model: visits its parameters in a fixed order (the order checkpoints and
/// optimizers use). `#[vibee::model]` generates the two methods from the struct's fields.
pub trait Module {
    /// Calls `f` on every parameter, in order.
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(&'a Param));
    /// Calls `f` on every parameter, mutably, in the same order.
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'a mut Param));

    /// Every parameter, in order.
    fn parameters(&self) -> Vec<&Param> {
        let mut out = Vec::new();
        self.visit_params(&mut |p| out.push(p));
        out
    }

    /// Total number of parameter values.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit_params(&mut |p| n += p.data.len());
        n
    }

    /// A table of every parameter (name, shape, count) and the total.
    fn summary(&self) -> String
    where
        Self: Sized,
    {
        super::model::summary(self)
    }

    /// Writes every parameter to a safetensors file under its dotted name (atomically).
    fn save_safetensors(&self, path: &std::path::Path) -> Result<(), super::WeightsError>
    where
        Self: Sized,
    {
        super::io::save_safetensors(self, path)
    }

    /// Reads every parameter from a safetensors file (F32, F16 or BF16), strictly: a
    /// missing, unknown or mis-shaped tensor is an error and nothing is changed.
    fn load_safetensors(&mut self, path: &std::path::Path) -> Result<(), super::WeightsError>
    where
        Self: Sized,
    {
        super::io::load_safetensors(self, path)
    }
}
