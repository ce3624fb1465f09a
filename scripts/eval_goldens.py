#!/usr/bin/env python3
"""Record parity goldens for vibee-eval from the REAL lm-evaluation-harness.

Run by hand (not in CI):

    python3 -m venv .venv && .venv/bin/pip install "lm-eval[math]"
    .venv/bin/python scripts/eval_goldens.py

It runs the harness's own task configs (arc_easy, arc_challenge, hellaswag,
winogrande, gsm8k, mmlu subtasks, hendrycks_math_algebra, minerva_math_algebra,
humaneval, humaneval_64, humaneval_64_instruct, humaneval_plus, mbpp, mbpp_plus,
mbpp_plus_instruct, wikitext)
over the small fixture datasets in eval/tests/fixtures/, with `HashLM`, a
deterministic fake model whose scores are a function of an FNV-1a hash of the
request text. vibee-eval's `FakeModel` implements the same function, so the Rust
tests can rebuild every prompt (exact string equality) and reproduce every
metric and standard error written to eval/tests/goldens/<name>.json.

Code tasks: the harness scores them with HF `evaluate`'s `code_eval` metric,
which `evaluate.load("code_eval")` fetches from the Hub at run time. Offline,
point VIBEE_CODE_EVAL at a checkout of the metric (the `metrics/code_eval`
folder of the huggingface/evaluate repository); it is loaded from there, the
real metric either way. HF_ALLOW_CODE_EVAL=1 is set here: the fixtures' code is
the script's own.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Bootstrap draws must be in-process so that they are reproducible run to run.
os.environ.setdefault("DISABLE_MULTIPROC", "1")
os.environ.setdefault("HF_ALLOW_CODE_EVAL", "1")

import evaluate  # noqa: E402

if os.environ.get("VIBEE_CODE_EVAL"):
    _load = evaluate.load

    def _load_local(path, *args, **kwargs):
        return _load(os.environ["VIBEE_CODE_EVAL"] if path == "code_eval" else path, *args, **kwargs)

    evaluate.load = _load_local

import lm_eval  # noqa: E402
import lm_eval.utils  # noqa: E402
from lm_eval.api.metrics import bootstrap_stderr, median  # noqa: E402
from lm_eval.api.model import LM  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "eval" / "tests" / "fixtures"
GOLDENS = ROOT / "eval" / "tests" / "goldens"

MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(text: str) -> int:
    """64-bit FNV-1a over the UTF-8 bytes (mirrors vibee_eval::model::fake)."""
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 0x100000001B3) & MASK64
    return h


def fake_loglikelihood(context: str, continuation: str) -> tuple[float, bool]:
    h = fnv1a64(context + "\x00" + continuation)
    ll = -((h % 50000) / 1000.0) - 0.25 * len(continuation)
    return ll, ((h >> 20) & 3) == 0


GEN_TEMPLATES = [
    "Let me think. The total is {n}.\n#### {n}\n\nQuestion: ignored",
    "We get {n} after adding 1 and 2.",
    "I am not sure.",
    "The answer is ${n}.",
    "So x = \\boxed{{n}}.\nFinal Answer: The final answer is ${n}$. I hope it is correct.\n\nProblem: next",
    "#### {n}.",
]
GEN_ANSWERS = ["1", "3", "2", "4,000", "5", "-6", "\\frac{1}{2}", "3.0", "1000", "90^\\circ", "\\frac12", "5/2"]


def fake_generate(context: str, until: list[str]) -> str:
    h = fnv1a64(context)
    template = GEN_TEMPLATES[(h >> 4) % len(GEN_TEMPLATES)]
    answer = GEN_ANSWERS[(h >> 16) % len(GEN_ANSWERS)]
    text = template.replace("{n}", answer)
    for stop in until:
        if stop:
            text = text.split(stop)[0]
    return text


FAKE_MAX_LENGTH = 16
FAKE_EOT = 256


def fake_window_loglikelihood(context: list[int], predicted: list[int]) -> float:
    join = lambda t: ",".join(str(x) for x in t)  # noqa: E731
    h = fnv1a64(join(context) + "|" + join(predicted))
    return -((h % 5000) / 1000.0) - 0.5 * len(predicted)


def fake_rolling(text: str) -> float:
    """Byte tokens, the harness's own rolling windows, window scores summed."""
    windows = map(
        lm_eval.utils.make_disjoint_window,
        lm_eval.utils.get_rolling_token_windows(
            token_list=list(text.encode("utf-8")), prefix_token=FAKE_EOT, max_seq_len=FAKE_MAX_LENGTH, context_len=1
        ),
    )
    total = 0.0
    for ctx, pred in windows:
        total += fake_window_loglikelihood(ctx, pred)
    return total


