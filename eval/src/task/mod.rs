//! Tasks: a [`TaskConfig`] bound to its documents, and the prompts and requests
//! built from them exactly as the harness's `ConfigurableTask` builds them.
//!
//! The prompt of a document is: the rendered `description`, then for each
//! few-shot example `text + target_delimiter + answer + fewshot_delimiter`, then
//! the document's text. A multiple-choice task asks for the log-likelihood of
//! `target_delimiter + choice` after that prompt; a multiple-input task
//! (WinoGrande) instead builds one prompt per choice and scores the same
//! continuation after each.

pub mod config;
pub mod functions;
pub mod prompt;
pub mod registry;
pub mod wikitext;

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

pub use config::{DocSpec, OutputType, TaskConfig};
pub use prompt::PromptStyle;
use prompt::Turn;

use crate::data;
use crate::error::{EvalError, Result};
use crate::py_random::PyRandom;
use crate::request::{Request, Sampling};
use crate::template::{Doc, Templates};

/// The harness's default `fewshot_random_seed`.
pub const FEWSHOT_SEED: u64 = 1234;

/// A task with its documents loaded and preprocessed.
#[derive(Debug)]
pub struct Task {
    /// The task file.
    pub config: TaskConfig,
    /// The evaluated documents, in file order.
    pub docs: Vec<Doc>,
    /// Few-shot pool (None when the task has no source for examples).
    pub fewshot_docs: Option<Vec<Doc>>,
    /// Plain text (default) or a chat template.
    pub style: PromptStyle,
    features: HashSet<String>,
    multiple_input: bool,
}

/// The few-shot sampler state of one task run (the harness reseeds per task).
#[derive(Debug)]
pub struct FewshotSampler {
    rng: PyRandom,
}

impl Default for FewshotSampler {
    fn default() -> Self {
        FewshotSampler {
            rng: PyRandom::new(FEWSHOT_SEED),
        }
    }
}

impl Task {
    /// Loads the documents a task file names from `data_dir`.
    pub fn load(config: TaskConfig, data_dir: &Path, templates: &Templates) -> Result<Task> {
        let split = config.eval_split().ok_or_else(|| EvalError::TaskFile {
            path: config.task.clone(),
            message: "neither test_split nor validation_split is set".into(),
        })?;
        let docs = Self::load_processed(&config, data_dir, split)?;
        let fewshot_docs = if config.num_fewshot == 0 {
            None
        } else if let Some(split) = &config.fewshot_split {
            Some(Self::load_processed(&config, data_dir, split)?)
        } else if let Some(samples) = config
            .fewshot_config
            .as_ref()
            .and_then(|f| f.samples.clone())
        {
            Some(samples)
        } else if let Some(split) = config
            .training_split
            .as_ref()
            .or(config.validation_split.as_ref())
        {
            Some(Self::load_processed(&config, data_dir, split)?)
        } else {
            Some(docs.clone())
        };
        Self::from_docs(config, docs, fewshot_docs, templates)
    }

    /// Builds a task from documents already in memory (preprocessed).
    pub fn from_docs(
        config: TaskConfig,
        docs: Vec<Doc>,
        fewshot_docs: Option<Vec<Doc>>,
        templates: &Templates,
    ) -> Result<Task> {
        let first = docs.first().ok_or_else(|| EvalError::TaskFile {
            path: config.task.clone(),
            message: "the evaluated split has no documents".into(),
        })?;
        let features = first.keys().cloned().collect();
        let mut task = Task {
            config,
            docs: Vec::new(),
            fewshot_docs,
            style: PromptStyle::default(),
            features,
            multiple_input: false,
        };
        // As the harness does: an integer doc_to_text on the first document means
        // "the choices are the contexts" (WinoGrande's partial evaluation).
        if task.config.doc_to_choice.is_some() {
            task.multiple_input = task.doc_to_text(templates, first, 0)?.is_i64();
        }
        task.docs = docs;
        Ok(task)
    }

    fn load_processed(config: &TaskConfig, data_dir: &Path, split: &str) -> Result<Vec<Doc>> {
        let docs = data::load_split(data_dir, &config.dataset_path, split)?;
        match &config.process_docs {
            Some(name) => functions::process_docs(name, &config.task, docs),
            None => Ok(docs),
        }
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.config.task
    }

