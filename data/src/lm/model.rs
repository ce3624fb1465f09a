//! A backoff n-gram model as ARPA stores it: for every n-gram, log10 p(w | h) and the
//! log10 backoff weight it has as a context. Scoring follows the ARPA rule (KenLM's):
//! use the longest n-gram present, adding the backoffs of the longer contexts skipped.

use std::collections::HashMap;

use crate::lm::{BOS, EOS, UNK};

/// Log10 probability assigned to a word the model does not know when the model has no
/// `<unk>` entry (KenLM's choice).
const MISSING_UNK_LOG_PROB: f64 = -100.0;

/// One n-gram's numbers, in log10.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NgramEntry {
    /// log10 p(last word | the words before it).
    pub log_prob: f64,
    /// log10 of the backoff weight of this n-gram as a context (0 when it has none).
    pub log_backoff: f64,
}

/// A backoff n-gram language model over a closed vocabulary plus `<unk>`.
#[derive(Debug, Clone)]
pub struct NgramModel {
    order: usize,
    vocab: HashMap<String, u32>,
    words: Vec<String>,
    /// `grams[n - 1]` holds the n-grams, keyed by word ids.
    grams: Vec<HashMap<Box<[u32]>, NgramEntry>>,
}

/// The score of one line (one sentence) under a model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LineScore {
    /// Sum of log10 probabilities of every token and `</s>`.
    pub log10_prob: f64,
    /// Number of predicted tokens (the words plus `</s>`).
    pub tokens: usize,
    /// Words not in the vocabulary (scored as `<unk>`).
    pub oov: usize,
}

impl NgramModel {
    /// An empty model of the given order whose vocabulary holds `<unk>`, `<s>`, `</s>`.
    pub fn empty(order: usize) -> Self {
        let mut model = NgramModel {
            order,
            vocab: HashMap::new(),
            words: Vec::new(),
            grams: vec![HashMap::new(); order],
        };
        for w in [UNK, BOS, EOS] {
            model.intern(w);
        }
        model
    }

    /// The model's order (longest n-gram).
    pub fn order(&self) -> usize {
        self.order
    }

    /// The id of a word, adding it to the vocabulary if new.
    pub fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.vocab.get(word) {
            return id;
        }
        let id = self.words.len() as u32;
        self.words.push(word.to_string());
        self.vocab.insert(word.to_string(), id);
        id
    }

    /// The id of a word; unknown words get `<unk>`'s id.
    pub fn id(&self, word: &str) -> u32 {
        self.vocab.get(word).copied().unwrap_or(0)
    }

    /// The word of an id.
    pub fn word(&self, id: u32) -> &str {
        self.words.get(id as usize).map_or(UNK, String::as_str)
    }

    /// Number of words in the vocabulary, `<unk>`, `<s>` and `</s>` included.
    pub fn vocab_size(&self) -> usize {
        self.words.len()
    }

    /// Sets the numbers of an n-gram (its length selects the order).
    pub fn insert(&mut self, ngram: &[u32], entry: NgramEntry) {
        if let Some(table) = ngram
            .len()
            .checked_sub(1)
            .and_then(|i| self.grams.get_mut(i))
        {
            table.insert(ngram.into(), entry);
        }
    }

    /// The numbers of an n-gram, if the model has it.
    pub fn get(&self, ngram: &[u32]) -> Option<&NgramEntry> {
        self.grams.get(ngram.len().checked_sub(1)?)?.get(ngram)
    }

    /// The n-grams of one order (1-based), in no particular order.
    pub fn ngrams(&self, n: usize) -> impl Iterator<Item = (&[u32], &NgramEntry)> {
        self.grams
            .get(n.wrapping_sub(1))
            .into_iter()
            .flat_map(|t| t.iter().map(|(k, v)| (&**k, v)))
    }

    /// Number of n-grams of one order (1-based).
    pub fn count(&self, n: usize) -> usize {
        self.grams.get(n.wrapping_sub(1)).map_or(0, HashMap::len)
    }

    /// log10 p(word | context), the context's most recent word last.
    pub fn log_prob(&self, context: &[u32], word: u32) -> f64 {
        let keep = self.order.saturating_sub(1).min(context.len());
        let context = &context[context.len() - keep..];
        let mut key = Vec::with_capacity(keep + 1);
        let mut backoff = 0.0;
        for start in 0..=context.len() {
            let history = &context[start..];
            key.clear();
            key.extend_from_slice(history);
            key.push(word);
            if let Some(entry) = self.get(&key) {
                return backoff + entry.log_prob;
            }
            if let Some(entry) = self.get(history).filter(|_| !history.is_empty()) {
                backoff += entry.log_backoff;
            }
        }
        // Only reached for a word without a unigram: an unknown word in a model lacking
        // `<unk>`.
        backoff + MISSING_UNK_LOG_PROB
    }

    /// Scores one sentence given as tokens: `<s>` is the first context, and `</s>` is
    /// predicted after the last token, as KenLM's `full_scores(…, bos=True, eos=True)`.
    pub fn score_line<S: AsRef<str>>(&self, tokens: &[S]) -> LineScore {
        let bos = self.id(BOS);
        let eos = self.id(EOS);
        let mut context = vec![bos];
        let mut score = LineScore::default();
        for token in tokens {
            let id = self.id(token.as_ref());
            if id == 0 {
                score.oov += 1;
            }
            score.log10_prob += self.log_prob(&context, id);
            context.push(id);
        }
        score.log10_prob += self.log_prob(&context, eos);
        score.tokens = tokens.len() + 1;
        score
    }

    /// Perplexity of a text, one sentence per non-blank line, as CCNet computes it:
    /// `10^(−Σ log10 p / Σ tokens)` over all lines (each line's tokens plus `</s>`).
    pub fn perplexity(&self, text: &str, norm: crate::lm::LmNormalization) -> f64 {
        let (mut log_sum, mut tokens) = (0.0, 0usize);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let s = self.score_line(&crate::lm::lm_tokens(line, norm));
            log_sum += s.log10_prob;
            tokens += s.tokens;
        }
        if tokens == 0 {
            return f64::INFINITY;
        }
        10f64.powf(-log_sum / tokens as f64)
    }
}
