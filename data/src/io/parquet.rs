//! Parquet shards. Rows are read as JSON records, so everything after the reader treats a
//! Parquet shard exactly like a JSONL shard: a row whose text column is missing, null or
//! not a string is reported with the file, its 1-based row number and the column, and is
//! routed to rejects or fails the run like a malformed JSON line. Outputs are written by
//! inferring an Arrow schema from the records (two streaming passes over a staged JSONL
//! file), so every field of every record — metadata included — becomes a column.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{DataType, Field, Fields, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::properties::WriterProperties;

use crate::error::{DataError, Result};

/// Rows per Arrow batch, both ways.
const ROWS_PER_BATCH: usize = 4096;

/// True for paths the Parquet reader handles (by extension).
pub fn is_parquet(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "parquet" || e == "pq")
}

/// Streams a Parquet file's rows as JSON object lines.
pub struct ParquetRows {
    batches: ParquetRecordBatchReader,
    path: PathBuf,
    pending: VecDeque<Vec<u8>>,
}

impl std::fmt::Debug for ParquetRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetRows")
            .field("path", &self.path)
            .finish()
    }
}

impl ParquetRows {
    /// Opens a Parquet file; a file that is not Parquet is a [`DataError::Format`].
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| DataError::io("opening", path, e))?;
        let batches = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(ROWS_PER_BATCH).build())
            .map_err(|e| DataError::format(path, format!("not a readable Parquet file: {e}")))?;
        Ok(ParquetRows {
            batches,
            path: path.to_path_buf(),
            pending: VecDeque::new(),
        })
    }

    /// The Arrow schema of the file.
    pub fn schema(&self) -> Arc<Schema> {
        self.batches.schema()
    }

    /// The next row as a JSON object (nulls left out), or `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<Vec<u8>>> {
        while self.pending.is_empty() {
            let Some(batch) = self.batches.next() else {
                return Ok(None);
            };
            let batch = batch.map_err(|e| DataError::format(&self.path, e))?;
            let mut buf = Vec::new();
            {
                let mut writer = arrow_json::LineDelimitedWriter::new(&mut buf);
                writer
                    .write(&batch)
                    .and_then(|()| writer.finish())
                    .map_err(|e| DataError::format(&self.path, format!("row to JSON: {e}")))?;
            }
            self.pending.extend(
                buf.split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec),
            );
        }
        Ok(self.pending.pop_front())
    }
}

/// Why a Parquet schema cannot hold documents with text in `text_field`, if it cannot.
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// let schema = Schema::new(vec![Field::new("body", DataType::Utf8, true)]);
/// let problem = vibee_data::io::schema_problem(&schema, "text");
/// assert_eq!(problem.as_deref(), Some("no column `text` (columns: body)"));
/// ```
pub fn schema_problem(schema: &Schema, text_field: &str) -> Option<String> {
    match schema.field_with_name(text_field) {
        Ok(field) => match field.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => None,
            other => Some(format!("column `{text_field}` is {other}, not a string")),
        },
        Err(_) => {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            Some(format!(
                "no column `{text_field}` (columns: {})",
                names.join(", ")
            ))
        }
    }
}

/// Converts a JSONL file of objects into a Parquet file at `dest`: one pass infers the
/// schema, a second decodes the records with it. An empty input gives a file with a
/// single nullable string column `text`, so that every output shard exists.
pub fn jsonl_to_parquet(source: &Path, dest: &Path, fsync: bool) -> Result<()> {
    let open = || {
        File::open(source)
            .map(|f| BufReader::with_capacity(1 << 20, f))
            .map_err(|e| DataError::io("opening", source, e))
    };
    let (inferred, _) = arrow_json::reader::infer_json_schema(open()?, None)
        .map_err(|e| DataError::format(source, format!("inferring a Parquet schema: {e}")))?;
    let mut schema = Schema::new(writable_fields(inferred.fields()));
    if schema.fields().is_empty() {
        schema = Schema::new(vec![Field::new("text", DataType::Utf8, true)]);
    }
    let schema = Arc::new(schema);
    let reader = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(ROWS_PER_BATCH)
        .with_coerce_primitive(true)
        .build(open()?)
        .map_err(|e| DataError::format(source, e))?;
    let file = File::create(dest).map_err(|e| DataError::io("creating", dest, e))?;
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut writer =
        ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| DataError::format(dest, e))?;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| DataError::format(source, e))?;
        writer
            .write(&batch)
            .map_err(|e| DataError::format(dest, e))?;
    }
    let file = writer
        .into_inner()
        .map_err(|e| DataError::format(dest, e))?;
    if fsync {
        file.sync_all()
            .map_err(|e| DataError::io("syncing", dest, e))?;
    }
    Ok(())
}

/// Parquet cannot store a struct without fields (an always-empty JSON object), so such
/// fields are left out; they hold no data.
fn writable_fields(fields: &Fields) -> Vec<Field> {
    fields
        .iter()
        .filter_map(|f| match f.data_type() {
            DataType::Struct(inner) => {
                let kept = writable_fields(inner);
                (!kept.is_empty()).then(|| {
                    f.as_ref()
                        .clone()
                        .with_data_type(DataType::Struct(kept.into()))
                })
            }
            _ => Some(f.as_ref().clone()),
        })
        .collect()
}

/// Reads every record of a JSONL (any compression) or Parquet file, for checks and tools.
pub fn read_records(path: &Path) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let mut out = Vec::new();
    let mut push = |raw: &[u8], line: u64| -> Result<()> {
        match serde_json::from_slice(raw) {
            Ok(serde_json::Value::Object(map)) => {
                out.push(map);
                Ok(())
            }
            _ => Err(DataError::format(
                path,
                format!("record {line} is not a JSON object"),
            )),
        }
    };
    if is_parquet(path) {
        let mut rows = ParquetRows::open(path)?;
        let mut line = 0;
        while let Some(row) = rows.next_row()? {
            line += 1;
            push(&row, line)?;
        }
    } else {
        let mut reader = super::ShardReader::open(path)?;
        loop {
            let batch = reader.next_batch(4096, 32 << 20)?;
            if batch.is_empty() {
                break;
            }
            for (line, raw) in batch {
                push(&raw, line)?;
            }
        }
    }
    Ok(out)
}
