"""Attention that reads keys and values through block tables.

The engine runs the new tokens of many sequences at once. For one layer it has their
queries, flattened: q (N, H, hd), and, per sequence i, where its queries sit in that list,
their positions, and its block table. Each sequence's keys and values are gathered from
the paged cache through its table, and its queries attend over them:

    keys_i   = concat of the blocks in table_i, first ctx_len_i positions      (S_i, H_kv, hd)
    out_i    = softmax(q_i · keys_i^T · scale + mask) · values_i
    mask     : key position <= query position (causal)
               and query position - key position < window (sliding-window layers)

Sequences are padded to the longest table in the batch and the padding masked out, so a
batch is one `scaled_dot_product_attention` call. Decoding steps (one query per sequence)
and prefills (many) are batched separately, so a long prompt does not pad every decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from llmcourse.nn.mha import repeat_kv

__all__ = ["AttentionGroup", "attention_mask", "paged_attention", "paged_attention_decode"]


@dataclass
class AttentionGroup:
    """Sequences whose queries are attended together.

    rows (B, T) index into the flat query list (-1 = padding); q_pos (B, T) the queries'
    positions; tables (B, n_blocks) block tables (padding blocks point at block 0 and are
    masked); ctx_len (B,) positions stored per sequence (after this step's writes).
    """

    rows: torch.Tensor
    q_pos: torch.Tensor
    tables: torch.Tensor
    ctx_len: torch.Tensor
    masks: dict = field(default_factory=dict)  # window -> mask, built once per step, shared by the layers

    def mask(self, n_keys: int, window: int | None) -> torch.Tensor:
        if window not in self.masks:
            self.masks[window] = attention_mask(self.q_pos, n_keys, self.ctx_len, window)
        return self.masks[window]


def attention_mask(q_pos: torch.Tensor, n_keys: int, ctx_len: torch.Tensor, window: int | None) -> torch.Tensor:
    """(B, 1, T, S) True where query t of sequence b may see key s."""
    k_pos = torch.arange(n_keys, device=q_pos.device)  # (S,)
    qp = q_pos[:, :, None]  # (B, T, 1)
    ok = (k_pos <= qp) & (k_pos < ctx_len[:, None, None])
    if window is not None:
        ok &= qp - k_pos < window
    ok[:, :, 0] |= ~ok.any(dim=-1)  # padded query rows see something: no NaN (their output is dropped)
    return ok[:, None]


def paged_attention(q: torch.Tensor, cache, layer: int, group: AttentionGroup, scale: float,
                    window: int | None = None) -> torch.Tensor:
    """Attention of the group's queries over their paged keys; returns (B, T, H * hd) in row order."""
    B, T = group.rows.shape
    H, hd = q.shape[1], q.shape[2]
    qb = q[group.rows.clamp(min=0)].transpose(1, 2)  # (B, H, T, hd)
    k, v = cache.gather(layer, group.tables)  # (B, S, H_kv, hd)
    k, v = k.transpose(1, 2), v.transpose(1, 2)  # (B, H_kv, S, hd); each kv head serves H / H_kv query heads
    mask = group.mask(k.shape[2], window)
    out = F.scaled_dot_product_attention(qb, k, v, attn_mask=mask, scale=scale,
                                         enable_gqa=k.shape[1] != H)  # (B, H, T, hd)
    return out.transpose(1, 2).reshape(B, T, H * hd)


def paged_attention_decode(q: torch.Tensor, key_cache: torch.Tensor, value_cache: torch.Tensor,
                           block_tables: torch.Tensor, ctx_lens: torch.Tensor, scale: float | None = None
                           ) -> torch.Tensor:
    """One decoding step for B sequences: q (B, H, hd) attends over each sequence's first ctx_len
    keys, read through its block table from key/value caches (num_blocks, block_size, H_kv, hd).

    block_tables (B, max_blocks) (unused entries may hold any block id); returns (B, H, hd).
    """
    B, H, hd = q.shape
    nb, bs, Hkv, _ = key_cache.shape
    k = key_cache[block_tables].reshape(B, -1, Hkv, hd).transpose(1, 2)  # (B, H_kv, S, hd)
    v = value_cache[block_tables].reshape(B, -1, Hkv, hd).transpose(1, 2)
    k, v = repeat_kv(k, H // Hkv), repeat_kv(v, H // Hkv)  # (B, H, S, hd)
    mask = torch.arange(k.shape[2], device=q.device)[None, :] < ctx_lens[:, None]  # (B, S)
    out = F.scaled_dot_product_attention(q[:, :, None], k, v, attn_mask=mask[:, None, None, :],
                                         scale=scale)  # (B, H, 1, hd)
    return out[:, :, 0]
