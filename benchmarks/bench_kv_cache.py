"""KV cache: tokens/s with and without it against generated length, ours and Hugging Face's.

The claim of notebook 3.2: with a cache, greedy generation gives the same tokens and runs
much faster for long outputs (goal: at least 5x at 512 new tokens for a model of the
laptop profile's size on CPU). One timed run of n tokens gives the tokens/s of every
length k <= n (the time at which token k was ready), so each figure below comes from full
generations, prefill included, batch 1. The GPT has random weights: its speed depends on
its shapes only. Also: the cache's bytes by formula against the bytes its tensors hold, and
the stretch of 3.2: 16 left-padded prompts generated in one batch with one cache against
the same prompts one at a time (same tokens, checked).
"""

from __future__ import annotations

import torch

from llmcourse.bench import Bench, benchmark
from llmcourse.inference.batch_generate import generate_batch
from llmcourse.inference.generation_speed import gpt_step_times, hf_step_times, tokens_per_second
from llmcourse.inference.kv_cache import KVCache, kv_cache_bytes_for, measured_cache_bytes
from llmcourse.models.gpt import GPT, GPTConfig

LENGTHS = (64, 128, 256, 512, 1024)
PROMPT = 16
HF_LENGTHS = (16, 32, 64)
CACHED_REPEATS = 3


def _gpt_curve(b: Bench, device: str, group: str) -> None:
    config = GPTConfig(vocab_size=65, block_size=PROMPT + max(LENGTHS), n_layer=4, n_head=4, n_embd=128,
                       attn_impl="sdpa")
    torch.manual_seed(0)
    model = GPT(config).to(device).eval()
    prompt = torch.randint(65, (1, PROMPT), device=device)
    gpt_step_times(model, prompt, 16, use_cache=True), gpt_step_times(model, prompt, 16, use_cache=False)  # warm-up
    cached = [gpt_step_times(model, prompt, max(LENGTHS), use_cache=True) for _ in range(CACHED_REPEATS)]
    plain = gpt_step_times(model, prompt, max(LENGTHS), use_cache=False)  # the long one: run once
    b.record(f"{group} same tokens with and without cache", float(torch.equal(cached[0][0], plain[0])), unit="bool")
    for i, n in enumerate(LENGTHS):
        with_cache = b.record(f"{group} cache, {n} new tokens", [tokens_per_second(t, LENGTHS)[i] for _, t in cached],
                              unit="tok/s", group=group, higher_is_better=True)
        without = b.record(f"{group} no cache, {n} new tokens", tokens_per_second(plain[1], LENGTHS)[i],
                           unit="tok/s", group=group, higher_is_better=True)
        b.ratios[f"{group} speed-up at {n}"] = with_cache.median / without.median
        print(f"  ratio {group} speed-up at {n}: {with_cache.median / without.median:.3g}x", flush=True)
    full = KVCache.for_model(model)
    b.record(f"{group} cache at {config.block_size} tokens (formula)", kv_cache_bytes_for(config, config.block_size) / 1024,
             unit="KiB", group=group)
    b.record(f"{group} cache at {config.block_size} tokens (measured)", measured_cache_bytes(full) / 1024, unit="KiB",
             group=group)


def _hf_curve(b: Bench) -> None:
    from llmcourse.assets import get_asset, load_lm
    from llmcourse.assets.models import tiny_config

    if get_asset("gemma-3-270m").cached():
        model, tok = load_lm("gemma-3-270m", device="cpu")
        ids = tok("The capital of Indonesia is", return_tensors="pt").input_ids
        name = "HF gemma-3-270m"
    else:  # the first conversion of Gemma takes minutes: benchmark the tiny Gemma instead, and say so
        import transformers

        b.note("Gemma 3 270M is not in the cache yet (`llmcourse assets prepare gemma-3-270m`); tiny Gemma used")
        torch.manual_seed(0)
        model = transformers.Gemma3ForCausalLM(tiny_config(vocab_size=2048)).eval()
        ids = torch.randint(2048, (1, 8))
        name = "HF tiny gemma"
    hf_step_times(model, ids, 2, use_cache=True)  # warm-up
    runs = {c: hf_step_times(model, ids, max(HF_LENGTHS), use_cache=c) for c in (True, False)}
    b.record(f"{name} same tokens with and without cache", float(torch.equal(runs[True][0], runs[False][0])),
             unit="bool")
    for i, n in enumerate(HF_LENGTHS):
        a = b.record(f"{name} use_cache=True, {n} new tokens", tokens_per_second(runs[True][1], HF_LENGTHS)[i],
                     unit="tok/s", group="hf", higher_is_better=True)
        c = b.record(f"{name} use_cache=False, {n} new tokens", tokens_per_second(runs[False][1], HF_LENGTHS)[i],
                     unit="tok/s", group="hf", higher_is_better=True)
        b.ratios[f"{name} speed-up at {n}"] = a.median / c.median
        print(f"  ratio {name} speed-up at {n}: {a.median / c.median:.3g}x", flush=True)
    seen = ids.shape[1] + max(HF_LENGTHS) - 1
    b.record(f"{name} cache after generate (formula)", kv_cache_bytes_for(model.config, seen) / 1024, unit="KiB",
             group="hf")
    b.record(f"{name} cache after generate (measured)", measured_cache_bytes(runs[True][2]) / 1024, unit="KiB",
             group="hf")


def _batch_curve(b: Bench, device: str, group: str) -> None:
    config = GPTConfig.llama_style(vocab_size=4096, block_size=256, n_layer=4, n_head=4, n_kv_head=2, n_embd=128,
                                   attn_impl="sdpa")
    torch.manual_seed(0)
    model = GPT(config).to(device).eval()
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(4096, (int(n),), generator=g).tolist() for n in torch.randint(4, 24, (16,), generator=g)]
    new = 64
    together = b.measure(f"{group} 16 prompts in one batch", lambda: generate_batch(model, prompts, new), repeats=3)
    alone = b.measure(f"{group} 16 prompts one at a time", lambda: [generate_batch(model, [p], new) for p in prompts],
                      repeats=1, warmup=0)
    same = generate_batch(model, prompts, new) == [generate_batch(model, [p], new)[0] for p in prompts]
    b.record(f"{group} batch gives the same tokens as one at a time", float(same), unit="bool")
    b.ratios[f"{group} batch of 16 / one at a time (tokens/s)"] = alone.median / together.median
    print(f"  ratio {group} batch / one at a time: {alone.median / together.median:.3g}x", flush=True)


@benchmark("kv_cache")
def run(b: Bench) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # decoding is a chain of small ops: on a shared 2-core CPU one thread is faster and steadier
    try:
        b.note("CPU figures with torch threads = 1; batch 1; prompt of 16 tokens; greedy")
        _gpt_curve(b, "cpu", "GPT 4x128 cpu")
        _batch_curve(b, "cpu", "course GPT 4x128 cpu")
        _hf_curve(b)
    finally:
        torch.set_num_threads(threads)
    if torch.cuda.is_available():
        _gpt_curve(b, "cuda", "GPT 4x128 cuda")
