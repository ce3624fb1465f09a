//! MinHash LSH against theory: the empirical rate at which pairs of known Jaccard
//! similarity share a band follows 1 − (1 − s^r)^b, and signatures estimate Jaccard
//! without bias.

use vibee_data::dedup::{MinHashConfig, MinHasher, ShingleKind, collision_probability};

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Two sets of `n` distinct shingle hashes sharing `m`: Jaccard m / (2n − m).
fn pair(n: usize, m: usize, state: &mut u64) -> (Vec<u32>, Vec<u32>) {
    let fresh: Vec<u32> = (0..2 * n - m).map(|_| splitmix(state) as u32).collect();
    let a = fresh[..n].to_vec();
    let b = fresh[..m].iter().chain(&fresh[n..]).copied().collect();
    (a, b)
}

fn hasher(bands: usize, rows: usize, seed: u64) -> MinHasher {
    let config = MinHashConfig {
        bands,
        rows,
        num_perm: 0,
        seed,
        ..MinHashConfig::default()
    };
    MinHasher::new(config.resolve("test").expect("valid config"))
}

#[test]
fn found_rate_by_jaccard_bin_follows_the_s_curve() {
    let (bands, rows, n, trials) = (14, 8, 300, 400);
    let mut state = 42;
    let mut report = Vec::new();
    for tenth in 1..=9 {
        let target = tenth as f64 / 10.0;
        let m = (2.0 * n as f64 * target / (1.0 + target)).round() as usize;
        let s = m as f64 / (2 * n - m) as f64;
        let expected = collision_probability(s, bands, rows);
        let mut found = 0;
        let mut estimate = 0.0;
        for t in 0..trials {
            // A fresh permutation family per trial, so trials are independent.
            let h = hasher(bands, rows, 1000 + t as u64);
            let (a, b) = pair(n, m, &mut state);
            let (sa, sb) = (h.signature(&a), h.signature(&b));
            let (ka, kb) = (h.band_keys(&sa), h.band_keys(&sb));
            found += usize::from(ka.iter().zip(&kb).any(|(x, y)| x == y));
            estimate += vibee_data::dedup::estimated_jaccard(&sa, &sb);
        }
        let rate = found as f64 / trials as f64;
        let sigma = (expected * (1.0 - expected) / trials as f64).sqrt();
        report.push(format!("s={s:.3} expected={expected:.3} found={rate:.3}"));
        assert!(
            (rate - expected).abs() <= 4.0 * sigma + 0.02,
            "{}",
            report.join("\n")
        );
        let mean = estimate / trials as f64;
        assert!((mean - s).abs() < 0.01, "s={s} mean estimate={mean}");
    }
    println!("{}", report.join("\n"));
}

#[test]
fn word_and_char_shingles() {
    let words = MinHasher::new(
        MinHashConfig {
            ngram: 2,
            ..MinHashConfig::default()
        }
        .resolve("t")
        .expect("valid config"),
    );
    // "a b c a b": 2-grams ab, bc, ca, ab -> 4 hashes, 3 distinct; case-folded.
    let hashes = words.shingle_hashes("a B c A b");
    assert_eq!(hashes.len(), 4);
    assert_eq!(hashes[0], hashes[3]);
    assert_eq!(words.shingle_hashes("one").len(), 1);
    assert!(words.shingle_hashes("  ").is_empty());
    let chars = MinHasher::new(
        MinHashConfig {
            shingle: ShingleKind::Char,
            ngram: 3,
            ..MinHashConfig::default()
        }
        .resolve("t")
        .expect("valid config"),
    );
    assert_eq!(chars.shingle_hashes("héllo").len(), 3);
}

#[test]
fn identical_texts_collide_and_unrelated_do_not() {
    let h = hasher(14, 8, 1);
    let text = "the quick brown fox jumps over the lazy dog near the quiet river bank today";
    let sig = |t: &str| h.band_keys(&h.signature(&h.shingle_hashes(t)));
    assert_eq!(sig(text), sig(&text.to_uppercase()));
    let other = "completely different words appear in this unrelated sentence about cooking pasta";
    assert!(sig(text).iter().zip(sig(other)).all(|(a, b)| *a != b));
}

#[test]
fn bad_parameters_name_the_field() {
    let config = MinHashConfig {
        bands: 20,
        rows: 8,
        num_perm: 128,
        ..MinHashConfig::default()
    };
    let message = config
        .resolve("steps[1]")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("steps[1].num_perm"), "{message}");
    let config = MinHashConfig {
        ngram: 0,
        ..MinHashConfig::default()
    };
    assert!(config.resolve("x").is_err());
    let auto = MinHashConfig {
        bands: 0,
        threshold: 0.7,
        num_perm: 128,
        ..MinHashConfig::default()
    };
    let resolved = auto.resolve("x").expect("valid config");
    assert!(resolved.bands * resolved.rows <= 128 && resolved.bands > 1);
}
