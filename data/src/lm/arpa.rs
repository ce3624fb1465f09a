//! The ARPA back-off format as KenLM writes it:
//!
//! ```text
//! \data\
//! ngram 1=<count>
//! …
//!
//! \1-grams:
//! <log10 p>\t<w>\t<log10 backoff>
//! …
//!
//! \end\
//! ```
//!
//! The backoff column is left out where it is 0 and for the highest order; `<s>` has
//! log10 p = −99, KenLM's "never predicted". Entries are written sorted by word ids
//! so that a model trains to byte-identical files.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::error::{DataError, Result};
use crate::lm::{NgramEntry, NgramModel};

/// The log10 probability ARPA files use for "impossible" (`<s>`).
pub const LOG_ZERO: f64 = -99.0;

/// Writes a model in ARPA format.
pub fn write_arpa(model: &NgramModel, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "\n\\data\\")?;
    for n in 1..=model.order() {
        writeln!(out, "ngram {n}={}", model.count(n))?;
    }
    for n in 1..=model.order() {
        writeln!(out, "\n\\{n}-grams:")?;
        let mut grams: Vec<(&[u32], &NgramEntry)> = model.ngrams(n).collect();
        grams.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (gram, entry) in grams {
            let words: Vec<&str> = gram.iter().map(|&id| model.word(id)).collect();
            write!(out, "{}\t{}", fmt_log(entry.log_prob), words.join(" "))?;
            if n < model.order() && entry.log_backoff != 0.0 {
                write!(out, "\t{}", fmt_log(entry.log_backoff))?;
            }
            writeln!(out)?;
        }
    }
    writeln!(out, "\n\\end\\")
}

/// Seven significant decimals, as KenLM prints (and a clean `-99` for `<s>`).
fn fmt_log(v: f64) -> String {
    if v <= LOG_ZERO {
        "-99".into()
    } else {
        format!("{v:.7}")
    }
}

/// Writes a model to an ARPA file.
pub fn save_arpa(model: &NgramModel, path: &Path) -> Result<()> {
    let file = std::fs::File::create(path).map_err(|e| DataError::io("creating", path, e))?;
    let mut out = std::io::BufWriter::new(file);
    write_arpa(model, &mut out)
        .and_then(|()| out.flush())
        .map_err(|e| DataError::io("writing", path, e))
}

/// Reads an ARPA file; errors name the line.
pub fn load_arpa(path: &Path) -> Result<NgramModel> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io("opening", path, e))?;
    read_arpa(std::io::BufReader::new(file), path)
}

/// Parses ARPA text; `origin` names the source in errors.
pub fn read_arpa(reader: impl BufRead, origin: &Path) -> Result<NgramModel> {
    let bad =
        |line: usize, message: String| DataError::format(origin, format!("line {line}: {message}"));
    let mut declared: Vec<usize> = Vec::new();
    let mut model: Option<NgramModel> = None;
    let mut section = 0usize; // 0: header, n: n-grams, usize::MAX: after \end\
    for (i, line) in reader.lines().enumerate() {
        let number = i + 1;
        let line = line.map_err(|e| DataError::io("reading", origin, e))?;
        let line = line.trim();
        if line.is_empty() || line == "\\data\\" {
            continue;
        }
        if line == "\\end\\" {
            section = usize::MAX;
            break;
        }
        if let Some(rest) = line.strip_prefix("ngram ") {
            let count = rest
                .split_once('=')
                .and_then(|(_, c)| c.trim().parse().ok())
                .ok_or_else(|| bad(number, format!("bad count line `{line}`")))?;
            declared.push(count);
            continue;
        }
        if let Some(n) = line
            .strip_prefix('\\')
            .and_then(|l| l.strip_suffix("-grams:"))
        {
            section = n
                .parse()
                .map_err(|_| bad(number, format!("bad section `{line}`")))?;
            if section == 0 || section > declared.len() {
                return Err(bad(number, format!("section {section} not declared")));
            }
            model.get_or_insert_with(|| NgramModel::empty(declared.len()));
            continue;
        }
        let Some(m) = model.as_mut().filter(|_| section > 0) else {
            return Err(bad(
                number,
                format!("unexpected `{line}` before the n-gram sections"),
            ));
        };
        parse_entry(m, line, section).map_err(|message| bad(number, message))?;
    }
    let model = model.ok_or_else(|| bad(0, "no n-gram sections".into()))?;
    if section != usize::MAX {
        return Err(bad(0, "missing `\\end\\`".into()));
    }
    for (n, &count) in declared.iter().enumerate() {
        if model.count(n + 1) != count {
            let found = model.count(n + 1);
            return Err(bad(
                0,
                format!("header declares {count} {}-grams, found {found}", n + 1),
            ));
        }
    }
    Ok(model)
}

fn parse_entry(model: &mut NgramModel, line: &str, n: usize) -> Result<(), String> {
    let mut fields = line.split(['\t', ' ']).filter(|f| !f.is_empty());
    let log_prob: f64 = fields
        .next()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| format!("no probability in `{line}`"))?;
    let words: Vec<&str> = fields.by_ref().take(n).collect();
    if words.len() != n {
        return Err(format!("expected {n} words in `{line}`"));
    }
    let log_backoff = match fields.next() {
        Some(f) => f.parse().map_err(|_| format!("bad backoff `{f}`"))?,
        None => 0.0,
    };
    let ids: Vec<u32> = words.iter().map(|w| model.intern(w)).collect();
    model.insert(
        &ids,
        NgramEntry {
            log_prob,
            log_backoff,
        },
    );
    Ok(())
}
