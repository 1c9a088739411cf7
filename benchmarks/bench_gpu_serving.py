"""Serving on a GPU: the engine against HF generate (and vLLM when installed), the load curves of 6.3.

Run by `make gpu-check` (about two minutes on one GPU); on a machine without CUDA it returns
at once with a note. Gemma 3 270M in float32 on the GPU: the mixed workload through HF
`generate` in static batches and through the continuous-batching engine; then our server
under 1-16 concurrent clients (throughput, TTFT and inter-token latency p50/p99); vLLM's
GPU build (`make vllm` installs it when `nvidia-smi` answers) on the same workload.
"""

from __future__ import annotations

import torch

from llmcourse.bench import Bench, benchmark


@benchmark("gpu_serving")
def run(b: Bench) -> None:
    if not torch.cuda.is_available():
        b.note("no CUDA GPU here: gpu_serving runs under `make gpu-check` on a GPU machine")
        return
    from llmcourse.assets import load_lm
    from llmcourse.assets.models import gemma_dir
    from llmcourse.models.course import course_text
    from llmcourse.serving import Engine, ServerThread, mixed_workload, served_from, sweep
    from llmcourse.serving.compare import engine_run, hf_static_batches, mixed_lengths

    b.note(f"GPU: {torch.cuda.get_device_name(0)}")
    gemma, tok = load_lm("gemma-3-270m", device="cuda")
    texts = [t[:200] for t in course_text(4000).values()] * 8
    prompts = [tok(t).input_ids[:64] for t in texts][:64]
    lengths = mixed_lengths(len(prompts), 16, 256)
    for B in (8, 64):
        r = hf_static_batches(gemma, prompts, lengths, B)
        b.record(f"HF generate, static batches of {B}", r.tokens_per_s, "tok/s", "throughput", True)
    engine = Engine(gemma, block_size=16, max_batch=64)
    engine_run(engine, prompts[:2], [4, 4])
    r = engine_run(engine, prompts, lengths)
    b.record("engine (continuous batching)", r.tokens_per_s, "tok/s", "throughput", True)
    b.ratio("engine / HF batches of 8", "engine (continuous batching)", "HF generate, static batches of 8")
    workload = mixed_workload(texts, 48, 16, 128)
    with ServerThread(served_from(gemma, tok, "gemma-3-270m", max_batch=64)) as server:
        for row in sweep(server.base_url, "gemma-3-270m", workload, [1, 4, 16], max_seconds=40,
                         extra={"ignore_eos": True}):
            c = row["concurrency"]
            b.record(f"server {c} clients tokens/s", row["tokens_per_s"], "tok/s", "load", True)
            b.record(f"server {c} clients TTFT p50", row["ttft_p50_ms"], "ms", "load")
            b.record(f"server {c} clients ITL p99", row["itl_p99_ms"], "ms", "load")
    from llmcourse.inference.vllm import VLLMUnavailable, vllm_generate, vllm_status

    ok, why = vllm_status()
    if not ok:
        b.note(f"vLLM not run: {why}")
        return
    try:
        res = vllm_generate(gemma_dir(), prompts, lengths, max_model_len=512, timeout=300)
        run_ = res["runs"][0]
        b.record("vLLM (all at once)", run_["tokens"] / run_["seconds"], "tok/s", "throughput", True)
        b.ratio("engine / vLLM", "engine (continuous batching)", "vLLM (all at once)")
    except VLLMUnavailable as err:
        b.note(f"vLLM failed: {err}")
