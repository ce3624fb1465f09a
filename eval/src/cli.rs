//! `vibee eval`: the command-line front end (the facade binary wires this in).

use std::path::PathBuf;

use anyhow::Context;

use crate::chat::ChatTemplate;
use crate::evaluator::{self, EvalOptions};
use crate::model::LanguageModel;
use crate::model::cache::CachedModel;
use crate::model::fake::FakeModel;
use crate::model::openai::{GenerationApi, OpenAiCompatible};
use crate::model::tokenizer::Tokenizer;
use crate::results::{self, RunResults};
use crate::task::registry::Registry;
use crate::task::{PromptStyle, Task};
use crate::template::Templates;

/// Arguments of `vibee eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// `fake` (deterministic test model), `openai` (an OpenAI-compatible endpoint) or
    /// `vibee` (a `vibee train` run; see `--model-args`).
    #[arg(long, default_value = "openai")]
    pub model: String,
    /// Comma-separated `key=value` settings of the model, as the harness's
    /// `--model_args`. `--model vibee`: `run=<run dir>` (required), `batch_size=`,
    /// `threads=`, `seed=`, `tokenizer=<tokenizer.json>`.
    #[arg(long, default_value = "")]
    pub model_args: String,
    /// Comma-separated tasks, groups or tags (e.g. `arc_easy,mmlu,gsm8k`).
    #[arg(long, value_delimiter = ',', required = true)]
    pub tasks: Vec<String>,
    /// Directory holding `<dataset>/<split>.jsonl`.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Extra task files or directories of task files (YAML).
    #[arg(long)]
    pub include: Vec<PathBuf>,
    /// Override every task's number of few-shot examples.
    #[arg(long)]
    pub num_fewshot: Option<usize>,
    /// Evaluate only the first N documents of each task.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Base URL of the endpoint, e.g. `http://127.0.0.1:8000/v1`.
    #[arg(long, default_value = "http://127.0.0.1:8000/v1")]
    pub base_url: String,
    /// Model name sent to the endpoint.
    #[arg(long, default_value = "default")]
    pub model_name: String,
    /// Environment variable holding the API key, if any.
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// The endpoint model's `tokenizer.json` (cargo feature `tokenizers`): enables
    /// perplexity tasks (`loglikelihood_rolling`) over the endpoint.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// The endpoint model's context length in tokens, for perplexity windows.
    #[arg(long, default_value_t = 2048)]
    pub max_length: usize,
    /// Concurrent requests to the endpoint.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Endpoint used for generation tasks.
    #[arg(long, value_enum, default_value_t = GenerationApi::Completions)]
    pub generation_api: GenerationApi,
    /// Request cache file (JSONL); a rerun resumes from it.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Where results.json and samples_<task>.jsonl go.
    #[arg(long, default_value = "eval-results")]
    pub output: PathBuf,
    /// Bootstrap resamples for non-mean stderrs.
    #[arg(long, default_value_t = 100_000)]
    pub bootstrap_iters: usize,
    /// Apply the model's chat template: a `tokenizer_config.json` (or the model
    /// directory holding it), as the harness's `--apply_chat_template`.
    #[arg(long)]
    pub apply_chat_template: Option<PathBuf>,
    /// With a chat template: few-shot examples as separate user/assistant turns.
    #[arg(long)]
    pub fewshot_as_multiturn: bool,
    /// A system instruction put before each task's description.
    #[arg(long)]
    pub system_instruction: Option<String>,
}

fn build_model(args: &EvalArgs) -> anyhow::Result<Box<dyn LanguageModel>> {
    let inner: Box<dyn LanguageModel> = match args.model.as_str() {
        "fake" => Box::new(FakeModel),
        "openai" => {
            let client = OpenAiCompatible::new(
                &args.base_url,
                &args.model_name,
                std::env::var(&args.api_key_env).ok(),
                args.concurrency,
                args.generation_api,
            );
            Box::new(match &args.tokenizer {
                Some(path) => client.with_tokenizer(Tokenizer::from_file(path)?, args.max_length),
                None => client,
            })
        }
        #[cfg(feature = "runtime")]
        "vibee" => {
            use crate::model::vibee::load::{RunArgs, load_run};
            Box::new(load_run(&RunArgs::parse(&args.model_args)?)?)
        }
        #[cfg(not(feature = "runtime"))]
        "vibee" => anyhow::bail!("--model vibee needs vibee-eval built with the `runtime` feature"),
        other => anyhow::bail!("unknown --model `{other}`; use `fake`, `openai` or `vibee`"),
    };
    Ok(match &args.cache {
        Some(path) => Box::new(CachedModel::open(inner, path)?),
        None => inner,
    })
}

impl LanguageModel for Box<dyn LanguageModel> {
    fn name(&self) -> String {
        self.as_ref().name()
    }

    fn answer(
        &self,
        requests: &[crate::request::Request],
    ) -> crate::Result<Vec<crate::request::Response>> {
        self.as_ref().answer(requests)
    }
}

/// Runs `vibee eval`.
pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let mut registry = Registry::builtin()?;
    for inc in &args.include {
        if inc.is_dir() {
            registry.add_dir(inc)?
        } else {
            registry.add_file(inc)?
        }
    }
    let selection = registry.select(&args.tasks)?;
    let model = build_model(&args)?;
    let style = PromptStyle {
        system_instruction: args.system_instruction.clone(),
        chat_template: match &args.apply_chat_template {
            Some(path) => Some(std::sync::Arc::new(ChatTemplate::from_tokenizer_config(
                path,
            )?)),
            None => None,
        },
        fewshot_as_multiturn: args.fewshot_as_multiturn,
    };
    if style.fewshot_as_multiturn && !style.is_chat() {
        anyhow::bail!("--fewshot-as-multiturn needs --apply-chat-template");
    }
    let templates = Templates::new();
    let opts = EvalOptions {
        limit: args.limit,
        bootstrap_iters: args.bootstrap_iters,
        ..EvalOptions::default()
    };
    let mut run = RunResults {
        model: model.name(),
        tasks: Vec::new(),
        groups: Vec::new(),
        configs: Default::default(),
        n_shot: Default::default(),
        versions: Default::default(),
        limit: args.limit,
        bootstrap_iters: args.bootstrap_iters,
    };
    for name in &selection.tasks {
        let mut config = registry.tasks[name].clone();
        if let Some(n) = args.num_fewshot {
            config.num_fewshot = n;
        }
        run.configs
            .insert(name.clone(), serde_json::to_value(&config)?);
        run.n_shot.insert(name.clone(), config.num_fewshot);
        run.versions.insert(name.clone(), config.version());
        let mut task = Task::load(config, &args.data_dir, &templates)
            .with_context(|| format!("loading task `{name}`"))?;
        task.style = style.clone();
        eprintln!("{name}: {} documents", task.docs.len());
        let result = evaluator::evaluate_task(&task, &model, &templates, &opts)
            .with_context(|| format!("evaluating `{name}`"))?;
        run.tasks.push(result);
    }
    for group in &selection.groups {
        let leaves = registry.leaves(group);
        run.groups
            .push(results::aggregate_group(group, &leaves, &run.tasks));
    }
    run.write(&args.output)?;
    println!("{}", run.table());
    eprintln!("wrote {}", args.output.join("results.json").display());
    Ok(())
}
