"""Training on this CPU: tokens/s and MFU of the course GPT per precision (fp32, bf16 autocast),
with the FLOP count 6N + 12LTd and the measured matmul peak of each precision."""

from __future__ import annotations

import time

import torch

from llmcourse.bench import Bench, benchmark


@benchmark("training")
def run(b: Bench) -> None:
    from llmcourse.models.gpt import GPT, GPTConfig
    from llmcourse.training.accumulate import train_step
    from llmcourse.training.mfu import flops_per_token, peak_flops

    B, T = 8, 128  # bf16 is emulated on CPUs without bf16 units: a step takes tens of seconds there
    x = torch.randint(0, 4096, (B, T + 1), generator=torch.Generator().manual_seed(0))
    batch = [(x[:, :-1], x[:, 1:])]
    loss_fn = lambda m, bt: m(bt[0], bt[1])[1]  # noqa: E731
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = GPT(GPTConfig.llama_style(vocab_size=4096, block_size=T, n_layer=4, n_head=4, n_kv_head=2,
                                          n_embd=128, attn_impl="sdpa"))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        fig = b.measure(f"course GPT (laptop size) train step, {precision}",
                        lambda: train_step(model, opt, batch, loss_fn, precision=precision), repeats=3,
                        work=B * T, unit="tok/s", group="tokens/s")
        peak, how = peak_flops("cpu", precision)
        b.record(f"peak {precision} ({how})", peak / 1e9, "GFLOP/s", "peak", True)
        b.record(f"MFU {precision}", flops_per_token(model, T) * fig.median / peak, "fraction", "mfu", True)
    b.ratio("tokens/s bf16 / fp32", "course GPT (laptop size) train step, bf16",
            "course GPT (laptop size) train step, fp32")
    b.note("MFU is against the measured matmul peak of the same precision; a CPU without AVX-512 BF16/AMX "
           "emulates bf16, so its bf16 peak and speed are far below fp32")
