"""An encoder-only transformer (BERT-like) trained with masked language modelling.

A GPT reads left to right: token i sees tokens 0..i, which is what generation needs. An
*encoder* drops the causal mask, so every token sees the whole sentence, both sides. That
makes it good at understanding (classification, tagging, retrieval embeddings, filling a
gap), but it cannot be trained to predict the next token: with both sides visible the
answer would be in the input. BERT (Devlin et al., 2018) instead hides some tokens and
asks the model to restore them: the **masked language model** (MLM) objective.

Masking, "80/10/10": choose 15% of the (non-special) tokens as prediction targets; of
those, replace 80% by `<mask>`, 10% by a random token, and leave 10% unchanged. The loss
is taken only at the chosen positions. Why not always `<mask>`? At fine-tuning and
inference time there is no `<mask>` in the input, so the model must also produce good
representations of ordinary tokens; the random 10% stops it from trusting every
unmasked token blindly.

This file: `mask_tokens` (the 80/10/10 rule), `EncoderBlock` (the course's
`llmcourse.nn.MultiHeadAttention` without a causal mask, plus a GELU feed-forward), and
`BERT` with its MLM head, plus `fill_mask` for cloze demos. Padding, input checks and the
loss over labelled positions are shared with the other models (`llmcourse.models.common`).
Differences from the 2018 BERT: pre-LayerNorm blocks (train stably without warmup tricks
at small scale), no next-sentence prediction. Segment embeddings are kept: in the
course the input is often a translation pair, `en <sep> id`, with segment 0 and 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn

from llmcourse.models.common import IGNORE, check_ids, init_weights, label_loss, pad_batch
from llmcourse.nn.feedforward import FeedForward
from llmcourse.nn.mha import MultiHeadAttention
from llmcourse.nn.norms import make_norm

__all__ = ["BERT", "BertConfig", "EncoderBlock", "fill_mask", "mask_tokens", "masked_lm_loss", "pair_batch",
           "pair_segments"]

masked_lm_loss = label_loss  # BERT's loss: mean cross-entropy over the masked (labelled) positions



# ------------------------------------------------------------------------ masking


def mask_tokens(ids: torch.Tensor, mask_id: int, vocab_size: int, special_ids: Sequence[int] = (),
                mask_prob: float = 0.15, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's 80/10/10 masking. Returns (inputs, labels), both shaped like `ids`.

    Each non-special token is chosen with probability `mask_prob`. A chosen token is
    replaced by `mask_id` with probability 0.8, by a random non-special token with
    probability 0.1, and left as it is with probability 0.1. `labels` holds the original
    token at chosen positions and IGNORE (-100) everywhere else. Special tokens (padding,
    `<s>`, `<sep>`...) are never chosen, and random replacements are never specials.
    Pass a seeded `generator` for reproducible masks.
    """
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob}")
    if ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"ids must be an integer tensor of token ids, got {ids.dtype}")
    special = torch.tensor(sorted(set(int(s) for s in special_ids)), dtype=torch.long)
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[special[(special >= 0) & (special < vocab_size)]] = False
    pool = allowed.nonzero().squeeze(1)  # the ids a random replacement may take
    if len(pool) == 0:
        raise ValueError("every id is special: nothing to draw random replacements from")

    ids = ids.long()
    device = ids.device
    candidate = ~torch.isin(ids, special.to(device))  # (B, T) True where a token may be chosen
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob).to(device) & candidate
    action = torch.rand(ids.shape, generator=generator).to(device)  # 80 / 10 / 10
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    random_ids = pool[torch.randint(len(pool), ids.shape, generator=generator)].to(device)

    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)
    inputs = torch.where(to_random, random_ids, inputs)
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return inputs, labels


# ------------------------------------------------------------------------ layers


