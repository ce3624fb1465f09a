//! JSONL records ↔ [`Document`]s, and a reader that hands out batches of raw lines with
//! their line numbers so that parsing can run in parallel and errors can name the line.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Deserializer as _;
use serde_json::{Map, Value};

use crate::document::{Document, Rejection};
use crate::error::{DataError, Result};

/// Field under which rejects files store why a record was rejected.
pub const REJECT_FIELD: &str = "_vibee_reject";

/// Which record fields hold the text and the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFormat {
    /// Field holding the document text.
    pub text_field: String,
    /// Field holding the id; when absent, the id is `<shard stem>:<line>`.
    pub id_field: String,
}

impl Default for RecordFormat {
    fn default() -> Self {
        RecordFormat {
            text_field: "text".into(),
            id_field: "id".into(),
        }
    }
}

/// One input line, parsed.
#[derive(Debug)]
pub enum ParsedLine {
    /// A well-formed document.
    Doc(Document),
    /// A line that is not a document, with the reason (the raw text kept, lossily decoded).
    Bad {
        /// Category for counting: `invalid_utf8`, `malformed_json`, `not_an_object`,
        /// `missing_text_field` or `text_not_a_string`.
        kind: &'static str,
        /// What is wrong, in words.
        reason: String,
        /// The line as text, invalid UTF-8 replaced.
        raw: String,
    },
}

impl RecordFormat {
    /// Parses one line; `stem` and `line` build the fallback id.
    pub fn parse(&self, bytes: &[u8], stem: &str, line: u64) -> ParsedLine {
        let bad = |kind: &'static str, reason: String| ParsedLine::Bad {
            kind,
            reason,
            raw: String::from_utf8_lossy(bytes).into_owned(),
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                return bad(
                    "invalid_utf8",
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                );
            }
        };
        let mut fields = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return bad(
                    "not_an_object",
                    format!("expected a JSON object, found {}", kind(&other)),
                );
            }
            Err(e) => return bad("malformed_json", format!("malformed JSON: {e}")),
        };
        let body = match fields.remove(&self.text_field) {
            Some(Value::String(s)) => s,
            Some(other) => {
                let found = kind(&other);
                return bad(
                    "text_not_a_string",
                    format!("field `{}` is {found}, not a string", self.text_field),
                );
            }
            None => {
                return bad(
                    "missing_text_field",
                    format!("missing text field `{}`", self.text_field),
                );
            }
        };
        let id = match fields.get(&self.id_field) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => format!("{stem}:{line}"),
        };
        ParsedLine::Doc(Document {
            id,
            text: body,
            fields,
            metadata: Map::new(),
        })
    }

    /// Reads only the text and id of a line, skipping other fields without building
    /// them; `None` when the line is not a document. Both passes over a dedup segment
    /// number documents by this test, so they always agree on what a document is.
    pub fn peek(&self, bytes: &[u8], stem: &str, line: u64) -> Option<Peeked> {
        std::str::from_utf8(bytes).ok()?;
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let (text, id) = de.deserialize_map(PeekVisitor { format: self }).ok()?;
        de.end().ok()?;
        let Some(Value::String(text)) = text else {
            return None;
        };
        let (id, has_id) = match id {
            Some(Value::String(s)) => (s, true),
            Some(Value::Number(n)) => (n.to_string(), true),
            _ => (format!("{stem}:{line}"), false),
        };
        Some(Peeked { id, text, has_id })
    }

    /// The record written for a kept document: its fields, the (possibly rewritten) text,
    /// its id, and stage metadata merged into `metadata` (or `_vibee_metadata` when the
    /// input's `metadata` is not an object).
    pub fn to_record(&self, doc: &Document) -> Map<String, Value> {
        self.owned_record(doc.clone())
    }

    /// Like [`to_record`](Self::to_record), moving the document instead of copying it.
    pub fn owned_record(&self, doc: Document) -> Map<String, Value> {
        let Document {
            id,
            text,
            fields: mut record,
            metadata,
        } = doc;
        record.insert(self.text_field.clone(), Value::from(text));
        if !matches!(
            record.get(&self.id_field),
            Some(Value::String(_) | Value::Number(_))
        ) {
            record.insert(self.id_field.clone(), Value::from(id));
        }
        if !metadata.is_empty() {
            let key = match record.get("metadata") {
                None | Some(Value::Object(_)) => "metadata",
                Some(_) => "_vibee_metadata",
            };
            let slot = record
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = slot {
                map.extend(metadata);
            }
        }
        record
    }

    /// The record written for a rejected document.
    pub fn to_reject_record(&self, doc: Document, why: &Rejection) -> Map<String, Value> {
        let mut record = self.owned_record(doc);
        record.insert(REJECT_FIELD.into(), why.to_json());
        record
    }
}

