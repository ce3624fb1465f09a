//! SemDeDup and k-means: seeded k-means++ separates clear clusters, near-identical texts
//! collapse to their first copy, and rejects name a document that was kept.

use std::sync::Arc;

use vibee_data::dedup::{Deduplicator, SemDedup, SemDedupConfig, kmeans};
use vibee_data::embed::{Embedder, HashedNgramEmbedder, cosine};
use vibee_data::{Document, Rejection};

fn unit(x: f32, y: f32) -> [f32; 2] {
    let n = (x * x + y * y).sqrt();
    [x / n, y / n]
}

#[test]
fn kmeans_separates_three_directions_reproducibly() {
    // Three tight groups of unit vectors around 0°, 120° and 240°.
    let mut points = Vec::new();
    for angle in [0f32, 120.0, 240.0] {
        for jitter in [-3f32, -1.0, 0.0, 2.0] {
            let a = (angle + jitter).to_radians();
            points.extend(unit(a.cos(), a.sin()));
        }
    }
    let c = kmeans(&points, 2, 3, 50, 11);
    for g in 0..3 {
        let group = &c.assignment[g * 4..g * 4 + 4];
        assert!(group.iter().all(|&a| a == group[0]), "{:?}", c.assignment);
    }
    assert_ne!(c.assignment[0], c.assignment[4]);
    assert_ne!(c.assignment[4], c.assignment[8]);
    assert_ne!(c.assignment[0], c.assignment[8]);
    assert_eq!(
        kmeans(&points, 2, 3, 50, 11),
        c,
        "same seed, same clustering"
    );
    // Centroids are unit vectors near the group directions.
    for row in c.centroids.chunks(2) {
        assert!((row[0] * row[0] + row[1] * row[1] - 1.0).abs() < 1e-5);
    }
    // More clusters than distinct points: k shrinks instead of duplicating centres.
    let same = [1.0f32, 0.0, 1.0, 0.0];
    assert_eq!(kmeans(&same, 2, 2, 10, 1).centroids.len(), 2);
}

fn run(dedup: &dyn Deduplicator, texts: &[&str]) -> Vec<Option<Rejection>> {
    let mut index = dedup.new_index();
    for (i, t) in texts.iter().enumerate() {
        index.add(&format!("d{i}"), dedup.fingerprint(&Document::new("", *t)));
    }
    let decisions = index.finish();
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| decisions.apply(i as u64, &mut Document::new(format!("d{i}"), *t)))
        .collect()
}

const BASE: [&str; 3] = [
    "The river flooded the lower market every spring, and the merchants moved their stalls uphill.",
    "Compile the kernel with debug symbols, then attach the debugger to the running process.",
    "Our grandmother baked bread on Sundays and gave the warm loaves to the neighbours.",
];

#[test]
fn near_identical_texts_keep_their_first_copy() {
    let texts = [
        BASE[0],
        BASE[1],
        "The river flooded the lower market every spring, and the merchants moved their stalls uphill!",
        BASE[2],
        "the river flooded the lower market every spring and the merchants moved their stalls uphill.",
        "Compile the kernel with debug symbols, then attach a debugger to the running process.",
    ];
    let dedup = SemDedup::new(SemDedupConfig {
        clusters: 2,
        threshold: 0.9,
        ..SemDedupConfig::default()
    });
    let decisions = run(&dedup, &texts);
    let kept: Vec<usize> = (0..texts.len())
        .filter(|&i| decisions[i].is_none())
        .collect();
    assert_eq!(kept, vec![0, 1, 3], "{decisions:?}");
    for (i, want) in [(2, "d0"), (4, "d0"), (5, "d1")] {
        let r = decisions[i].as_ref().expect("rejected");
        assert_eq!(r.kept_id.as_deref(), Some(want));
        assert_eq!(
            (r.stage.as_str(), r.reason.as_str()),
            ("semdedup", "semantic_duplicate")
        );
        assert!(r.score.is_some_and(|s| (0.9..=1.0 + 1e-6).contains(&s)));
    }
    // A threshold of 1 only removes exact copies.
    let exact = SemDedup::new(SemDedupConfig {
        threshold: 1.0 - 1e-6,
        ..SemDedupConfig::default()
    });
    let copies = [BASE[0], BASE[1], BASE[0]];
    let d = run(&exact, &copies);
    assert!(d[0].is_none() && d[1].is_none());
    assert_eq!(d[2].as_ref().and_then(|r| r.kept_id.as_deref()), Some("d0"));
}

/// A plugged-in embedder: documents are equal when their lengths are.
#[derive(Debug)]
struct LengthEmbedder;

impl Embedder for LengthEmbedder {
    fn dim(&self) -> usize {
        3
    }
    fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0; 3];
        v[text.len() % 3] = 1.0;
        v
    }
}

#[test]
fn embedders_plug_in() {
    let dedup = SemDedup::with_embedder(SemDedupConfig::default(), Arc::new(LengthEmbedder));
    let d = run(&dedup, &["aaa", "bbbb", "ccc", "dd"]);
    assert!(d[0].is_none() && d[1].is_none() && d[3].is_none());
    assert_eq!(d[2].as_ref().and_then(|r| r.kept_id.as_deref()), Some("d0"));
    // The built-in embedder gives unit vectors; identical texts have cosine 1.
    let e = HashedNgramEmbedder::default();
    let a = e.embed(BASE[1]);
    assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
    assert!(e.embed("").iter().all(|&x| x == 0.0));
}
