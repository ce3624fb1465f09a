//! Optimizer behaviour beyond single-tensor parity: parameter groups by name, clipping,
//! checkpoint state, the schedule-free train/eval switch, the parallel chunked path, schedule
//! driven learning rate and momentum, and typed errors.

use serde::Deserialize;
use vibee_runtime::optim::{
    Adafactor, AdafactorConfig, Adam, AdamConfig, Came, CameConfig, Golden, GoldenConfig,
    HessianEstimate, Lion, LionConfig, OptimError, Optimizer, ParamSet, Prodigy, ProdigyConfig,
    ScheduleFree, ScheduleFreeConfig, ScheduleFreeKind, Sgd, SgdConfig, Shampoo, ShampooConfig,
    Sophia, SophiaConfig, clip_grad_norm, clip_grad_value, is_no_decay_name,
};
use vibee_runtime::schedule::{LayerDecay, OneCycle, Schedule};

/// A small model's worth of parameters with decaying and non-decaying names.
fn model() -> ParamSet {
    ParamSet::new([
        ("tok_embed.weight", vec![4, 3]),
        ("blocks.0.ln1.weight", vec![3]),
        ("blocks.0.attn.qkv.weight", vec![3, 3]),
        ("blocks.0.attn.qkv.bias", vec![3]),
        ("blocks.1.mlp.fc.weight", vec![3, 2]),
        ("final_norm.weight", vec![3]),
    ])
}

fn values(params: &ParamSet, seed: f32) -> Vec<Vec<f32>> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (0..p.numel())
                .map(|j| ((i * 7 + j) as f32 * 0.37 + seed).sin())
                .collect()
        })
        .collect()
}

fn step_all<O: Optimizer<f32> + ?Sized>(opt: &mut O, params: &mut [Vec<f32>], grads: &[Vec<f32>]) {
    let mut p: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    let g: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
    opt.step(&mut p, &g).expect("step");
}

#[test]
fn norms_and_biases_get_no_weight_decay_by_name() {
    for name in [
        "blocks.0.ln1.weight",
        "final_norm.weight",
        "x.bias",
        "ln_f.weight",
        "a.out_bias",
    ] {
        assert!(is_no_decay_name(name), "{name}");
    }
    for name in [
        "blocks.0.attn.qkv.weight",
        "tok_embed.weight",
        "lnx.weight",
        "linear.weight",
    ] {
        assert!(!is_no_decay_name(name), "{name}");
    }
    // With zero gradients only the decay moves parameters: exactly the decayed ones change.
    let set = model();
    let mut params = values(&set, 0.1);
    let before = params.clone();
    let grads: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    let mut opt = Adam::<f32>::new(AdamConfig::adamw(0.1, 0.5), set.clone());
    step_all(&mut opt, &mut params, &grads);
    for ((info, after), before) in set.iter().zip(&params).zip(&before) {
        assert_eq!(
            after != before,
            !is_no_decay_name(&info.name),
            "{}",
            info.name
        );
    }
}

#[test]
fn layer_decay_scales_each_parameter_step() {
    let set = model()
        .with_layer_decay(&LayerDecay::new(0.5, 2))
        .expect("names");
    let scales: Vec<f64> = set.iter().map(|p| p.lr_scale).collect();
    assert_eq!(scales, [0.125, 0.25, 0.25, 0.25, 0.5, 1.0]);
    // SGD without momentum moves each parameter by lr·scale·g.
    let mut params: Vec<Vec<f32>> = set.iter().map(|p| vec![0.0; p.numel()]).collect();
    let grads: Vec<Vec<f32>> = set.iter().map(|p| vec![1.0; p.numel()]).collect();
    let mut opt = Sgd::<f32>::new(SgdConfig::new(0.1, 0.0), set);
    step_all(&mut opt, &mut params, &grads);
    for (p, s) in params.iter().zip(scales) {
        assert!((p[0] as f64 + 0.1 * s).abs() < 1e-7);
    }
}

#[derive(Deserialize)]
struct ClipCase {
    kind: String,
    limit: f64,
    grads: Vec<Vec<f64>>,
    clipped: Vec<Vec<f64>>,
    #[serde(default)]
    total_norm: f64,
}

