"""GPU only: one GPT-2 124M training step with torch.compile + bf16 autocast + fused SDPA.

Tokens/s and MFU against the GPU's datasheet bf16 peak (H100/H200: 989 TFLOP/s dense).
Goal of the issue: at least 50% MFU on an H100/H200 (build-nanogpt reports 43-46% there).
Sized to about two minutes (compile included). Without CUDA it returns at once with a note.
"""

from __future__ import annotations

import time

import torch

from llmcourse.bench import Bench, benchmark


@benchmark("gpu_training")
def run(b: Bench) -> None:
    if not torch.cuda.is_available():
        b.note("no CUDA device: nothing measured (runs in `make gpu-check` on a GPU machine)")
        return
    from llmcourse.models.gpt import GPT, GPTConfig
    from llmcourse.training.mfu import flops_per_token, peak_flops

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    dev = "cuda"
    B, T = 32, 1024
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=50304, block_size=T, n_layer=12, n_head=12, n_embd=768, attn_impl="sdpa")).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), fused=True)
    x = torch.randint(0, 50257, (B, T + 1), device=dev)
    inp, tgt = x[:, :-1].contiguous(), x[:, 1:].contiguous()
    compiled = torch.compile(model)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            _, loss = compiled(inp, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    t0 = time.perf_counter()
    for _ in range(3):  # compile and warm up
        step()
    torch.cuda.synchronize()
    b.record("compile + 3 warm-up steps", time.perf_counter() - t0, "s", "setup")

    def timed():
        step()
        torch.cuda.synchronize()

    fig = b.measure(f"GPT-2 124M step, bf16 + compile + SDPA (B={B}, T={T})", timed, repeats=20, warmup=2,
                    work=B * T, unit="tok/s", group="throughput")
    peak, how = peak_flops(dev, "bf16")
    b.record("MFU (6N + 12LTd, bf16 dense peak)", flops_per_token(model, T) * fig.median / peak, "fraction", "mfu",
             True)
    b.record("peak memory", torch.cuda.max_memory_allocated() / 2**30, "GiB", "memory")
    b.note(f"peak: {how}")
