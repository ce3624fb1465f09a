//! The pipeline file: `[input]`, `[output]` and an ordered `[[steps]]` list, each step
//! tagged by `kind`. Unknown fields are errors that name the field and its position.
//!
//! ```
//! let config: vibee_data::PipelineConfig = toml::from_str(r#"
//!     [input]
//!     paths = ["shards/*.jsonl.gz"]
//!     [output]
//!     dir = "out"
//!     [[steps]]
//!     kind = "gopher_quality"
//!     min_doc_words = 30
//!     [[steps]]
//!     kind = "minhash"
//!     bands = 14
//!     rows = 8
//! "#).unwrap();
//! assert_eq!(config.steps.len(), 2);
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dedup::{ExactDedup, LineDedupConfig, MinHashConfig, SemDedupConfig};
use crate::error::{DataError, Result};
use crate::filters::{
    C4Quality, ClassifierConfig, CodeQuality, CodeSyntax, FineWebQuality, GopherQuality,
    GopherRepetition, LanguageId, PerplexityConfig, WordListConfig,
};
use crate::io::{Compression, OutputFormat};

/// A whole pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Where documents come from.
    pub input: InputConfig,
    /// Where kept and rejected documents go.
    pub output: OutputConfig,
    /// Filters and deduplicators, applied in order.
    #[serde(default)]
    pub steps: Vec<StepConfig>,
}

/// What to do with a line that is not a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadInputPolicy {
    /// Write it to the rejects output with file, line and reason.
    #[default]
    Reject,
    /// Stop the run with an error naming file and line.
    Fail,
}

/// The `[input]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Files, folders, or wildcard patterns (`*`, `?` in the file name); relative paths
    /// are taken from the pipeline file's folder.
    pub paths: Vec<String>,
    /// Field holding the text.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// Field holding the id.
    #[serde(default = "default_id_field")]
    pub id_field: String,
    /// Reject or fail on malformed lines.
    #[serde(default)]
    pub on_bad_input: BadInputPolicy,
}

fn default_text_field() -> String {
    "text".into()
}

fn default_id_field() -> String {
    "id".into()
}

impl InputConfig {
    /// Input from these paths with the default `text` and `id` fields.
    pub fn new(paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        InputConfig {
            paths: paths.into_iter().map(Into::into).collect(),
            text_field: default_text_field(),
            id_field: default_id_field(),
            on_bad_input: BadInputPolicy::Reject,
        }
    }
}

/// The `[output]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Folder for kept documents, one output shard per input shard.
    pub dir: PathBuf,
    /// Folder for rejected documents; `<dir>/rejects` when left out.
    pub rejects_dir: Option<PathBuf>,
    /// File format of kept and rejected documents: `jsonl` (default) or `parquet`.
    #[serde(default)]
    pub format: OutputFormat,
    /// Compression of written JSONL files (Parquet files use snappy pages).
    #[serde(default)]
    pub compression: Compression,
    /// Folder for intermediate shards and completion markers; `<dir>/.vibee-work`.
    pub work_dir: Option<PathBuf>,
    /// Keep intermediate shards after a successful run.
    #[serde(default)]
    pub keep_intermediate: bool,
    /// `fsync` each finished shard before marking it complete. Off by default: a killed
    /// process loses nothing the kernel already holds, and resumption only needs the
    /// rename-then-marker order; turn it on to survive power loss too.
    #[serde(default)]
    pub fsync: bool,
}

impl OutputConfig {
    /// Output into `dir` with the default rejects and work folders, zstd-compressed.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        OutputConfig {
            dir: dir.into(),
            rejects_dir: None,
            format: OutputFormat::Jsonl,
            compression: Compression::Zstd,
            work_dir: None,
            keep_intermediate: false,
            fsync: false,
        }
    }

    /// How final output files are encoded.
    pub fn encoding(&self) -> crate::io::Encoding {
        crate::io::Encoding::of(self.format, self.compression)
    }

    /// The rejects folder.
    pub fn rejects_dir(&self) -> PathBuf {
        self.rejects_dir
            .clone()
            .unwrap_or_else(|| self.dir.join("rejects"))
    }

    /// The work folder.
    pub fn work_dir(&self) -> PathBuf {
        self.work_dir
            .clone()
            .unwrap_or_else(|| self.dir.join(".vibee-work"))
    }
}