class EncoderBlock(nn.Module):
    """Pre-norm transformer block without a causal mask: x + attn(norm(x)), then x + mlp(norm(x)).

    Built from the course's `llmcourse.nn` parts: `MultiHeadAttention` (whose attention is
    `scaled_dot_product_attention`), `FeedForward` and a norm ("layernorm" or "rmsnorm").
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = True,
                 norm: str = "layernorm", attn_impl: str = "ours"):
        super().__init__()
        self.ln1, self.ln2 = make_norm(norm, n_embd, bias=bias), make_norm(norm, n_embd, bias=bias)
        self.attn = MultiHeadAttention(n_embd, n_head, bias=bias, dropout=dropout, attn_impl=attn_impl)
        self.mlp = FeedForward(n_embd, activation="gelu", bias=bias, dropout=dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask=mask)  # (B, T, C)
        return x + self.mlp(self.ln2(x))  # (B, T, C)


# ------------------------------------------------------------------------ the model


@dataclass
class BertConfig:
    vocab_size: int
    block_size: int = 64  # learned positions: the longest input the model accepts
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    n_segments: int = 2  # segment (token type) embeddings; 0 turns them off
    pad_id: int = 0
    attn_impl: str = "ours"  # "ours" (llmcourse.nn.attention) or "sdpa" (torch's fused kernel)


class BERT(nn.Module):
    """Encoder-only transformer with a masked-LM head tied to the token embeddings.

    forward(ids, segments=None, labels=None) -> (logits (B, T, V), loss or None).
    Padding (`pad_id`) is masked out as keys, so a padded sequence gives the same outputs
    at its real positions as the unpadded one.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        c = self.config = config
        self.tok = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos = nn.Embedding(c.block_size, c.n_embd)
        self.seg = nn.Embedding(c.n_segments, c.n_embd) if c.n_segments else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(EncoderBlock(c.n_embd, c.n_head, c.dropout, attn_impl=c.attn_impl) for _ in range(c.n_layer))
        self.ln_f = make_norm("layernorm", c.n_embd)
        self.head = nn.Sequential(nn.Linear(c.n_embd, c.n_embd), nn.GELU(), make_norm("layernorm", c.n_embd))
        self.out_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.apply(init_weights)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def encode(self, ids: torch.Tensor, segments: torch.Tensor | None = None) -> torch.Tensor:
        """Contextual vectors (B, T, C): every position has seen the whole (unpadded) input."""
        check_ids(ids, self.config.block_size, "ids", self.config.vocab_size)
        B, T = ids.shape
        x = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))  # (B, T, C)
        if self.seg is not None:
            x = x + self.seg(segments if segments is not None else torch.zeros_like(ids))
        x = self.drop(x)
        keys = (ids != self.config.pad_id)[:, None, None, :]  # (B, 1, 1, T) True = real token
        for block in self.blocks:
            x = block(x, mask=keys)  # (B, T, C)
        return self.ln_f(x)  # (B, T, C)

    def forward(self, ids: torch.Tensor, segments: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.head(self.encode(ids, segments))  # (B, T, C)
        logits = h @ self.tok.weight.T + self.out_bias  # (B, T, V), tied to the input embedding
        loss = label_loss(logits, labels) if labels is not None else None
        return logits, loss


def pair_segments(ids: torch.Tensor, sep_id: int) -> torch.Tensor:
    """Segment ids for `a <sep> b` inputs: 0 up to and including the first <sep>, 1 after it."""
    after = (ids == sep_id).long().cumsum(dim=1)  # (B, T) 1 from the <sep> on
    return ((after - (ids == sep_id).long()) > 0).long()


@torch.no_grad()
def fill_mask(model: BERT, ids: torch.Tensor, mask_id: int, top_k: int = 5,
              segments: torch.Tensor | None = None) -> list[list[tuple[int, float]]]:
    """The top-k (token id, probability) guesses at every `<mask>` of a single sequence (1, T)."""
    if ids.dim() == 1:
        ids = ids[None]
    if ids.shape[0] != 1:
        raise ValueError(f"fill_mask takes one sequence, got a batch of {ids.shape[0]}")
    where = (ids[0] == mask_id).nonzero().squeeze(1)
    if len(where) == 0:
        raise ValueError("no <mask> token in the input: put at least one mask where a word should be guessed")
    was = model.training
    model.eval()
    logits, _ = model(ids, segments)
    model.train(was)
    probs = logits[0, where].float().softmax(-1)  # (M, V)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    return [[(int(i), float(p)) for i, p in zip(ti, tp)] for ti, tp in zip(top.indices, top.values)]



def pair_batch(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], pad_id: int, bos_id: int,
               sep_id: int, eos_id: int, device: str | torch.device | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, segments) of `<s> source <sep> target </s>` sequences, right-padded: (B, T) each.

    Masked LM on such pairs (XLM's "translation language modelling") lets the model fill
    a gap in one language by looking at the other.
    """
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
    ids = pad_batch([[bos_id, *s, sep_id, *t, eos_id] for s, t in zip(sources, targets)], pad_id, device)
    return ids, pair_segments(ids, sep_id)
