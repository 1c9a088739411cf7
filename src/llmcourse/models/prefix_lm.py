"""Translation with a decoder-only model: the GPT as a conditional (prefix) language model.

A decoder-only model has no separate encoder, so the source goes into the same sequence
as the target, separated by a marker:

    <s> two hundred and five <sep> dua ratus lima </s>
    '------ prefix ---------'      '-- target ---'

Training is next-token prediction on this sequence, with the loss taken only on the
target tokens (and `</s>`): the prefix is given, not predicted. Translating is then
ordinary generation: feed `<s> source <sep>` and decode greedily until `</s>`. This is
how every instruction-tuned LLM works: the prompt is the prefix, the answer the target.

In T5's paper a "prefix LM" also lets the prefix attend *bidirectionally* (a BERT-like
mask over the source, causal over the target). The course GPT keeps its causal mask
everywhere, the choice of GPT-style LLMs; only the loss is restricted to the target.
"""

from __future__ import annotations

from typing import Sequence

import torch

from llmcourse.models.common import IGNORE, pad_batch

__all__ = ["prefix_lm_batch", "prefix_lm_sequence", "prefix_lm_translate"]


def prefix_lm_sequence(source: Sequence[int], target: Sequence[int], bos_id: int, sep_id: int,
                       eos_id: int) -> tuple[list[int], int]:
    """(`<s> source <sep> target </s>`, prefix length = len(source) + 2)."""
    return [bos_id, *source, sep_id, *target, eos_id], len(source) + 2


def prefix_lm_batch(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], pad_id: int, bos_id: int,
                    sep_id: int, eos_id: int, device: str | torch.device | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(idx, labels) for the GPT's `forward(idx, labels)`, both (B, T), right-padded.

    idx is the sequence without its last token; labels is the sequence shifted left by
    one, with IGNORE (-100) wherever the next token is still part of the prefix (source or
    `<sep>`) or padding. So the loss counts exactly the target tokens and `</s>`.
    """
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
    if len(sources) == 0:
        raise ValueError("empty batch: pass at least one (source, target) pair")
    rows, lab_rows = [], []
    for src, tgt in zip(sources, targets):
        seq, n_prefix = prefix_lm_sequence(src, tgt, bos_id, sep_id, eos_id)
        rows.append(seq[:-1])
        nxt = seq[1:]  # label at position i is token i + 1
        lab_rows.append([IGNORE] * (n_prefix - 1) + nxt[n_prefix - 1:])
    return pad_batch(rows, pad_id, device), pad_batch(lab_rows, IGNORE, device)


@torch.no_grad()
def prefix_lm_translate(model, sources: Sequence[Sequence[int]], bos_id: int, sep_id: int, eos_id: int,
                        max_new_tokens: int = 32, batch_size: int = 64) -> list[list[int]]:
    """Greedy translations (token lists, without `</s>`) from a GPT trained on prefix-LM batches.

    Sources of equal length are decoded together (no padding in a prompt, so no position
    shift and no attention mask needed); results come back in the input order. A prompt
    plus `max_new_tokens` must fit in the model's `block_size`, else a ValueError says so.
    """
    if len(sources) == 0:
        return []
    block = model.config.block_size
    device = next(model.parameters()).device
    prompts = [[bos_id, *s, sep_id] for s in sources]
    too_long = max(len(p) for p in prompts) + max_new_tokens
    if too_long > block:
        raise ValueError(f"a prompt of {too_long - max_new_tokens} tokens plus max_new_tokens={max_new_tokens} "
                         f"exceeds block_size={block}; shorten the source or lower max_new_tokens")
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    out: list[list[int]] = [[] for _ in prompts]
    for length, members in sorted(by_len.items()):
        for start in range(0, len(members), batch_size):
            chunk = members[start:start + batch_size]
            idx = torch.tensor([prompts[i] for i in chunk], dtype=torch.long, device=device)  # (b, length)
            gen = model.generate(idx, max_new_tokens, temperature=0.0, eos_token_id=eos_id)[:, length:]
            for i, row in zip(chunk, gen.tolist()):
                out[i] = row[: row.index(eos_id)] if eos_id in row else row
    return out
