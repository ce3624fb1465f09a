//! Files: compressed streams, input discovery, the JSONL record format, and Parquet.

mod compression;
mod inputs;
mod jsonl;
mod parquet;

pub use compression::{Compression, Encoding, OutputFile, OutputFormat, open_input};
pub use inputs::{expand_inputs, shard_stem};
pub use jsonl::{ParsedLine, Peeked, REJECT_FIELD, RecordFormat, ShardReader, bad_line_record};
pub use parquet::{ParquetRows, is_parquet, jsonl_to_parquet, read_records, schema_problem};
