"""Side-by-side runs of one workload: Hugging Face `generate` in static batches, and the engine.

A workload is a list of prompts (token ids) with the number of new tokens each asks for.
*Useful* tokens are the ones requested; static batching also computes tokens nobody asked
for (every row runs until the batch's longest request is done), which is exactly what
continuous batching avoids, so throughput is counted in useful tokens for every runner.
All runners are greedy and ignore end-of-text, so every runner must produce the same tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

__all__ = ["RunResult", "hf_static_batches", "engine_run", "mixed_lengths"]


@dataclass
class RunResult:
    name: str
    outputs: list[list[int]]
    seconds: float
    ttft_s: list[float] = field(default_factory=list)  # per request, from the start of the run
    note: str = ""

    @property
    def tokens(self) -> int:
        return sum(len(o) for o in self.outputs)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("nan")


def mixed_lengths(n: int, lo: int, hi: int, seed: int = 0) -> list[int]:
    """n answer lengths spread log-uniformly in [lo, hi] (many short answers, a few long ones)."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g)
    return [int(round(lo * (hi / lo) ** float(x))) for x in u]


@torch.no_grad()
def hf_static_batches(hf_model, prompts: list[list[int]], lengths: list[int], batch_size: int, pad_id: int = 0,
                      name: str = "HF generate") -> RunResult:
    """`hf_model.generate` on consecutive batches of `batch_size` prompts (left-padded), greedy.

    Each batch runs for its longest request; each request keeps the tokens it asked for.
    """
    from llmcourse.inference.batch_generate import left_pad

    outputs: list[list[int]] = []
    ttft: list[float] = []
    start = time.perf_counter()
    for i in range(0, len(prompts), batch_size):
        chunk, want = prompts[i:i + batch_size], lengths[i:i + batch_size]
        ids, mask = left_pad(chunk, pad_id)
        n = max(want)
        t0 = time.perf_counter()
        out = hf_model.generate(ids.to(hf_model.device), attention_mask=mask.to(hf_model.device), max_new_tokens=n,
                                min_new_tokens=n, do_sample=False, pad_token_id=pad_id)
        first = t0 - start + (time.perf_counter() - t0) / max(n, 1)  # first token: about one step in (prefill aside)
        for row, k in zip(out[:, ids.shape[1]:].tolist(), want):
            outputs.append(row[:k])
            ttft.append(first)
    return RunResult(f"{name} (batches of {batch_size})", outputs, time.perf_counter() - start, ttft)


def engine_run(engine, prompts: list[list[int]], lengths: list[int], name: str = "engine") -> RunResult:
    """All requests added at once to the continuous-batching engine; time to first token per request."""
    start = time.perf_counter()
    ids = [engine.add_request(p, n, ignore_eos=True) for p, n in zip(prompts, lengths)]
    while engine.has_work():
        engine.step()
    seconds = time.perf_counter() - start
    reqs = [engine.requests.pop(i) for i in ids]
    return RunResult(name, [r.output for r in reqs], seconds, [r.token_times[0] - start for r in reqs])
