//! The work folder: a fingerprint of the config and inputs, and one completion marker per
//! finished shard and segment. A shard's outputs are renamed into place before its marker
//! is written, so a marker always means "this shard's files are complete".

use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::error::{DataError, Result};
use crate::pipeline::{Pipeline, ShardStats};

const FINGERPRINT_FILE: &str = "fingerprint";

/// The work folder of one pipeline output.
#[derive(Debug)]
pub(crate) struct WorkDir {
    root: PathBuf,
}

/// A hash of everything that decides the output: steps, fields, output format, and each
/// input file's path, size and modification time.
pub(crate) fn fingerprint(pipeline: &Pipeline, inputs: &[PathBuf]) -> Result<String> {
    let mut hasher = Xxh3::new();
    let described = format!(
        "{:?}|{}|{}|{:?}|{:?}|{:?}",
        pipeline.steps,
        pipeline.input.text_field,
        pipeline.input.id_field,
        pipeline.input.on_bad_input,
        pipeline.output.compression,
        pipeline.output.format
    );
    hasher.update(described.as_bytes());
    for path in inputs {
        let meta = std::fs::metadata(path).map_err(|e| DataError::io("inspecting", path, e))?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        hasher.update(format!("{}|{}|{:?}", path.display(), meta.len(), modified).as_bytes());
    }
    Ok(format!("{:032x}", hasher.digest128()))
}

impl WorkDir {
    /// Opens (or creates) the work folder; a folder left by a different config or input
    /// set is an error unless `fresh`, which empties it.
    pub(crate) fn open(root: &Path, fingerprint: &str, fresh: bool) -> Result<Self> {
        if fresh && root.exists() {
            std::fs::remove_dir_all(root).map_err(|e| DataError::io("removing", root, e))?;
        }
        let done = root.join("done");
        std::fs::create_dir_all(&done).map_err(|e| DataError::io("creating", &done, e))?;
        let file = root.join(FINGERPRINT_FILE);
        match std::fs::read_to_string(&file) {
            Ok(existing) if existing.trim() == fingerprint => {}
            Ok(_) => {
                return Err(DataError::StaleWorkDir {
                    path: root.to_path_buf(),
                });
            }
            Err(_) => std::fs::write(&file, fingerprint)
                .map_err(|e| DataError::io("writing", &file, e))?,
        }
        Ok(WorkDir {
            root: root.to_path_buf(),
        })
    }

    fn marker(&self, segment: usize, shard: usize) -> PathBuf {
        self.root
            .join("done")
            .join(format!("seg{segment}-{shard:05}.json"))
    }

    /// The stats of a completed shard, if its marker exists and is readable.
    pub(crate) fn completed(&self, segment: usize, shard: usize) -> Option<ShardStats> {
        let text = std::fs::read_to_string(self.marker(segment, shard)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Marks a shard complete (written to a temporary name, then renamed).
    pub(crate) fn mark_completed(
        &self,
        segment: usize,
        shard: usize,
        stats: &ShardStats,
    ) -> Result<()> {
        let path = self.marker(segment, shard);
        let tmp = path.with_extension("json.tmp");
        let text =
            serde_json::to_string(stats).map_err(|e| DataError::io("encoding", &tmp, e.into()))?;
        std::fs::write(&tmp, text).map_err(|e| DataError::io("writing", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| DataError::io("renaming", &tmp, e))
    }

    /// Folder of a segment's intermediate output.
    pub(crate) fn segment_dir(&self, segment: usize) -> PathBuf {
        self.root.join(format!("seg{segment}"))
    }

    /// Removes intermediate shards, keeping markers and fingerprint for later reruns.
    pub(crate) fn remove_intermediates(&self, segments: usize) -> Result<()> {
        for segment in 0..segments {
            let dir = self.segment_dir(segment);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| DataError::io("removing", &dir, e))?;
            }
        }
        Ok(())
    }
}
