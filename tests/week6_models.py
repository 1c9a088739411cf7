"""Small course GPTs for the week-6 tests: a course tokenizer, a target and drafts, in about a second.

The models are random-init course GPTs (the smoke profile's shape), with their block
weights scaled up so the logits are spread out: greedy decoding then has clear winners (gaps far
above float32 rounding) and varied output, so "same tokens" tests mean something. A
draft for speculative decoding is the target with noise added (it agrees often, not
always) or a smaller model (it rarely agrees). Deterministic, built once per process.
"""

from __future__ import annotations

import functools

import torch

from llmcourse.models import GPT
from llmcourse.models.course import course_gpt_config

TEXT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings and "
        "arrows of outrageous fortune. Selamat pagi! Apa kabar? Saya suka belajar. Xin chào, bạn khỏe không? "
        "สวัสดีครับ ยินดีต้อนรับ வணக்கம் நண்பரே 1234567 numbers, lines\n\nand tabs\t.")


@functools.lru_cache(maxsize=1)
def tiny_tokenizer():
    """A course tokenizer (GPT-4 split pattern, <|endoftext|> and <|pad|>) with 300 tokens."""
    from llmcourse.tokenization.bpe_regex import RegexTokenizer
    from llmcourse.tokenization.course_tokenizer import SPECIALS

    tok = RegexTokenizer().train(TEXT, 300 - len(SPECIALS), progress=False)
    tok.register_special_tokens({s: 300 - len(SPECIALS) + i for i, s in enumerate(SPECIALS)})
    return tok


def _model(seed: int, scale: float = 8.0, **shape) -> GPT:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT(course_gpt_config(tiny_tokenizer().vocab_size, "smoke", attn_impl="sdpa", **shape))
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.dim() > 1 and "tok_emb" not in name:  # the blocks, not the (tied) embedding
                    p.mul_(scale)
    return model.eval()


@functools.lru_cache(maxsize=1)
def tiny_target() -> GPT:
    """The smoke-profile course GPT shape (2 layers, 64 wide, GQA 4 -> 2), block weights x8."""
    return _model(0)


@functools.lru_cache(maxsize=1)
def noisy_draft() -> GPT:
    """The target plus 5% noise: agrees with it on many tokens, not all."""
    draft = _model(0)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in draft.parameters():
            p.add_(0.05 * p.std() * torch.randn(p.shape, generator=g))
    return draft


@functools.lru_cache(maxsize=1)
def small_draft() -> GPT:
    """An unrelated 1-layer, 32-wide GPT on the same vocabulary."""
    return _model(1, n_layer=1, n_embd=32, n_head=2, n_kv_head=1)


def prompts(n: int, seed: int = 0, lo: int = 3, hi: int = 40) -> list[list[int]]:
    """n prompts of mixed lengths (random ids)."""
    g = torch.Generator().manual_seed(seed)
    V = tiny_tokenizer().vocab_size
    return [torch.randint(0, V, (int(torch.randint(lo, hi + 1, (1,), generator=g)),), generator=g).tolist()
            for _ in range(n)]
