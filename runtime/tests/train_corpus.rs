//! The default corpus's source: exact entropy rates, generation, and the other corpora.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected error"
)]

use std::io::Write;

use vibee_runtime::train::corpus::markov::MarkovError;
use vibee_runtime::train::{Corpus, CorpusConfig, MarkovSource, MarkovSpec, TrainError};

/// Binary entropy in nats.
fn h2(p: f64) -> f64 {
    -(p * p.ln() + (1.0 - p) * (1.0 - p).ln())
}

#[test]
fn entropy_rate_of_a_two_state_chain_is_the_closed_form() {
    // P = [[1-a, a], [b, 1-b]]: π = (b, a)/(a+b), H = π₀·h(a) + π₁·h(b).
    let (a, b) = (0.1, 0.3);
    let rows = vec![vec![(0, 1.0 - a), (1, a)], vec![(0, b), (1, 1.0 - b)]];
    let chain = MarkovSource::from_rows(b"xy", 1, rows).unwrap();
    let pi = chain.stationary().unwrap();
    assert!(
        (pi[0] - 0.75).abs() < 1e-12 && (pi[1] - 0.25).abs() < 1e-12,
        "{pi:?}"
    );
    let expected = 0.75 * h2(a) + 0.25 * h2(b);
    let rate = chain.entropy_rate().unwrap();
    assert!(
        (rate.nats - expected).abs() < 1e-12,
        "{} vs {expected}",
        rate.nats
    );
    assert!((rate.bits() - expected / std::f64::consts::LN_2).abs() < 1e-12);
}

#[test]
fn an_order_two_chain_that_cycles_deterministically_has_zero_entropy() {
    // Over {a, b}: after "ab" comes "a", after "ba" comes "b" … every row is a point mass.
    let rows = vec![
        vec![(1, 1.0)],
        vec![(0, 1.0)],
        vec![(1, 1.0)],
        vec![(0, 1.0)],
    ];
    let chain = MarkovSource::from_rows(b"ab", 2, rows).unwrap();
    assert_eq!(chain.entropy_rate().unwrap().nats, 0.0);
    assert_eq!(chain.generate(6, 1), b"bababa");
}

#[test]
fn malformed_tables_are_rejected() {
    let not_normalised = vec![vec![(0, 0.5)], vec![(0, 1.0)]];
    assert!(matches!(
        MarkovSource::from_rows(b"ab", 1, not_normalised),
        Err(MarkovError::Invalid(_))
    ));
    let wrong_rows = vec![vec![(0, 1.0)]];
    assert!(MarkovSource::from_rows(b"ab", 1, wrong_rows).is_err());
    let bad_symbol = vec![vec![(2, 1.0)], vec![(0, 1.0)]];
    assert!(MarkovSource::from_rows(b"ab", 1, bad_symbol).is_err());
    assert!(MarkovSource::from_rows(b"aa", 1, vec![vec![(0, 1.0)]; 2]).is_err());
}

#[test]
fn the_true_model_scores_generated_text_at_the_entropy_rate() {
    for order in [1, 2] {
        let spec = MarkovSpec {
            order,
            ..MarkovSpec::default()
        };
        let chain = MarkovSource::random(&spec).unwrap();
        let rate = chain.entropy_rate().unwrap().nats;
        let text = chain.generate(400_000, 99);
        let empirical = chain.log_loss(&text).unwrap();
        // Standard error ≈ 1/sqrt(400k) ≈ 0.0016 nats; allow ~6σ.
        assert!(
            (empirical - rate).abs() < 0.01,
            "order {order}: {empirical} vs {rate}"
        );
        assert!(
            rate > 0.5 && rate < (spec.alphabet.len() as f64).ln(),
            "{rate}"
        );
    }
}

#[test]
fn the_default_source_is_fixed() {
    let a = MarkovSource::random(&MarkovSpec::default()).unwrap();
    let b = MarkovSource::random(&MarkovSpec::default()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.generate(1000, 5), b.generate(1000, 5));
    assert_ne!(a.generate(1000, 5), a.generate(1000, 6));
    let other = MarkovSource::random(&MarkovSpec {
        seed: 1,
        ..MarkovSpec::default()
    })
    .unwrap();
    assert_ne!(a, other);
    // The text stays inside the alphabet and the log-loss sees it as possible.
    let text = a.generate(5000, 3);
    assert!(text.iter().all(|b| a.alphabet().contains(b)));
    assert!(a.log_loss(&text).is_some());
    assert_eq!(a.log_loss(b"Z never appears"), None);
}

