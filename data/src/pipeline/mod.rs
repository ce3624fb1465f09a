//! Building and running pipelines: steps, segments, shards, resume markers, the summary.

mod progress;
mod resume;
mod run;
mod shard;
mod summary;

use std::path::Path;
use std::sync::Arc;

pub use summary::{ShardStats, Summary};

use crate::config::{InputConfig, OutputConfig, PipelineConfig, StepConfig};
use crate::dedup::{Deduplicator, LineDedup, MinHashDedup, SemDedup};
use crate::error::Result;
use crate::filters::{ClassifierToxicity, Filter, Perplexity, WordListToxicity};

/// One pipeline step.
#[derive(Debug, Clone)]
pub enum Step {
    /// A per-document filter.
    Filter(Arc<dyn Filter>),
    /// A corpus-wide deduplicator.
    Dedup(Arc<dyn Deduplicator>),
}

impl Step {
    /// The step's name as it appears in rejects and the summary.
    pub fn name(&self) -> &str {
        match self {
            Step::Filter(f) => f.name(),
            Step::Dedup(d) => d.name(),
        }
    }
}

/// Options of one run that do not change its output.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show progress bars (on a terminal).
    pub progress: bool,
    /// Discard the work folder of an earlier run instead of resuming from it.
    pub fresh: bool,
    /// Stop after this many shards have been completed in this run, as a kill would;
    /// for testing resumption and for time-sliced runs.
    pub stop_after_shards: Option<usize>,
}

/// A runnable pipeline: input, ordered steps, output.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub(crate) input: InputConfig,
    pub(crate) output: OutputConfig,
    pub(crate) steps: Vec<Step>,
    /// Folder that relative input patterns are taken from.
    pub(crate) base: std::path::PathBuf,
}

/// Builds a [`Pipeline`] in Rust.
///
/// ```
/// use vibee_data::{Pipeline, config::{InputConfig, OutputConfig}};
/// use vibee_data::{filters::GopherQuality, dedup::{MinHashConfig, MinHashDedup}};
/// let pipeline = Pipeline::builder(InputConfig::new(["in/*.jsonl"]), OutputConfig::new("out"))
///     .filter(GopherQuality::default())
///     .dedup(MinHashDedup::new(MinHashConfig::default())?)
///     .build();
/// # Ok::<(), vibee_data::DataError>(())
/// ```
#[derive(Debug)]
pub struct PipelineBuilder {
    pipeline: Pipeline,
}

impl PipelineBuilder {
    /// Appends a filter.
    pub fn filter(mut self, filter: impl Filter + 'static) -> Self {
        self.pipeline.steps.push(Step::Filter(Arc::new(filter)));
        self
    }

    /// Appends a deduplicator.
    pub fn dedup(mut self, dedup: impl Deduplicator + 'static) -> Self {
        self.pipeline.steps.push(Step::Dedup(Arc::new(dedup)));
        self
    }

    /// Appends an already built step.
    pub fn step(mut self, step: Step) -> Self {
        self.pipeline.steps.push(step);
        self
    }

    /// The finished pipeline.
    pub fn build(self) -> Pipeline {
        self.pipeline
    }
}

impl Pipeline {
    /// Starts a pipeline from input and output settings.
    pub fn builder(input: InputConfig, output: OutputConfig) -> PipelineBuilder {
        let base = std::path::PathBuf::from(".");
        PipelineBuilder {
            pipeline: Pipeline {
                input,
                output,
                steps: Vec::new(),
                base,
            },
        }
    }

    /// Reads and builds a pipeline file.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        Self::from_config(PipelineConfig::from_file(path)?)
    }

    /// Builds the steps a config declares, checking each (errors name `steps[i].field`).
    pub fn from_config(config: PipelineConfig) -> Result<Self> {
        let mut builder = Self::builder(config.input, config.output);
        for (i, step) in config.steps.into_iter().enumerate() {
            builder = builder.step(build_step(step, &format!("steps[{i}]"))?);
        }
        Ok(builder.build())
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Runs the pipeline (see the crate docs for how segments and markers work).
    pub fn run(&self, options: &RunOptions) -> Result<Summary> {
        run::run(self, options)
    }
}

fn build_step(step: StepConfig, field: &str) -> Result<Step> {
    let filter = |f: Arc<dyn Filter>| Ok(Step::Filter(f));
    match step {
        StepConfig::GopherQuality(f) => filter(Arc::new(f)),
        StepConfig::GopherRepetition(f) => filter(Arc::new(f)),
        StepConfig::C4Quality(f) => filter(Arc::new(f)),
        StepConfig::FinewebQuality(f) => filter(Arc::new(f)),
        StepConfig::CodeQuality(f) => filter(Arc::new(f)),
        StepConfig::CodeSyntax(f) => filter(Arc::new(f)),
        StepConfig::ToxicityClassifier(c) => filter(Arc::new(ClassifierToxicity::from_config(&c)?)),
        StepConfig::Perplexity(c) => filter(Arc::new(Perplexity::from_config(&c, field)?)),
        StepConfig::Language(f) => {
            f.validate(field)?;
            filter(Arc::new(f))
        }
        StepConfig::Toxicity(c) => filter(Arc::new(WordListToxicity::from_config(&c)?)),
        StepConfig::ExactDedup(d) => Ok(Step::Dedup(Arc::new(d))),
        StepConfig::LineDedup(c) => Ok(Step::Dedup(Arc::new(LineDedup::new(c)))),
        StepConfig::Semdedup(c) => Ok(Step::Dedup(Arc::new(SemDedup::new(c)))),
        StepConfig::Minhash(c) => {
            let config = c.resolve(field)?;
            Ok(Step::Dedup(Arc::new(MinHashDedup::new(config)?)))
        }
    }
}