def sample_key(context: str, sample: int) -> str:
    """Sample 0 of a prompt hashes the prompt, sample i > 0 hashes i in too."""
    return context if sample == 0 else f"{context}\x00{sample}"


def code_completion(doc: dict, key: str) -> str:
    """Code tasks: the reference solution or a wrong one, picked by hash."""
    good = (fnv1a64(key) >> 8) % 3 != 0
    if "canonical_solution" in doc:
        return doc["canonical_solution"] if good else "    return None\n"
    return (doc["code"] + "\n[DONE]\nextra") if good else "def nothing():\n    return None\n[DONE]"


class HashLM(LM):
    """The harness-side twin of vibee's FakeModel."""

    def loglikelihood(self, requests):
        return [fake_loglikelihood(*req.args) for req in requests]

    def loglikelihood_rolling(self, requests):
        return [fake_rolling(req.args[0]) for req in requests]

    def generate_until(self, requests):
        out = []
        seen: dict[str, int] = {}
        for req in requests:
            context, gen_kwargs = req.args
            until = list(gen_kwargs.get("until", []))
            # The harness sends an instance `repeats` times in a row: the i-th
            # copy is sample i (vibee numbers its samples the same way).
            sample = seen.get(context, 0)
            seen[context] = sample + 1
            if "code" in req.doc or "canonical_solution" in req.doc:
                text = code_completion(req.doc, sample_key(context, sample))
                for stop in until:
                    if stop:
                        text = text.split(stop)[0]
                out.append(text)
            else:
                out.append(fake_generate(sample_key(context, sample), until))
        return out


def local(task: str, files: dict[str, str], **extra) -> dict:
    """A harness task spec overriding only where the documents come from."""
    data_files = {split: str(FIXTURES / rel) for split, rel in files.items()}
    return {
        "task": task,
        "dataset_path": "json",
        "dataset_name": None,
        "dataset_kwargs": {"data_files": data_files},
        **extra,
    }


MMLU_SUBJECTS = {
    "stem": ["abstract_algebra", "astronomy"],
    "humanities": ["philosophy"],
    "other": ["marketing"],
    "social_sciences": ["econometrics"],
}


def mmlu_spec(subject: str) -> dict:
    return local(
        f"mmlu_{subject}",
        {"test": f"mmlu/{subject}/test.jsonl", "dev": f"mmlu/{subject}/dev.jsonl"},
    )


_MANAGER = None


def build(spec: dict):
    """Build a registered harness task (its real YAML), overriding only `spec`'s keys.

    A bare dict passed to simple_evaluate would define a new inline task instead.
    """
    global _MANAGER
    if _MANAGER is None:
        from lm_eval.tasks import TaskManager

        _MANAGER = TaskManager()
    if "group" in spec:
        return _MANAGER._factory._build_group(spec["group"], spec, None, _MANAGER._index)
    entry = _MANAGER._entry(spec["task"])
    return _MANAGER._factory.build(entry, overrides=spec, registry=_MANAGER._index)


