//! Hand-computed cases for every filter; the arithmetic is in the comments.

use super::*;
use crate::document::{Document, Verdict};

/// 16 content words + "." = 17 tokens; letters 63, so the mean word length is 63/16.
const S: &str = "The quick brown fox jumps over the lazy dog and runs to the river with friends.";

fn run(filter: &dyn Filter, text: &str) -> (Verdict, Document) {
    let mut doc = Document::new("t", text);
    (filter.check(&mut doc), doc)
}

fn reason(filter: &dyn Filter, text: &str) -> (String, Option<f64>) {
    match run(filter, text).0 {
        Verdict::Reject { reason, score } => (reason, score),
        Verdict::Keep => ("kept".into(), None),
    }
}

fn approx(a: Option<f64>, b: f64) {
    let a = a.unwrap_or(f64::NAN);
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

#[test]
fn gopher_quality_keeps_prose_and_rejects_each_rule() {
    let f = GopherQuality::default();
    assert_eq!(reason(&f, &[S; 4].join(" ")).0, "kept");
    let (r, s) = reason(&f, "Hello world.");
    assert_eq!(r, "gopher_short_doc");
    approx(s, 2.0);
    // 10 "#x": 68 + 20 = 88 tokens, 10 hashes: 10/88 > 0.1.
    let hashes = format!("{} {}", [S; 4].join(" "), ["#x"; 10].join(" "));
    let (r, s) = reason(&f, &hashes);
    assert_eq!(r, "gopher_too_many_hashes");
    approx(s, 10.0 / 88.0);
    let bullets = vec![format!("- {S}"); 10].join("\n");
    assert_eq!(reason(&f, &bullets).0, "gopher_too_many_bullets");
    // 2 of 4 lines end in "...": 0.5 > 0.3.
    let trail = S.trim_end_matches('.').to_string() + "...";
    let ellipses = [S, trail.as_str(), S, trail.as_str()].join("\n");
    let (r, s) = reason(&f, &ellipses);
    assert_eq!(r, "gopher_too_many_end_ellipsis");
    approx(s, 0.5);
    // 48 alphabetic words among 51 + 20 = 71 tokens: 48/71 < 0.8.
    let numbers = format!("{} {}", [S; 3].join(" "), ["12345"; 20].join(" "));
    let (r, s) = reason(&f, &numbers);
    assert_eq!(r, "gopher_below_alpha_threshold");
    approx(s, 48.0 / 71.0);
    let greek = ["alpha beta gamma delta epsilon zeta theta iota kappa lambda"; 6].join(" ");
    let (r, s) = reason(&f, &greek);
    assert_eq!(r, "gopher_enough_stop_words");
    approx(s, 0.0);
}

#[test]
fn gopher_quality_mean_word_length_bounds() {
    let f = GopherQuality::default();
    // 60 words "a b": mean length 1 < 3.
    let (r, s) = reason(&f, &["a b"; 30].join(" "));
    assert_eq!(r, "gopher_below_avg_threshold");
    approx(s, 1.0);
    let long = ["extraordinarily"; 60].join(" ");
    let (r, s) = reason(&f, &long);
    assert_eq!(r, "gopher_above_avg_threshold");
    approx(s, 15.0);
}

#[test]
fn gopher_repetition_rules() {
    let f = GopherRepetition::default();
    let prose = "The quick brown fox jumps over the lazy dog. A journey of a thousand miles \
                 begins with a single step. All that glitters is not gold, and all that \
                 wanders is not lost. Knowledge speaks, but wisdom listens to quiet voices.";
    assert_eq!(reason(&f, prose).0, "kept");
    // As in datatrove, a most-frequent n-gram seen once still counts: in the 79-character
    // S, "The quick brown" covers 15 characters, above the 3-gram limit of 0.18.
    let (r, s) = reason(&f, S);
    assert_eq!(r, "top_3_gram");
    approx(s, 15.0 / 79.0);
    // 3 paragraphs, 1 repeat: 1/3 > 0.3.
    let (r, s) = reason(&f, "para one text\n\npara one text\n\npara two");
    assert_eq!(r, "dup_para_frac");
    approx(s, 1.0 / 3.0);
    // One paragraph; 4 lines, 2 repeats: 0.5 > 0.3.
    let (r, s) = reason(&f, "a line here\na line here\na line here\nother");
    assert_eq!(r, "dup_line_frac");
    approx(s, 0.5);
    // "x1 y1" three times: 5 chars * 3 = 15 of 19 characters.
    let (r, s) = reason(&f, "x1 y1 x1 y1 x1 y1 z");
    assert_eq!(r, "top_2_gram");
    approx(s, 15.0 / 19.0);
    // Repeated 5-gram "abcde" (5 letters) in a 21-character text: 5/21 > 0.15.
    let only_dup = GopherRepetition {
        top_n_grams: vec![],
        ..GopherRepetition::default()
    };
    let (r, s) = reason(&only_dup, "a b c d e a b c d e f");
    assert_eq!(r, "duplicated_5_n_grams");
    approx(s, 5.0 / 21.0);
}

#[test]
fn c4_drops_lines_and_keeps_the_rest() {
    let f = C4Quality::default();
    let text = "The first line has words. And a second sentence here.\nShort.\n\
                No terminal punctuation here\nPlease enable JavaScript to view this page.\n\
                We use cookies to improve things.\n\
                Another good line is here [1]. Then one more sentence! And the last one?";
    let (v, doc) = run(&f, text);
    assert_eq!(v, Verdict::Keep);
    assert_eq!(
        doc.text,
        "The first line has words. And a second sentence here.\n\
         Another good line is here . Then one more sentence! And the last one?"
    );
    let (r, s) = reason(&f, "The first line has words. And a second sentence here.");
    assert_eq!(r, "too_few_sentences");
    approx(s, 2.0);
    assert_eq!(reason(&f, "Lorem ipsum dolor sit amet.").0, "lorem_ipsum");
    assert_eq!(reason(&f, "Some code { here }.").0, "curly_bracket");
    assert_eq!(count_sentences("One. Two! Three? Four..."), 4);
}

#[test]
fn fineweb_rules() {
    let f = FineWebQuality::default();
    let (r, s) = reason(
        &f,
        &["no punctuation in this rather long line"; 10].join("\n"),
    );
    assert_eq!(r, "line_punct_ratio");
    approx(s, 0.0);
    let (r, s) = reason(&f, "Hi there.\nYes you.\nOk then.");
    assert_eq!(r, "short_line_ratio");
    approx(s, 1.0);
    let l = "This is a fairly long line of text that ends well.";
    let m = "Here is a different long line that also ends well!";
    let (r, s) = reason(&f, &[l, l, m].join("\n"));
    assert_eq!(r, "char_dup_ratio");
    approx(s, 50.0 / 150.0);
    // 4 lines of 2 tokens: 3 newlines / 8 tokens = 0.375 > 0.3.
    let lines: Vec<String> = (1..=4)
        .map(|i| format!("Pneumonoultramicroscopicsilicovolcanoconiosis{i}!"))
        .collect();
    let (r, s) = reason(&f, &lines.join("\n"));
    assert_eq!(r, "list_ratio");
    approx(s, 0.375);
    assert_eq!(reason(&f, &[l, m, S].join("\n")).0, "kept");
}

#[test]
fn language_labels_and_filters() {
    let f = LanguageId::default();
    let (v, doc) = run(&f, &[S; 3].join(" "));
    assert_eq!(v, Verdict::Keep);
    assert_eq!(doc.metadata["language"], "eng");
    assert!(
        doc.metadata["language_score"]
            .as_f64()
            .is_some_and(|s| s >= 0.65)
    );
    let french = "Le renard brun rapide saute par-dessus le chien paresseux et court \
                  vers la rivière avec ses amis pendant que le soleil se couche.";
    assert_eq!(reason(&f, french).0, "language_fra");
    let bad = LanguageId {
        languages: vec!["english".into()],
        min_score: 0.5,
    };
    assert!(bad.validate("steps[0]").is_err());
}

#[test]
fn toxicity_matches_whole_words_and_phrases() {
    let f = WordListToxicity::from_list("shit\nanal sex\n# comment", 0);
    assert_eq!(reason(&f, "This is SHIT.").0, "toxic_words");
    assert_eq!(
        reason(&f, "Scunthorpe is a town in Lincolnshire.").0,
        "kept"
    );
    assert_eq!(f.count_matches("an analysis of sex ratios; anal sex"), 1);
    let lenient = WordListToxicity::from_list("shit", 1);
    assert_eq!(reason(&lenient, "shit happens").0, "kept");
    let default = WordListToxicity::from_config(&WordListConfig::default());
    assert!(default.is_ok_and(|f| f.count_matches("what the fuck") == 1));
}

#[test]
fn code_heuristics() {
    let f = CodeQuality::default();
    let good = "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n    return a + b\n";
    assert_eq!(reason(&f, good).0, "kept");
    let (r, s) = reason(&f, &"x".repeat(1001));
    assert_eq!(r, "code_long_line");
    approx(s, 1001.0);
    assert_eq!(
        reason(&f, "// Code generated by protoc. DO NOT EDIT.\nint x;").0,
        "code_autogenerated"
    );
    // 2 alphanumeric characters of 13: under 0.25.
    let (r, s) = reason(&f, "a = {{}};\n b;");
    assert_eq!(r, "code_alnum_fraction");
    approx(s, 2.0 / 13.0);
    // A base64 blob wrapped at 76 columns: short lines, but one 1540-character run.
    let blob = format!(
        "data = \"\"\"\n{}\"\"\"\n",
        format!("{}\n", "QUJD".repeat(19)).repeat(20)
    );
    assert_eq!(reason(&f, &blob).0, "code_encoded_run");
    let csv = "x = 1\n1,2,3\n4,5,6\n7,8,9\n";
    let (r, s) = reason(&f, csv);
    assert_eq!(r, "code_data_file");
    approx(s, 0.25);
}

#[test]
fn linear_toxicity_classifier_scores_a_logit() {
    let weights = "# exported weights\n<bias>\t-2.0\nidiot\t3.0\nplease 0.5\n";
    let model = LinearToxicityClassifier::parse(weights, std::path::Path::new("w.tsv"));
    let model = model.expect("parse");
    // σ(−2 + 3 + 3) = σ(4); σ(−2) with no listed word.
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    approx(Some(model.score("Idiot, you IDIOT")), sigmoid(4.0));
    approx(Some(model.score("hello there")), sigmoid(-2.0));
    let f = ClassifierToxicity {
        classifier: model,
        max_score: 0.5,
    };
    let (verdict, doc) = run(&f, "idiot");
    assert!(matches!(verdict, Verdict::Reject { reason, .. } if reason == "toxic"));
    approx(doc.metadata["toxicity_score"].as_f64(), sigmoid(1.0));
    assert_eq!(reason(&f, "please").0, "kept");
    let err = LinearToxicityClassifier::parse("idiot\tlots", std::path::Path::new("w.tsv"));
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("w.tsv: line 1"), "{message}");
}

