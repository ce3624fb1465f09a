//! MinHash signatures (Broder 1997) and LSH banding for near-duplicate detection.
//!
//! Shingles (word or character n-grams) are hashed to 32 bits; permutation `i` maps a
//! shingle hash `x` to `fmix32(x ⊕ s_i)` with a random seed `s_i`, where `fmix32` is
//! MurmurHash3's finalizer — a bijection of 32-bit values with full avalanche, so each
//! seed gives a pseudo-random permutation — and the signature keeps each permutation's
//! minimum. Only 32-bit multiplies are involved, so AVX2 computes 8 permutations at
//! once; the S-curve test in `tests/minhash.rs` checks the family against theory. Signatures are cut into `bands` of `rows` values;
//! two documents sharing any band become candidates and are merged by union-find.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::dedup::lsh::{UnionFind, optimal_bands_rows};
use crate::dedup::shingles::{char_shingles, word_shingles_into};
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
        let mut out = Vec::new();
        self.shingle_hashes_into(text, &mut Vec::new(), &mut out);
        out
    }

    /// Like [`shingle_hashes`](Self::shingle_hashes), into `out` (cleared first), with
    /// `words` as scratch space: reused buffers save two allocations per document.
    fn shingle_hashes_into(&self, text: &str, words: &mut Vec<u64>, out: &mut Vec<u32>) {
        out.clear();
        let (n, lowercase) = (self.config.ngram, self.config.lowercase);
        match self.config.shingle {
            ShingleKind::Word => word_shingles_into(text, n, lowercase, words, out),
            ShingleKind::Char if lowercase => out.extend(char_shingles(&text.to_lowercase(), n)),
            ShingleKind::Char => out.extend(char_shingles(text, n)),
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
        thread_local! {
            /// Per-thread word and shingle buffers, reused from document to document.
            static SCRATCH: RefCell<(Vec<u64>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
        }
        let sig = SCRATCH.with_borrow_mut(|(words, shingles)| {
            self.hasher.shingle_hashes_into(&doc.text, words, shingles);
            self.hasher.signature(shingles)
        });
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
            buckets: vec![Buckets::default(); config.bands],
            union_find: UnionFind::default(),
            ids: Vec::new(),
            keys: Vec::new(),
            sigs: Vec::new(),
        })
    }
}

/// Band key → the first document seen with it.
type Buckets = HashMap<u64, u64, BuildHasherDefault<KeyHasher>>;

/// Band keys are xxh3 outputs, already uniform 64-bit values, so the bucket maps use a
/// key as its own hash instead of running SipHash over it again.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for u64 keys; mixes any other input so it still hashes well.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

struct MinHashIndex {
    bands: usize,
    linkage: Linkage,
    verify: Option<f64>,
    buckets: Vec<Buckets>,
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
