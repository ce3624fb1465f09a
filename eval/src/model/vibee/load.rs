//! Loading a `vibee train` run directory: `config.toml` (the corpus, hence the
//! tokenizer), `checkpoints/latest`, and that checkpoint's `state.json` (the model's
//! shape) and `model.safetensors` (the weights, read by the trainer's own checkpoint
//! loader, which checks every tensor's name, dtype and shape).

use std::path::{Path, PathBuf};

use vibee_runtime::nn::CpuGpt;
use vibee_runtime::train::checkpoint::{self, TrainState};
use vibee_runtime::train::{Bigram, CorpusConfig, ModelKind, RunPaths, TrainConfig};

use super::backend::{Backend, GptBackend, NextLogitsBackend};
use super::{VibeeModel, VibeeOptions};
use crate::error::{EvalError, Result};
use crate::model::tokenizer::Tokenizer;

/// `--model-args` of `--model vibee`, e.g. `run=runs/tiny_gpt,batch_size=32`.
#[derive(Clone, Debug)]
pub struct RunArgs {
    /// The run directory (`run=`, required).
    pub run: PathBuf,
    /// A `tokenizer.json` overriding the one the run's config names (`tokenizer=`).
    pub tokenizer: Option<PathBuf>,
    /// CPU threads (`threads=`, 0: one per core).
    pub threads: usize,
    /// Batching and sampling (`batch_size=`, `seed=`).
    pub options: VibeeOptions,
}

const KEYS: &str = "run, tokenizer, threads, batch_size, seed";

fn bad_arg(message: String) -> EvalError {
    EvalError::Model(format!("--model-args: {message}"))
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| bad_arg(format!("`{key}={value}` is not a non-negative integer")))
}

impl RunArgs {
    /// Parses comma-separated `key=value` pairs (the harness's `--model_args` form).
    pub fn parse(model_args: &str) -> Result<Self> {
        let (mut run, mut tokenizer, mut threads) = (None, None, 0);
        let mut options = VibeeOptions::default();
        for pair in model_args.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad_arg(format!("`{pair}` is not `key=value`")))?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "run" => run = Some(PathBuf::from(value)),
                "tokenizer" => tokenizer = Some(PathBuf::from(value)),
                "threads" => threads = number(key, value)?,
                "batch_size" => options.batch_size = number::<usize>(key, value)?.max(1),
                "seed" => options.seed = number(key, value)?,
                _ => {
                    return Err(EvalError::Unknown {
                        kind: "--model-args key",
                        name: key.into(),
                        known: KEYS.into(),
                    });
                }
            }
        }
        let run = run.ok_or_else(|| bad_arg("`run=<run directory>` is required".into()))?;
        Ok(Self {
            run,
            tokenizer,
            threads,
            options,
        })
    }
}

fn run_err(path: &Path, field: &str, message: impl Into<String>) -> EvalError {
    EvalError::RunDir {
        path: path.to_path_buf(),
        field: field.into(),
        message: message.into(),
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| run_err(path, "file", format!("cannot read: {e}")))
}

/// Loads the latest checkpoint of the run `args.run` names.
pub fn load_run(args: &RunArgs) -> Result<VibeeModel> {
    let dir = &args.run;
    if !dir.is_dir() {
        return Err(run_err(
            dir,
            "run",
            "not a directory (the `output.dir` of a vibee train run)",
        ));
    }
    let paths = RunPaths::new(dir);
    let config =
        TrainConfig::from_toml_str(&read(&paths.config)?, &paths.config.display().to_string())
            .map_err(|e| run_err(&paths.config, "config", e.to_string()))?;
    let pointer = checkpoint::checkpoints_dir(dir).join("latest");
    let (step, ckpt) = checkpoint::latest(dir)
        .map_err(|e| run_err(&pointer, "latest", e.to_string()))?
        .ok_or_else(|| {
            run_err(
                &pointer,
                "file",
                "missing: the run has saved no checkpoint yet",
            )
        })?;
    let state_path = ckpt.0.join("state.json");
    let state: TrainState = serde_json::from_str(&read(&state_path)?)
        .map_err(|e| run_err(&state_path, "state", format!("malformed: {e}")))?;
    let tokenizer = tokenizer_of(
        &config.corpus,
        args.tokenizer.as_deref(),
        &paths.config,
        dir,
    )?;
    let backend = build_backend(&state, &ckpt, &state_path, args.threads)?;
    if matches!(tokenizer, Tokenizer::Bytes) && backend.vocab_size() < 256 {
        let why = format!("{} ids cannot hold byte tokens", backend.vocab_size());
        return Err(run_err(&state_path, "model.vocab_size", why));
    }
    let name = format!("vibee:{}@step-{step}", dir.display());
    Ok(VibeeModel::new(
        name,
        backend,
        tokenizer,
        args.options.clone(),
    ))
}

/// Builds the model `state.json` describes and reads the checkpoint's weights into it.
fn build_backend(
    state: &TrainState,
    ckpt: &checkpoint::CheckpointDir,
    state_path: &Path,
    threads: usize,
) -> Result<Box<dyn Backend>> {
    let m = &state.model;
    let vocab = m
        .vocab_size
        .ok_or_else(|| run_err(state_path, "model.vocab_size", "missing"))?;
    let load_err =
        |e: vibee_runtime::train::TrainError| run_err(&ckpt.0, "checkpoint", e.to_string());
    match m.kind {
        ModelKind::Gpt => {
            let shape = m.gpt_shape(vocab);
            let mut gpt = CpuGpt::new(shape, 0, 1)
                .map_err(|e| run_err(state_path, "model", e.to_string()))?;
            checkpoint::load(ckpt, &mut gpt, m).map_err(load_err)?;
            Ok(Box::new(GptBackend::new(gpt.model().clone(), threads)))
        }
        ModelKind::Bigram => {
            let mut bigram = Bigram::new(vocab);
            checkpoint::load(ckpt, &mut bigram, m).map_err(load_err)?;
            Ok(Box::new(NextLogitsBackend(bigram)))
        }
    }
}

/// The run's tokenizer: bytes for `markov`/`text` corpora; for a `tokenizer` corpus the
/// override, else the config's path as written, else relative to the run directory.
fn tokenizer_of(
    corpus: &CorpusConfig,
    over: Option<&Path>,
    config_path: &Path,
    dir: &Path,
) -> Result<Tokenizer> {
    let CorpusConfig::Tokenizer { tokenizer, .. } = corpus else {
        return over.map_or(Ok(Tokenizer::Bytes), Tokenizer::from_file);
    };
    if let Some(p) = over {
        return Tokenizer::from_file(p);
    }
    let tried = [tokenizer.clone(), dir.join(tokenizer)];
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Tokenizer::from_file(p),
        None => Err(run_err(
            config_path,
            "corpus.tokenizer",
            format!(
                "{} not found (tried {} and {}); pass `tokenizer=<path>` in --model-args",
                tokenizer.display(),
                tried[0].display(),
                tried[1].display()
            ),
        )),
    }
}
