"""A continuous-batching inference engine over a paged KV cache.

Static batching (`model.generate` on a padded batch) runs every request of a batch until
the longest one is done: short answers wait, their slots idle, and nobody new gets in.
*Continuous* (iteration-level) batching, from Orca and vLLM, decides again at every step:

    step():
      1. make room for each running sequence's next token (a new block when it crosses a
         block boundary; if the cache is full, preempt the newest sequence: free its
         blocks and put it back in the queue, to be recomputed later)
      2. admit waiting requests while there are free blocks and batch slots (their prompt
         prefix may already be cached: shared blocks, nothing to compute for them)
      3. run ONE forward pass over all new tokens: whole prompts of the new sequences,
         one token of each running sequence (flattened, see adapters.py)
      4. sample each sequence's next token (llmcourse.inference.sampling), retire the
         finished ones and free their blocks

    engine = Engine(model, block_size=16, num_blocks=256, max_batch=32)
    engine.generate([[1, 2, 3], [4, 5]], max_new_tokens=20)     # -> each prompt's new tokens

Greedy output does not depend on what a sequence is batched with: each sequence attends
only to its own blocks, so every prompt gets exactly its own greedy `generate` tokens.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import torch

from llmcourse.inference.sampling import GREEDY, SamplingParams, sample_with
from llmcourse.serving.adapters import ModelAdapter, adapt, run_model
from llmcourse.serving.paged_attention import AttentionGroup, paged_attention
from llmcourse.serving.paged_cache import PagedKVCache, prefix_hashes

__all__ = ["Engine", "EngineStats", "Request", "StepOutput"]


@dataclass
class Request:
    """One generation request and its state in the engine."""

    request_id: str
    prompt: list[int]
    max_new_tokens: int
    sampling: SamplingParams
    eos_token_id: int | None
    output: list[int] = field(default_factory=list)
    status: str = "waiting"  # waiting | running | finished | aborted
    finish_reason: str | None = None  # length | stop | abort
    blocks: list[int] = field(default_factory=list)  # block table (-1: evicted by the sliding window)
    n_cached: int = 0  # positions whose keys/values are in the cache
    hashes: list[int] = field(default_factory=list)  # prefix hashes of its full blocks, registered
    generator: torch.Generator | None = None
    arrival: float = field(default_factory=time.perf_counter)
    token_times: list[float] = field(default_factory=list)
    preemptions: int = 0

    @property
    def tokens(self) -> list[int]:
        return self.prompt + self.output

    @property
    def done(self) -> bool:
        return self.status in ("finished", "aborted")


@dataclass
class StepOutput:
    """A token one request produced in one step (what a streaming server sends)."""

    request_id: str
    token: int
    finished: bool
    finish_reason: str | None


@dataclass
class EngineStats:
    steps: int = 0
    tokens_generated: int = 0
    prefill_tokens: int = 0  # prompt tokens computed
    prefix_hit_tokens: int = 0  # prompt tokens found in shared blocks (not computed)
    copy_on_write: int = 0
    preemptions: int = 0
    evicted_blocks: int = 0
    peak_blocks: int = 0
    batch_sizes: list[int] = field(default_factory=list)


class Engine:
    """Continuous batching over a paged KV cache for the course GPT, Gemma 3 or Llama.

    block_size: positions per block. num_blocks: blocks in the cache (None: enough for
    max_batch sequences of the model's context, capped at `memory_mib`). max_batch: most
    sequences running at once. prefix_sharing: reuse cached blocks of equal prompt
    prefixes. sliding_window: keep (and attend to) only the last W positions of every
    sequence, freeing older blocks. max_prefill_tokens: prompt tokens admitted per step.
    """

    def __init__(self, model, block_size: int = 16, num_blocks: int | None = None, max_batch: int = 32,
                 prefix_sharing: bool = True, sliding_window: int | None = None, max_prefill_tokens: int = 2048,
                 memory_mib: int = 512, eos_token_id: int | None = None, decode_attention=None) -> None:
        self.adapter: ModelAdapter = adapt(model)
        a = self.adapter
        if block_size < 1 or max_batch < 1:
            raise ValueError(f"block_size and max_batch must be >= 1, got {block_size} and {max_batch}")
        bytes_per_block = 2 * a.n_layer * block_size * a.n_kv_head * a.head_dim * torch.finfo(a.dtype).bits // 8
        if num_blocks is None:
            want = max_batch * math.ceil(a.max_len / block_size)
            num_blocks = max(1, min(want, memory_mib * 2**20 // bytes_per_block))
        self.cache = PagedKVCache(a.n_layer, num_blocks, block_size, a.n_kv_head, a.head_dim, a.dtype, a.device)
        self.block_size, self.max_batch = block_size, max_batch
        self.prefix_sharing, self.sliding_window = prefix_sharing, sliding_window
        self.max_prefill_tokens = max_prefill_tokens
        self.decode_attention = decode_attention
        self.eos_token_id = eos_token_id if eos_token_id is not None else a.eos_token_id
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.requests: dict[str, Request] = {}
        self.stats = EngineStats()
        self.lock = threading.RLock()
        self._ids = itertools.count()

    # ------------------------------------------------------------------ requests
    def add_request(self, prompt_ids: list[int], max_new_tokens: int, sampling: SamplingParams | None = None,
                    request_id: str | None = None, ignore_eos: bool = False) -> str:
        """Queue a request; returns its id. Raises ValueError for one that can never run."""
        a = self.adapter
        if not isinstance(prompt_ids, (list, tuple)) or not prompt_ids:
            raise ValueError("prompt_ids must be a non-empty list of token ids")
        prompt = [int(t) for t in prompt_ids]
        if min(prompt) < 0 or max(prompt) >= a.vocab_size:
            raise ValueError(f"token ids must be in [0, {a.vocab_size}), got [{min(prompt)}, {max(prompt)}]")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a whole number >= 1, got {max_new_tokens!r}")
        if len(prompt) >= a.max_len:
            raise ValueError(f"the prompt has {len(prompt)} tokens but the model's context is {a.max_len}: "
                             "shorten it (keep its last part) so at least one new token fits")
        if len(prompt) + max_new_tokens > a.max_len:
            raise ValueError(f"prompt ({len(prompt)}) + max_new_tokens ({max_new_tokens}) = "
                             f"{len(prompt) + max_new_tokens} positions exceed the model's context {a.max_len}: "
                             f"ask for at most {a.max_len - len(prompt)} new tokens")
        longest = len(prompt) + max_new_tokens - 1
        if self.sliding_window:
            longest = min(longest, self.sliding_window + self.block_size)
        need = math.ceil(longest / self.block_size)
        if need > self.cache.num_blocks:
            raise ValueError(f"this request needs up to {need} KV blocks but the cache has only "
                             f"{self.cache.num_blocks}: raise num_blocks or lower max_new_tokens")
        sampling = sampling or GREEDY
        with self.lock:
            rid = request_id or f"req-{next(self._ids)}"
            if rid in self.requests and not self.requests[rid].done:
                raise ValueError(f"request id {rid!r} is already in use")
            req = Request(rid, prompt, max_new_tokens, sampling, None if ignore_eos else self.eos_token_id,
                          generator=sampling.generator(a.device))
            self.requests[rid] = req
            self.waiting.append(req)
        return rid

    def abort(self, request_id: str) -> bool:
        """Stop a request (a client went away): its blocks are freed at once. True if it was live."""
        with self.lock:
            req = self.requests.get(request_id)
            if req is None or req.done:
                return False
            if req in self.waiting:
                self.waiting.remove(req)
            if req in self.running:
                self.running.remove(req)
            self._release(req)
            req.status, req.finish_reason = "aborted", "abort"
            return True

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    # ------------------------------------------------------------------ blocks
    def _release(self, req: Request) -> None:
        for b in req.blocks:
            if b >= 0:
                self.cache.allocator.free(b)
        req.blocks = []

    def _preempt(self, req: Request) -> None:
        """Free a running sequence's blocks; it goes back to the front of the queue (recompute later)."""
        self.running.remove(req)
        self._release(req)
        req.n_cached, req.hashes, req.status = 0, [], "waiting"
        req.preemptions += 1
        self.stats.preemptions += 1
        self.waiting.appendleft(req)

    def _writable(self, req: Request, block_index: int) -> None:
        """Make block `block_index` of req exist and be its own (allocate, or copy a shared one)."""
        alloc = self.cache.allocator
        if block_index == len(req.blocks):
            req.blocks.append(alloc.allocate())
        elif self.prefix_sharing and alloc.ref[req.blocks[block_index]] > 1:  # copy-on-write (shared only by prefix)
            new = alloc.allocate()
            self.cache.copy_block(req.blocks[block_index], new)
            alloc.free(req.blocks[block_index])
            req.blocks[block_index] = new
            self.stats.copy_on_write += 1

    def _reserve(self, req: Request) -> bool:
        """Blocks for every position req will write this step; preempts others (newest first) if needed."""
        alloc = self.cache.allocator
        first, last = req.n_cached // self.block_size, (len(req.tokens) - 1) // self.block_size
        for j in range(first, last + 1):
            needs_block = j == len(req.blocks) or (self.prefix_sharing and alloc.ref[req.blocks[j]] > 1)
            while needs_block and alloc.num_free == 0:  # the cache is full: preempt the newest sequence
                victim = self.running[-1]
                self._preempt(victim)
                if victim is req:
                    return False
            self._writable(req, j)
        return True

    def _admit(self, req: Request) -> bool:
        """Take `req` from the queue if its blocks fit: shared prefix blocks first, then new ones."""
        alloc, bs = self.cache.allocator, self.block_size
        tokens = req.tokens
        hashes = prefix_hashes(tokens, bs) if self.prefix_sharing else []
        shared = []
        for h in hashes:
            b = alloc.lookup(h)
            if b is None:
                break
            shared.append(b)
        need = math.ceil(len(tokens) / bs) - len(shared)
        if need > alloc.num_free:
            for b in shared:
                alloc.free(b)
            return False
        req.blocks, req.hashes = shared, hashes[:len(shared)]
        req.n_cached = min(len(shared) * bs, len(tokens) - 1)  # the last token is always run: its logits
        self.stats.prefix_hit_tokens += req.n_cached
        req.status = "running"
        return True

    def _evict_window(self, req: Request) -> None:
        """Sliding window: free the blocks no future query of req can see."""
        W = self.sliding_window
        next_pos = len(req.tokens) - 1
        for j, b in enumerate(req.blocks):
            if b >= 0 and (j + 1) * self.block_size - 1 <= next_pos - W:
                self.cache.allocator.free(b)
                req.blocks[j] = -1
                self.stats.evicted_blocks += 1

    # ------------------------------------------------------------------ one step
    def _schedule(self) -> list[Request]:
        for req in list(self.running):  # room for the next token of every running sequence
            if req in self.running and not self._reserve(req):
                continue
        budget = self.max_prefill_tokens
        while self.waiting and len(self.running) < self.max_batch:
            req = self.waiting[0]
            cost = len(req.tokens)
            if cost > budget and budget < self.max_prefill_tokens:
                break  # this step's prompt budget is spent; it goes first next step
            if not self._admit(req):
                break  # no room: it waits (the queue keeps its order)
            self.waiting.popleft()
            self.running.append(req)
            if not self._reserve(req):
                break
            budget -= cost - req.n_cached
        return list(self.running)

    @torch.no_grad()
    def step(self) -> list[StepOutput]:
        """One iteration: schedule, one forward pass, one new token per running sequence."""
        with self.lock:
            batch = self._schedule()
            if not batch:
                return []
            return self._run(batch)

    def _run(self, batch: list[Request]) -> list[StepOutput]:
        a, bs, dev = self.adapter, self.block_size, self.adapter.device
        tokens, positions, slots, last_rows = [], [], [], []
        spans = []
        for req in batch:
            seq = req.tokens
            start = len(tokens)
            for p in range(req.n_cached, len(seq)):
                tokens.append(seq[p])
                positions.append(p)
                slots.append(req.blocks[p // bs] * bs + p % bs)
            spans.append((start, len(tokens)))
            last_rows.append(len(tokens) - 1)
            self.stats.prefill_tokens += max(0, len(req.prompt) - req.n_cached)
        groups = self._groups(batch, spans, positions, dev)
        slots_t = torch.tensor(slots, device=dev)
        windows = [self._window(layer) for layer in range(a.n_layer)]

        def attend(layer, q, k, v):
            self.cache.write(layer, slots_t, k, v)
            out = q.new_empty(q.shape[0], q.shape[1] * q.shape[2])
            for g in groups:
                if self.decode_attention is not None and g.rows.shape[1] == 1 and windows[layer] is None:
                    res = self.decode_attention(q[g.rows[:, 0]], self.cache.keys[layer], self.cache.values[layer],
                                                g.tables, g.ctx_len, a.scale).reshape(g.rows.shape[0], 1, -1)
                else:
                    res = paged_attention(q, self.cache, layer, g, a.scale, windows[layer])  # (B, T, H*hd)
                valid = g.rows >= 0
                out[g.rows[valid]] = res[valid]
            return out

        logits = run_model(a, torch.tensor(tokens, device=dev), torch.tensor(positions, device=dev), attend,
                           select=torch.tensor(last_rows, device=dev))  # (B, V)
        for req in batch:
            req.n_cached = len(req.tokens)
        next_ids = self._sample(batch, logits)
        return self._advance(batch, next_ids)

    def _window(self, layer: int) -> int | None:
        w = [x for x in (self.adapter.window(layer), self.sliding_window) if x]
        return min(w) if w else None

    def _groups(self, batch, spans, positions, dev) -> list[AttentionGroup]:
        """Decode sequences (one query) in one group, prefills in another."""
        groups = []
        pos = torch.tensor(positions)
        for pick in (lambda n: n == 1, lambda n: n > 1):
            members = [(req, s, e) for req, (s, e) in zip(batch, spans) if pick(e - s)]
            if not members:
                continue
            T = max(e - s for _, s, e in members)
            nb = max(len(req.blocks) for req, _, _ in members)
            starts = torch.tensor([s for _, s, _ in members])[:, None]  # (B, 1)
            counts = torch.tensor([e - s for _, s, e in members])[:, None]
            offs = torch.arange(T)[None, :]  # (1, T)
            rows = torch.where(offs < counts, starts + offs, -1)  # (B, T), -1 = padding
            q_pos = pos[rows.clamp(min=0)].masked_fill(rows < 0, 0)
            tables = torch.tensor([req.blocks + [0] * (nb - len(req.blocks)) for req, _, _ in members]).clamp(min=0)
            ctx = torch.tensor([len(req.tokens) for req, _, _ in members])
            groups.append(AttentionGroup(rows.to(dev), q_pos.to(dev), tables.to(dev), ctx.to(dev)))
        return groups

    def _sample(self, batch: list[Request], logits: torch.Tensor) -> list[int]:
        out = [0] * len(batch)
        greedy = [i for i, r in enumerate(batch) if r.sampling.greedy and r.sampling.repetition_penalty == 1.0]
        if greedy:
            ids = sample_with(GREEDY, logits[greedy])  # (G, 1), one argmax for all greedy rows
            for i, t in zip(greedy, ids[:, 0].tolist()):
                out[i] = t
        for i, req in enumerate(batch):
            if i in greedy:
                continue
            seen = torch.tensor([req.tokens], device=logits.device)
            out[i] = int(sample_with(req.sampling, logits[i: i + 1], seen, req.generator)[0, 0])
        return out

    def _advance(self, batch: list[Request], next_ids: list[int]) -> list[StepOutput]:
        now = time.perf_counter()
        outputs = []
        alloc = self.cache.allocator
        for req, tok in zip(batch, next_ids):
            if self.prefix_sharing:  # register newly filled blocks so later prompts can share them
                full = req.n_cached // self.block_size
                if full > len(req.hashes):
                    req.hashes = prefix_hashes(req.tokens[: full * self.block_size], self.block_size)
                    for j in range(full):
                        if req.blocks[j] >= 0:
                            alloc.register(req.blocks[j], req.hashes[j])
            req.output.append(tok)
            req.token_times.append(now)
            self.stats.tokens_generated += 1
            reason = None
            if req.eos_token_id is not None and tok == req.eos_token_id:
                reason = "stop"
            elif len(req.output) >= req.max_new_tokens:
                reason = "length"
            if reason:
                req.status, req.finish_reason = "finished", reason
                self.running.remove(req)
                self._release(req)
            elif self.sliding_window:
                self._evict_window(req)
            outputs.append(StepOutput(req.request_id, tok, reason is not None, reason))
        self.stats.steps += 1
        self.stats.batch_sizes.append(len(batch))
        self.stats.peak_blocks = max(self.stats.peak_blocks, self.cache.num_blocks - alloc.num_free)
        return outputs

    # ------------------------------------------------------------------ convenience
    def generate(self, prompts: list[list[int]], max_new_tokens: int | list[int],
                 sampling: SamplingParams | None = None, ignore_eos: bool = False) -> list[list[int]]:
        """Each prompt's new tokens (greedy unless `sampling`), run with continuous batching."""
        if isinstance(prompts, (list, tuple)) and prompts and isinstance(prompts[0], int):
            raise ValueError("prompts must be a list of token-id lists: wrap a single prompt as [prompt]")
        lengths = max_new_tokens if isinstance(max_new_tokens, (list, tuple)) else [max_new_tokens] * len(prompts)
        if len(lengths) != len(prompts):
            raise ValueError(f"{len(lengths)} max_new_tokens for {len(prompts)} prompts")
        ids = [self.add_request(p, n, sampling, ignore_eos=ignore_eos) for p, n in zip(prompts, lengths)]
        while any(not self.requests[i].done for i in ids):
            self.step()
        return [self.requests.pop(i).output for i in ids]
