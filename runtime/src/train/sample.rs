//! Text generation from a trained model: temperature sampling, seeded.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::{ModelResult, Trainable};

/// Appends `n` tokens to `prompt`, each drawn from `softmax(logits / temperature)` with the
/// context cut to the model's window; returns only the new tokens.
pub fn generate(
    model: &mut dyn Trainable,
    prompt: &[u32],
    n: usize,
    temperature: f64,
    seed: u64,
) -> ModelResult<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut text = prompt.to_vec();
    for _ in 0..n {
        let start = text.len().saturating_sub(model.max_context());
        let logits = model.next_logits(&text[start..])?;
        text.push(sample_logits(&logits, temperature, rng.random::<f64>()));
    }
    Ok(text.split_off(prompt.len()))
}

/// Inverse-CDF draw from `softmax(logits / temperature)` with `u` uniform in `[0, 1)`.
pub fn sample_logits(logits: &[f32], temperature: f64, u: f64) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = logits
        .iter()
        .map(|&l| (f64::from(l - max) / temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w / total;
        if u < acc {
            return i as u32;
        }
    }
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0) as u32
}
