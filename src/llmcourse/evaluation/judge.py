"""Reference-free judgement: an LLM as judge (with its position bias measured), and self-consistency.

**LLM-as-judge.** Show a model a rubric, a prompt and two answers, and ask which is better.
We do not parse free text: we read the judge's probability of answering " A" versus " B"
(a small base model such as Gemma 3 270M follows a format poorly but its next-token
probabilities are still informative). Judges have known biases; the best known is
**position bias**: preferring whichever answer comes first. Measure it by asking twice
with the answers swapped: a consistent judge flips its verdict, a biased one keeps "A".
The debiased preference averages the two orders.

The judge can be any `EvalLM` (in-process) or a llama.cpp server speaking the OpenAI API
(`LlamaServer`), the way one calls a hosted judge.

**Self-consistency** (Wang et al., 2022): sample several answers at a temperature above 0;
the majority answer is often more accurate than one greedy answer, and the share of samples
that agree with it is a confidence score that needs no reference.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Sequence

__all__ = ["RUBRIC", "Judge", "judge_report", "self_consistency"]

RUBRIC = ("You are a strict grader. Read the task and two answers. The better answer is correct, "
          "complete and in the language asked for. Reply with the letter of the better answer.\n\n")


POINTWISE = ("You are a strict grader. Read the task and the answer. Reply Yes if the answer is correct and "
             "complete, No otherwise.\n\n")


def _prompt(task: str, first: str, second: str) -> str:
    return f"{RUBRIC}Task: {task}\n\nAnswer A: {first}\n\nAnswer B: {second}\n\nThe better answer is"


class Judge:
    """Pairwise judge: `prefer(task, x, y)` = P(the judge picks the first answer shown)."""

    def __init__(self, lm=None, server_url: str | None = None, model: str | None = None):
        if (lm is None) == (server_url is None):
            raise ValueError("give the judge either an in-process lm or a server_url (an OpenAI-compatible server)")
        self.lm, self.url, self.model = lm, server_url, model
        self._client = None

    def _letter_logprobs(self, prompt: str, letters: tuple[str, str] = ("A", "B")) -> tuple[float, float]:
        if self.lm is not None:
            (la, _), (lb, _) = self.lm.loglikelihood([(prompt, " " + letters[0]), (prompt, " " + letters[1])])
            return la, lb
        if self._client is None:
            import openai

            self._client = openai.OpenAI(base_url=self.url, api_key="not-needed")
        out = self._client.completions.create(model=self.model or "judge", prompt=prompt, max_tokens=1,
                                              temperature=0.0, logprobs=20)
        top = out.choices[0].logprobs.top_logprobs[0] if out.choices[0].logprobs else {}
        best = {letters[0]: -math.inf, letters[1]: -math.inf}
        for token, lp in top.items():
            key = token.strip()
            if key in best:
                best[key] = max(best[key], lp)
        return best[letters[0]], best[letters[1]]

    def grade(self, task: str, answer: str) -> float:
        """Pointwise: P(the judge says " Yes", renormalised against " No") that `answer` is right."""
        ly, ln = self._letter_logprobs(f"{POINTWISE}Task: {task}\n\nAnswer: {answer}\n\nCorrect (Yes or No):",
                                       ("Yes", "No"))
        if ly == ln == -math.inf:
            return 0.5
        m = max(ly, ln)
        return math.exp(ly - m) / (math.exp(ly - m) + math.exp(ln - m))

    def prefer(self, task: str, first: str, second: str) -> float:
        """Probability (renormalised over the two letters) that the judge prefers the first answer."""
        la, lb = self._letter_logprobs(_prompt(task, first, second))
        if la == lb == -math.inf:
            return 0.5
        m = max(la, lb)
        return math.exp(la - m) / (math.exp(la - m) + math.exp(lb - m))

    def compare(self, task: str, x: str, y: str) -> dict:
        """Ask in both orders: P(x first), P(y first), the debiased P(x better) and whether the verdict flipped."""
        p_xy, p_yx = self.prefer(task, x, y), self.prefer(task, y, x)
        return {"p_first_xy": p_xy, "p_first_yx": p_yx, "p_x": (p_xy + 1 - p_yx) / 2,
                "consistent": (p_xy > 0.5) != (p_yx > 0.5)}


def judge_report(judge: Judge, cases: Sequence[tuple[str, str, str]]) -> dict:
    """On (task, better, worse) cases: accuracy in each order, debiased accuracy, position bias, consistency."""
    if not cases:
        raise ValueError("no cases to judge")
    rows = [judge.compare(task, good, bad) for task, good, bad in cases]
    n = len(rows)
    first_wins = sum((r["p_first_xy"] > 0.5) + (r["p_first_yx"] > 0.5) for r in rows) / (2 * n)
    return {"n": n,
            "accuracy_good_first": sum(r["p_first_xy"] > 0.5 for r in rows) / n,
            "accuracy_good_second": sum(r["p_first_yx"] < 0.5 for r in rows) / n,
            "accuracy_debiased": sum(r["p_x"] > 0.5 for r in rows) / n,
            "first_position_rate": first_wins, "consistency": sum(r["consistent"] for r in rows) / n,
            "rows": rows}


def self_consistency(sample: Callable[[int], Sequence[str]], extract: Callable[[str], str | None],
                     n: int = 5) -> dict:
    """Draw `n` samples, extract each answer; the majority answer and the share that agrees with it."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    answers = [extract(text) for text in sample(n)]
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return {"answer": None, "agreement": 0.0, "answers": answers}
    answer, votes = counts.most_common(1)[0]
    return {"answer": answer, "agreement": votes / n, "answers": answers}
