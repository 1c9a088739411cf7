"""Pre-training configurations: one dataclass, and a preset per profile (smoke, laptop, colab, cluster).

`make_config("laptop", "gpt", steps=300)` is a preset with overrides; `llmcourse pretrain`'s flags
are overrides too. A resumed run must match its checkpoint's config except for the fields in
RUN_ONLY (how often to evaluate and save, how many workers load data).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["PRESETS", "RUN_ONLY", "PretrainConfig", "make_config"]

# what may differ between a run and its resume (everything else must match)
RUN_ONLY = ("ckpt_every", "eval_every", "num_workers", "keep_checkpoints", "progress", "hellaswag_every", "compile")


@dataclass
class PretrainConfig:
    """One pre-training run. Presets fill it per profile; command-line flags override fields."""

    model: str = "gpt"  # gpt (causal LM) | bert (masked LM)
    preset: str = "smoke"
    n_layer: int = 2
    n_head: int = 4
    n_kv_head: int = 2
    n_embd: int = 64
    style: str = "llama"  # llama (course GPT) | gpt2 (the cluster's GPT-2 124M)
    vocab_size: int | None = None  # None: the shards' vocabulary (cluster: 50304, a multiple of 128)
    block_size: int = 64  # tokens per training window
    context: int | None = None  # the model's longest context (None: block_size); the course GPT's per profile
    batch_size: int = 8  # sequences per optimiser step, all ranks together
    micro_batch: int = 8  # sequences per forward pass per rank
    steps: int = 40
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 4
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    precision: str = "fp32"
    mask_prob: float = 0.15
    eval_every: int = 20
    eval_batches: int = 2
    ckpt_every: int = 20
    keep_checkpoints: int = 3
    seed: int = 0
    data: str | None = None  # shard folder; None: the course text, tokenised into the cache
    tokenizer: str = "course"  # course | gpt2 (what `data` was written with, when it is built here)
    data_chars: int = 20_000  # characters per course source when building the course shards
    num_workers: int = 0
    fsdp: bool = False
    compile: bool = False
    hellaswag_every: int = 0  # cluster: HellaSwag accuracy every N steps (needs the Hub)
    progress: bool = True

    def comparable(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUN_ONLY}


PRESETS: dict[str, dict] = {
    "smoke": dict(n_layer=2, n_head=4, n_kv_head=2, n_embd=64, block_size=64, context=128, batch_size=8, micro_batch=8,
                  steps=40, lr=3e-3, warmup=4, eval_every=20, eval_batches=2, ckpt_every=20, data_chars=20_000),
    "laptop": dict(n_layer=4, n_head=4, n_kv_head=2, n_embd=128, block_size=128, context=256, batch_size=32,
                   micro_batch=16,
                   steps=1200, lr=3e-3, warmup=100, eval_every=100, eval_batches=8, ckpt_every=200,
                   data_chars=600_000),
    "colab": dict(n_layer=6, n_head=6, n_kv_head=2, n_embd=384, block_size=512, context=512, batch_size=64,
                  micro_batch=16,
                  steps=5000, lr=1e-3, warmup=250, eval_every=250, eval_batches=20, ckpt_every=500,
                  data_chars=3_000_000, precision="fp16", num_workers=2),
    # build-nanogpt's GPT-2 124M on FineWeb-Edu 10B: 2**19 tokens per step, 19,073 steps = 10B tokens
    "cluster": dict(style="gpt2", n_layer=12, n_head=12, n_kv_head=12, n_embd=768, vocab_size=50304, block_size=1024,
                    batch_size=512, micro_batch=64, steps=19073, lr=6e-4, warmup=715, weight_decay=0.1,
                    precision="bf16", eval_every=250, eval_batches=20, ckpt_every=1000, tokenizer="gpt2",
                    num_workers=4, compile=True, hellaswag_every=250),
}


def make_config(preset: str = "smoke", model: str = "gpt", **overrides) -> PretrainConfig:
    """A PretrainConfig from a preset, with overrides (None values are ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if model not in ("gpt", "bert"):
        raise ValueError(f"--model must be gpt or bert, got {model!r}")
    kw = dict(PRESETS[preset], preset=preset, model=model)
    kw.update({k: v for k, v in overrides.items() if v is not None})
    return PretrainConfig(**kw)
