//! Transparent (de)compression chosen by file extension: plain, `.gz` (flate2), `.zst`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Compression of an output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Plain `.jsonl`.
    None,
    /// `.jsonl.gz`.
    Gzip,
    /// `.jsonl.zst` (level 3).
    #[default]
    Zstd,
}

impl Compression {
    /// The file extension, including the leading `.jsonl`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => ".jsonl",
            Compression::Gzip => ".jsonl.gz",
            Compression::Zstd => ".jsonl.zst",
        }
    }

    /// The compression a path's extension implies.
    pub fn of_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("zst" | "zstd") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// The file format of written documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// JSON lines, compressed as `compression` says.
    #[default]
    Jsonl,
    /// Apache Parquet (snappy pages); the schema is inferred from the records written.
    Parquet,
}

/// How one output file is encoded: JSON lines with a compression, or Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// JSON lines.
    Jsonl(Compression),
    /// Parquet.
    Parquet,
}

impl Encoding {
    /// The encoding an output format and compression select.
    pub fn of(format: OutputFormat, compression: Compression) -> Self {
        match format {
            OutputFormat::Jsonl => Encoding::Jsonl(compression),
            OutputFormat::Parquet => Encoding::Parquet,
        }
    }

    /// The file extension, including the leading `.jsonl` or `.parquet`.
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Jsonl(c) => c.extension(),
            Encoding::Parquet => ".parquet",
        }
    }
}

/// Opens a file for buffered reading, decompressing by extension.
pub fn open_input(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).map_err(|e| DataError::io("opening", path, e))?;
    let reader: Box<dyn BufRead + Send> = match Compression::of_path(path) {
        Compression::None => Box::new(BufReader::with_capacity(1 << 20, file)),
        Compression::Gzip => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            BufReader::new(file),
        ))),
        Compression::Zstd => {
            let decoder =
                zstd::Decoder::new(file).map_err(|e| DataError::io("opening zstd", path, e))?;
            Box::new(BufReader::with_capacity(1 << 20, decoder))
        }
    };
    Ok(reader)
}

enum Sink {
    Plain(BufWriter<File>),
    /// Records are staged as plain JSON lines, then converted on commit, because the
    /// Parquet schema can only be inferred once every record is known.
    Parquet(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

/// An output file written under a temporary name and renamed into place by
/// [`OutputFile::commit`], so a killed run never leaves a complete-looking partial file.
pub struct OutputFile {
    sink: Sink,
    tmp: PathBuf,
    path: PathBuf,
}

impl std::fmt::Debug for OutputFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputFile")
            .field("path", &self.path)
            .finish()
    }
}

impl OutputFile {
    /// Creates `path` (as `path.tmp` until committed) with the given encoding.
    pub fn create(path: &Path, encoding: Encoding) -> Result<Self> {
        let tmp = path.with_extension(format!(
            "{}.tmp",
            path.extension().and_then(|e| e.to_str()).unwrap_or("out")
        ));
        let file = File::create(&tmp).map_err(|e| DataError::io("creating", &tmp, e))?;
        let buffered = BufWriter::with_capacity(1 << 20, file);
        let sink = match encoding {
            Encoding::Parquet => Sink::Parquet(buffered),
            Encoding::Jsonl(Compression::None) => Sink::Plain(buffered),
            Encoding::Jsonl(Compression::Gzip) => Sink::Gzip(flate2::write::GzEncoder::new(
                buffered,
                flate2::Compression::new(6),
            )),
            Encoding::Jsonl(Compression::Zstd) => Sink::Zstd(
                zstd::Encoder::new(buffered, 3).map_err(|e| DataError::io("creating", &tmp, e))?,
            ),
        };
        Ok(OutputFile {
            sink,
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// Appends one line (a newline is added).
    pub fn write_line(&mut self, line: &[u8]) -> Result<()> {
        let sink: &mut dyn Write = match &mut self.sink {
            Sink::Plain(w) | Sink::Parquet(w) => w,
            Sink::Gzip(w) => w,
            Sink::Zstd(w) => w,
        };
        sink.write_all(line)
            .and_then(|()| sink.write_all(b"\n"))
            .map_err(|e| DataError::io("writing", &self.tmp, e))
    }

    /// Finishes compression, flushes, optionally syncs, and renames the file into place.
    pub fn commit(self, fsync: bool) -> Result<()> {
        let tmp = self.tmp;
        let err = |e| DataError::io("finishing", &tmp, e);
        let parquet = matches!(self.sink, Sink::Parquet(_));
        let buffered = match self.sink {
            Sink::Plain(w) | Sink::Parquet(w) => w,
            Sink::Gzip(w) => w.finish().map_err(err)?,
            Sink::Zstd(w) => w.finish().map_err(err)?,
        };
        let file = buffered.into_inner().map_err(|e| err(e.into_error()))?;
        if parquet {
            drop(file);
            let staged = tmp.with_extension("jsonl");
            std::fs::rename(&tmp, &staged).map_err(|e| DataError::io("renaming", &tmp, e))?;
            super::parquet::jsonl_to_parquet(&staged, &tmp, fsync)?;
            std::fs::remove_file(&staged).map_err(|e| DataError::io("removing", &staged, e))?;
        } else if fsync {
            file.sync_all().map_err(err)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| DataError::io("renaming", &tmp, e))
    }
}
