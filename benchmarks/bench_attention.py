"""Attention from scratch against torch's fused SDPA, and the course GPT with each.

The claim in notebooks 2.1/2.2: our `scaled_dot_product_attention` gives torch's numbers,
and the `attn_impl="sdpa"` switch of the GPT trains faster. Measured here: causal attention
forward (and forward + backward) at several sequence lengths, and one GPT training step
(forward + backward + AdamW) with each implementation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse.bench import Bench, benchmark
from llmcourse.models.gpt import GPT, GPTConfig
from llmcourse.nn.attention import scaled_dot_product_attention, tiled_attention


@benchmark("attention")
def run(b: Bench) -> None:
    B, H, hd = 4, 8, 64
    for T in (128, 512, 1024):
        q, k, v = (torch.randn(B, H, T, hd) for _ in range(3))
        b.measure(f"ours causal fwd T={T}", lambda: scaled_dot_product_attention(q, k, v, is_causal=True),
                  repeats=5, group="forward")
        b.measure(f"torch SDPA causal fwd T={T}", lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                  repeats=5, group="forward")
        b.ratio(f"ours/torch fwd T={T}", f"ours causal fwd T={T}", f"torch SDPA causal fwd T={T}")
        b.measure(f"tiled (online softmax, 128 keys) causal fwd T={T}",
                  lambda: tiled_attention(q, k, v, block_size=128, is_causal=True), repeats=5, group="forward")
        b.ratio(f"tiled/torch fwd T={T}", f"tiled (online softmax, 128 keys) causal fwd T={T}",
                f"torch SDPA causal fwd T={T}")

    T = 512
    qg, kg, vg = (torch.randn(B, H, T, hd, requires_grad=True) for _ in range(3))
    b.measure(f"ours causal fwd+bwd T={T}",
              lambda: scaled_dot_product_attention(qg, kg, vg, is_causal=True).sum().backward(), repeats=3,
              group="backward")
    b.measure(f"torch SDPA causal fwd+bwd T={T}",
              lambda: F.scaled_dot_product_attention(qg, kg, vg, is_causal=True).sum().backward(), repeats=3,
              group="backward")
    b.ratio(f"ours/torch fwd+bwd T={T}", f"ours causal fwd+bwd T={T}", f"torch SDPA causal fwd+bwd T={T}")

    # one training step of the laptop-sized character GPT of notebook 2.2
    x = torch.randint(0, 96, (32, 64))
    for impl in ("ours", "sdpa"):
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=96, block_size=64, n_layer=3, n_head=4, n_embd=96, attn_impl=impl))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step(model=model, opt=opt):
            _, loss = model(x, x)
            opt.zero_grad()
            loss.backward()
            opt.step()

        b.measure(f"GPT train step ({impl}) B=32 T=64", step, work=x.numel(), unit="tok/s", repeats=5,
                  group="gpt")
    b.ratio("GPT tok/s sdpa/ours", "GPT train step (sdpa) B=32 T=64", "GPT train step (ours) B=32 T=64")
    b.note("ours materialises the (T, T) weights in float32; torch's CPU kernel works in tiles (flash-style); "
           "tiled_attention (notebook 2.1's stretch) holds (T, 128) scores at a time, in a Python loop over blocks")
