#!/usr/bin/env python3
"""lm-evaluation-harness's own overhead on vibee's throughput benchmark.

Run by `cargo run --release -p vibee-eval --example throughput` (or by hand):

    python scripts/eval_bench.py <data_dir> <task>:<split>:<num_fewshot> ...

Runs the harness's registered task configs over the JSONL files in <data_dir>
with HashLM (the fake model of scripts/eval_goldens.py, no model cost), and
prints one JSON line per task: {"task", "requests", "seconds"} where seconds is
the wall time of simple_evaluate (dataset loading, prompt building, the fake
model, scoring), the same work vibee's benchmark times.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DISABLE_MULTIPROC", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import logging  # noqa: E402

import eval_goldens as g  # noqa: E402
import lm_eval  # noqa: E402

logging.disable(logging.WARNING)


class CountingLM(g.HashLM):
    def __init__(self):
        super().__init__()
        self.requests = 0

    def loglikelihood(self, requests):
        self.requests += len(requests)
        return super().loglikelihood(requests)

    def generate_until(self, requests):
        self.requests += len(requests)
        return super().generate_until(requests)


def main() -> None:
    data = Path(sys.argv[1])
    for arg in sys.argv[2:]:
        task, split, shots = arg.split(":")
        files = {split: str(data / task / f"{split}.jsonl")}
        train = data / task / "train.jsonl"
        # Tasks whose fixtures have no train split take few-shot examples from
        # the evaluated file (as the goldens do); vibee is given the same files.
        files["train"] = str(train if train.exists() else data / task / f"{split}.jsonl")
        spec = {"task": task, "dataset_path": "json", "dataset_name": None, "dataset_kwargs": {"data_files": files}}
        lm = CountingLM()
        start = time.perf_counter()
        lm_eval.simple_evaluate(model=lm, tasks=[g.build(spec)], num_fewshot=int(shots), bootstrap_iters=0)
        seconds = time.perf_counter() - start
        print(json.dumps({"task": task, "requests": lm.requests, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