#[test]
fn perplexity_buckets_follow_the_cutoffs() {
    use std::sync::Arc;
    let sentences = [
        "the cat sat on the mat",
        "the dog sat on the log",
        "a cat and a dog",
    ];
    let config = crate::lm::TrainConfig {
        order: 2,
        ..crate::lm::TrainConfig::default()
    };
    let tokens = sentences
        .iter()
        .map(|s| s.split(' ').map(String::from).collect::<Vec<_>>());
    let (model, _) = crate::lm::train(tokens, &config).expect("train");
    let norm = crate::lm::LmNormalization::default();
    let seen = model.perplexity("The cat sat on the mat", norm);
    let unseen = model.perplexity("Quantum zebras juggle", norm);
    assert!(seen < unseen, "{seen} vs {unseen}");
    let f = Perplexity::new(
        Arc::new(model),
        norm,
        [seen + 1e-9, unseen],
        vec![Bucket::Head],
    );
    let (verdict, doc) = run(&f, "The cat sat on the mat");
    assert_eq!(verdict, Verdict::Keep);
    assert_eq!(doc.metadata["perplexity_bucket"], "head");
    approx(doc.metadata["perplexity"].as_f64(), seen);
    assert_eq!(
        reason(&f, "Quantum zebras juggle"),
        ("perplexity_tail".into(), Some(unseen))
    );
    assert_eq!(f.bucket((seen + unseen) / 2.0), Bucket::Middle);
    // CCNet cut-offs are percentiles of a reference distribution.
    approx(percentile(&[10.0, 20.0, 30.0, 40.0, 50.0], 30.0), 22.0);
    approx(percentile(&[10.0, 20.0, 30.0, 40.0, 50.0], 60.0), 34.0);
    assert_eq!(percentile(&[], 30.0), None);
}
