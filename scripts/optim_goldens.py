#!/usr/bin/env python3
"""Writes the optimizer and schedule goldens under runtime/tests/goldens/.

Run by hand (never by CI) with a Python that has the references installed:

    python3 -m venv .venv
    .venv/bin/pip install torch transformers pytorch-optimizer lion-pytorch came-pytorch \
        prodigyopt schedulefree sophia-opt
    .venv/bin/python scripts/optim_goldens.py

It installs nothing itself. Every trajectory is computed in float64 by the reference
implementation; the hyperparameters are written with vibee's config field names so the Rust
tests (runtime/tests/optim_parity.rs, schedule_parity.rs) deserialize them directly.
"""

import json
import math
import pathlib
import sys
from importlib.metadata import version

import torch

torch.set_default_dtype(torch.float64)
OUT = pathlib.Path(__file__).resolve().parent.parent / "runtime" / "tests" / "goldens"
STEPS = 25


# --------------------------------------------------------------------------- problems
def quadratic(shape, seed):
    """f(x) = ½ Σ h (x − c)², diagonal curvature h in [0.5, 4]."""
    n = math.prod(shape)
    gen = torch.Generator().manual_seed(seed)
    h = torch.linspace(0.5, 4.0, n)
    c = torch.randn(n, generator=gen)
    x0 = torch.randn(n, generator=gen) * 2.0
    return {"kind": "quadratic", "shape": list(shape), "h": h.tolist(), "c": c.tolist(),
            "x0": x0.tolist()}


def rosenbrock():
    return {"kind": "rosenbrock", "shape": [2], "x0": [-1.2, 1.0]}


def sequence(shape, seed):
    """A fixed list of gradients, independent of the parameters."""
    n = math.prod(shape)
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, generator=gen)
    grads = [(torch.randn(n, generator=gen) * 0.5 + 0.1).tolist() for _ in range(STEPS)]
    # A few exact zeros exercise sign(0) = 0 and zero-gradient paths.
    grads[3][0] = 0.0
    return {"kind": "sequence", "shape": list(shape), "x0": x0.tolist(), "grads": grads}


