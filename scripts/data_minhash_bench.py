#!/usr/bin/env python3
"""MinHash LSH benchmark: vibee-data against datasketch, side by side, in one run.

Builds a corpus from text nobody here wrote (Python standard library sources, Debian
copyright files, fortunes), injects near-duplicate copies at known word-edit rates, then
runs both tools with the same shingles (lowercased whitespace words, 5-grams) and the
same LSH bands (14 x 8 = 112 permutations), each in its own process so peak memory is
that process's own. Reports docs/s, peak RSS, recall of the injected pairs by edit rate,
and precision of the reported duplicate pairs against their exact Jaccard similarity.

Usage (from the repository root, after `cargo build --release -p vibee-data`):
    .venv/bin/python scripts/data_minhash_bench.py [--work /tmp/vibee-bench] [--threads 2] [--repeat 3]

The binary is looked up under $CARGO_TARGET_DIR (default `target`). On a shared machine
wall-clock time depends on the load, so `--repeat` runs every tool that many times,
interleaved (vibee union-find, vibee earliest, datasketch, then again), and reports the
median wall and CPU seconds; CPU seconds (user + system of the tool's own process) are
the load-independent comparison.
"""

import argparse
import glob
import json
import os
import random
import statistics
import subprocess
import sys
import time

NGRAM, BANDS, ROWS = 5, 14, 8
EDIT_RATES = [0.0, 0.01, 0.03, 0.05, 0.10, 0.20, 0.30]
COPIES_PER_RATE = 400
CHUNK_LINES = 60


def chunks(text, lines_per_chunk=CHUNK_LINES):
    lines = text.splitlines()
    for i in range(0, len(lines), lines_per_chunk):
        chunk = "\n".join(lines[i : i + lines_per_chunk]).strip()
        if len(chunk) >= 200:
            yield chunk


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def real_texts():
    """Documents from files on this machine, in a fixed order."""
    stdlib = sorted(glob.glob(f"{sys.base_prefix}/lib/python3*/**/*.py", recursive=True))
    stdlib = [p for p in stdlib if "site-packages" not in p]
    for path in stdlib:
        yield from chunks(read(path))
    for path in sorted(glob.glob("/usr/share/doc/*/copyright")):
        yield from chunks(read(path))
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if not path.endswith(".dat") and os.path.isfile(path):
            # Fortunes are separated by lines holding only '%'; group 20 per document.
            items = [f.strip() for f in read(path).split("\n%\n") if f.strip()]
            for i in range(0, len(items), 20):
                yield "\n\n".join(items[i : i + 20])


def edit(text, rate, rng, vocab):
    """Copies text, replacing, deleting or inserting each word with probability `rate`."""
    out = []
    for word in text.split(" "):
        if rng.random() < rate:
            op = rng.randrange(3)
            if op == 0:
                out.append(rng.choice(vocab))
            elif op == 1:
                continue
            else:
                out.extend([word, rng.choice(vocab)])
        else:
            out.append(word)
    return " ".join(out)


def build_corpus(path):
    rng = random.Random(20261126)
    docs = [{"id": f"r{i}", "text": t} for i, t in enumerate(real_texts())]
    vocab = [w for d in docs[:2000] for w in d["text"].split()][:50000]
    pairs = []
    for rate in EDIT_RATES:
        for j, orig in enumerate(rng.sample(docs[: len(docs)], COPIES_PER_RATE)):
            copy_id = f"c{rate}-{j}"
            docs.append({"id": copy_id, "text": edit(orig["text"], rate, rng, vocab)})
            pairs.append((orig["id"], copy_id, rate))
    rng.shuffle(docs)
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    return docs, pairs


def shingles(text):
    tokens = text.lower().split()
    return {" ".join(tokens[i : i + NGRAM]) for i in range(max(1, len(tokens) - NGRAM + 1))} if tokens else set()


def datasketch_worker(corpus, out):
    """Runs datasketch the usual way: MinHash per document, query then insert."""
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(num_perm=BANDS * ROWS, params=(BANDS, ROWS))
    parent = {}
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            m = MinHash(num_perm=BANDS * ROWS, seed=1)
            m.update_batch([s.encode("utf-8") for s in shingles(doc["text"])])
            found = lsh.query(m)
            if found:
                parent[doc["id"]] = min(found, key=lambda k: order[k])
            order[doc["id"]] = len(order)
            lsh.insert(doc["id"], m)
    seconds = time.perf_counter() - start
    with open(out, "w") as f:
        json.dump({"seconds": seconds, "duplicate_of": parent}, f)


order = {}