/// The record written for an input line that is not a document.
pub fn bad_line_record(
    file: &Path,
    line: u64,
    kind: &str,
    detail: &str,
    raw: &str,
) -> Map<String, Value> {
    let mut why = Rejection::new("reader", kind, None).to_json();
    // Parquet shards are numbered by row, JSONL shards by line.
    let unit = if super::is_parquet(file) {
        "row"
    } else {
        "line"
    };
    if let Value::Object(map) = &mut why {
        map.insert("detail".into(), Value::from(detail));
        map.insert("file".into(), Value::from(file.display().to_string()));
        map.insert(unit.into(), Value::from(line));
    }
    let mut record = Map::new();
    record.insert(REJECT_FIELD.into(), why);
    record.insert("raw".into(), Value::from(raw));
    record
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The text and id of a record, read by [`RecordFormat::peek`].
#[derive(Debug)]
pub struct Peeked {
    /// The id, or the `<stem>:<line>` fallback.
    pub id: String,
    /// The text.
    pub text: String,
    /// Whether the record carries its own id (so writing it back unchanged is complete).
    pub has_id: bool,
}

struct PeekVisitor<'f> {
    format: &'f RecordFormat,
}

impl<'de> serde::de::Visitor<'de> for PeekVisitor<'_> {
    type Value = (Option<Value>, Option<Value>);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut text, mut id) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            // Same precedence as `parse`: the text field is taken out before the id lookup.
            if key == self.format.text_field {
                text = Some(map.next_value::<Value>()?);
            } else if key == self.format.id_field {
                id = Some(map.next_value::<Value>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok((text, id))
    }
}

/// Where a shard's records come from.
enum Source {
    /// JSON lines (any compression).
    Lines(Box<dyn BufRead + Send>),
    /// Parquet rows, converted to JSON objects.
    Parquet(Box<super::ParquetRows>),
}

/// Reads a shard as batches of `(line number, raw bytes)`, skipping blank lines (they
/// hold no document and are not counted). A Parquet shard yields one JSON object per row,
/// numbered by row.
pub struct ShardReader {
    source: Source,
    path: PathBuf,
    line: u64,
    done: bool,
}

impl std::fmt::Debug for ShardReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardReader")
            .field("path", &self.path)
            .field("line", &self.line)
            .finish()
    }
}

impl ShardReader {
    /// Opens a shard (decompressing, or decoding Parquet, by extension).
    pub fn open(path: &Path) -> Result<Self> {
        let source = if super::is_parquet(path) {
            Source::Parquet(Box::new(super::ParquetRows::open(path)?))
        } else {
            Source::Lines(super::open_input(path)?)
        };
        Ok(ShardReader {
            source,
            path: path.to_path_buf(),
            line: 0,
            done: false,
        })
    }

    /// The next batch of at most `max_lines` lines or about `max_bytes` bytes; empty at
    /// the end of the shard.
    pub fn next_batch(
        &mut self,
        max_lines: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while !self.done && batch.len() < max_lines && bytes < max_bytes {
            let Some(mut buf) = self.next_record()? else {
                self.done = true;
                break;
            };
            self.line += 1;
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            bytes += buf.len();
            batch.push((self.line, buf));
        }
        Ok(batch)
    }

    fn next_record(&mut self) -> Result<Option<Vec<u8>>> {
        match &mut self.source {
            Source::Parquet(rows) => rows.next_row(),
            Source::Lines(reader) => {
                let mut buf = Vec::new();
                let n = reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| DataError::io("reading", &self.path, e))?;
                Ok((n > 0).then_some(buf))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(line: &[u8]) -> String {
        match RecordFormat::default().parse(line, "s", 7) {
            ParsedLine::Bad { reason, .. } => reason,
            ParsedLine::Doc(d) => format!("doc {}", d.id),
        }
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(reason(br#"{"text": "a"}"#), "doc s:7");
        assert_eq!(reason(br#"{"text": "a", "id": 3}"#), "doc 3");
        assert!(reason(b"{\"text\": \"a").starts_with("malformed JSON"));
        assert_eq!(reason(b"{\"text\": \"\xff\"}"), "invalid UTF-8 at byte 10");
        assert_eq!(reason(br#"{"body": "a"}"#), "missing text field `text`");
        assert_eq!(
            reason(br#"{"text": 5}"#),
            "field `text` is a number, not a string"
        );
        assert_eq!(reason(b"[1]"), "expected a JSON object, found an array");
    }

    #[test]
    fn records_round_trip_and_keep_fields() {
        let format = RecordFormat::default();
        let line = br#"{"text": "hi", "url": "u", "metadata": {"a": 1}}"#;
        let ParsedLine::Doc(mut doc) = format.parse(line, "s", 1) else {
            panic!("not a doc")
        };
        doc.metadata.insert("language".into(), Value::from("eng"));
        let record = format.to_record(&doc);
        assert_eq!(record["url"], "u");
        assert_eq!(record["id"], "s:1");
        assert_eq!(record["metadata"]["a"], 1);
        assert_eq!(record["metadata"]["language"], "eng");
        let again = serde_json::to_vec(&record).unwrap_or_default();
        let ParsedLine::Doc(back) = format.parse(&again, "other", 9) else {
            panic!("not a doc")
        };
        assert_eq!(back.id, "s:1");
        assert_eq!(back.text, "hi");
    }
}