def run(name: str, specs: list, num_fewshot: int | None = None, model=None, **chat) -> dict:
    results = lm_eval.simple_evaluate(
        model=model or HashLM(),
        **chat,
        tasks=[build(s) for s in specs],
        num_fewshot=num_fewshot,
        log_samples=True,
        bootstrap_iters=100000,
        confirm_run_unsafe_code=True,
    )
    samples = {}
    for task, rows in results["samples"].items():
        samples[task] = [
            {
                "doc_id": row["doc_id"],
                "doc": row["doc"],
                "target": row["target"],
                "arguments": [list(a) if isinstance(a, (list, tuple)) else a for a in row["arguments"]],
                "resps": row["resps"],
                "filter": row["filter"],
                "filtered_resps": row["filtered_resps"],
                "metrics": {m: row[m] for m in row.get("metrics", []) if m in row},
            }
            for row in rows
        ]
    golden = {
        "lm_eval_version": lm_eval.__version__ if hasattr(lm_eval, "__version__") else "unknown",
        "python": sys.version.split()[0],
        "results": results["results"],
        "groups": results.get("groups", {}),
        "group_subtasks": results.get("group_subtasks", {}),
        "n-shot": results["n-shot"],
        "n-samples": results["n-samples"],
        "chat": {k: v for k, v in chat.items()},
        "samples": samples,
    }
    GOLDENS.mkdir(parents=True, exist_ok=True)
    (GOLDENS / f"{name}.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False, default=str) + "\n")
    print(f"wrote {name}: {json.dumps(results['results'], default=str)[:300]}")
    return golden


CHAT = FIXTURES / "chat"
SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def chat_config(name: str) -> tuple[str, dict]:
    """A fixture tokenizer_config.json: its default template and special tokens, as
    transformers' tokenizer hands them to the template."""
    cfg = json.loads((CHAT / f"{name}.json").read_text())
    template = cfg["chat_template"]
    if isinstance(template, list):
        template = {t["name"]: t["template"] for t in template}["default"]
    special = {}
    for key in SPECIAL_TOKENS:
        tok = cfg.get(key)
        if isinstance(tok, dict):
            tok = tok.get("content")
        if isinstance(tok, str):
            special[key] = tok
    return template, special


def render_chat(name: str, messages: list, add_generation_prompt: bool, continue_final_message: bool = False) -> str:
    """transformers' apply_chat_template(tokenize=False) without a tokenizer: the
    same renderer it calls, with the special tokens it passes."""
    from transformers.utils.chat_template_utils import render_jinja_template

    template, special = chat_config(name)
    rendered, _ = render_jinja_template(
        conversations=[messages],
        chat_template=template,
        add_generation_prompt=add_generation_prompt,
        continue_final_message=continue_final_message,
        **special,
    )
    return rendered[0]


CONVERSATIONS = [
    [{"role": "user", "content": "Hi there"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": " A1 "}, {"role": "user", "content": "Q2\n"}],
    [
        {"role": "system", "content": "You grade answers."},
        {"role": "user", "content": "Question: why?"},
        {"role": "assistant", "content": "Because."},
        {"role": "user", "content": "Question: été 😀 <tag> & \"quotes\""},
    ],
    [{"role": "assistant", "content": "I start."}, {"role": "user", "content": "Odd."}],
    [{"role": "user", "content": "# skipped"}, {"role": "user", "content": "  padded  "}, {"role": "assistant", "content": "ok"}],
]


def chat_templates_golden() -> None:
    out = []
    for path in sorted(CHAT.glob("*.json")):
        for i, conv in enumerate(CONVERSATIONS):
            for agp in (True, False):
                try:
                    rendered = {"text": render_chat(path.stem, conv, agp)}
                except Exception as e:  # noqa: BLE001 - raise_exception is the point
                    rendered = {"error": str(e)}
                out.append({"template": path.stem, "conversation": i, "add_generation_prompt": agp, **rendered})
    (GOLDENS / "chat_templates.json").write_text(
        json.dumps({"conversations": CONVERSATIONS, "cases": out}, indent=1, ensure_ascii=False) + "\n"
    )


class ChatHashLM(HashLM):
    """HashLM behind a fixture chat template (for --apply_chat_template runs)."""

    def __init__(self, template_name: str):
        super().__init__()
        self.template_name = template_name

    @property
    def tokenizer_name(self) -> str:
        return f"fixture-{self.template_name}"

    def chat_template(self, chat_template=False) -> str:
        return chat_config(self.template_name)[0]

    def apply_chat_template(self, chat_history, add_generation_prompt: bool = True) -> str:
        # As HFLM.apply_chat_template: continue the final message when no
        # generation prompt is added (a gen_prefix), and retry without system
        # turns when the template raises.
        import jinja2

        try:
            return render_chat(self.template_name, chat_history, add_generation_prompt, not add_generation_prompt)
        except jinja2.exceptions.TemplateError:
            chat_history = [m for m in chat_history if m["role"] != "system"]
            return render_chat(self.template_name, chat_history, add_generation_prompt, not add_generation_prompt)


def rolling_windows_golden() -> None:
    """lm_eval.utils' rolling windows over token lists, for vibee's port."""
    cases = []
    for n in (0, 1, 5, 16, 17, 40):
        for max_len in (1, 3, 16):
            tokens = list(range(1, n + 1))
            windows = [
                list(map(list, lm_eval.utils.make_disjoint_window(w)))
                for w in lm_eval.utils.get_rolling_token_windows(tokens, 0, max_len, 1)
            ]
            cases.append({"n": n, "max_len": max_len, "windows": windows})
    (GOLDENS / "rolling_windows.json").write_text(json.dumps(cases) + "\n")


def py_random_golden() -> None:
    """Python's Mersenne Twister draws, for vibee_eval's port of it."""
    out = {"seeds": {}}
    for seed in [0, 1, 42, 1234, 2**32 + 5]:
        rnd = random.Random(seed)
        out["seeds"][str(seed)] = {
            "getrandbits32": [rnd.getrandbits(32) for _ in range(5)],
            "random": [rnd.random() for _ in range(5)],
            "sample_10_3": random.Random(seed).sample(range(10), 3),
            "sample_100_7": random.Random(seed).sample(range(100), 7),
            "choices_5_8": random.Random(seed).choices(range(5), k=8),
        }
    xs = [float((i * 7919) % 13) for i in range(40)]
    out["bootstrap_median"] = {"xs": xs, "iters": 2000, "stderr": bootstrap_stderr(median, xs, 2000)}
    (GOLDENS / "py_random.json").write_text(json.dumps(out, indent=1) + "\n")


def math_normalization_golden() -> None:
    """Hendrycks strip_string/is_equiv and Minerva normalize_final_answer on edge cases."""
    sys.path.insert(0, str(Path(lm_eval.__file__).parent / "tasks"))
    from hendrycks_math import utils as hm  # type: ignore
    from minerva_math import utils as mm  # type: ignore

    cases = [
        "\\frac12", "\\frac{1}{2}", "0.5", ".5", "1/2", "a/b", "-1/2", "\\dfrac{5}{2}", "5/2",
        "90^\\circ", "90^{\\circ}", "\\$5", "10\\%", "x = 3", "k=\\sqrt2", "\\sqrt{2}",
        "3 \\text{ cm}", "\\left( 1, 2 \\right)", "\\frac", "\\sqrt", "1\\text{ m}\\text{ s}",
        "4,000", "1,000,000", "0,1", "\\text{(A)}", "\\boxed{3}", "$\\frac{2}{3}$",
        "10 dollars", "5 feet", "\\mbox{and}", "2\\pi cm", "\\left(3, \\frac{\\pi}{2}\\right)",
        "\\sqrt[3]8", "\\sqrt3x", "\\frac{a}{b}c", "1\\!000", "12 apples", "a = b = 7",
        "\\textbf{9}", "\\overline{12}", "3.0", "-6", "  7  ", "", "\u00e9t\u00e9 5",
    ]
    strip = {}
    for c in cases:
        try:
            strip[c] = hm.strip_string(c)
        except Exception as e:  # noqa: BLE001 - the harness swallows these too
            strip[c] = {"error": type(e).__name__}
    pairs = [[a, b, hm.is_equiv(a, b)] for a in cases for b in ["\\frac{1}{2}", "3", "a/b", "\\frac", "5/2", "90"]]
    boxed = [
        "so $\\boxed{3}$.", "\\boxed 5$ then", "\\fbox{x}", "none", "\\boxed{\\frac{1}{2}}", "\\boxed{{a}b",
    ]
    last_boxed = {s: hm.last_boxed_only_string(s) for s in boxed}
    minerva = {c: mm.normalize_final_answer(c) for c in cases}
    unnorm = [
        "Final Answer: The final answer is $5$. I hope it is correct.",
        "Final Answer: The final answer is 7",
        "no final answer here",
        "Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct. Final Answer: The final answer is 3. I hope it is correct.",
    ]
    unnormalized = {t: mm.get_unnormalized_answer(t) for t in unnorm}
    out = {"strip_string": strip, "is_equiv": pairs, "last_boxed_only_string": last_boxed,
           "minerva_normalize_final_answer": minerva, "minerva_get_unnormalized_answer": unnormalized}
    (GOLDENS / "math_normalization.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


def minerva_equiv_golden() -> None:
    """The harness's minerva is_equiv (sympy) and math_verify on answer pairs."""
    sys.path.insert(0, str(Path(lm_eval.__file__).parent / "tasks"))
    from math_verify import parse, verify
    from minerva_math import utils as mm  # type: ignore

    pairs = [
        ("\\frac{1}{2}", "0.5"), ("\\frac{1}{2}", "\\frac{2}{4}"), ("2", "\\sqrt{4}"), ("x^2+2x+1", "(x+1)^2"),
        ("3", "4"), ("\\frac{5}{2}", "2.5"), ("10", "10.0"), ("[2,5)", "[2,5)"), ("(1,2)", "(1, 2)"),
        ("\\pi", "3.14159"), ("2\\sqrt{2}", "\\sqrt{8}"), ("", ""), ("a", "b"), ("\\infty", "\\infty"),
    ]
    equiv = [[a, b, bool(mm.is_equiv(a, b))] for a, b in pairs]
    generations = [
        ("The answer is $\\boxed{\\frac{1}{2}}$.", "So $x = \\boxed{0.5}$."),
        ("Final Answer: The final answer is $3$. I hope it is correct.", "Thus $\\boxed{3}$."),
        ("Final Answer: The final answer is $4$. I hope it is correct.", "Thus $\\boxed{3}$."),
        ("We get $\\boxed{\\sqrt{8}}$", "It is $\\boxed{2\\sqrt{2}}$."),
    ]
    mv = [[g, sol, bool(verify(gold=parse(sol), target=parse(g)))] for g, sol in generations]
    (GOLDENS / "minerva_equiv.json").write_text(json.dumps({"is_equiv": equiv, "math_verify": mv}, indent=1) + "\n")


def main() -> None:
    only = set(sys.argv[1:])

    def want(name: str) -> bool:
        return not only or name in only

    if want("arc_easy"):
        run("arc_easy", [local("arc_easy", {"test": "arc_easy/test.jsonl", "train": "arc_easy/train.jsonl"})])
    if want("arc_easy_3shot"):
        run("arc_easy_3shot", [local("arc_easy", {"test": "arc_easy/test.jsonl", "train": "arc_easy/train.jsonl"})], num_fewshot=3)
    if want("arc_challenge"):
        run("arc_challenge", [local("arc_challenge", {"test": "arc_challenge/test.jsonl", "train": "arc_easy/train.jsonl"})])
    if want("hellaswag"):
        run("hellaswag", [local("hellaswag", {"validation": "hellaswag/validation.jsonl", "train": "hellaswag/validation.jsonl"})])
    if want("winogrande"):
        run("winogrande", [local("winogrande", {"validation": "winogrande/validation.jsonl", "train": "winogrande/train.jsonl"})])
    if want("winogrande_2shot"):
        run("winogrande_2shot", [local("winogrande", {"validation": "winogrande/validation.jsonl", "train": "winogrande/train.jsonl"})], num_fewshot=2)
    if want("gsm8k"):
        run("gsm8k", [local("gsm8k", {"test": "gsm8k/test.jsonl", "train": "gsm8k/train.jsonl"})])
    if want("hendrycks_math"):
        run("hendrycks_math", [local("hendrycks_math_algebra", {"test": "hendrycks_math/algebra/test.jsonl", "train": "hendrycks_math/algebra/test.jsonl"})])
    if want("minerva_math"):
        run("minerva_math", [local("minerva_math_algebra", {"test": "hendrycks_math/algebra/test.jsonl", "train": "hendrycks_math/algebra/test.jsonl"})])
    for shots in (0, 5):
        if want(f"mmlu_{shots}shot"):
            groups = [
                {
                    "group": f"mmlu_fixture_{cat}",
                    "group_alias": cat,
                    "task": [mmlu_spec(s) for s in subjects],
                    "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}],
                }
                for cat, subjects in MMLU_SUBJECTS.items()
            ]
            top = {
                "group": "mmlu_fixture",
                "task": groups,
                "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}],
            }
            run(f"mmlu_{shots}shot", [top], num_fewshot=shots)
    he = {"test": "humaneval/test.jsonl"}
    if want("humaneval"):
        run("humaneval", [local("humaneval", he)])
    if want("humaneval_64"):
        # 5 samples instead of 64 keep the sandbox runs few; k = 2 is kept, the
        # larger k are dropped for n < k exactly as code_eval drops them.
        run("humaneval_64", [local("humaneval_64", he, repeats=5)])
    if want("humaneval_plus"):
        run("humaneval_plus", [local("humaneval_plus", {"test": "humaneval_plus/test.jsonl"})])
    if want("humaneval_instruct"):
        run("humaneval_instruct", [local("humaneval_instruct", he)])
    if want("humaneval_64_instruct"):
        run("humaneval_64_instruct", [local("humaneval_64_instruct", he, repeats=5)])
    if want("humaneval_instruct_chat"):
        run("humaneval_instruct_chat", [local("humaneval_instruct", he)], model=ChatHashLM("llama3"),
            apply_chat_template=True, fewshot_as_multiturn=False)
    if want("mbpp_instruct"):
        run("mbpp_instruct", [local("mbpp_instruct", {"test": "mbpp/test.jsonl"})])
    if want("mbpp_instruct_chat"):
        run("mbpp_instruct_chat", [local("mbpp_instruct", {"test": "mbpp/test.jsonl"})], model=ChatHashLM("chatml"),
            apply_chat_template=True, fewshot_as_multiturn=True)
    if want("mbpp"):
        run("mbpp", [local("mbpp", {"test": "mbpp/test.jsonl"})])
    if want("mbpp_plus"):
        run("mbpp_plus", [local("mbpp_plus", {"test": "mbpp_plus/test.jsonl"})])
    if want("mbpp_plus_instruct"):
        run("mbpp_plus_instruct", [local("mbpp_plus_instruct", {"test": "mbpp_plus/test.jsonl"})])
    if want("wikitext"):
        wt = {s: f"wikitext/{s}.jsonl" for s in ("train", "validation", "test")}
        run("wikitext", [local("wikitext", wt)])
    if want("minerva_equiv"):
        minerva_equiv_golden()
    if want("chat_templates"):
        chat_templates_golden()
    arc = {"test": "arc_easy/test.jsonl", "train": "arc_easy/train.jsonl"}
    if want("arc_easy_chat_multiturn"):
        run("arc_easy_chat_multiturn", [local("arc_easy", arc)], num_fewshot=3, model=ChatHashLM("llama3"),
            apply_chat_template=True, fewshot_as_multiturn=True, system_instruction="Answer the science question.")
    if want("arc_easy_chat_gemma"):
        # gemma's template raises on a system turn: HFLM retries without it.
        run("arc_easy_chat_gemma", [local("arc_easy", arc)], num_fewshot=2, model=ChatHashLM("gemma"),
            apply_chat_template=True, fewshot_as_multiturn=True, system_instruction="Answer the science question.")
    if want("arc_easy_chat_singleturn"):
        run("arc_easy_chat_singleturn", [local("arc_easy", arc)], num_fewshot=3, model=ChatHashLM("chatml"),
            apply_chat_template=True, fewshot_as_multiturn=False)
    if want("gsm8k_chat"):
        run("gsm8k_chat", [local("gsm8k", {"test": "gsm8k/test.jsonl", "train": "gsm8k/train.jsonl"})], num_fewshot=2,
            model=ChatHashLM("zephyr"), apply_chat_template=True, fewshot_as_multiturn=True)
    if want("winogrande_chat"):
        run("winogrande_chat", [local("winogrande", {"validation": "winogrande/validation.jsonl", "train": "winogrande/train.jsonl"})],
            num_fewshot=2, model=ChatHashLM("llama3"), apply_chat_template=True, fewshot_as_multiturn=True)
    if want("rolling_windows"):
        rolling_windows_golden()
    if want("py_random"):
        py_random_golden()
    if want("math_normalization"):
        math_normalization_golden()


if __name__ == "__main__":
    main()
