"""The course GPT: the one model that runs through eight weeks, and its reference builds.

The learner trains it first in 3.1 (Llama-style: RMSNorm, RoPE, SwiGLU, grouped-query
attention, no biases) on the course tokenizer of 1.2, pre-trains it in week 4, fine-tunes
it in week 5, quantises and serves it in week 6, evaluates it in week 7 and aligns it in
week 8. Each notebook loads the previous week's artifact; when the learner has not made it
yet, the notebook falls back to a *reference* built here, deterministically and small
enough to build in seconds (smoke) or a minute (laptop):

    art = load_artifact("course-gpt", fallback=reference_course_gpt)
    model, tok = art["model"], art["tokenizer"]

Sizes come from the profile, like every heavy knob of the course.
"""

from __future__ import annotations

import torch

from llmcourse.models.gpt import GPT, GPTConfig

__all__ = ["COURSE_SIZES", "course_gpt_config", "course_text", "course_tokens", "course_tokenizer_vocab",
           "reference_course_gpt", "reference_course_tokenizer", "reference_pretrained_gpt"]

# the course GPT's shape per profile (Llama-style; n_kv_head < n_head: grouped-query attention)
COURSE_SIZES: dict[str, dict] = {
    "smoke": dict(n_layer=2, n_head=4, n_kv_head=2, n_embd=64, block_size=128),
    "laptop": dict(n_layer=4, n_head=4, n_kv_head=2, n_embd=128, block_size=256),
    "colab": dict(n_layer=6, n_head=6, n_kv_head=2, n_embd=384, block_size=512),
    "cluster": dict(n_layer=12, n_head=12, n_kv_head=4, n_embd=768, block_size=1024),
}
TOKENIZER_VOCAB = {"smoke": 512, "laptop": 4096, "colab": 8192, "cluster": 16384}
REFERENCE_STEPS = {"smoke": 30, "laptop": 400, "colab": 1500, "cluster": 1500}
REFERENCE_BATCH = {"smoke": 16, "laptop": 8, "colab": 16, "cluster": 16}  # 3.1's budget: 400 steps of 8 x 128 on a laptop
PRETRAIN_STEPS = {"smoke": 40, "laptop": 1500, "colab": 5000, "cluster": 5000}


def _profile(profile: str | None) -> str:
    if profile:
        return profile
    from llmcourse.config import pick_profile

    return pick_profile()[0]


def course_tokenizer_vocab(profile: str | None = None) -> int:
    """The course tokenizer's vocabulary size in this profile (specials included)."""
    return TOKENIZER_VOCAB[_profile(profile)]


def course_gpt_config(vocab_size: int, profile: str | None = None, **overrides) -> GPTConfig:
    """The course GPT's Llama-style config for this profile; `overrides` change any field."""
    kw = dict(COURSE_SIZES[_profile(profile)], vocab_size=vocab_size)
    kw.update(overrides)
    return GPTConfig.llama_style(**kw)


def course_text(chars_per_source: int, seed: int = 0) -> dict[str, str]:
    """The course's own training text: Shakespeare plus the seven-language sample, by source."""
    from llmcourse.assets.multilingual import multilingual_corpus
    from llmcourse.assets.shakespeare import load_shakespeare

    return {"shakespeare": load_shakespeare(max_chars=chars_per_source),
            **multilingual_corpus(chars_per_source, seed=seed)}


def course_tokens(tok, chars_per_source: int, val_fraction: float = 0.1, seed: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, val) token streams of the course text, every source split 90/10 on its own.

    Each source (Shakespeare, then each language) is encoded, its last `val_fraction` goes
    to validation, and the pieces are joined with `<|endoftext|>` when the tokenizer has it.
    So validation holds every language, not only the last one of a single stream.
    """
    eot = getattr(tok, "special_tokens", {}).get("<|endoftext|>")
    sep = [eot] if eot is not None else []
    train: list[int] = []
    val: list[int] = []
    for text in course_text(chars_per_source, seed).values():
        ids = tok.encode_ordinary(text) if hasattr(tok, "encode_ordinary") else tok.encode(text)
        cut = int(len(ids) * (1 - val_fraction))
        train += ids[:cut] + sep
        val += ids[cut:] + sep
    return torch.tensor(train, dtype=torch.long), torch.tensor(val, dtype=torch.long)


def reference_course_tokenizer(profile: str | None = None):
    """The course tokenizer trained the way 1.2 trains it (GPT-4-pattern BPE, multilingual sample)."""
    from llmcourse.tokenization.course_tokenizer import train_course_tokenizer

    return train_course_tokenizer(course_tokenizer_vocab(profile))


def _train_reference(steps: int, chars: int, seed: int = 0, batch: int = 16) -> dict:
    """Train the course GPT of this profile from scratch on the course text, deterministically."""
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.training import get_batch, train

    profile = _profile(None)
    tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer)
    train_ids, val_ids = course_tokens(tok, chars)
    config = course_gpt_config(tok.vocab_size, profile, attn_impl="sdpa")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT(config)
        g_train, g_val = torch.Generator().manual_seed(seed + 1), torch.Generator().manual_seed(seed + 2)
        T, B = min(config.block_size, 128), batch
        history = train(model, lambda: get_batch(train_ids, T, B, g_train), steps=steps, lr=3e-3,
                        val_batch=lambda: get_batch(val_ids, T, B, g_val), eval_every=max(1, steps),
                        eval_batches=4, warmup=steps // 10, progress=False, desc="reference course GPT")
    model.eval()
    return {"model": model, "tokenizer": tok,
            "metrics": {"val_loss": history.val_loss[-1], "steps": steps, "trained_by": "reference"}}


def reference_course_gpt() -> dict:
    """A course GPT trained briefly on the course text with seed 0: {"model", "tokenizer", "metrics"}."""
    profile = _profile(None)
    return _train_reference(REFERENCE_STEPS[profile], {"smoke": 20_000, "laptop": 200_000}.get(profile, 1_000_000),
                            batch=REFERENCE_BATCH[profile])


def reference_pretrained_gpt() -> dict:
    """The course GPT pre-trained by week 4's loop (`llmcourse.training.pretrain`) on the course text, seed 0.

    The profile's preset (smoke: 40 steps in seconds; laptop: 1,500 steps), trained on the
    course text tokenised into shards with the course tokenizer; deterministic on CPU.
    """
    import tempfile

    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.training.pretrain import make_config, pretrain

    profile = _profile(None)
    preset = {"cluster": "colab"}.get(profile, profile)
    steps = PRETRAIN_STEPS[profile]
    config = make_config(preset, "gpt", steps=steps, ckpt_every=0, eval_every=steps, progress=False,
                         data_chars={"smoke": 20_000, "laptop": 600_000}.get(profile, 3_000_000), precision="fp32",
                         num_workers=0)
    tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer, quiet=True)
    with torch.random.fork_rng(devices=[]), tempfile.TemporaryDirectory(prefix="reference-pretrain-") as tmp:
        res = pretrain(config, tmp, say=lambda *_: None)
    model = res.model.cpu().eval()
    return {"model": model, "tokenizer": tok,
            "metrics": {"val_loss": res.val_loss, "steps": steps, "trained_by": "reference",
                        "tokens": steps * config.batch_size * config.block_size}}