    /// Whether each choice is a separate context (WinoGrande).
    pub fn is_multiple_input(&self) -> bool {
        self.multiple_input
    }

    fn template_error(&self, field: &'static str, doc: usize, message: String) -> EvalError {
        EvalError::Template {
            task: self.config.task.clone(),
            field,
            doc,
            message,
        }
    }

    fn resolve(
        &self,
        t: &Templates,
        spec: &DocSpec,
        doc: &Doc,
        field: &'static str,
        idx: usize,
    ) -> Result<Value> {
        match spec {
            DocSpec::Function { function } => {
                functions::call(function, doc).map_err(|m| self.template_error(field, idx, m))
            }
            DocSpec::List(items) => Ok(Value::Array(
                items.iter().cloned().map(Value::String).collect(),
            )),
            DocSpec::Template(s) if self.features.contains(s) => doc
                .get(s)
                .cloned()
                .ok_or_else(|| self.template_error(field, idx, format!("field `{s}` missing"))),
            DocSpec::Template(s) => {
                let rendered = t
                    .render(s, doc)
                    .map_err(|m| self.template_error(field, idx, m))?;
                let has_choices = self.config.doc_to_choice.is_some();
                if has_choices
                    && !rendered.is_empty()
                    && rendered.chars().all(|c| c.is_ascii_digit())
                {
                    return rendered
                        .parse::<i64>()
                        .map(Value::from)
                        .map_err(|e| self.template_error(field, idx, e.to_string()));
                }
                Ok(Value::String(rendered))
            }
        }
    }

    /// `doc_to_text`: a string, or an index (multiple-input tasks).
    pub fn doc_to_text(&self, t: &Templates, doc: &Doc, idx: usize) -> Result<Value> {
        self.resolve(t, &self.config.doc_to_text, doc, "doc_to_text", idx)
    }

    /// `doc_to_target`: an index into the choices, or text.
    pub fn doc_to_target(&self, t: &Templates, doc: &Doc, idx: usize) -> Result<Value> {
        let v = self.resolve(t, &self.config.doc_to_target, doc, "doc_to_target", idx)?;
        if let Value::String(s) = &v
            && s.len() >= 2
            && s.starts_with('[')
            && s.ends_with(']')
            && let Ok(list @ Value::Array(_)) = serde_json::from_str::<Value>(s)
        {
            return Ok(list);
        }
        Ok(v)
    }

