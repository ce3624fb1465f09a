//! Files: compressed streams, input discovery, and the JSONL record format.

mod compression;
mod inputs;
mod jsonl;

pub use compression::{Compression, OutputFile, open_input};
pub use inputs::{expand_inputs, shard_stem};
pub use jsonl::{ParsedLine, Peeked, REJECT_FIELD, RecordFormat, ShardReader, bad_line_record};
