//! MinHash signatures (Broder 1997) and LSH banding for near-duplicate detection.
//!
//! Shingles (word or character n-grams) are hashed to 32 bits; permutation `i` maps a
//! shingle hash `x` to `fmix32(x ⊕ s_i)` with a random seed `s_i`, where `fmix32` is
//! MurmurHash3's finalizer — a bijection of 32-bit values with full avalanche, so each
//! seed gives a pseudo-random permutation — and the signature keeps each permutation's
//! minimum. Only 32-bit multiplies are involved, so AVX2 computes 8 permutations at
//! once; the S-curve test in `tests/minhash.rs` checks the family against theory. Signatures are cut into `bands` of `rows` values;
//! two documents sharing any band become candidates and are merged by union-find.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::dedup::lsh::{UnionFind, optimal_bands_rows};
use crate::dedup::{DedupDecisions, DedupIndex, Deduplicator};
use crate::document::{Document, Rejection};
use crate::error::{DataError, Result};

/// What a shingle is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShingleKind {
    /// n consecutive whitespace-separated words.
    #[default]
    Word,
    /// n consecutive characters.
    Char,
}

/// How candidate pairs become clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Linkage {
    /// Union-find over every colliding pair: a document that collides with two clusters
    /// merges them (transitive, the most removals).
    #[default]
    UnionFind,
    /// Each new document joins the cluster of the earliest document it collides with;
    /// existing clusters never merge (datasketch's query-then-insert pattern; fewer
    /// removals of documents far from their cluster's kept one).
    Earliest,
}

/// MinHash LSH settings. Defaults: word 5-grams, 14 bands × 8 rows (112 permutations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinHashConfig {
    /// Word or character shingles.
    pub shingle: ShingleKind,
    /// Shingle length in words or characters.
    pub ngram: usize,
    /// Number of permutations; `0` means `bands × rows`.
    pub num_perm: usize,
    /// Number of bands; `0` picks bands and rows from `threshold` and `num_perm`.
    pub bands: usize,
    /// Rows per band.
    pub rows: usize,
    /// Jaccard similarity regarded as duplicate: picks bands/rows when `bands = 0`, and
    /// is the bar candidates must clear when `verify` is on.
    pub threshold: f64,
    /// Merge a candidate pair only if their signatures estimate Jaccard ≥ `threshold`
    /// (fewer false positives; keeps every signature in memory).
    pub verify: bool,
    /// Lowercase the text before shingling.
    pub lowercase: bool,
    /// How colliding documents are clustered.
    pub linkage: Linkage,
    /// Seed of the permutations.
    pub seed: u64,
}

impl Default for MinHashConfig {
    fn default() -> Self {
        MinHashConfig {
            shingle: ShingleKind::Word,
            ngram: 5,
            num_perm: 0,
            bands: 14,
            rows: 8,
            threshold: 0.8,
            verify: false,
            lowercase: true,
            linkage: Linkage::UnionFind,
            seed: 1,
        }
    }
}

fn invalid(field: &str, message: String) -> DataError {
    DataError::InvalidValue {
        field: field.to_string(),
        message,
    }
}

