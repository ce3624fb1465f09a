//! The n-gram language model: a hand-computed bigram model, probabilities that sum to one
//! in every context, ARPA round trips, and per-token scores that KenLM's own Python module
//! computed for the ARPA file this crate writes (`scripts/data_lm_goldens.py`).

use std::path::Path;

use vibee_data::lm::{self, LmNormalization, NgramModel, TrainConfig, arpa};

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn train(sentences: &[&str], order: usize) -> NgramModel {
    let config = TrainConfig {
        order,
        ..TrainConfig::default()
    };
    lm::train(sentences.iter().map(|s| words(s)), &config)
        .expect("train")
        .0
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn a_bigram_model_matches_the_hand_computation() {
    // Sentences "a b" and "a". Both orders fall back to discounts 0.5 / 1 / 1.5.
    // Unigrams (adjusted counts a=1, b=1, </s>=2; total 4; γ = (0.5·2 + 1·1)/4 = 0.5;
    // uniform over 4 words incl. <unk>): p(a) = 0.5/4 + 0.5/4 = 0.25, p(b) = 0.25,
    // p(</s>) = 1/4 + 0.125 = 0.375, p(<unk>) = 0.125.
    // Bigrams: γ(<s>) = 1·1/2, p(a|<s>) = 1/2 + 0.5·0.25 = 0.625;
    // γ(a) = 0.5·2/2, p(b|a) = 0.25 + 0.125 = 0.375, p(</s>|a) = 0.25 + 0.1875 = 0.4375;
    // γ(b) = 0.5, p(</s>|b) = 0.5 + 0.1875 = 0.6875.
    let model = train(&["a b", "a"], 2);
    let id = |w: &str| model.id(w);
    let p = |ctx: &[&str], w: &str| {
        let ctx: Vec<u32> = ctx.iter().map(|c| id(c)).collect();
        10f64.powf(model.log_prob(&ctx, id(w)))
    };
    let expected = [
        (p(&[], "a"), 0.25),
        (p(&[], "b"), 0.25),
        (p(&[], "</s>"), 0.375),
        (p(&[], "zzz"), 0.125),
        (p(&["<s>"], "a"), 0.625),
        (p(&["a"], "b"), 0.375),
        (p(&["a"], "</s>"), 0.4375),
        (p(&["b"], "</s>"), 0.6875),
        // Unseen bigrams back off: γ(<s>)·p(b) and γ(b)·p(a).
        (p(&["<s>"], "b"), 0.125),
        (p(&["b"], "a"), 0.125),
    ];
    for (i, (got, want)) in expected.iter().enumerate() {
        assert!(close(*got, *want, 1e-12), "case {i}: {got} != {want}");
    }
    let score = model.score_line(&["a", "b"]);
    assert!(close(
        score.log10_prob,
        (0.625f64 * 0.375 * 0.6875).log10(),
        1e-12
    ));
    assert_eq!((score.tokens, score.oov), (3, 0));
    assert_eq!(model.get(&[id("</s>")]).map(|e| e.log_backoff), Some(0.0));
    assert_eq!(
        model.get(&[id("<s>")]).map(|e| e.log_prob),
        Some(arpa::LOG_ZERO)
    );
}

fn corpus() -> Vec<Vec<String>> {
    let text = include_str!("goldens/lm_corpus.txt");
    text.lines()
        .map(|l| lm::lm_tokens(l, LmNormalization::default()))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Σ_w p(w | h) over every word but `<s>` must be 1 for any context h.
fn assert_normalized(model: &NgramModel, context: &[u32], tol: f64) {
    let bos = model.id("<s>");
    let total: f64 = (0..model.vocab_size() as u32)
        .filter(|&w| w != bos)
        .map(|w| 10f64.powf(model.log_prob(context, w)))
        .sum();
    assert!(close(total, 1.0, tol), "context {context:?}: Σp = {total}");
}

#[test]
fn every_context_is_a_probability_distribution() {
    let config = TrainConfig {
        order: 3,
        ..TrainConfig::default()
    };
    let (model, discounts) = lm::train(corpus(), &config).expect("train");
    assert!(discounts.iter().all(|d| !d.fallback), "{discounts:?}");
    assert_normalized(&model, &[], 1e-9);
    let mut contexts: Vec<Vec<u32>> = (1..model.order())
        .flat_map(|n| model.ngrams(n).map(|(g, _)| g.to_vec()).collect::<Vec<_>>())
        .collect();
    contexts.sort();
    // Every 40th context of orders 1 and 2, plus an unseen one.
    for context in contexts.iter().step_by(40) {
        assert_normalized(&model, context, 1e-9);
    }
    assert_normalized(&model, &[model.id("free"), model.id("zzz")], 1e-9);
    // The same after writing ARPA (7 decimals) and reading it back.
    let mut text = Vec::new();
    arpa::write_arpa(&model, &mut text).expect("write");
    let back = arpa::read_arpa(text.as_slice(), Path::new("mem.arpa")).expect("read");
    let mut again = Vec::new();
    arpa::write_arpa(&back, &mut again).expect("write");
    assert_eq!(text, again, "ARPA round trip is byte-identical");
    for context in contexts.iter().step_by(97) {
        let ctx: Vec<u32> = context.iter().map(|&i| back.id(model.word(i))).collect();
        assert_normalized(&back, &ctx, 1e-5);
    }
}

#[test]
fn bad_arpa_files_name_the_line() {
    let text = "\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\ta\n-x\tb\n\\end\\\n";
    let err = arpa::read_arpa(text.as_bytes(), Path::new("m.arpa"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with("m.arpa: line 6"), "{err}");
    let text = "\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\ta\n-1\tb\n\\end\\\n";
    let err = arpa::read_arpa(text.as_bytes(), Path::new("m.arpa"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("declares 3 1-grams, found"), "{err}");
}

#[derive(serde::Deserialize)]
struct Golden {
    order: usize,
    sentences: Vec<GoldenSentence>,
}

#[derive(serde::Deserialize)]
struct GoldenSentence {
    tokens: Vec<String>,
    /// KenLM's `full_scores` log10 probabilities, `</s>` last.
    scores: Vec<f64>,
}

#[test]
fn scores_match_kenlm_on_the_written_arpa() {
    let golden: Golden =
        serde_json::from_str(include_str!("goldens/kenlm_scores.json")).expect("golden json");
    let config = TrainConfig {
        order: golden.order,
        ..TrainConfig::default()
    };
    assert!(
        golden.sentences.len() >= 8,
        "the goldens cover seen and unseen text"
    );
    let (trained, _) = lm::train(corpus(), &config).expect("train");
    // Score through the ARPA text, as KenLM did.
    let mut text = Vec::new();
    arpa::write_arpa(&trained, &mut text).expect("write");
    let model = arpa::read_arpa(text.as_slice(), Path::new("mem.arpa")).expect("read");
    for sentence in &golden.sentences {
        let mut context = vec![model.id("<s>")];
        let mut ids: Vec<u32> = sentence.tokens.iter().map(|t| model.id(t)).collect();
        ids.push(model.id("</s>"));
        assert_eq!(ids.len(), sentence.scores.len());
        for (id, want) in ids.iter().zip(&sentence.scores) {
            let got = model.log_prob(&context, *id);
            assert!(
                close(got, *want, 2e-5),
                "{:?}: {got} vs KenLM {want}",
                sentence.tokens
            );
            context.push(*id);
        }
    }
}
