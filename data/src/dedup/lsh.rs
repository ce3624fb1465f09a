//! Locality-sensitive hashing arithmetic and the union-find that turns colliding pairs
//! into clusters.

/// Probability that two documents of Jaccard similarity `s` share at least one band of
/// `rows` rows among `bands`: `1 − (1 − s^r)^b` (Leskovec et al., *Mining of Massive
/// Datasets*, §3.4).
///
/// ```
/// let p = vibee_data::dedup::collision_probability(0.8, 14, 8);
/// assert!((p - 0.9235).abs() < 1e-3);
/// ```
pub fn collision_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

/// Integral of `f` over `[a, b]` by the trapezoid rule with enough steps for smooth
/// S-curves.
fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    const STEPS: usize = 200;
    let h = (b - a) / STEPS as f64;
    let inner: f64 = (1..STEPS).map(|i| f(a + i as f64 * h)).sum();
    h * (0.5 * (f(a) + f(b)) + inner)
}

/// The `(bands, rows)` with `bands * rows <= num_perm` that minimize the equally weighted
/// false-positive area (below `threshold`) plus false-negative area (above it) — the same
/// criterion datasketch uses to pick its parameters.
pub fn optimal_bands_rows(threshold: f64, num_perm: usize) -> (usize, usize) {
    let mut best = (1, num_perm.max(1));
    let mut best_err = f64::INFINITY;
    for bands in 1..=num_perm {
        for rows in 1..=num_perm / bands {
            let fp = integrate(|s| collision_probability(s, bands, rows), 0.0, threshold);
            let fn_ = integrate(
                |s| 1.0 - collision_probability(s, bands, rows),
                threshold,
                1.0,
            );
            let err = 0.5 * fp + 0.5 * fn_;
            if err < best_err {
                best_err = err;
                best = (bands, rows);
            }
        }
    }
    best
}

/// Disjoint sets over `0..n`, where a set's root is always its smallest member, so the
/// document kept for a cluster is the first one in corpus order.
#[derive(Debug, Clone, Default)]
pub struct UnionFind {
    parent: Vec<u64>,
}

impl UnionFind {
    /// Adds a new singleton set and returns its element.
    pub fn push(&mut self) -> u64 {
        let id = self.parent.len() as u64;
        self.parent.push(id);
        id
    }

    /// The smallest member of `x`'s set (with path halving).
    pub fn find(&mut self, mut x: u64) -> u64 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Merges the sets of `a` and `b`, keeping the smaller root.
    pub fn union(&mut self, a: u64, b: u64) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (small, large) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[large as usize] = small;
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_find_roots_are_minimal() {
        let mut uf = UnionFind::default();
        for _ in 0..6 {
            uf.push();
        }
        uf.union(4, 5);
        uf.union(5, 2);
        uf.union(1, 3);
        assert_eq!([uf.find(5), uf.find(4), uf.find(2)], [2, 2, 2]);
        assert_eq!(uf.find(3), 1);
        assert_eq!(uf.find(0), 0);
    }

    #[test]
    fn optimal_parameters_put_the_knee_near_the_threshold() {
        let (b, r) = optimal_bands_rows(0.8, 112);
        assert!(b * r <= 112);
        // The S-curve's inflection (1/b)^(1/r) should sit close to the threshold.
        let knee = (1.0 / b as f64).powf(1.0 / r as f64);
        assert!((knee - 0.8).abs() < 0.1, "b={b} r={r} knee={knee}");
        assert!(collision_probability(0.95, b, r) > 0.95);
        assert!(collision_probability(0.5, b, r) < 0.1);
    }
}
