//! Checkpoints: everything a run needs to continue exactly where it stopped.
//!
//! A checkpoint is a directory `checkpoints/step-NNNNNNN/` holding
//! - `model.safetensors`: the parameters under their dotted names (f32);
//! - `optimizer.safetensors`: the optimizer's buffers as `"<param>/<slot>"` (f64, so f32
//!   state round-trips exactly);
//! - `state.json`: [`TrainState`] (step, data position, seed, model shape, optimizer scalars).
//!
//! It is written as `.tmp-step-NNNNNNN/` (every file fsynced), renamed into place, and only
//! then named in `checkpoints/latest`, itself replaced atomically. A run killed at any
//! moment leaves the previous checkpoint intact and `latest` pointing at a complete one.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::atomic::{sync_dir, write_atomic, write_synced};
use super::config::ModelConfig;
use super::error::{TrainError, TrainResult};
use super::model::Trainable;
use crate::optim::StateDict;

/// Bumped when the layout changes; older checkpoints are refused with a clear message.
pub(crate) const FORMAT: u32 = 1;

/// The loop's own state, saved next to the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    /// Checkpoint layout version.
    pub format: u32,
    /// Optimizer steps completed.
    pub step: u64,
    /// Data position: micro-batches drawn so far (the next one is batch stream `n`).
    pub micro_batches: u64,
    /// The seed of batch sampling (checked on resume: another seed would see other data).
    pub seed: u64,
    /// Training tokens consumed.
    pub tokens_seen: u64,
    /// The model's shape, with its vocabulary resolved.
    pub model: ModelConfig,
    /// Which optimizer wrote `optimizer.safetensors`.
    pub optimizer: String,
    /// Its step counter.
    pub optimizer_step: u64,
    /// Its global scalars.
    pub optimizer_scalars: BTreeMap<String, f64>,
    /// The last validation loss, if any.
    pub last_val_loss: Option<f32>,
}

/// Paths of one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointDir(pub PathBuf);

impl CheckpointDir {
    fn model(&self) -> PathBuf {
        self.0.join("model.safetensors")
    }
    fn optimizer(&self) -> PathBuf {
        self.0.join("optimizer.safetensors")
    }
    fn state(&self) -> PathBuf {
        self.0.join("state.json")
    }
}

/// The folder of checkpoints inside a run directory.
pub fn checkpoints_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints")
}

fn step_name(step: u64) -> String {
    format!("step-{step:07}")
}

/// The checkpoint `checkpoints/latest` names, with its step, if the run has one.
pub fn latest(run_dir: &Path) -> TrainResult<Option<(u64, CheckpointDir)>> {
    let pointer = checkpoints_dir(run_dir).join("latest");
    let text = match fs::read_to_string(&pointer) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::io(&pointer, e)),
    };
    let name = text.trim();
    let step = name
        .strip_prefix("step-")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            TrainError::checkpoint(
                &pointer,
                "latest",
                format!("`{name}` is not a `step-N` name"),
            )
        })?;
    Ok(Some((
        step,
        CheckpointDir(checkpoints_dir(run_dir).join(name)),
    )))
}

/// Writes a checkpoint of `model`, the optimizer state and `state`, then points `latest` at
/// it and keeps only the newest `keep` checkpoints.
pub fn save(
    run_dir: &Path,
    model: &dyn Trainable,
    optimizer: &StateDict,
    state: &TrainState,
    keep: usize,
) -> TrainResult<CheckpointDir> {
    let root = checkpoints_dir(run_dir);
    fs::create_dir_all(&root).map_err(|e| TrainError::io(&root, e))?;
    let name = step_name(state.step);
    let tmp = CheckpointDir(root.join(format!(".tmp-{name}")));
    if tmp.0.exists() {
        fs::remove_dir_all(&tmp.0).map_err(|e| TrainError::io(&tmp.0, e))?;
    }
    fs::create_dir(&tmp.0).map_err(|e| TrainError::io(&tmp.0, e))?;
    write_synced(&tmp.model(), &model_bytes(model, &tmp.model())?)?;
    write_synced(
        &tmp.optimizer(),
        &optimizer_bytes(optimizer, &tmp.optimizer())?,
    )?;
    let json = serde_json::to_vec_pretty(state)
        .map_err(|e| TrainError::checkpoint(tmp.state(), "state", e.to_string()))?;
    write_synced(&tmp.state(), &json)?;
    sync_dir(&tmp.0)?;
    let dir = CheckpointDir(root.join(&name));
    // Only a checkpoint that `latest` never named can be here (a run killed between the
    // rename and the pointer update); it is safe to replace.
    if dir.0.exists() {
        fs::remove_dir_all(&dir.0).map_err(|e| TrainError::io(&dir.0, e))?;
    }
    fs::rename(&tmp.0, &dir.0).map_err(|e| TrainError::io(&dir.0, e))?;
    sync_dir(&root)?;
    write_atomic(&root.join("latest"), format!("{name}\n").as_bytes())?;
    prune(&root, keep, state.step)?;
    Ok(dir)
}

/// Removes all but the newest `keep` checkpoints (never the one just written).
fn prune(root: &Path, keep: usize, current: u64) -> TrainResult<()> {
    let entries = fs::read_dir(root).map_err(|e| TrainError::io(root, e))?;
    let mut steps: Vec<u64> = entries
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_prefix("step-")?
                .parse()
                .ok()
        })
        .filter(|&s| s <= current)
        .collect();
    steps.sort_unstable();
    for &s in steps.iter().rev().skip(keep.max(1)) {
        let dir = root.join(step_name(s));
        fs::remove_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    }
    Ok(())
}

