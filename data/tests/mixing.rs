//! Data mixing: temperature weights, the seeded sampler, and DoReMi steps computed by hand.

use vibee_data::mixing::{DoReMi, MixtureConfig, MixtureSampler, excess_loss, temperature_weights};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn temperature_flattens_size_proportional_weights() {
    let w = temperature_weights(&[900.0, 100.0], 1.0).expect("weights");
    assert!(close(w[0], 0.9) && close(w[1], 0.1));
    let w = temperature_weights(&[900.0, 100.0], 2.0).expect("weights");
    assert!(close(w[0], 0.75) && close(w[1], 0.25)); // 30 : 10
    let w = temperature_weights(&[900.0, 100.0], 1e9).expect("weights");
    assert!((w[0] - 0.5).abs() < 1e-6);
    assert!(temperature_weights(&[1.0], 0.0).is_err());
    assert!(temperature_weights(&[0.0, 0.0], 1.0).is_err());
}

#[test]
fn toml_mixtures_use_weights_or_sizes() {
    let config: MixtureConfig = toml::from_str(
        "temperature = 2.0\n[[sources]]\nname = \"web\"\nsize = 900\n[[sources]]\nname = \"code\"\nsize = 100\n",
    )
    .expect("toml");
    let w = config.weights().expect("weights");
    assert!(close(w[0], 0.75));
    let config: MixtureConfig = toml::from_str(
        "[[sources]]\nname = \"web\"\nweight = 3\n[[sources]]\nname = \"code\"\nweight = 1\n",
    )
    .expect("toml");
    assert!(close(config.weights().expect("weights")[1], 0.25));
    let config: MixtureConfig = toml::from_str("[[sources]]\nname = \"web\"\n").expect("toml");
    let err = config
        .weights()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("sources.web"), "{err}");
}

#[test]
fn the_sampler_follows_its_weights_and_its_seed() {
    let mut s = MixtureSampler::new(&[0.6, 0.3, 0.1], 42).expect("sampler");
    let mut counts = [0usize; 3];
    let draws: Vec<usize> = (0..20_000).map(|_| s.next_source()).collect();
    draws.iter().for_each(|&d| counts[d] += 1);
    for (c, w) in counts.iter().zip([0.6, 0.3, 0.1]) {
        assert!((*c as f64 / 20_000.0 - w).abs() < 0.015, "{counts:?}");
    }
    let mut again = MixtureSampler::new(&[0.6, 0.3, 0.1], 42).expect("sampler");
    assert!(draws.iter().all(|&d| d == again.next_source()));
    s.set_weights(&[0.0, 0.0, 1.0]).expect("weights");
    assert!((0..100).all(|_| s.next_source() == 2));
}

#[test]
fn doremi_steps_match_the_hand_computation() {
    let (eta, c) = (1.0, 0.1);
    let mut d = DoReMi::new(2, eta, c).expect("doremi");
    // Step 1, excess [1, 0]: α' = [0.5e, 0.5] → [e/(e+1), 1/(e+1)] = [0.7310586, 0.2689414],
    // smoothed: 0.9·α + 0.1·0.5 = [0.7079527, 0.2920473].
    let w1 = d.update(&[1.0, 0.0]).expect("update").to_vec();
    assert!(close(w1[0], 0.7079527) && close(w1[1], 0.2920473), "{w1:?}");
    // Step 2, excess [−0.5 → clipped to 0, 2]: α' = [w1₀, w1₁·e²].
    let e2 = w1[1] * 2f64.exp();
    let expect0 = 0.9 * w1[0] / (w1[0] + e2) + 0.05;
    let w2 = d.update(&[-0.5, 2.0]).expect("update").to_vec();
    assert!(close(w2[0], expect0) && close(w2[0], 0.2723232), "{w2:?}");
    assert!(close(w2[0] + w2[1], 1.0));
    let avg = d.average_weights();
    assert!(close(avg[0], (w1[0] + w2[0]) / 2.0));
    // Huge losses do not overflow: the update is computed in log space.
    let w3 = d.update(&[1e6, 0.0]).expect("update").to_vec();
    assert!(close(w3[0], 0.95) && close(w3[1], 0.05), "{w3:?}");
    assert!(d.update(&[1.0]).is_err(), "one loss per domain");
    assert!(DoReMi::new(2, 1.0, 1.5).is_err());
    assert!(close(excess_loss(&[2.0, 1.0], &[1.0, 3.0]), 0.5));
}