impl MinHashConfig {
    /// Fills in derived values and checks the rest; `field` prefixes error field names.
    pub fn resolve(mut self, field: &str) -> Result<Self> {
        if self.ngram == 0 {
            return Err(invalid(
                &format!("{field}.ngram"),
                "must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            let msg = format!("{} is outside 0..=1", self.threshold);
            return Err(invalid(&format!("{field}.threshold"), msg));
        }
        if self.bands == 0 {
            let perms = if self.num_perm == 0 {
                128
            } else {
                self.num_perm
            };
            (self.bands, self.rows) = optimal_bands_rows(self.threshold, perms);
            self.num_perm = perms;
        }
        if self.rows == 0 {
            return Err(invalid(
                &format!("{field}.rows"),
                "must be at least 1".into(),
            ));
        }
        if self.num_perm == 0 {
            self.num_perm = self.bands * self.rows;
        }
        if self.bands * self.rows > self.num_perm {
            let msg = format!(
                "bands × rows = {} exceeds num_perm = {}",
                self.bands * self.rows,
                self.num_perm
            );
            return Err(invalid(&format!("{field}.num_perm"), msg));
        }
        Ok(self)
    }
}

/// SplitMix64: a tiny, well-mixed generator for the permutation coefficients.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Computes shingles, signatures and band keys for one configuration.
#[derive(Debug, Clone)]
pub struct MinHasher {
    config: MinHashConfig,
    seeds: Vec<u32>,
}

impl MinHasher {
    /// A hasher for a resolved config (see [`MinHashConfig::resolve`]).
    pub fn new(config: MinHashConfig) -> Self {
        let mut state = config.seed;
        let seeds = (0..config.num_perm)
            .map(|_| splitmix64(&mut state) as u32)
            .collect();
        MinHasher { config, seeds }
    }

    /// The configuration in use.
    pub fn config(&self) -> &MinHashConfig {
        &self.config
    }

    /// 32-bit hashes of the text's shingles (with repeats). A text shorter than one
    /// shingle yields one shingle of all of it; an empty text yields none.
    pub fn shingle_hashes(&self, text: &str) -> Vec<u32> {
        match self.config.shingle {
            ShingleKind::Word => word_shingles(text, self.config.ngram, self.config.lowercase),
            ShingleKind::Char if self.config.lowercase => {
                char_shingles(&text.to_lowercase(), self.config.ngram)
            }
            ShingleKind::Char => char_shingles(text, self.config.ngram),
        }
    }

    /// The MinHash signature of a set of shingle hashes.
    pub fn signature(&self, shingles: &[u32]) -> Vec<u32> {
        let mut sig = vec![u32::MAX; self.config.num_perm];
        signature_into(&self.seeds, shingles, &mut sig);
        sig
    }

    /// One 64-bit key per band.
    pub fn band_keys(&self, sig: &[u32]) -> Vec<u64> {
        let rows = self.config.rows;
        let mut bytes = Vec::with_capacity(rows * 4);
        (0..self.config.bands)
            .map(|band| {
                bytes.clear();
                for v in &sig[band * rows..(band + 1) * rows] {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                xxh3_64(&bytes)
            })
            .collect()
    }
}

/// The hash of a word, lowercased if asked. Words are lowercased one at a time (the same
/// result as lowercasing the text: case mapping never makes or removes whitespace), and
/// ASCII words without capitals — most of them — are hashed in place, so the text is
/// never copied.
fn word_hash(word: &str, lowercase: bool, buf: &mut Vec<u8>) -> u64 {
    if !lowercase
        || !word
            .bytes()
            .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
    {
        return xxh3_64(word.as_bytes());
    }
    if word.is_ascii() {
        buf.clear();
        buf.extend(word.bytes().map(|b| b.to_ascii_lowercase()));
        return xxh3_64(buf);
    }
    xxh3_64(word.to_lowercase().as_bytes())
}

fn word_shingles(text: &str, n: usize, lowercase: bool) -> Vec<u32> {
    let mut buf = Vec::new();
    let words: Vec<u64> = text
        .split_whitespace()
        .map(|w| word_hash(w, lowercase, &mut buf))
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    let n = n.min(words.len());
    // The word hashes are already uniform 64-bit values, so an order-sensitive
    // multiply-rotate fold plus a final mix hashes an n-gram without re-reading bytes.
    words
        .windows(n)
        .map(|gram| {
            let folded = gram.iter().fold(0u64, |h, &w| {
                (h.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            });
            fmix64(folded) as u32
        })
        .collect()
}

/// MurmurHash3's 64-bit finalizer.
fn fmix64(mut v: u64) -> u64 {
    v ^= v >> 33;
    v = v.wrapping_mul(0xff51_afd7_ed55_8ccd);
    v ^= v >> 33;
    v = v.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    v ^ (v >> 33)
}

fn char_shingles(text: &str, n: usize) -> Vec<u32> {
    let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    if bounds.is_empty() {
        return Vec::new();
    }
    bounds.push(text.len());
    let n = n.min(bounds.len() - 1);
    bounds
        .windows(n + 1)
        .map(|w| xxh3_64(&text.as_bytes()[w[0]..w[n]]) as u32)
        .collect()
}

/// MurmurHash3's 32-bit finalizer: a bijection with full avalanche.
#[inline(always)]
fn fmix32(mut v: u32) -> u32 {
    v ^= v >> 16;
    v = v.wrapping_mul(0x85eb_ca6b);
    v ^= v >> 13;
    v = v.wrapping_mul(0xc2b2_ae35);
    v ^ (v >> 16)
}

/// The hot loop: for every shingle and permutation, keep the minimum of `fmix32(x ⊕ s)`.
fn signature_into(seeds: &[u32], shingles: &[u32], sig: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { signature_avx2(seeds, shingles, sig) };
        return;
    }
    signature_portable(seeds, shingles, sig);
}

#[inline(always)]
fn signature_portable(seeds: &[u32], shingles: &[u32], sig: &mut [u32]) {
    for &x in shingles {
        for (s, &seed) in sig.iter_mut().zip(seeds) {
            *s = (*s).min(fmix32(x ^ seed));
        }
    }
}

/// The same loop compiled with AVX2 so LLVM vectorizes it 8 lanes wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn signature_avx2(seeds: &[u32], shingles: &[u32], sig: &mut [u32]) {
    signature_portable(seeds, shingles, sig);
}

/// Estimated Jaccard similarity: the fraction of equal signature values.
pub fn estimated_jaccard(a: &[u32], b: &[u32]) -> f64 {
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    equal as f64 / a.len().max(1) as f64
}

/// Near-duplicate removal by MinHash LSH; one document per cluster is kept.
#[derive(Debug, Clone)]
pub struct MinHashDedup {
    hasher: MinHasher,
}

impl MinHashDedup {
    /// Resolves and checks the config (errors name `minhash.<field>`).
    pub fn new(config: MinHashConfig) -> Result<Self> {
        Ok(MinHashDedup {
            hasher: MinHasher::new(config.resolve("minhash")?),
        })
    }

    /// The hasher, for callers that want signatures directly.
    pub fn hasher(&self) -> &MinHasher {
        &self.hasher
    }
}

impl Deduplicator for MinHashDedup {
    fn name(&self) -> &str {
        "minhash"
    }

    fn decides_by_position(&self) -> bool {
        true
    }

    fn fingerprint(&self, doc: &Document) -> Vec<u64> {
        let sig = self
            .hasher
            .signature(&self.hasher.shingle_hashes(&doc.text));
        let mut fp = self.hasher.band_keys(&sig);
        if self.hasher.config.verify {
            fp.extend(sig.iter().map(|&v| u64::from(v)));
        }
        fp
    }

    fn new_index(&self) -> Box<dyn DedupIndex> {
        let config = &self.hasher.config;
        Box::new(MinHashIndex {
            bands: config.bands,
            linkage: config.linkage,
            verify: config.verify.then_some(config.threshold),
            buckets: vec![HashMap::new(); config.bands],
            union_find: UnionFind::default(),
            ids: Vec::new(),
            keys: Vec::new(),
            sigs: Vec::new(),
        })
    }
}

struct MinHashIndex {
    bands: usize,
    linkage: Linkage,
    verify: Option<f64>,
    buckets: Vec<HashMap<u64, u64>>,
    union_find: UnionFind,
    ids: Vec<Box<str>>,
    keys: Vec<u64>,
    sigs: Vec<u32>,
}

impl MinHashIndex {
    fn sig(&self, seq: u64) -> &[u32] {
        let n = self.sigs.len() / self.ids.len().max(1);
        &self.sigs[seq as usize * n..(seq as usize + 1) * n]
    }

    /// How similar `seq` is to its cluster's kept document: the estimated Jaccard when
    /// signatures are kept, else the fraction of shared bands.
    fn score(&self, seq: u64, root: u64) -> f64 {
        if self.verify.is_some() {
            return estimated_jaccard(self.sig(seq), self.sig(root));
        }
        let band = |s: u64| &self.keys[s as usize * self.bands..(s as usize + 1) * self.bands];
        let shared = band(seq)
            .iter()
            .zip(band(root))
            .filter(|(x, y)| x == y)
            .count();
        shared as f64 / self.bands.max(1) as f64
    }
}

impl DedupIndex for MinHashIndex {
    fn add(&mut self, id: &str, fingerprint: Vec<u64>) {
        let seq = self.union_find.push();
        self.ids.push(id.into());
        let (keys, sig) = fingerprint.split_at(self.bands.min(fingerprint.len()));
        self.keys.extend_from_slice(keys);
        self.sigs.extend(sig.iter().map(|&v| v as u32));
        let mut earliest: Option<u64> = None;
        for (band, &key) in keys.iter().enumerate() {
            let other = match self.buckets[band].entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(seq);
                    continue;
                }
                Entry::Occupied(slot) => *slot.get(),
            };
            let similar = self
                .verify
                .is_none_or(|t| estimated_jaccard(self.sig(seq), self.sig(other)) >= t);
            if !similar {
                continue;
            }
            match self.linkage {
                Linkage::UnionFind => self.union_find.union(seq, other),
                Linkage::Earliest => earliest = Some(earliest.map_or(other, |e| e.min(other))),
            }
        }
        if let Some(first) = earliest {
            // `seq` is still a singleton, so this only attaches it to `first`'s cluster.
            self.union_find.union(seq, first);
        }
    }

    fn finish(mut self: Box<Self>) -> Box<dyn DedupDecisions> {
        self.buckets = Vec::new();
        let mut duplicate_of = HashMap::new();
        for seq in 0..self.union_find.len() as u64 {
            let root = self.union_find.find(seq);
            if root != seq {
                let kept = self.ids[root as usize].clone();
                duplicate_of.insert(seq, (kept, self.score(seq, root)));
            }
        }
        Box::new(MinHashDecisions { duplicate_of })
    }
}

struct MinHashDecisions {
    duplicate_of: HashMap<u64, (Box<str>, f64)>,
}

impl DedupDecisions for MinHashDecisions {
    fn apply(&self, seq: u64, _doc: &mut Document) -> Option<Rejection> {
        let (kept, score) = self.duplicate_of.get(&seq)?;
        let mut rejection = Rejection::new("minhash", "near_duplicate", Some(*score));
        rejection.kept_id = Some(kept.to_string());
        Some(rejection)
    }
}