def run_measured(cmd):
    """Runs a command; returns (wall s, peak RSS MB, CPU s) of that child alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{cmd[0]} failed with status {status}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def vibee_clusters(out_dir):
    import io
    duplicate_of = {}
    for path in glob.glob(f"{out_dir}/rejects/*.jsonl"):
        with io.open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                why = r["_vibee_reject"]
                if why["stage"] == "minhash":
                    duplicate_of[r["id"]] = why["kept_id"]
    return duplicate_of


def root(duplicate_of, doc):
    seen = 0
    while doc in duplicate_of and seen < 100:
        doc, seen = duplicate_of[doc], seen + 1
    return doc


def evaluate(name, duplicate_of, pairs, texts):
    recall = {}
    for rate in EDIT_RATES:
        rate_pairs = [(a, b) for a, b, r in pairs if r == rate]
        hit = sum(root(duplicate_of, a) == root(duplicate_of, b) for a, b in rate_pairs)
        recall[rate] = hit / len(rate_pairs)
    jaccards = []
    # Both tools are judged on the same pairs: each removed document against the document
    # kept for its cluster (datasketch's direct match is followed to its cluster's first).
    for doc in duplicate_of:
        sa, sb = shingles(texts[doc]), shingles(texts[root(duplicate_of, doc)])
        union = len(sa | sb)
        jaccards.append(len(sa & sb) / union if union else 1.0)
    n = max(1, len(jaccards))
    precision = {t: sum(j >= t for j in jaccards) / n for t in (0.5, 0.7)}
    return {"tool": name, "recall": recall, "reported_pairs": len(jaccards), "precision": precision}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/vibee-bench")
    parser.add_argument("--threads", type=int, default=2)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    parser.add_argument("--binary", default=os.path.join(target, "release", "vibee-data"))
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs per tool (median)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return datasketch_worker(*args.worker)
    os.makedirs(args.work, exist_ok=True)
    corpus = os.path.join(args.work, "corpus.jsonl")
    docs, pairs = build_corpus(corpus)
    texts = {d["id"]: d["text"] for d in docs}
    size_mb = os.path.getsize(corpus) / 1e6
    print(f"corpus: {len(docs)} documents, {size_mb:.1f} MB, {len(pairs)} injected near-duplicates")

    tools = []
    for linkage in ("union_find", "earliest"):
        toml = os.path.join(args.work, f"pipeline-{linkage}.toml")
        out_dir = f"vibee-out-{linkage}"
        with open(toml, "w") as f:
            f.write(
                f'[input]\npaths = ["corpus.jsonl"]\n[output]\ndir = "{out_dir}"\ncompression = "none"\n'
                f'[[steps]]\nkind = "minhash"\nshingle = "word"\nngram = {NGRAM}\nbands = {BANDS}\nrows = {ROWS}\n'
                f'linkage = "{linkage}"\n'
            )
        cmd = [args.binary, "run", toml, "--quiet", "--fresh", "-j", str(args.threads)]
        tools.append((f"vibee {linkage}", cmd, os.path.join(args.work, out_dir)))
    ds_out = os.path.join(args.work, "datasketch.json")
    tools.append(("datasketch", [sys.executable, __file__, "--worker", corpus, ds_out], None))
    runs = {name: [] for name, _, _ in tools}
    for round_ in range(args.repeat):
        for name, cmd, _ in tools:
            runs[name].append(run_measured(cmd))
            wall, rss, cpu = runs[name][-1]
            print(f"round {round_ + 1}: {name:<20} wall {wall:7.2f} s  CPU {cpu:7.2f} s  "
                  f"peak {rss:5.0f} MB  load {os.getloadavg()[0]:.1f}", flush=True)
    with open(ds_out) as f:
        ds = json.load(f)

    def median(name):
        walls, rsss, cpus = zip(*runs[name])
        return statistics.median(walls), max(rsss), statistics.median(cpus)

    results = []
    for name, _, out in tools:
        clusters = vibee_clusters(out) if out else ds["duplicate_of"]
        results.append((evaluate(name, clusters, pairs, texts), *median(name)))
    header = f"{'tool':<20}{'docs/s':>10}{'wall s':>9}{'CPU s':>8}{'peak MB':>9}{'pairs':>8}{'P(J>=.5)':>10}{'P(J>=.7)':>10}  recall by edit rate"
    print(header)
    for r, wall, rss, cpu in results:
        rec = " ".join(f"{k:.2f}:{v:.3f}" for k, v in r["recall"].items())
        p = r["precision"]
        print(f"{r['tool']:<20}{len(docs) / wall:>10.0f}{wall:>9.2f}{cpu:>8.2f}{rss:>9.0f}{r['reported_pairs']:>8}{p[0.5]:>10.3f}{p[0.7]:>10.3f}  {rec}")
    d_wall, _, d_cpu = median("datasketch")
    for name in [t[0] for t in tools[:-1]]:
        v_wall, _, v_cpu = median(name)
        print(f"{name}: speedup, wall clock incl. I/O: {d_wall / v_wall:.1f}x on {args.threads} threads "
              f"vs datasketch on 1; CPU time (load-independent): {d_cpu / v_cpu:.1f}x")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump({"docs": len(docs), "mb": size_mb, "results": [
            dict(r, wall=w, peak_mb=m, cpu=c, runs=runs[r["tool"]]) for r, w, m, c in results]}, f, indent=1)


if __name__ == "__main__":
    main()
