//! Optimizer state as plain data for checkpoints: named scalars and per-parameter buffers,
//! stored in `f64` (exact for `f32` state) so one format serves both element types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Float, OptimError, ParamSet};

/// Everything an optimizer needs to resume exactly.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StateDict {
    /// Which optimizer wrote it (`"adamw"`, `"lion"`, …); loading into another is an error.
    pub optimizer: String,
    /// Optimizer steps taken.
    pub step: u64,
    /// Global scalars (Prodigy's `d`, Schedule-Free's weight sum, …).
    pub scalars: BTreeMap<String, f64>,
    /// Buffers keyed `"<param name>/<slot>"`, e.g. `"blocks.0.mlp.weight/exp_avg"`.
    pub tensors: BTreeMap<String, Vec<f64>>,
}

impl StateDict {
    /// An empty state for `optimizer` at `step`.
    pub fn new(optimizer: &str, step: u64) -> Self {
        Self {
            optimizer: optimizer.into(),
            step,
            ..Self::default()
        }
    }

    /// Stores one buffer per parameter under `slot`.
    pub fn put<T: Float>(&mut self, params: &ParamSet, slot: &str, buffers: &[&[T]]) {
        for (info, buf) in params.iter().zip(buffers) {
            let key = format!("{}/{slot}", info.name);
            self.tensors
                .insert(key, buf.iter().map(|v| v.f64()).collect());
        }
    }

    /// Reads back the buffer of parameter `name` under `slot`, checking its length.
    pub fn take<T: Float>(&self, name: &str, slot: &str, len: usize) -> Result<Vec<T>, OptimError> {
        let key = format!("{name}/{slot}");
        let buf = self
            .tensors
            .get(&key)
            .ok_or_else(|| OptimError::State(format!("missing buffer `{key}`")))?;
        if buf.len() != len {
            return Err(OptimError::State(format!(
                "buffer `{key}` holds {} values, the parameter needs {len}",
                buf.len()
            )));
        }
        Ok(buf.iter().map(|&v| T::of(v)).collect())
    }

    /// Reads a global scalar.
    pub fn scalar(&self, name: &str) -> Result<f64, OptimError> {
        self.scalars
            .get(name)
            .copied()
            .ok_or_else(|| OptimError::State(format!("missing scalar `{name}`")))
    }

    /// Checks the state was written by `optimizer`.
    pub fn expect(&self, optimizer: &str) -> Result<(), OptimError> {
        if self.optimizer == optimizer {
            Ok(())
        } else {
            Err(OptimError::State(format!(
                "state was written by `{}`, not `{optimizer}`",
                self.optimizer
            )))
        }
    }
}
