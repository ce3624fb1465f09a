//! Crash-safe file replacement: write a temporary sibling, fsync it, rename it over the
//! target, fsync the directory. A reader (or a restarted run) sees the old file or the new
//! one, never a torn mix.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use super::error::{TrainError, TrainResult};

/// Replaces `path` with `bytes` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> TrainResult<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The temporary keeps the extension: some writers (image encoders) pick the format by it.
    let tmp = dir.join(format!(".{}.tmp-{name}", std::process::id()));
    write_synced(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))?;
    sync_dir(dir)
}

/// Creates `path` with `bytes` and fsyncs it (no rename: for files inside a directory that
/// is itself renamed into place).
pub fn write_synced(path: &Path, bytes: &[u8]) -> TrainResult<()> {
    let mut file = File::create(path).map_err(|e| TrainError::io(path, e))?;
    file.write_all(bytes).map_err(|e| TrainError::io(path, e))?;
    file.sync_all().map_err(|e| TrainError::io(path, e))
}

/// Fsyncs a directory, so that renames and creations inside it survive a power cut.
pub fn sync_dir(dir: &Path) -> TrainResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| TrainError::io(dir, e))
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
