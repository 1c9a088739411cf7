"""Quantisation trade-off on Gemma 3 270M: perplexity, size and speed per scheme, ours against the peers.

Goals of the issue: our INT8 perplexity within +0.5% of float32; our NF4 (week 5's module,
when this checkout has it) within 1% of bitsandbytes' NF4. Every scheme is measured on the
same held-out windows of the course text; speed is greedy tokens/s of one 32-token
generation (batch 1). Peers: bitsandbytes LLM.int8() and NF4, torchao INT8 weight-only,
llama.cpp running the Q4_K_M GGUF the model ships as.
"""

from __future__ import annotations

import copy
import time

import torch

from llmcourse.bench import Bench, benchmark

WINDOWS, WINDOW = 3, 128  # Gemma on one CPU thread: a 128-token window is ~60 GFLOP
GEN = 16


def _hf_speed(model, ids) -> float:
    model.generate(ids, max_new_tokens=2, do_sample=False)  # warm-up
    t0 = time.perf_counter()
    out = model.generate(ids, max_new_tokens=GEN, min_new_tokens=GEN, do_sample=False)
    return (out.shape[1] - ids.shape[1]) / (time.perf_counter() - t0)


@benchmark("quantization")
def run(b: Bench) -> None:
    torch.set_num_threads(1)  # a shared 2-core machine: two OpenMP threads spin against other work
    from llmcourse.assets import load_lm
    from llmcourse.assets.models import gemma_gguf_path
    from llmcourse.inference.llamacpp import load_llama
    from llmcourse.models.course import course_text
    from llmcourse.quantization import model_nbytes, quantize_model
    from llmcourse.quantization.evaluate import (
        bnb_quantize, hf_logits, llamacpp_logits_fn, next_token_accuracy, perplexity, torchao_int8,
    )

    gemma, tok = load_lm("gemma-3-270m", device="cpu")
    ids = tok(" ".join(t[-4000:] for t in course_text(40_000).values())).input_ids[: WINDOW * WINDOWS]
    prompt = torch.tensor([ids[:16]])
    schemes = {"float32": lambda: gemma, "ours INT8 (per channel)": lambda: quantize_model(copy.deepcopy(gemma), "int8"),
               "ours LLM.int8()": lambda: quantize_model(copy.deepcopy(gemma), "int8-outliers"),
               "ours INT4 g64": lambda: quantize_model(copy.deepcopy(gemma), "int4"),
               "bitsandbytes LLM.int8()": lambda: bnb_quantize(gemma, "int8"),
               "ours NF4 (week 5)": lambda: quantize_model(copy.deepcopy(gemma), "nf4"),
               "bitsandbytes NF4": lambda: bnb_quantize(gemma, "nf4"), "torchao INT8": lambda: torchao_int8(gemma)}
    for name, make in schemes.items():
        try:
            m = make()
            f = hf_logits(m)
            b.record(f"{name} perplexity", perplexity(f, ids, WINDOW, WINDOWS), "ppl", "perplexity")
            b.record(f"{name} next-token accuracy", next_token_accuracy(f, ids, WINDOW, WINDOWS), "frac", "accuracy",
                     True)
            b.record(f"{name} size", model_nbytes(m) / 1e6, "MB", "size")
            b.record(f"{name} speed", _hf_speed(m, prompt), "tok/s", "speed", True)
        except Exception as err:  # a peer that does not run on this machine is a note, not a crash
            b.note(f"{name}: does not run here ({type(err).__name__}: {str(err)[:150]})")
    llm = load_llama(gemma_gguf_path(), n_ctx=WINDOW, logits_all=True, n_threads=1)
    f = llamacpp_logits_fn(llm)
    b.record("llama.cpp Q4_K_M perplexity", perplexity(f, ids, WINDOW, WINDOWS), "ppl", "perplexity")
    b.record("llama.cpp Q4_K_M next-token accuracy", next_token_accuracy(f, ids, WINDOW, WINDOWS), "frac", "accuracy",
             True)
    b.record("llama.cpp Q4_K_M size", gemma_gguf_path().stat().st_size / 1e6, "MB", "size")
    fast = load_llama(gemma_gguf_path(), n_ctx=WINDOW, n_threads=1)
    t0 = time.perf_counter()
    n = fast.create_completion(ids[:16], max_tokens=GEN, temperature=0.0)["usage"]["completion_tokens"]
    b.record("llama.cpp Q4_K_M speed", n / (time.perf_counter() - t0), "tok/s", "speed", True)
    for name in ("ours INT8 (per channel)", "ours LLM.int8()", "bitsandbytes LLM.int8()", "torchao INT8",
                 "ours INT4 g64", "bitsandbytes NF4", "llama.cpp Q4_K_M"):
        if f"{name} perplexity" in b.figures:
            b.ratio(f"{name} perplexity / float32", f"{name} perplexity", "float32 perplexity")
    if "ours NF4 (week 5) perplexity" in b.figures and "bitsandbytes NF4 perplexity" in b.figures:
        b.ratio("ours NF4 / bitsandbytes NF4 perplexity", "ours NF4 (week 5) perplexity", "bitsandbytes NF4 perplexity")
    if "ours INT8 (per channel) perplexity" in b.figures:
        b.ratio("ours INT8 / bitsandbytes INT8 speed", "ours INT8 (per channel) speed", "bitsandbytes LLM.int8() speed")
