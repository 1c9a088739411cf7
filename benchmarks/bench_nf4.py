"""NF4 quantise and dequantise: ours (torch, from scratch) against bitsandbytes, on layer shapes of
Gemma 3 270M and a 4096 x 4096 matrix. Equality of the bytes is recorded too (1.0 = identical)."""

from __future__ import annotations

import torch

from llmcourse.bench import Bench, benchmark
from llmcourse.quantization import dequantize_nf4, quantize_nf4

SHAPES = {"gemma q_proj 1024x640": (1024, 640), "gemma mlp 2048x640": (2048, 640), "4096x4096": (4096, 4096)}


@benchmark("nf4")
def run(b: Bench) -> None:
    import bitsandbytes.functional as bnbF

    torch.manual_seed(0)
    for name, shape in SHAPES.items():
        w = torch.randn(shape) * 0.02
        n = w.numel()
        for dq in (False, True):
            tag = f"{name}{' double-quant' if dq else ''}"
            q = quantize_nf4(w, 64, dq)
            bq, state = bnbF.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=dq)
            same = torch.equal(q.packed, bq.view(-1)) and torch.equal(dequantize_nf4(q), bnbF.dequantize_4bit(bq, state))
            b.record(f"{tag}: ours == bitsandbytes", float(same), unit="bool", group=tag)
            ours_q = b.measure(f"{tag}: quantise, ours", lambda: quantize_nf4(w, 64, dq), repeats=5, work=n,
                               unit="weights/s", group=tag)
            bnb_q = b.measure(f"{tag}: quantise, bitsandbytes",
                              lambda: bnbF.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=dq),
                              repeats=5, work=n, unit="weights/s", group=tag)
            ours_d = b.measure(f"{tag}: dequantise, ours", lambda: dequantize_nf4(q), repeats=5, work=n,
                               unit="weights/s", group=tag)
            bnb_d = b.measure(f"{tag}: dequantise, bitsandbytes", lambda: bnbF.dequantize_4bit(bq, state), repeats=5,
                              work=n, unit="weights/s", group=tag)
            b.ratios[f"{tag}: quantise ours / bitsandbytes (speed)"] = ours_q.median / bnb_q.median
            b.ratios[f"{tag}: dequantise ours / bitsandbytes (speed)"] = ours_d.median / bnb_d.median
            b.record(f"{tag}: bytes per weight", q.nbytes() / n, unit="B", group=tag)
    b.note("bitsandbytes' CPU quantise_4bit is itself torch code (its CUDA kernels are the fast path); its CPU "
           "dequantise is a C++ kernel. Ours is plain torch throughout.")
