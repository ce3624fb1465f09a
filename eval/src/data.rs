//! Reading datasets from local files, in the format they are published in.
//!
//! A task names a dataset directory (`dataset_path`) and splits; the split
//! `test` of dataset `arc_easy` is `<data_dir>/arc_easy/test.jsonl`, or the
//! Parquet files the Hugging Face Hub publishes: `test.parquet`, or shards
//! `test-00000-of-00002.parquet` (also under `data/`), read in name order.

use std::path::{Path, PathBuf};

use crate::error::{EvalError, Result};
use crate::template::Doc;

/// Reads every line of a JSONL file as a document; blank lines are skipped.
pub fn read_jsonl(path: &Path) -> Result<Vec<Doc>> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut docs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| EvalError::Jsonl {
                path: path.to_path_buf(),
                line: i + 1,
                message: e.to_string(),
            })?;
        match value {
            serde_json::Value::Object(map) => docs.push(map),
            other => {
                return Err(EvalError::Jsonl {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: format!("expected an object, found {}", kind(&other)),
                });
            }
        }
    }
    Ok(docs)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Where a split of a dataset lives: `<data_dir>/<dataset>/<split>.jsonl`.
pub fn split_path(data_dir: &Path, dataset: &str, split: &str) -> PathBuf {
    data_dir.join(dataset).join(format!("{split}.jsonl"))
}

/// Loads one split: JSONL if `<split>.jsonl` exists, else its Parquet files;
/// the error for neither says which files were looked for.
pub fn load_split(data_dir: &Path, dataset: &str, split: &str) -> Result<Vec<Doc>> {
    let path = split_path(data_dir, dataset, split);
    if path.exists() {
        return read_jsonl(&path);
    }
    let parquet = crate::parquet_data::split_files(&data_dir.join(dataset), split);
    if parquet.is_empty() {
        return Err(EvalError::Io {
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "split `{split}` of dataset `{dataset}` not found (expected {split}.jsonl, {split}.parquet or {split}-*.parquet shards, also under data/)"
                ),
            ),
            path,
        });
    }
    let mut docs = Vec::new();
    for file in parquet {
        docs.extend(crate::parquet_data::read_parquet(&file)?);
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = std::env::temp_dir().join(format!("vibee-eval-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("bad.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n\n[1, 2]\n").expect("write");
        let err = read_jsonl(&path)
            .expect_err("line 3 is an array")
            .to_string();
        assert!(err.contains("bad.jsonl:3"), "{err}");
        assert!(err.contains("an array"), "{err}");
        let missing = load_split(&dir, "nope", "test")
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("nope/test.jsonl"), "{missing}");
    }
}