#[test]
fn clipping_matches_torch() {
    let path = format!(
        "{}/tests/goldens/optim_clip.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("golden")).expect("json");
    let cases: Vec<ClipCase> = serde_json::from_value(doc["cases"].clone()).expect("cases");
    assert_eq!(cases.len(), 5);
    for case in cases {
        let mut grads = case.grads.clone();
        let mut views: Vec<&mut [f64]> = grads.iter_mut().map(Vec::as_mut_slice).collect();
        if case.kind == "norm" {
            let total = clip_grad_norm(&mut views, case.limit);
            assert!((total - case.total_norm).abs() < 1e-12 * total);
        } else {
            clip_grad_value(&mut views, case.limit);
        }
        for (got, want) in grads.iter().flatten().zip(case.clipped.iter().flatten()) {
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }
    }
}

/// Steps `opt` 3 times, checkpoints through JSON into `fresh`, and checks both continue alike.
fn resumes_exactly<O: Optimizer<f32>>(mut opt: O, mut fresh: O) {
    let set = opt.params().clone();
    let mut params = values(&set, 0.3);
    for k in 0..3 {
        step_all(&mut opt, &mut params, &values(&set, k as f32));
    }
    let json = serde_json::to_string(&opt.state_dict()).expect("serialize");
    fresh
        .load_state_dict(&serde_json::from_str(&json).expect("parse"))
        .expect("load");
    assert_eq!(fresh.steps(), 3);
    let mut copy = params.clone();
    for k in 3..6 {
        step_all(&mut opt, &mut params, &values(&set, k as f32));
        step_all(&mut fresh, &mut copy, &values(&set, k as f32));
    }
    assert_eq!(params, copy, "{} diverged after resume", opt.name());
}

#[test]
fn state_dicts_resume_exactly() {
    let set = model();
    let adam = || {
        Adam::<f32>::new(
            AdamConfig {
                amsgrad: true,
                ..AdamConfig::adamw(1e-2, 0.1)
            },
            set.clone(),
        )
    };
    resumes_exactly(adam(), adam());
    let lion = || Lion::<f32>::new(LionConfig::new(1e-3, 0.1), set.clone());
    resumes_exactly(lion(), lion());
    let came = || Came::<f32>::new(CameConfig::new(1e-2), set.clone());
    resumes_exactly(came(), came());
    let golden = || Golden::<f32>::new(GoldenConfig::new(1e-2, 0.1), set.clone());
    resumes_exactly(golden(), golden());
    let sf = || {
        ScheduleFree::<f32>::new(
            ScheduleFreeConfig::new(ScheduleFreeKind::Adamw, 1e-2),
            set.clone(),
        )
    };
    resumes_exactly(sf(), sf());
    let sgd = || {
        Sgd::<f32>::new(
            SgdConfig {
                nesterov: true,
                ..SgdConfig::new(1e-2, 0.9)
            },
            set.clone(),
        )
    };
    resumes_exactly(sgd(), sgd());
    let adafactor = || {
        Adafactor::<f32>::new(
            AdafactorConfig {
                beta1: Some(0.9),
                ..Default::default()
            },
            set.clone(),
        )
    };
    resumes_exactly(adafactor(), adafactor());
    let prodigy = || Prodigy::<f32>::new(ProdigyConfig::default(), set.clone());
    resumes_exactly(prodigy(), prodigy());
    let sophia = || Sophia::<f32>::new(SophiaConfig::default(), set.clone());
    resumes_exactly(sophia(), sophia());
    let shampoo_cfg = ShampooConfig {
        block_size: 2,
        start_preconditioning_step: 1,
        preconditioning_compute_steps: 2,
        ..ShampooConfig::default()
    };
    let shampoo = || Shampoo::<f32>::new(shampoo_cfg.clone(), set.clone());
    resumes_exactly(shampoo(), shampoo());
}

#[test]
fn loading_another_optimizers_state_is_an_error() {
    let set = model();
    let lion = Lion::<f32>::new(LionConfig::new(1e-3, 0.0), set.clone());
    let mut adam = Adam::<f32>::new(AdamConfig::default(), set);
    let err = adam
        .load_state_dict(&lion.state_dict())
        .expect_err("wrong optimizer");
    assert!(
        matches!(err, OptimError::State(ref m) if m.contains("lion")),
        "{err}"
    );
}

#[test]
fn mismatched_slices_name_the_parameter() {
    let set = model();
    let mut opt = Adam::<f32>::new(AdamConfig::default(), set.clone());
    let mut params = values(&set, 0.0);
    let mut grads = params.clone();
    grads[2].pop();
    let mut p: Vec<&mut [f32]> = params.iter_mut().map(Vec::as_mut_slice).collect();
    let g: Vec<&[f32]> = grads.iter().map(Vec::as_slice).collect();
    let err = opt.step(&mut p, &g).expect_err("short gradient");
    assert!(
        err.to_string().contains("blocks.0.attn.qkv.weight"),
        "{err}"
    );
    let err = opt.step(&mut p[..2], &g[..2]).expect_err("missing tensors");
    assert!(
        matches!(err, OptimError::Count { expected: 6, .. }),
        "{err}"
    );
}

#[test]
fn bad_hyperparameters_name_their_field() {
    let set = ParamSet::single(vec![2]);
    let mut opt = Adam::<f64>::new(AdamConfig::default().betas(0.9, 1.0), set);
    let err = opt
        .step(&mut [&mut [1.0, 2.0]], &[&[0.1, 0.1]])
        .expect_err("beta2 = 1");
    assert!(
        matches!(
            err,
            OptimError::Config {
                field: "betas.1",
                ..
            }
        ),
        "{err}"
    );
    let err = toml::from_str::<AdamConfig>("lr = 1e-3\nbeta1 = 0.9").expect_err("unknown key");
    assert!(err.to_string().contains("beta1"), "{err}");
    let cfg: LionConfig = toml::from_str("lr = 3e-4\nbetas = [0.95, 0.98]").expect("valid");
    assert_eq!(cfg.betas, (0.95, 0.98));
}

#[test]
fn schedule_free_switches_between_y_and_x() {
    let set = ParamSet::single(vec![3]);
    let mut opt =
        ScheduleFree::<f64>::new(ScheduleFreeConfig::new(ScheduleFreeKind::Sgd, 0.1), set);
    let mut p = vec![1.0, -2.0, 0.5];
    for _ in 0..4 {
        let g: Vec<f64> = p.iter().map(|x| 2.0 * x).collect();
        opt.step(&mut [&mut p], &[&g]).expect("step");
    }
    let y = p.clone();
    opt.eval(&mut [&mut p]);
    assert!(!opt.is_training());
    assert_ne!(p, y, "x differs from y once z has moved");
    let err = opt
        .step(&mut [&mut p.clone()], &[&[0.0; 3]])
        .expect_err("eval mode");
    assert!(matches!(err, OptimError::Unsupported(_)));
    opt.eval(&mut [&mut p]); // idempotent
    opt.train(&mut [&mut p]);
    for (a, b) in p.iter().zip(&y) {
        assert!((a - b).abs() < 1e-12, "train() restores y: {a} vs {b}");
    }
}

#[test]
fn chunked_parallel_path_equals_elementwise_updates() {
    // 100k elements run in parallel chunks; each element must equal a 1-element run.
    let n = 100_003;
    let set = ParamSet::single(vec![n]);
    let mut big = Adam::<f32>::new(AdamConfig::adamw(1e-2, 0.1), set);
    let mut p: Vec<f32> = (0..n).map(|i| (i as f32 * 0.01).sin()).collect();
    let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.03).cos()).collect();
    let (p0, mut p_big) = (p.clone(), p.clone());
    for _ in 0..3 {
        big.step(&mut [&mut p_big], &[&g]).expect("step");
    }
    for i in [0, 1, 32_767, 32_768, 65_536, n - 1] {
        let mut one = Adam::<f32>::new(AdamConfig::adamw(1e-2, 0.1), ParamSet::single(vec![1]));
        p[i] = p0[i];
        for _ in 0..3 {
            one.step(&mut [&mut p[i..=i]], &[&g[i..=i]]).expect("step");
        }
        assert_eq!(p[i], p_big[i], "element {i}");
    }
}

