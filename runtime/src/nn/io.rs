//! A model's parameters as a safetensors file: one tensor per parameter under its dotted
//! name (`blocks.0.attn.qkv.weight`), the layout PyTorch's `state_dict` and Hugging Face
//! checkpoints use.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::param::Module;

/// Reading or writing a weights file failed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {tensor}: {reason}", path.display())]
pub struct WeightsError {
    /// The file.
    pub path: PathBuf,
    /// The tensor (or `file` for the file as a whole).
    pub tensor: String,
    /// What is wrong.
    pub reason: String,
}

fn err(path: &Path, tensor: &str, reason: impl Into<String>) -> WeightsError {
    WeightsError {
        path: path.to_path_buf(),
        tensor: tensor.to_string(),
        reason: reason.into(),
    }
}

/// Writes every parameter as F32 to `path`: to a temporary file beside it, fsynced, then
/// renamed, so a crash leaves either the old file or the new one.
pub fn save_safetensors(model: &dyn Module, path: &Path) -> Result<(), WeightsError> {
    let params = model.parameters();
    let bytes: Vec<Vec<u8>> = params
        .iter()
        .map(|p| p.data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = params
        .iter()
        .zip(&bytes)
        .map(|(p, b)| TensorView::new(Dtype::F32, p.shape.clone(), b).map(|v| (p.name.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(path, "file", e.to_string()))?;
    let data = safetensors::serialize(views, None).map_err(|e| err(path, "file", e.to_string()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{}.tmp", name.unwrap_or_default()));
    let io = |e: std::io::Error| err(path, "file", format!("cannot write: {e}"));
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(&data).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

/// Reads `path` into the model's parameters. F32, F16 and BF16 tensors are accepted (a
/// Hugging Face checkpoint is often half precision). Strict like PyTorch's
/// `load_state_dict`: a missing tensor, one the model does not have, or a shape that differs
/// is an error naming the tensor, and the model is left untouched unless every tensor
/// passes.
pub fn load_safetensors(model: &mut dyn Module, path: &Path) -> Result<(), WeightsError> {
    let bytes = fs::read(path).map_err(|e| err(path, "file", format!("cannot read: {e}")))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| err(path, "file", format!("not a safetensors file: {e}")))?;
    let params = model.parameters();
    let mut extra: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| !params.iter().any(|p| p.name == *n))
        .map(str::to_string)
        .collect();
    if !extra.is_empty() {
        extra.sort();
        let why = format!("the model has no parameter named {}", extra.join(", "));
        return Err(err(path, &extra[0], why));
    }
    let values = params
        .iter()
        .map(|p| {
            let t = file
                .tensor(&p.name)
                .map_err(|_| err(path, &p.name, "missing from the file"))?;
            if t.shape() != p.shape.as_slice() {
                let why = format!("has shape {:?}, the model needs {:?}", t.shape(), p.shape);
                return Err(err(path, &p.name, why));
            }
            decode(t.dtype(), t.data()).ok_or_else(|| {
                let why = format!("has dtype {:?}; F32, F16 or BF16 are read", t.dtype());
                err(path, &p.name, why)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut values = values.into_iter();
    model.visit_params_mut(&mut |p| {
        if let Some(v) = values.next() {
            p.data = v;
        }
    });
    Ok(())
}

fn decode(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}
