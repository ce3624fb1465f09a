//! Input discovery: files, folders and `*`/`?` wildcards in the last path component.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

const DATA_EXTENSIONS: [&str; 8] = [
    ".jsonl",
    ".jsonl.gz",
    ".jsonl.zst",
    ".json",
    ".json.gz",
    ".json.zst",
    ".parquet",
    ".pq",
];

/// Expands the configured input patterns into a list of shard files, relative paths
/// resolved against `base`. A folder means every JSONL or Parquet file in it; a wildcard matches
/// file names in its folder. Each pattern's matches are sorted; duplicates are dropped.
pub fn expand_inputs(patterns: &[String], base: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        let path = base.join(pattern);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let mut matched = if name.contains(['*', '?']) {
            let dir = path.parent().unwrap_or(base);
            list_dir(dir, |file| wildcard_match(&name, file))?
        } else if path.is_dir() {
            list_dir(&path, |file| {
                DATA_EXTENSIONS.iter().any(|e| file.ends_with(e))
            })?
        } else {
            vec![path]
        };
        matched.sort();
        for file in matched {
            if !files.contains(&file) {
                files.push(file);
            }
        }
    }
    if files.is_empty() {
        return Err(DataError::NoInput {
            patterns: patterns.to_vec(),
        });
    }
    Ok(files)
}

fn list_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io("listing", dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && keep(&name) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// Glob matching of one name: `*` any run, `?` one character.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// The file name without its data extensions: `a/web-003.jsonl.zst` → `web-003`.
pub fn shard_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for ext in [".gz", ".zst", ".zstd", ".jsonl", ".json", ".parquet", ".pq"] {
        stem = stem.strip_suffix(ext).unwrap_or(stem);
    }
    stem.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.jsonl.gz", "a.jsonl.gz"));
        assert!(wildcard_match("web-??.jsonl", "web-01.jsonl"));
        assert!(!wildcard_match("web-??.jsonl", "web-1.jsonl"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("*.zst", "a.gz"));
    }

    #[test]
    fn stems_drop_data_extensions() {
        assert_eq!(shard_stem(Path::new("x/web-003.jsonl.zst")), "web-003");
        assert_eq!(shard_stem(Path::new("plain.json")), "plain");
    }
}
