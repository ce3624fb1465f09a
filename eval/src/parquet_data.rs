//! Parquet datasets, as the Hugging Face Hub publishes them (one file per split,
//! or shards `<split>-00000-of-00003.parquet`, often under `data/`).
//!
//! Rows become the same JSON documents a JSONL line gives: strings, numbers,
//! booleans, lists and structs. A column that cannot be text for a prompt
//! (raw binary, such as an image) is a schema error naming the file and column.

use std::path::Path;

use parquet::basic::{ConvertedType, LogicalType, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnDescriptor;

use crate::error::{EvalError, Result};
use crate::template::Doc;

fn parquet_error(path: &Path, message: String) -> EvalError {
    EvalError::Parquet {
        path: path.to_path_buf(),
        message,
    }
}

/// Whether a leaf column holds something a prompt can use.
fn check_column(path: &Path, col: &ColumnDescriptor) -> Result<()> {
    let is_text = matches!(
        col.logical_type_ref(),
        Some(LogicalType::String | LogicalType::Json | LogicalType::Enum)
    ) || matches!(
        col.converted_type(),
        ConvertedType::UTF8 | ConvertedType::JSON | ConvertedType::ENUM
    );
    let binary = matches!(
        col.physical_type(),
        PhysicalType::BYTE_ARRAY | PhysicalType::FIXED_LEN_BYTE_ARRAY
    ) && !is_text
        && col.logical_type_ref().is_none()
        && col.converted_type() == ConvertedType::NONE;
    if binary {
        return Err(parquet_error(
            path,
            format!(
                "column `{}` is raw binary ({:?} without a string annotation); task documents need text, numbers, booleans, lists or structs",
                col.path().string(),
                col.physical_type()
            ),
        ));
    }
    Ok(())
}

/// Reads every row of a Parquet file as a document.
pub fn read_parquet(path: &Path) -> Result<Vec<Doc>> {
    let file = std::fs::File::open(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| parquet_error(path, format!("not a Parquet file: {e}")))?;
    let schema = reader.metadata().file_metadata().schema_descr();
    for col in schema.columns() {
        check_column(path, col)?;
    }
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| parquet_error(path, e.to_string()))?;
    let mut docs = Vec::new();
    for (i, row) in rows.enumerate() {
        let row = row.map_err(|e| parquet_error(path, format!("row {i}: {e}")))?;
        match row.to_json_value() {
            serde_json::Value::Object(map) => docs.push(map),
            other => {
                return Err(parquet_error(
                    path,
                    format!("row {i} is not a record: {other}"),
                ));
            }
        }
    }
    Ok(docs)
}

/// The Parquet files of a split in `dir`, in name order: `<split>.parquet`, or
/// the shards `<split>-*.parquet`, also looked for under `dir/data/`.
pub fn split_files(dir: &Path, split: &str) -> Vec<std::path::PathBuf> {
    for base in [dir.to_path_buf(), dir.join("data")] {
        let single = base.join(format!("{split}.parquet"));
        if single.is_file() {
            return vec![single];
        }
        let prefix = format!("{split}-");
        let mut shards: Vec<_> = std::fs::read_dir(&base)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".parquet"))
            })
            .collect();
        if !shards.is_empty() {
            shards.sort();
            return shards;
        }
    }
    Vec::new()
}