fn le_bytes_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn model_bytes(model: &dyn Trainable, path: &Path) -> TrainResult<Vec<u8>> {
    let specs = model.param_specs();
    let data: Vec<Vec<u8>> = model.params().iter().map(|p| le_bytes_f32(p)).collect();
    let views = specs.iter().zip(&data).map(|(spec, bytes)| {
        TensorView::new(Dtype::F32, spec.shape.clone(), bytes).map(|v| (spec.name.clone(), v))
    });
    let views = views
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrainError::checkpoint(path, "tensors", e.to_string()))?;
    let meta = HashMap::from([("format".to_string(), "vibee".to_string())]);
    safetensors::serialize(views, Some(meta))
        .map_err(|e| TrainError::checkpoint(path, "tensors", e.to_string()))
}

fn optimizer_bytes(state: &StateDict, path: &Path) -> TrainResult<Vec<u8>> {
    let data: Vec<(&String, Vec<u8>)> = state
        .tensors
        .iter()
        .map(|(k, v)| (k, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views = data.iter().map(|(k, bytes)| {
        TensorView::new(Dtype::F64, vec![bytes.len() / 8], bytes).map(|v| (*k, v))
    });
    let views = views
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrainError::checkpoint(path, "tensors", e.to_string()))?;
    safetensors::serialize(views, None)
        .map_err(|e| TrainError::checkpoint(path, "tensors", e.to_string()))
}

/// Reads a checkpoint into `model` and returns the loop state and the optimizer state.
/// Nothing is written into `model` unless every check passes: the shape in `state.json`
/// against `expect`, and every tensor's presence, dtype and shape.
pub fn load(
    dir: &CheckpointDir,
    model: &mut dyn Trainable,
    expect: &ModelConfig,
) -> TrainResult<(TrainState, StateDict)> {
    let state = read_state(&dir.state())?;
    check_shape(&dir.state(), &state.model, expect)?;
    let weights = read_weights(&dir.model(), model)?;
    let optimizer = read_optimizer(&dir.optimizer(), &state)?;
    for (dst, src) in model.params_mut().into_iter().zip(weights) {
        dst.copy_from_slice(&src);
    }
    Ok((state, optimizer))
}

fn read_file(path: &Path) -> TrainResult<Vec<u8>> {
    fs::read(path).map_err(|e| TrainError::checkpoint(path, "file", format!("cannot read: {e}")))
}

fn read_state(path: &Path) -> TrainResult<TrainState> {
    let bytes = read_file(path)?;
    let state: TrainState = serde_json::from_slice(&bytes)
        .map_err(|e| TrainError::checkpoint(path, "state", format!("corrupt: {e}")))?;
    if state.format != FORMAT {
        let why = format!(
            "layout version {} is not the {FORMAT} this vibee reads",
            state.format
        );
        return Err(TrainError::checkpoint(path, "format", why));
    }
    Ok(state)
}

/// The checkpoint's model shape must be the config's, field by field.
fn check_shape(path: &Path, saved: &ModelConfig, expect: &ModelConfig) -> TrainResult<()> {
    let fields = [
        (
            "model.kind",
            format!("{:?}", saved.kind),
            format!("{:?}", expect.kind),
        ),
        (
            "model.vocab_size",
            format!("{:?}", saved.vocab_size),
            format!("{:?}", expect.vocab_size),
        ),
        (
            "model.n_layers",
            saved.n_layers.to_string(),
            expect.n_layers.to_string(),
        ),
        (
            "model.n_heads",
            saved.n_heads.to_string(),
            expect.n_heads.to_string(),
        ),
        (
            "model.d_model",
            saved.d_model.to_string(),
            expect.d_model.to_string(),
        ),
        (
            "model.block_size",
            saved.block_size.to_string(),
            expect.block_size.to_string(),
        ),
    ];
    match fields.into_iter().find(|(_, a, b)| a != b) {
        Some((field, a, b)) => Err(TrainError::checkpoint(
            path,
            field,
            format!("the checkpoint has {a}, the config asks for {b}"),
        )),
        None => Ok(()),
    }
}

fn read_weights(path: &Path, model: &dyn Trainable) -> TrainResult<Vec<Vec<f32>>> {
    let bytes = read_file(path)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| TrainError::checkpoint(path, "file", format!("corrupt: {e}")))?;
    let specs = model.param_specs();
    if let Some(extra) = file
        .names()
        .into_iter()
        .find(|n| !specs.iter().any(|s| s.name == *n))
    {
        return Err(TrainError::checkpoint(
            path,
            extra,
            "the model has no parameter of this name",
        ));
    }
    specs
        .iter()
        .map(|spec| {
            let t = file
                .tensor(&spec.name)
                .map_err(|_| TrainError::checkpoint(path, &spec.name, "missing"))?;
            if t.dtype() != Dtype::F32 || t.shape() != spec.shape.as_slice() {
                let why = format!(
                    "is {:?} {:?}, the model needs F32 {:?}",
                    t.dtype(),
                    t.shape(),
                    spec.shape
                );
                return Err(TrainError::checkpoint(path, &spec.name, why));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        })
        .collect()
}

fn read_optimizer(path: &Path, state: &TrainState) -> TrainResult<StateDict> {
    let bytes = read_file(path)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| TrainError::checkpoint(path, "file", format!("corrupt: {e}")))?;
    let mut dict = StateDict::new(&state.optimizer, state.optimizer_step);
    dict.scalars = state.optimizer_scalars.clone();
    for (name, t) in file.tensors() {
        if t.dtype() != Dtype::F64 {
            return Err(TrainError::checkpoint(
                path,
                name,
                format!("is {:?}, expected F64", t.dtype()),
            ));
        }
        let values = t
            .data()
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(std::array::from_fn(|i| c[i])))
            .collect();
        dict.tensors.insert(name, values);
    }
    Ok(dict)
}