    /// `doc_to_choice`: the answer options.
    pub fn doc_to_choice(&self, t: &Templates, doc: &Doc, idx: usize) -> Result<Vec<String>> {
        let spec = self.config.doc_to_choice.as_ref().ok_or_else(|| {
            self.template_error("doc_to_choice", idx, "the task has no doc_to_choice".into())
        })?;
        let value = match spec {
            DocSpec::Template(s) if !self.features.contains(s) => t
                .evaluate(s, doc)
                .map_err(|m| self.template_error("doc_to_choice", idx, m))?,
            _ => self.resolve(t, spec, doc, "doc_to_choice", idx)?,
        };
        let value = match value {
            Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
            v => v,
        };
        let items = value
            .as_array()
            .ok_or_else(|| self.template_error("doc_to_choice", idx, "is not a list".into()))?;
        items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Ok(other.to_string()),
            })
            .collect()
    }

    /// The prompt(s) for document `idx`: one, or one per choice for multiple-input
    /// tasks, laid out by [`Task::style`] as the harness's `fewshot_context`.
    pub fn contexts(
        &self,
        t: &Templates,
        idx: usize,
        sampler: &mut FewshotSampler,
    ) -> Result<Vec<String>> {
        let doc = &self.docs[idx];
        let description = if self.config.description.is_empty() {
            String::new()
        } else {
            t.render(&self.config.description, doc)
                .map_err(|m| self.template_error("description", idx, m))?
        };
        let system = prompt::maybe_delimit(
            self.style.system_instruction.as_deref().unwrap_or(""),
            &description,
            &self.config.fewshot_delimiter,
        );
        let mut turns = Vec::new();
        if !system.is_empty() {
            turns.push(Turn::new("system", system, ""));
        }
        for shot in self.sample_fewshot(doc, sampler)? {
            turns.extend(self.fewshot_turns(t, shot, idx)?);
        }
        let text = self.doc_to_text(t, doc, idx)?;
        let prefix = self.gen_prefix(t, doc, idx)?;
        let (questions, delim) = if self.multiple_input {
            (self.doc_to_choice(t, doc, idx)?, "")
        } else {
            let text = text
                .as_str()
                .ok_or_else(|| self.template_error("doc_to_text", idx, "is not a string".into()))?;
            (
                vec![text.to_string()],
                self.config.target_delimiter.as_str(),
            )
        };
        questions
            .into_iter()
            .map(|q| {
                let mut all = turns.clone();
                all.extend(prompt::qa_turns(q, None, prefix.as_deref(), delim, ""));
                self.style.render(&all)
            })
            .collect()
    }

    /// `gen_prefix`: a document field, or a template rendered with the document.
    fn gen_prefix(&self, t: &Templates, doc: &Doc, idx: usize) -> Result<Option<String>> {
        match &self.config.gen_prefix {
            None => Ok(None),
            Some(f) if self.features.contains(f) => {
                Ok(doc.get(f).and_then(Value::as_str).map(str::to_string))
            }
            Some(tpl) => t
                .render(tpl, doc)
                .map(Some)
                .map_err(|m| self.template_error("gen_prefix", idx, m)),
        }
    }

    /// One solved example: a user turn `text` (followed by `target_delimiter`)
    /// and an assistant turn `answer` (followed by `fewshot_delimiter`); an
    /// example without an answer is the user turn alone.
    fn fewshot_turns(&self, t: &Templates, shot: &Doc, idx: usize) -> Result<Vec<Turn>> {
        let q = self.doc_to_text(t, shot, idx)?;
        let choices = match &self.config.doc_to_choice {
            Some(_) => Some(self.doc_to_choice(t, shot, idx)?),
            None => None,
        };
        let answer = self.doc_to_target(t, shot, idx)?;
        let (q, choices) = match (self.multiple_input, q.as_u64(), &choices) {
            (true, Some(i), Some(c)) => (c.get(i as usize).cloned().unwrap_or_default(), None),
            _ => (q.as_str().map(str::to_string).unwrap_or_default(), choices),
        };
        let prefix = self.gen_prefix(t, shot, idx)?;
        let c = &self.config;
        let no_answer = || {
            prompt::qa_turns(
                q.clone(),
                None,
                prefix.as_deref(),
                &c.target_delimiter,
                &c.fewshot_delimiter,
            )
        };
        let answer_text = match (&answer, &choices) {
            (Value::Null, _) => return Ok(no_answer()),
            (Value::String(s), _) if s.is_empty() => return Ok(no_answer()),
            (Value::Number(n), Some(c)) => n.as_u64().and_then(|i| c.get(i as usize).cloned()),
            (Value::Array(a), _) => a.first().and_then(Value::as_str).map(str::to_string),
            (Value::String(s), _) => Some(s.clone()),
            _ => None,
        }
        .ok_or_else(|| {
            self.template_error(
                "doc_to_target",
                idx,
                format!("few-shot answer {answer} is not text"),
            )
        })?;
        Ok(prompt::qa_turns(
            q,
            Some(answer_text),
            prefix.as_deref(),
            &c.target_delimiter,
            &c.fewshot_delimiter,
        ))
    }

    /// The harness's sampler: `first_n` in order, else Python's `random.sample`.
    fn sample_fewshot<'a>(
        &'a self,
        doc: &Doc,
        sampler: &mut FewshotSampler,
    ) -> Result<Vec<&'a Doc>> {
        let n = self.config.num_fewshot;
        let Some(pool) = self.fewshot_docs.as_ref().filter(|_| n > 0) else {
            return Ok(Vec::new());
        };
        // The harness excludes the evaluated document when the few-shot split
        // equals the *test* split (both unset counts as equal).
        let exclude = self.config.fewshot_split == self.config.test_split;
        let first_n = self
            .config
            .fewshot_config
            .as_ref()
            .is_some_and(|f| f.sampler == "first_n");
        let too_few = |have: usize| EvalError::TaskFile {
            path: self.config.task.clone(),
            message: format!("{n} few-shot examples requested, {have} available"),
        };
        if first_n {
            let kept: Vec<&Doc> = pool.iter().filter(|d| !(exclude && *d == doc)).collect();
            return if kept.len() < n {
                Err(too_few(kept.len()))
            } else {
                Ok(kept[..n].to_vec())
            };
        }
        let draw = if exclude { n + 1 } else { n };
        if draw > pool.len() {
            return Err(too_few(pool.len()));
        }
        let picked = sampler.rng.sample_indices(pool.len(), draw);
        let mut shots: Vec<&Doc> = picked
            .iter()
            .map(|&i| &pool[i])
            .filter(|d| !(exclude && *d == doc))
            .collect();
        shots.truncate(n);
        if shots.len() < n {
            let rest: Vec<&Doc> = pool.iter().filter(|d| *d != doc).collect();
            let again = sampler.rng.sample_indices(rest.len(), n);
            shots = again.iter().map(|&i| rest[i]).collect();
        }
        Ok(shots)
    }

    /// The requests for document `idx`, in the harness's order.
    pub fn requests(
        &self,
        t: &Templates,
        idx: usize,
        sampler: &mut FewshotSampler,
    ) -> Result<Vec<Request>> {
        let contexts = self.contexts(t, idx, sampler)?;
        let doc = &self.docs[idx];
        // Under a chat template the answer follows the opened assistant turn
        // directly: the harness drops the target delimiter unless a gen_prefix
        // without trailing whitespace precedes the answer.
        let prefix_needs_delim = self
            .config
            .gen_prefix
            .as_deref()
            .is_some_and(|p| !p.ends_with(char::is_whitespace));
        let delim = if self.style.is_chat() && !prefix_needs_delim {
            ""
        } else {
            &self.config.target_delimiter
        };
        match self.config.output_type {
            OutputType::MultipleChoice if self.multiple_input => {
                let target = self.doc_to_target(t, doc, idx)?;
                let cont = target
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| target.to_string());
                Ok(contexts
                    .into_iter()
                    .map(|context| Request::loglikelihood(context, format!("{delim}{cont}")))
                    .collect())
            }
            OutputType::MultipleChoice => {
                let context = contexts.into_iter().next().unwrap_or_default();
                let choices = self.doc_to_choice(t, doc, idx)?;
                Ok(choices
                    .iter()
                    .map(|c| Request::loglikelihood(context.clone(), format!("{delim}{c}")))
                    .collect())
            }
            OutputType::GenerateUntil => {
                let kw = self.config.generation_kwargs.clone().unwrap_or_else(|| {
                    config::GenerationKwargs {
                        until: vec![self.config.fewshot_delimiter.clone()],
                        max_gen_toks: 256,
                        do_sample: false,
                        temperature: 0.0,
                        top_p: 1.0,
                    }
                });
                let context = contexts.into_iter().next().unwrap_or_default();
                let repeats = self.config.repeats.max(1);
                if repeats == 1 && !kw.do_sample {
                    return Ok(vec![Request::generate(context, kw.until, kw.max_gen_toks)]);
                }
                // The harness sends the same instance `repeats` times; numbering
                // the samples keeps them distinct for the cache and the sampler.
                Ok((0..repeats)
                    .map(|sample| {
                        let sampling = Sampling {
                            temperature: kw.temperature,
                            top_p: kw.top_p,
                            sample,
                        };
                        Request::sampled(
                            context.clone(),
                            kw.until.clone(),
                            kw.max_gen_toks,
                            sampling,
                        )
                    })
                    .collect())
            }
            OutputType::LoglikelihoodRolling => {
                let target = self.doc_to_target(t, doc, idx)?;
                let text = target.as_str().ok_or_else(|| {
                    self.template_error("doc_to_target", idx, "is not a string".into())
                })?;
                Ok(vec![Request::LoglikelihoodRolling {
                    text: text.to_string(),
                }])
            }
        }
    }
}