def gradient(problem, x, step):
    flat = x.detach().reshape(-1)
    kind = problem["kind"]
    if kind == "quadratic":
        g = torch.tensor(problem["h"]) * (flat - torch.tensor(problem["c"]))
    elif kind == "rosenbrock":
        a, b = flat[0], flat[1]
        g = torch.stack([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
    else:
        g = torch.tensor(problem["grads"][step])
    return g.reshape(x.shape).clone()


PROBLEMS = {
    "quadratic": quadratic([6], 1),
    "quadratic_matrix": quadratic([3, 4], 2),
    "quadratic_batched": quadratic([2, 3, 4], 3),
    "rosenbrock": rosenbrock(),
    "sequence": sequence([5], 4),
    "sequence_matrix": sequence([4, 3], 5),
    "quadratic_wide": quadratic([6, 5], 6),
}


# --------------------------------------------------------------------------- runner
def run(make, problem, after_step=None, record=None):
    """Steps the reference optimizer STEPS times; returns parameters after every step."""
    p = torch.nn.Parameter(torch.tensor(problem["x0"]).reshape(problem["shape"]))
    opt = make([p])
    traj, extra = [], []
    for t in range(STEPS):
        p.grad = gradient(problem, p, t)
        opt.step()
        if after_step:
            after_step(opt, p, t)
        traj.append(p.detach().reshape(-1).tolist())
        if record:
            extra.append(record(opt, p))
    return traj, extra


def case(name, problem, hyper, make, **kw):
    traj, extra = run(make, PROBLEMS[problem], **kw)
    c = {"name": name, "problem": PROBLEMS[problem], "hyper": hyper, "trajectory": traj}
    if extra:
        c["extra"] = extra
    return c


def write(name, reference, cases):
    OUT.mkdir(parents=True, exist_ok=True)
    for c in cases:
        assert all(math.isfinite(v) for row in c["trajectory"] for v in row), c["name"]
    doc = {"optimizer": name, "reference": reference, "steps": STEPS, "cases": cases}
    (OUT / f"optim_{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"optim_{name}.json: {len(cases)} cases", file=sys.stderr)


# --------------------------------------------------------------------------- optimizers
def sgd():
    cases = []
    for problem in ["quadratic", "rosenbrock", "sequence"]:
        lr = 2e-4 if problem == "rosenbrock" else 0.01  # Rosenbrock's curvature is ~1000
        for h in [dict(lr=lr, momentum=0.0),
                  dict(lr=lr, momentum=0.9),
                  dict(lr=lr, momentum=0.9, dampening=0.5, weight_decay=0.1),
                  dict(lr=lr, momentum=0.9, nesterov=True, weight_decay=0.01)]:
            name = f"{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
            cases.append(case(name, problem, h, lambda ps, h=h: torch.optim.SGD(ps, **h)))
    write("sgd", f"torch {torch.__version__} torch.optim.SGD", cases)


def adam():
    cases = []
    for decoupled, cls in [(False, torch.optim.Adam), (True, torch.optim.AdamW)]:
        for problem in ["quadratic", "rosenbrock", "sequence"]:
            for extra in [dict(weight_decay=0.0), dict(weight_decay=0.1),
                          dict(weight_decay=0.05, amsgrad=True, betas=(0.8, 0.99), eps=1e-6)]:
                h = dict(lr=0.05, **extra)
                name = f"{cls.__name__}/{problem}/" + ",".join(f"{k}={v}" for k, v in extra.items())
                cases.append(case(name, problem, dict(h, decoupled_weight_decay=decoupled),
                                  lambda ps, h=h, cls=cls: cls(ps, **h)))
    write("adam", f"torch {torch.__version__} torch.optim.Adam / AdamW", cases)


def lion():
    from lion_pytorch import Lion
    cases = []
    for problem in ["quadratic", "rosenbrock", "sequence"]:
        for h in [dict(lr=0.01), dict(lr=0.01, weight_decay=0.5, betas=(0.95, 0.98))]:
            name = f"{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
            cases.append(case(name, problem, h, lambda ps, h=h: Lion(ps, **h)))
    write("lion", f"lion-pytorch {version('lion-pytorch')}", cases)


def adafactor():
    from transformers.optimization import Adafactor
    cases = []
    settings = [
        dict(),
        dict(beta1=0.9, weight_decay=0.01),
        dict(lr=0.05, relative_step=False, scale_parameter=False, clip_threshold=0.5),
        dict(warmup_init=True, decay_rate=-0.5),
    ]
    for problem in ["quadratic_matrix", "quadratic_batched", "sequence", "sequence_matrix"]:
        for h in settings:
            name = f"{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
            cases.append(case(name, problem, h, lambda ps, h=h: Adafactor(ps, **h)))
    write("adafactor", f"transformers {version('transformers')} Adafactor", cases)


def came():
    from came_pytorch import CAME
    cases = []
    for problem in ["quadratic_matrix", "quadratic_batched", "sequence", "sequence_matrix"]:
        for h in [dict(lr=0.05), dict(lr=0.05, weight_decay=0.1, betas=(0.8, 0.99, 0.999))]:
            name = f"{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
            cases.append(case(name, problem, h, lambda ps, h=h: CAME(ps, **h)))
    write("came", f"came-pytorch {version('came-pytorch')}", cases)


def sophia():
    from sophia_opt import SophiaG
    cases = []
    for problem in ["quadratic", "rosenbrock", "sequence"]:
        for h in [dict(lr=0.02, rho=0.05, weight_decay=0.0, batch_tokens=8.0, hessian_interval=2),
                  dict(lr=0.02, rho=0.04, weight_decay=0.1, batch_tokens=1.0, hessian_interval=3,
                       betas=(0.9, 0.95))]:
            ref = {k: v for k, v in h.items() if k not in ("batch_tokens", "hessian_interval")}
            k, bs = h["hessian_interval"], h["batch_tokens"]

            def make(ps, ref=ref, bs=bs):
                opt = SophiaG(ps, **ref)
                plain = opt.step
                opt.step = lambda: plain(bs=bs)
                return opt

            def refresh(opt, p, t, k=k, problem=problem):
                # The GNB sample: the gradient at the updated parameters, every k steps.
                if (t + 1) % k == 0:
                    p.grad = gradient(PROBLEMS[problem], p, t)
                    opt.update_hessian()

            name = f"{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
            cases.append(case(name, problem, h, make, after_step=refresh))
    cases += sophia_h()
    write("sophia", f"sophia-opt {version('sophia-opt')} SophiaG (official code); "
                    f"pytorch-optimizer {version('pytorch-optimizer')} SophiaH", cases)


def hutchinson_sample(problem, x, gen):
    """u ⊙ (H u) with Gaussian u; the sequence problem has no Hessian, so it gets |noise|."""
    flat = x.detach().reshape(-1)
    u = torch.randn(flat.numel(), generator=gen)
    if problem["kind"] == "quadratic":
        hu = torch.tensor(problem["h"]) * u
    elif problem["kind"] == "rosenbrock":
        a, b = flat[0], flat[1]
        hess = torch.stack([torch.stack([2 - 400 * b + 1200 * a * a, -400 * a]),
                            torch.stack([-400 * a, torch.tensor(200.0)])])
        hu = hess @ u
    else:
        return (u.abs() * 0.5).reshape(x.shape)
    return (u * hu).reshape(x.shape)


def sophia_h():
    """pytorch_optimizer.SophiaH with the Hutchinson samples passed in (and recorded), so the
    Rust side can replay them: refreshed before steps 1, k+1, 2k+1, ..."""
    from pytorch_optimizer import SophiaH
    cases = []
    for problem in ["quadratic", "rosenbrock", "sequence"]:
        for h in [dict(lr=0.05, rho=0.01, hessian_interval=3, betas=(0.96, 0.99)),
                  dict(lr=0.02, rho=0.05, hessian_interval=2, betas=(0.9, 0.95),
                       weight_decay=0.1, eps=1e-3)]:
            hyper = dict(h, clipping="elementwise", weight_decay=h.get("weight_decay", 0.0))
            pr = PROBLEMS[problem]
            p = torch.nn.Parameter(torch.tensor(pr["x0"]).reshape(pr["shape"]))
            opt = SophiaH([p], lr=h["lr"], betas=h["betas"], weight_decay=h.get("weight_decay", 0.0),
                          p=h["rho"], update_period=h["hessian_interval"], eps=h.get("eps", 1e-12),
                          foreach=False)
            gen = torch.Generator().manual_seed(11)
            traj, samples = [], []
            for t in range(STEPS):
                p.grad = gradient(pr, p, t)
                if t % h["hessian_interval"] == 0:
                    sample = hutchinson_sample(pr, p, gen)
                    samples.append(sample.reshape(-1).tolist())
                    opt.step(hessian=[sample.clone()])
                else:
                    samples.append(None)
                    opt.step()
                traj.append(p.detach().reshape(-1).tolist())
            name = f"sophia_h/{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
            cases.append({"name": name, "problem": pr, "hyper": hyper, "trajectory": traj,
                          "extra": samples})
    return cases


def prodigy():
    from prodigyopt import Prodigy
    cases = []
    for problem in ["quadratic", "rosenbrock", "sequence"]:
        for h in [dict(),
                  dict(weight_decay=0.1, use_bias_correction=True, d_coef=2.0),
                  dict(weight_decay=0.1, decouple=False, safeguard_warmup=True, growth_rate=1.5),
                  dict(betas=(0.0, 0.99), beta3=0.9, slice_p=2)]:
            name = f"{problem}/" + (",".join(f"{k}={v}" for k, v in h.items()) or "defaults")
            cases.append(case(name, problem, h, lambda ps, h=h: Prodigy(ps, **h),
                              record=lambda opt, p: opt.param_groups[0]["d"]))
    write("prodigy", f"prodigyopt {version('prodigyopt')}", cases)


def schedule_free():
    from schedulefree import AdamWScheduleFree, SGDScheduleFree
    cases = []

    def x_of(opt, p, beta1):
        z = opt.state[p]["z"]
        return torch.lerp(p.detach(), z, 1 - 1 / beta1).reshape(-1).tolist()

    for problem in ["quadratic", "rosenbrock", "sequence"]:
        for h in [dict(kind="adamw", lr=0.05),
                  dict(kind="adamw", lr=0.05, weight_decay=0.1, warmup_steps=5, r=1.0,
                       beta1=0.8, beta2=0.99),
                  dict(kind="sgd", lr=0.01 if problem != "rosenbrock" else 0.0005),
                  dict(kind="sgd", lr=0.01 if problem != "rosenbrock" else 0.0005,
                       weight_decay=0.05, warmup_steps=4, weight_lr_power=1.0, beta1=0.7)]:
            b1 = h.get("beta1", 0.9)
            if h["kind"] == "adamw":
                ref = dict(lr=h["lr"], betas=(b1, h.get("beta2", 0.999)))
                cls = AdamWScheduleFree
            else:
                ref = dict(lr=h["lr"], momentum=b1)
                cls = SGDScheduleFree
            for k in ("weight_decay", "warmup_steps", "r", "weight_lr_power"):
                if k in h:
                    ref[k] = h[k]

            def make(ps, cls=cls, ref=ref):
                opt = cls(ps, **ref)
                opt.train()
                return opt

            name = f"{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
            cases.append(case(name, problem, h, make,
                              record=lambda opt, p, b1=b1: x_of(opt, p, b1)))
    write("schedule_free", f"schedulefree {version('schedulefree')}", cases)


def shampoo():
    from pytorch_optimizer import ScalableShampoo
    from pytorch_optimizer.optimizer.utils.graft import LayerWiseGrafting
    grafts = {"none": LayerWiseGrafting.NONE, "sgd": LayerWiseGrafting.SGD,
              "adagrad": LayerWiseGrafting.ADAGRAD, "rmsprop": LayerWiseGrafting.RMSPROP,
              "sqrtn": LayerWiseGrafting.SQRTN}
    settings = [
        ("quadratic_matrix", dict(lr=0.05, block_size=4, start_preconditioning_step=3,
                                  preconditioning_compute_steps=2)),
        ("quadratic_wide", dict(lr=0.05, block_size=4, start_preconditioning_step=1,
                                preconditioning_compute_steps=1, betas=(0.9, 0.99),
                                graft="adagrad", nesterov=False, weight_decay=0.01)),
        ("quadratic_batched", dict(lr=0.05, block_size=2, shape_interpretation=False,
                                   start_preconditioning_step=2, preconditioning_compute_steps=3,
                                   graft="rmsprop", moving_average_for_momentum=True,
                                   weight_decay=0.1, decoupled_weight_decay=True,
                                   decoupled_learning_rate=False)),
        ("sequence", dict(lr=0.05, graft="sqrtn", weight_decay=0.1)),
        ("sequence_matrix", dict(lr=0.05, block_size=3, graft="none",
                                 inverse_exponent_override=4, start_preconditioning_step=1,
                                 preconditioning_compute_steps=1, statistics_compute_steps=2)),
        ("rosenbrock", dict(lr=0.001, start_preconditioning_step=5)),
    ]
    cases = []
    for problem, h in settings:
        ref = {k: v for k, v in h.items() if k != "graft"}
        ref["graft_type"] = grafts[h.get("graft", "sgd")]
        name = f"{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
        cases.append(case(name, problem, h,
                          lambda ps, ref=ref: ScalableShampoo(ps, use_svd=True, **ref)))
    write("shampoo", f"pytorch-optimizer {version('pytorch-optimizer')} ScalableShampoo "
                     "(use_svd=True)", cases)


PHI = (1 + 5 ** 0.5) / 2


class Golden(torch.optim.Optimizer):
    """vibee's golden-ratio optimizer, re-derived from its written definition (there is no
    outside reference): the goldens check the Rust code against the spec, not against a
    second opinion."""

    def __init__(self, params, lr=1e-3, weight_decay=0.0, eps=1e-8):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, eps=eps))

    @torch.no_grad()
    def step(self):
        b1, b2 = 1 - PHI ** -5, 1 - PHI ** -15
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state[p]
                if not st:
                    st["t"], st["m"], st["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                st["t"] += 1
                t, g = st["t"], p.grad
                st["m"] = b1 * st["m"] + (1 - b1) * g
                st["v"] = b2 * st["v"] + (1 - b2) * g * g
                m_hat = st["m"] / (1 - b1 ** t)
                v_hat = st["v"] / (1 - b2 ** t)
                d = m_hat / PHI + g / PHI ** 2
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.sub_(group["lr"] * d / (v_hat.sqrt() + group["eps"]))


def golden():
    cases = []
    for problem in ["quadratic", "rosenbrock", "sequence"]:
        for h in [dict(lr=0.05), dict(lr=0.05, weight_decay=0.1, eps=1e-6)]:
            name = f"{problem}/" + ",".join(f"{k}={v}" for k, v in h.items())
            cases.append(case(name, problem, h, lambda ps, h=h: Golden(ps, **h)))
    write("golden", "vibee's own definition (optim/golden.rs), re-derived in Python", cases)


def clipping():
    gen = torch.Generator().manual_seed(7)
    grads = [torch.randn(5, generator=gen) * 3, torch.randn(3, 2, generator=gen)]
    cases = []
    for max_norm in [0.5, 2.0, 100.0]:
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        cases.append({"kind": "norm", "limit": max_norm,
                      "grads": [g.reshape(-1).tolist() for g in grads],
                      "clipped": [p.grad.reshape(-1).tolist() for p in params],
                      "total_norm": float(total)})
    for clip in [0.5, 1.5]:
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_value_(params, clip)
        cases.append({"kind": "value", "limit": clip,
                      "grads": [g.reshape(-1).tolist() for g in grads],
                      "clipped": [p.grad.reshape(-1).tolist() for p in params]})
    doc = {"reference": f"torch {torch.__version__} torch.nn.utils.clip_grad_norm_ / "
                        "clip_grad_value_", "cases": cases}
    (OUT / "optim_clip.json").write_text(json.dumps(doc, indent=1) + "\n")


# --------------------------------------------------------------------------- schedules
def schedule_case(name, schedule, make, steps, base_lr, momentum=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = (torch.optim.Adam([p], lr=base_lr) if momentum == "beta1"
           else torch.optim.SGD([p], lr=base_lr, momentum=0.9))
    sched = make(opt)
    lrs, moms = [], []
    for _ in range(steps):
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        if momentum:
            moms.append(group["betas"][0] if momentum == "beta1" else group["momentum"])
        opt.step()
        sched.step()
    c = {"name": name, "schedule": schedule, "lr": lrs}
    if momentum:
        c["momentum"] = moms
    return c


def schedules():
    S = torch.optim.lr_scheduler
    import transformers.optimization as hf
    lr = 0.01
    cases = [
        schedule_case("constant", {"kind": "constant", "lr": lr},
                      lambda o: S.LambdaLR(o, lambda _: 1.0), 10, lr),
        schedule_case("linear_warmup/start_factor=0.1",
                      {"kind": "linear_warmup", "lr": lr, "warmup_steps": 10, "start_factor": 0.1},
                      lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=10),
                      30, lr),
        schedule_case("linear_warmup/from_zero",
                      {"kind": "linear_warmup", "lr": lr, "warmup_steps": 10},
                      lambda o: hf.get_constant_schedule_with_warmup(o, 10), 30, lr),
        schedule_case("inverse_sqrt", {"kind": "inverse_sqrt", "lr": lr, "warmup_steps": 10},
                      lambda o: hf.get_inverse_sqrt_schedule(o, 10), 40, lr),
        schedule_case("inverse_sqrt/timescale=25",
                      {"kind": "inverse_sqrt", "lr": lr, "warmup_steps": 10, "timescale": 25},
                      lambda o: hf.get_inverse_sqrt_schedule(o, 10, timescale=25), 40, lr),
        schedule_case("inverse_sqrt/no_warmup", {"kind": "inverse_sqrt", "lr": lr, "warmup_steps": 0},
                      lambda o: hf.get_inverse_sqrt_schedule(o, 0), 40, lr),
        schedule_case("cosine", {"kind": "cosine", "lr": lr, "total_steps": 30, "min_lr": 1e-4},
                      lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=1e-4), 31, lr),
        schedule_case("cosine_restarts/mult=2",
                      {"kind": "cosine_restarts", "lr": lr, "period": 5, "period_mult": 2,
                       "min_lr": 1e-4},
                      lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-4),
                      40, lr),
        schedule_case("cosine_restarts/mult=1",
                      {"kind": "cosine_restarts", "lr": lr, "period": 7},
                      lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7), 30, lr),
        schedule_case("one_cycle/cos", {"kind": "one_cycle", "max_lr": 0.1, "total_steps": 40},
                      lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=40), 40, lr,
                      momentum="sgd"),
        schedule_case("one_cycle/linear,three_phase,adam",
                      {"kind": "one_cycle", "max_lr": 0.1, "total_steps": 40, "pct_start": 0.25,
                       "anneal": "linear", "three_phase": True, "div_factor": 10.0,
                       "final_div_factor": 100.0, "base_momentum": 0.8, "max_momentum": 0.9},
                      lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=40, pct_start=0.25,
                                             anneal_strategy="linear", three_phase=True,
                                             div_factor=10.0, final_div_factor=100.0,
                                             base_momentum=0.8, max_momentum=0.9),
                      40, lr, momentum="beta1"),
        schedule_case("one_cycle/cos,no_momentum",
                      {"kind": "one_cycle", "max_lr": 0.05, "total_steps": 25,
                       "cycle_momentum": False, "pct_start": 0.4},
                      lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=25, pct_start=0.4,
                                             cycle_momentum=False), 25, lr),
        schedule_case("then/linear_warmup,cosine",
                      {"kind": "then", "at": 5,
                       "first": {"kind": "linear_warmup", "lr": lr, "warmup_steps": 5,
                                 "start_factor": 0.1},
                       "next": {"kind": "cosine", "lr": lr, "total_steps": 20, "min_lr": 1e-4}},
                      lambda o: S.SequentialLR(o, [
                          S.LinearLR(o, start_factor=0.1, total_iters=5),
                          S.CosineAnnealingLR(o, T_max=20, eta_min=1e-4)], milestones=[5]),
                      26, lr),
    ]
    for decay, hf_name in [("linear", "linear"), ("cosine", "cosine"),
                           ("one_minus_sqrt", "1-sqrt")]:
        for warmup, hf_warm in [("linear", "linear"), ("cosine", "cosine"),
                                ("one_minus_sqrt", "1-sqrt")]:
            cases.append(schedule_case(
                f"wsd/warmup={warmup},decay={decay}",
                {"kind": "wsd", "lr": lr, "warmup_steps": 5, "decay_steps": 10,
                 "total_steps": 30, "min_lr_ratio": 0.1, "warmup": warmup, "decay": decay},
                lambda o, d=hf_name, w=hf_warm: hf.get_wsd_schedule(
                    o, num_warmup_steps=5, num_decay_steps=10, num_training_steps=30,
                    warmup_type=w, decay_type=d, min_lr_ratio=0.1),
                33, lr))
    doc = {"reference": f"torch {torch.__version__} torch.optim.lr_scheduler; "
                        f"transformers {version('transformers')} optimization",
           "cases": cases}
    (OUT / "schedules.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"schedules.json: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    for build in [sgd, adam, lion, adafactor, came, sophia, prodigy, schedule_free, shampoo, golden,
                  clipping, schedules]:
        build()
