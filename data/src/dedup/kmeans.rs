//! Spherical k-means with k-means++ seeding (Arthur & Vassilvitskii 2007) over unit
//! vectors, as SemDeDup clusters its embeddings: points go to the centroid of highest
//! cosine, and centroids are re-normalized means. Seeded, so runs are reproducible.

use rayon::prelude::*;

use crate::embed::{cosine, normalize};

/// The outcome of clustering `n` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// `k × dim` centroids, row-major, unit length.
    pub centroids: Vec<f32>,
    /// The cluster of each point.
    pub assignment: Vec<usize>,
    /// Lloyd iterations run.
    pub iterations: usize,
}

/// xorshift64*: a small seeded generator for the seeding draws.
fn next_unit(state: &mut u64) -> f64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (r >> 11) as f64 / (1u64 << 53) as f64
}

/// Clusters `points` (`n × dim`, unit rows) into at most `k` clusters.
///
/// ```
/// let points = [1.0, 0.0, 0.99, 0.141, 0.0, 1.0, 0.141, 0.99];
/// let c = vibee_data::dedup::kmeans(&points, 2, 2, 10, 7);
/// assert_eq!(c.assignment[0], c.assignment[1]);
/// assert_eq!(c.assignment[2], c.assignment[3]);
/// assert_ne!(c.assignment[0], c.assignment[2]);
/// ```
pub fn kmeans(points: &[f32], dim: usize, k: usize, max_iter: usize, seed: u64) -> Clustering {
    let n = points.len() / dim.max(1);
    let k = k.clamp(1, n.max(1));
    if n == 0 {
        return Clustering {
            centroids: Vec::new(),
            assignment: Vec::new(),
            iterations: 0,
        };
    }
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let mut centroids = seed_plus_plus(points, dim, k, seed);
    let k = centroids.len() / dim;
    let mut assignment = vec![usize::MAX; n];
    let mut iterations = 0;
    while iterations < max_iter {
        iterations += 1;
        let next: Vec<usize> = (0..n)
            .into_par_iter()
            .map(|i| nearest(&centroids, dim, row(i)).0)
            .collect();
        let changed = next != assignment;
        assignment = next;
        if !changed {
            break;
        }
        let mut sums = vec![0f32; k * dim];
        for (i, &c) in assignment.iter().enumerate() {
            for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row(i)) {
                *s += x;
            }
        }
        for c in 0..k {
            let sum = &mut sums[c * dim..(c + 1) * dim];
            // An emptied cluster keeps its old centroid rather than collapsing to zero.
            if sum.iter().any(|&x| x != 0.0) {
                normalize(sum);
                centroids[c * dim..(c + 1) * dim].copy_from_slice(sum);
            }
        }
    }
    Clustering {
        centroids,
        assignment,
        iterations,
    }
}

/// The centroid of highest cosine and that cosine; ties go to the lower index.
fn nearest(centroids: &[f32], dim: usize, p: &[f32]) -> (usize, f32) {
    centroids
        .chunks_exact(dim)
        .map(|c| cosine(c, p))
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, s)| {
            if s > best.1 { (i, s) } else { best }
        })
}

/// k-means++: the first centre uniformly, each next one with probability proportional to
/// the squared distance to the nearest centre chosen so far (`2 − 2 cos` for unit rows).
fn seed_plus_plus(points: &[f32], dim: usize, k: usize, seed: u64) -> Vec<f32> {
    let n = points.len() / dim;
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let first = ((next_unit(&mut state) * n as f64) as usize).min(n - 1);
    let mut centroids = row(first).to_vec();
    let mut dist: Vec<f64> = (0..n).map(|i| sq_dist(row(i), row(first))).collect();
    for _ in 1..k {
        let total: f64 = dist.iter().sum();
        if total <= 0.0 {
            break; // fewer distinct points than k
        }
        let mut target = next_unit(&mut state) * total;
        let mut pick = n - 1;
        for (i, &d) in dist.iter().enumerate() {
            if target < d {
                pick = i;
                break;
            }
            target -= d;
        }
        centroids.extend_from_slice(row(pick));
        for (i, d) in dist.iter_mut().enumerate() {
            *d = d.min(sq_dist(row(i), row(pick)));
        }
    }
    centroids
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    (2.0 - 2.0 * f64::from(cosine(a, b))).max(0.0)
}