#[test]
fn one_cycle_drives_lr_and_momentum() {
    let schedule: Schedule = OneCycle::new(0.1, 20).into();
    let set = ParamSet::single(vec![1]);
    let mut sgd = Sgd::<f64>::new(SgdConfig::new(0.0, 0.9), set.clone());
    let mut lion = Lion::<f64>::new(LionConfig::new(0.0, 0.0), set.clone());
    let mut sophia = Sophia::<f64>::new(SophiaConfig::default(), set);
    for step in 0..20 {
        sgd.follow_schedule(&schedule, step)
            .expect("sgd has momentum");
        lion.follow_schedule(&schedule, step)
            .expect("lion has beta1");
        assert_eq!(sgd.lr(), schedule.lr(step));
        assert_eq!(lion.lr(), schedule.lr(step));
    }
    assert!(
        sophia.set_momentum(0.9).is_err(),
        "sophia's beta1 is not cycled"
    );
    let h = [[1.0].as_slice()];
    assert!(
        sophia
            .update_hessian(HessianEstimate::Hutchinson(&h))
            .is_ok()
    );
    let bad = [[1.0, 2.0].as_slice()];
    let err = sophia
        .update_hessian(HessianEstimate::GaussNewtonBartlett(&bad))
        .expect_err("len");
    assert!(
        matches!(
            err,
            OptimError::Length {
                what: "hessian",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn golden_first_step_is_a_unit_sign_step() {
    // At t = 1, m̂ = g and v̂ = g², and φ⁻¹ + φ⁻² = 1, so the step is lr·g/(|g| + ε).
    let mut opt = Golden::<f64>::new(GoldenConfig::new(0.1, 0.0), ParamSet::single(vec![3]));
    let mut p = vec![0.0; 3];
    opt.step(&mut [&mut p], &[&[2.0, -0.5, 1e-3]])
        .expect("step");
    for (got, g) in p.iter().zip([2.0f64, -0.5, 1e-3]) {
        let want = -0.1 * g / (g.abs() + 1e-8);
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
    }
    assert!((GoldenConfig::beta2() - (1.0 - (1.0 - GoldenConfig::beta1()).powi(3))).abs() < 1e-15);
}
