"""A load generator for OpenAI-compatible servers: throughput, time to first token, inter-token latency.

    results = run_load(base_url, model, workload, concurrency=8)
    results.summary()   # tokens/s, requests/s, TTFT p50/p99, inter-token p50/p99

N clients run at once (asyncio, one streaming HTTP request each); each takes the next
request of the workload when its previous one ends, until the workload (a bounded list)
is done or `max_seconds` has passed. For every request it notes when it was sent, when
each streamed chunk arrived (one chunk per token), and how many arrived:

    TTFT          first chunk - sent            (queueing + prefill: what a user waits for)
    inter-token   gap between successive chunks (decode speed as one user sees it)
    throughput    all chunks / wall time        (what the server delivers in total)

Traffic goes to loopback addresses only (127.0.0.0/8, localhost, ::1): a load test is
never pointed at someone else's server.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np

__all__ = ["LoadResult", "RequestTrace", "llamacpp_server", "mixed_workload", "run_load", "sweep"]


@dataclass
class RequestTrace:
    sent: float
    chunk_times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ttft(self) -> float | None:
        return self.chunk_times[0] - self.sent if self.chunk_times else None


@dataclass
class LoadResult:
    concurrency: int
    traces: list[RequestTrace]
    wall_s: float

    @property
    def tokens(self) -> int:
        return sum(len(t.chunk_times) for t in self.traces)

    def summary(self) -> dict:
        ok = [t for t in self.traces if t.error is None and t.chunk_times]
        ttft = np.array([t.ttft for t in ok]) if ok else np.array([np.nan])
        gaps = np.concatenate([np.diff(t.chunk_times) for t in ok if len(t.chunk_times) > 1] or [np.array([np.nan])])
        pct = lambda a, q: float(np.nanpercentile(a, q)) if np.isfinite(a).any() else float("nan")  # noqa: E731
        return {"concurrency": self.concurrency, "requests": len(self.traces),
                "errors": sum(t.error is not None for t in self.traces), "tokens": self.tokens,
                "tokens_per_s": self.tokens / self.wall_s if self.wall_s else 0.0,
                "requests_per_s": len(ok) / self.wall_s if self.wall_s else 0.0,
                "ttft_p50_ms": 1e3 * pct(ttft, 50), "ttft_p99_ms": 1e3 * pct(ttft, 99),
                "itl_p50_ms": 1e3 * pct(gaps, 50), "itl_p99_ms": 1e3 * pct(gaps, 99)}


def _check_loopback(base_url: str) -> None:
    host = urlparse(base_url).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise ValueError(f"the load generator only targets servers on this machine (127.0.0.1, localhost, ::1), "
                         f"not {host!r}")


def mixed_workload(prompts: list[str], n: int, min_tokens: int = 16, max_tokens: int = 128,
                   seed: int = 0) -> list[tuple[str, int]]:
    """n (prompt, max_tokens) pairs: prompts drawn from `prompts`, answer lengths spread log-uniformly."""
    rng = random.Random(seed)
    lo, hi = np.log(min_tokens), np.log(max_tokens)
    return [(rng.choice(prompts), int(round(np.exp(rng.uniform(lo, hi))))) for _ in range(n)]


async def _one(client, url: str, model: str, prompt, max_tokens: int, extra: dict) -> RequestTrace:
    body = {"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0, "stream": True, **extra}
    trace = RequestTrace(time.perf_counter())
    try:
        async with client.stream("POST", url, json=body) as r:
            if r.status_code != 200:
                trace.error = f"HTTP {r.status_code}: {(await r.aread())[:200]!r}"
                return trace
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunks = json.loads(line[6:]).get("choices") or []
                if not chunks:
                    continue
                text = chunks[0].get("text") or (chunks[0].get("delta") or {}).get("content")
                if chunks[0].get("finish_reason") is not None and not text:
                    continue  # a closing chunk carries no token
                trace.chunk_times.append(time.perf_counter())
    except Exception as err:  # a failed request is recorded, the test goes on
        trace.error = f"{type(err).__name__}: {err}"
    return trace


async def _run(base_url, model, workload, concurrency, max_seconds, extra) -> LoadResult:
    import httpx

    url = base_url.rstrip("/") + "/completions"
    queue = list(workload)
    traces: list[RequestTrace] = []
    start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency + 2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0), limits=limits) as client:
        async def worker():
            while queue and time.perf_counter() - start < max_seconds:
                prompt, n = queue.pop(0)
                traces.append(await _one(client, url, model, prompt, n, extra))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(concurrency, traces, time.perf_counter() - start)


def run_load(base_url: str, model: str, workload: list[tuple[str, int]], concurrency: int = 4,
             max_seconds: float = 120.0, extra: dict | None = None) -> LoadResult:
    """Send the workload with `concurrency` clients; stops after the workload or `max_seconds`."""
    _check_loopback(base_url)
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    coro = _run(base_url, model, workload, concurrency, max_seconds, extra or {})
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures  # inside Jupyter an event loop already runs: use a thread of our own

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def sweep(base_url: str, model: str, workload: list[tuple[str, int]], concurrencies: list[int],
          max_seconds: float = 120.0, extra: dict | None = None) -> list[dict]:
    """run_load at each concurrency (the same workload each time); one summary per level.

    One short request goes first, unmeasured: a server's first request pays for warming up.
    """
    run_load(base_url, model, workload[:1], 1, max_seconds, extra)
    return [run_load(base_url, model, workload, c, max_seconds, extra).summary() for c in concurrencies]


def llamacpp_server(gguf, n_ctx: int = 2048):
    """llama.cpp's OpenAI server (`LlamaServer`) that *queues* concurrent requests.

    By default llama-cpp-python's server interrupts the running completion when a new
    request arrives (`interrupt_requests`), so concurrent clients break each other's
    streams; its settings are read from the environment, so the server is started with
    INTERRUPT_REQUESTS=false. Use it as a context manager, like LlamaServer.
    """
    import os

    from llmcourse.inference.llamacpp import LlamaServer

    class QueueingLlamaServer(LlamaServer):
        def start(self):
            old = os.environ.get("INTERRUPT_REQUESTS")
            os.environ["INTERRUPT_REQUESTS"] = "false"
            try:
                return super().start()
            finally:
                if old is None:
                    os.environ.pop("INTERRUPT_REQUESTS", None)
                else:
                    os.environ["INTERRUPT_REQUESTS"] = old

    return QueueingLlamaServer(gguf, n_ctx=n_ctx)
