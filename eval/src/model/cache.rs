//! A request cache on disk, so an interrupted evaluation resumes without
//! re-asking the model.
//!
//! The cache is an append-only JSONL file of `{key, response}` lines, one per
//! answered request, flushed as each batch completes. A line cut short by a crash
//! is ignored when the file is read back.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::LanguageModel;
use super::fake::fnv1a64;
use crate::error::{EvalError, Result};
use crate::request::{Request, Response};

/// Wraps a model with a disk cache keyed by model name and request.
#[derive(Debug)]
pub struct CachedModel<M> {
    inner: M,
    path: PathBuf,
    entries: Mutex<HashMap<String, Response>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    key: String,
    response: Response,
}

impl<M: LanguageModel> CachedModel<M> {
    /// Opens (or starts) the cache file at `path`.
    pub fn open(inner: M, path: &Path) -> Result<Self> {
        let mut entries = HashMap::new();
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
                path: path.into(),
                source,
            })?;
            for line in text.lines() {
                if let Ok(l) = serde_json::from_str::<Line>(line) {
                    entries.insert(l.key, l.response);
                }
            }
            // A run killed mid-line leaves a torn last line: end it so the next
            // append starts a fresh line instead of gluing onto the fragment.
            if !text.is_empty() && !text.ends_with('\n') {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|source| EvalError::Io {
                        path: path.into(),
                        source,
                    })?;
                f.write_all(b"\n").map_err(|source| EvalError::Io {
                    path: path.into(),
                    source,
                })?;
            }
        }
        Ok(CachedModel {
            inner,
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
        })
    }

    /// The wrapped model.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// Number of cached answers.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, request: &Request) -> String {
        let body = serde_json::to_string(request).unwrap_or_default();
        // The full text is the key; the hash only shortens lookups in the file.
        format!("{:016x}:{}:{body}", fnv1a64(&body), self.inner.name())
    }

    fn append(&self, lines: &[Line]) -> Result<()> {
        let io = |source| EvalError::Io {
            path: self.path.clone(),
            source,
        };
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let mut buf = String::new();
        for l in lines {
            buf.push_str(&serde_json::to_string(l).unwrap_or_default());
            buf.push('\n');
        }
        f.write_all(buf.as_bytes()).map_err(io)?;
        f.flush().map_err(io)
    }
}

impl<M: LanguageModel> LanguageModel for CachedModel<M> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn answer(&self, requests: &[Request]) -> Result<Vec<Response>> {
        let keys: Vec<String> = requests.iter().map(|r| self.key(r)).collect();
        let mut out: Vec<Option<Response>> = {
            let entries = self
                .entries
                .lock()
                .map_err(|_| EvalError::Model("cache lock poisoned".into()))?;
            keys.iter().map(|k| entries.get(k).cloned()).collect()
        };
        let missing: Vec<usize> = (0..requests.len()).filter(|&i| out[i].is_none()).collect();
        if !missing.is_empty() {
            let asked: Vec<Request> = missing.iter().map(|&i| requests[i].clone()).collect();
            let answers = self.inner.answer(&asked)?;
            let lines: Vec<Line> = missing
                .iter()
                .zip(&answers)
                .map(|(&i, a)| Line {
                    key: keys[i].clone(),
                    response: a.clone(),
                })
                .collect();
            self.append(&lines)?;
            let mut entries = self
                .entries
                .lock()
                .map_err(|_| EvalError::Model("cache lock poisoned".into()))?;
            for (&i, a) in missing.iter().zip(answers) {
                entries.insert(keys[i].clone(), a.clone());
                out[i] = Some(a);
            }
        }
        out.into_iter()
            .map(|r| r.ok_or_else(|| EvalError::Model("model returned too few answers".into())))
            .collect()
    }
}