#[test]
fn the_markov_corpus_splits_train_and_validation_with_its_entropy() {
    let spec = MarkovSpec {
        train_bytes: 10_000,
        val_bytes: 2_000,
        ..MarkovSpec::default()
    };
    let corpus = Corpus::load(
        &CorpusConfig::Markov(spec.clone()),
        std::path::Path::new("."),
    )
    .unwrap();
    assert_eq!(
        (corpus.train.len(), corpus.val.len(), corpus.vocab_size),
        (10_000, 2_000, 256)
    );
    assert_ne!(corpus.train[..2000], corpus.val[..]);
    let h = MarkovSource::random(&spec).unwrap().entropy_rate().unwrap();
    assert_eq!(corpus.entropy, Some(h));
    assert_eq!(corpus.decode(&[104, 105]), "hi");
}

#[test]
fn a_text_file_is_a_byte_level_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.txt");
    std::fs::write(&path, "héllo wörld, ".repeat(100)).unwrap();
    let cfg = CorpusConfig::Text {
        path: "text.txt".into(),
        val_fraction: 0.25,
    };
    let corpus = Corpus::load(&cfg, dir.path()).unwrap();
    assert_eq!(
        corpus.train.len() + corpus.val.len(),
        "héllo wörld, ".len() * 100
    );
    assert_eq!(corpus.val.len(), 375);
    assert_eq!(corpus.entropy, None);
    assert!(corpus.decode(&corpus.train[..7]).starts_with("héllo"));
}

#[test]
fn unreadable_and_non_utf8_corpora_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = CorpusConfig::Text {
        path: "nope.txt".into(),
        val_fraction: 0.1,
    };
    let err = Corpus::load(&missing, dir.path()).unwrap_err();
    assert!(matches!(err, TrainError::Corpus { .. }));
    assert!(
        err.to_string().contains("nope.txt") && err.to_string().contains("cannot read"),
        "{err}"
    );

    let mut f = std::fs::File::create(dir.path().join("bin.txt")).unwrap();
    f.write_all(b"fine text then \xff\xfe garbage").unwrap();
    let binary = CorpusConfig::Text {
        path: "bin.txt".into(),
        val_fraction: 0.1,
    };
    let err = Corpus::load(&binary, dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("bin.txt") && err.contains("not UTF-8") && err.contains("offset 15"),
        "{err}"
    );

    std::fs::write(dir.path().join("empty.txt"), "").unwrap();
    let empty = CorpusConfig::Text {
        path: "empty.txt".into(),
        val_fraction: 0.1,
    };
    let err = Corpus::load(&empty, dir.path()).unwrap_err().to_string();
    assert!(err.contains("empty.txt") && err.contains("empty"), "{err}");
}

/// A word-level `tokenizer.json` written by hand: enough to exercise the real loader.
#[cfg(feature = "tokenizers")]
const TOKENIZER_JSON: &str = r#"{
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [],
  "normalizer": null,
  "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": null,
  "decoder": null,
  "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "the": 1, "cat": 2, "sat": 3, "on": 4, "mat": 5}, "unk_token": "[UNK]"}
}"#;

#[cfg(feature = "tokenizers")]
#[test]
fn a_tokenizer_json_encodes_the_corpus() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), TOKENIZER_JSON).unwrap();
    std::fs::write(
        dir.path().join("text.txt"),
        "the cat sat on the mat dog ".repeat(10),
    )
    .unwrap();
    let cfg = CorpusConfig::Tokenizer {
        path: "text.txt".into(),
        tokenizer: "tokenizer.json".into(),
        val_fraction: 0.2,
    };
    let corpus = Corpus::load(&cfg, dir.path()).unwrap();
    assert_eq!(corpus.vocab_size, 6);
    assert_eq!(corpus.train.len() + corpus.val.len(), 70);
    assert_eq!(&corpus.train[..7], &[1, 2, 3, 4, 1, 5, 0]);
    assert_eq!(corpus.decode(&[1, 2]), "the cat");

    std::fs::write(dir.path().join("bad.json"), "{ not json").unwrap();
    let bad = CorpusConfig::Tokenizer {
        path: "text.txt".into(),
        tokenizer: "bad.json".into(),
        val_fraction: 0.2,
    };
    let err = Corpus::load(&bad, dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("bad.json") && err.contains("tokenizer"),
        "{err}"
    );
}

#[cfg(not(feature = "tokenizers"))]
#[test]
fn a_tokenizer_corpus_without_the_feature_says_so() {
    let cfg = CorpusConfig::Tokenizer {
        path: "t.txt".into(),
        tokenizer: "tok.json".into(),
        val_fraction: 0.2,
    };
    let err = Corpus::load(&cfg, std::path::Path::new("."))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tok.json") && err.contains("`tokenizers` feature"),
        "{err}"
    );
}
