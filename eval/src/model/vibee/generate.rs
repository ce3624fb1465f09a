//! Generation from vibee's own models: greedy decoding, or temperature / nucleus
//! sampling seeded per prompt and sample, cut at stop sequences and the token budget.
//!
//! There is no KV cache yet: every step recomputes each active row from its first
//! token, and a row longer than the model's context keeps only its last
//! `max_context` tokens (the window slides as tokens are generated). Rows of a
//! batch advance together, one forward pass per step.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::backend::Backend;
use crate::error::Result;
use crate::model::fake::fnv1a64;
use crate::model::tokenizer::Tokenizer;
use crate::request::{Sampling, truncate_at_stops};

/// One generation request, tokenized.
#[derive(Clone, Debug)]
pub struct GenJob {
    /// The prompt's tokens (non-empty).
    pub context: Vec<u32>,
    /// Stop sequences.
    pub until: Vec<String>,
    /// Token budget.
    pub max_gen_toks: usize,
    /// Sampling settings; `None` (or temperature 0) is greedy.
    pub sampling: Option<Sampling>,
    /// Seeds the sampler (with the sample number).
    pub seed: u64,
}

/// The sampler's seed for sample `sample` of a prompt: distinct prompts and
/// distinct samples of one prompt draw distinct streams, reproducibly.
pub fn sample_seed(base: u64, prompt: &str, sample: usize) -> u64 {
    base ^ fnv1a64(prompt) ^ (sample as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The next token from `logits`: argmax (first maximum) when greedy, else a draw
/// from softmax(logits / temperature) restricted to the top-p nucleus (the
/// smallest set of most likely tokens whose mass reaches `top_p`, at least one).
pub fn pick(logits: &[f32], sampling: Option<Sampling>, rng: &mut ChaCha8Rng) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        best as u32
    };
    let Some(s) = sampling.filter(|s| s.temperature > 0.0) else {
        return argmax();
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = logits
        .iter()
        .map(|&l| (f64::from(l - max) / s.temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
    let mut kept = 0.0;
    let mut n = 0;
    for &i in &order {
        kept += weights[i];
        n += 1;
        if kept / total >= s.top_p {
            break;
        }
    }
    let u = rng.random::<f64>() * kept;
    let mut acc = 0.0;
    for &i in &order[..n] {
        acc += weights[i];
        if u < acc {
            return i as u32;
        }
    }
    order[n - 1] as u32
}

/// A row being generated.
struct Active {
    tokens: Vec<u32>,
    generated: Vec<u32>,
    done: bool,
    rng: ChaCha8Rng,
}

/// Whether a row is finished after its latest token.
fn finished(job: &GenJob, row: &mut Active, tokenizer: &Tokenizer) -> bool {
    if let (Some(eos), Some(&last)) = (tokenizer.eos(), row.generated.last())
        && last == eos
    {
        row.generated.pop();
        return true;
    }
    if row.generated.len() >= job.max_gen_toks {
        return true;
    }
    let text = tokenizer.decode(&row.generated);
    job.until
        .iter()
        .any(|s| !s.is_empty() && text.contains(s.as_str()))
}

/// Generates every job, `batch_size` rows per forward pass; returns the texts cut
/// at their stop sequences.
pub fn generate(
    backend: &mut dyn Backend,
    tokenizer: &Tokenizer,
    jobs: &[GenJob],
    batch_size: usize,
) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(batch_size.max(1)) {
        let mut rows: Vec<Active> = chunk
            .iter()
            .map(|j| Active {
                tokens: j.context.clone(),
                generated: Vec::new(),
                done: j.max_gen_toks == 0,
                rng: ChaCha8Rng::seed_from_u64(j.seed),
            })
            .collect();
        step_until_done(backend, tokenizer, chunk, &mut rows)?;
        out.extend(
            chunk
                .iter()
                .zip(&rows)
                .map(|(j, r)| truncate_at_stops(&tokenizer.decode(&r.generated), &j.until)),
        );
    }
    Ok(out)
}

fn step_until_done(
    backend: &mut dyn Backend,
    tokenizer: &Tokenizer,
    jobs: &[GenJob],
    rows: &mut [Active],
) -> Result<()> {
    let max = backend.max_context();
    let v = backend.vocab_size();
    loop {
        let active: Vec<usize> = (0..rows.len()).filter(|&i| !rows[i].done).collect();
        if active.is_empty() {
            return Ok(());
        }
        let inputs: Vec<Vec<u32>> = active
            .iter()
            .map(|&i| {
                let t = &rows[i].tokens;
                t[t.len().saturating_sub(max)..].to_vec()
            })
            .collect();
        let batch: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
        let mut next = vec![0u32; active.len()];
        backend.forward(&batch, &mut |k, logits| {
            let row = &mut rows[active[k]];
            let last = &logits[logits.len() - v..];
            next[k] = pick(last, jobs[active[k]].sampling, &mut row.rng);
            Ok(())
        })?;
        for (k, &i) in active.iter().enumerate() {
            rows[i].tokens.push(next[k]);
            rows[i].generated.push(next[k]);
            rows[i].done = finished(&jobs[i], &mut rows[i], tokenizer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_is_argmax_and_top_p_narrows() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(pick(&[0.0, 2.0, 1.0], None, &mut rng), 1);
        let nucleus = Some(Sampling {
            temperature: 1.0,
            top_p: 0.5,
            sample: 0,
        });
        // The top token alone holds more than half the mass: always chosen.
        for _ in 0..50 {
            assert_eq!(pick(&[0.0, 3.0, 1.0], nucleus, &mut rng), 1);
        }
        let wide = Some(Sampling {
            temperature: 1.0,
            top_p: 1.0,
            sample: 0,
        });
        let draws: Vec<u32> = (0..200)
            .map(|_| pick(&[0.0, 0.0, 0.0], wide, &mut rng))
            .collect();
        assert!(
            (0..3).all(|t| draws.contains(&t)),
            "uniform logits reach every token"
        );
        assert_ne!(sample_seed(1, "a", 0), sample_seed(1, "a", 1));
    }
}
