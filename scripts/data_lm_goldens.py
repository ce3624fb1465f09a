#!/usr/bin/env python3
"""Golden scores for vibee-data's n-gram LM, computed by KenLM itself.

Trains a trigram model on data/tests/goldens/lm_corpus.txt (the start of the GPL-3
text, which may be copied verbatim) with `vibee-data train-lm`, loads the ARPA file it
wrote with KenLM's Python module, and stores KenLM's per-token log10 probabilities
(`full_scores`, with <s> and </s>) for a few sentences — seen, partly seen, and with
unknown words — in data/tests/goldens/kenlm_scores.json. `data/tests/lm.rs` checks that
vibee-data scores the same ARPA file identically.

Usage (from the repository root, after `cargo build -p vibee-data`):
    .venv/bin/pip install kenlm
    .venv/bin/python scripts/data_lm_goldens.py [--bin target/debug/vibee-data]
"""

import argparse
import json
import subprocess
import tempfile

import kenlm

ORDER = 3
CORPUS = "data/tests/goldens/lm_corpus.txt"
OUT = "data/tests/goldens/kenlm_scores.json"
# Already normalized and tokenized the way vibee-data's `lm_tokens` does.
SENTENCES = [
    "the gnu general public license is a free , copyleft license for software and other kinds of works .",
    "everyone is permitted to copy and distribute verbatim copies of this license document",
    "you can apply it to your programs , too .",
    "the licenses for most software are designed to take away your freedom",
    "free software is a public license of the people",
    "zebras permitted to distribute quantum copies",
    "of of of the the license",
    "unknownword",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/debug/vibee-data")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        arpa = f"{tmp}/model.arpa"
        subprocess.run([args.bin, "train-lm", "--order", str(ORDER), "-o", arpa, CORPUS], check=True)
        model = kenlm.Model(arpa)
        out = {"order": ORDER, "kenlm_order": model.order, "sentences": []}
        for s in SENTENCES:
            scores = [p for p, _, _ in model.full_scores(s, bos=True, eos=True)]
            out["sentences"].append({
                "tokens": s.split(),
                "scores": scores,
                "total": model.score(s, bos=True, eos=True),
            })
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