/// One `[[steps]]` entry; `kind` selects the step and the other keys configure it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepConfig {
    /// [`GopherQuality`].
    GopherQuality(GopherQuality),
    /// [`GopherRepetition`].
    GopherRepetition(GopherRepetition),
    /// [`C4Quality`].
    C4Quality(C4Quality),
    /// [`FineWebQuality`].
    FinewebQuality(FineWebQuality),
    /// [`LanguageId`].
    Language(LanguageId),
    /// [`WordListToxicity`](crate::filters::WordListToxicity).
    Toxicity(WordListConfig),
    /// [`ClassifierToxicity`](crate::filters::ClassifierToxicity) with a linear model.
    ToxicityClassifier(ClassifierConfig),
    /// [`CodeQuality`].
    CodeQuality(CodeQuality),
    /// [`CodeSyntax`].
    CodeSyntax(CodeSyntax),
    /// [`Perplexity`](crate::filters::Perplexity).
    Perplexity(PerplexityConfig),
    /// [`ExactDedup`].
    ExactDedup(ExactDedup),
    /// [`LineDedup`](crate::dedup::LineDedup).
    LineDedup(LineDedupConfig),
    /// [`MinHashDedup`](crate::dedup::MinHashDedup).
    Minhash(MinHashConfig),
    /// [`SemDedup`](crate::dedup::SemDedup) with the built-in embedder.
    Semdedup(SemDedupConfig),
}

impl PipelineConfig {
    /// Parses a pipeline file; relative paths in it are resolved against its folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io("reading", path, e))?;
        let mut config = Self::from_toml(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| DataError::Config {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })
    }

    fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.output.dir);
        if let Some(p) = self.output.rejects_dir.as_mut() {
            join(p);
        }
        if let Some(p) = self.output.work_dir.as_mut() {
            join(p);
        }
        for path in &mut self.input.paths {
            if Path::new(path.as_str()).is_relative() {
                *path = base.join(&*path).to_string_lossy().into_owned();
            }
        }
        for step in &mut self.steps {
            match step {
                StepConfig::Toxicity(WordListConfig {
                    words_file: Some(p),
                    ..
                }) => join(p),
                StepConfig::ToxicityClassifier(c) => join(&mut c.model),
                StepConfig::Perplexity(c) => {
                    join(&mut c.model);
                    if let Some(p) = c.reference.as_mut() {
                        join(p);
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PipelineConfig> {
        PipelineConfig::from_toml(text, Path::new("p.toml"))
    }

    const HEAD: &str = "[input]\npaths = [\"a.jsonl\"]\n[output]\ndir = \"out\"\n";

    #[test]
    fn steps_parse_with_defaults() {
        let text = format!("{HEAD}[[steps]]\nkind = \"c4_quality\"\nmin_num_sentences = 3\n");
        let config = parse(&text).map_err(|e| e.to_string());
        let expected = C4Quality {
            min_num_sentences: 3,
            ..C4Quality::default()
        };
        assert_eq!(
            config.map(|c| c.steps),
            Ok(vec![StepConfig::C4Quality(expected)])
        );
    }

    #[test]
    fn unknown_fields_are_named() {
        let text = format!("{HEAD}[[steps]]\nkind = \"minhash\"\nbandz = 3\n");
        let message = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("unknown field `bandz`"), "{message}");
        let text = "[input]\npaths = []\ntext_feld = \"x\"\n[output]\ndir = \"o\"\n";
        let message = parse(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("text_feld"), "{message}");
        let text = format!("{HEAD}[[steps]]\nkind = \"gopher\"\n");
        let message = parse(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("unknown variant `gopher`"), "{message}");
    }

    #[test]
    fn new_step_kinds_parse() {
        let text = format!(
            "{HEAD}format = \"parquet\"\n\
             [[steps]]\nkind = \"perplexity\"\nmodel = \"m.arpa\"\ncutoffs = [100.0, 300.0]\n\
             [[steps]]\nkind = \"code_syntax\"\nmax_error_nodes = 2\n\
             [[steps]]\nkind = \"toxicity_classifier\"\nmodel = \"w.tsv\"\n\
             [[steps]]\nkind = \"semdedup\"\nthreshold = 0.95\nembedder = {{ dim = 128 }}\n"
        );
        let config = parse(&text).map_err(|e| e.to_string());
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.output.format, crate::io::OutputFormat::Parquet);
        assert_eq!(config.steps.len(), 4);
        assert!(matches!(&config.steps[3], StepConfig::Semdedup(c) if c.embedder.dim == 128));
    }
}
