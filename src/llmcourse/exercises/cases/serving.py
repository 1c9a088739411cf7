"""Exercises of notebook 6.3 (production optimisations). Oracles: a contiguous KV cache (the
keys written through your slot mapping and read back through the block table must be the
sequence's own keys, in order), a reference-counting model of block ownership, and torch's
`scaled_dot_product_attention` over each sequence's contiguous keys."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


# ----------------------------------------------------------------------------- slot mapping
def _slot_ignores_table(block_table, positions, block_size):
    return torch.as_tensor(positions, dtype=torch.long)  # as if blocks were contiguous


def _slot_swapped(block_table, positions, block_size):
    t = torch.as_tensor(block_table)
    p = torch.as_tensor(positions)
    return t[p % len(block_table)] * block_size + p // block_size


def _slot_times_table_len(block_table, positions, block_size):
    t = torch.as_tensor(block_table)
    p = torch.as_tensor(positions)
    return t[p // block_size] * len(block_table) + p % block_size


@exercise("serving.slot_mapping", difficulty=1, minutes=10, reference="llmcourse.serving.paged_cache:slot_mapping",
          wrong={"ignores the block table": _slot_ignores_table, "block and offset swapped": _slot_swapped,
                 "multiplies by the table length": _slot_times_table_len},
          hint="position p lives in block block_table[p // block_size], at offset p % block_size; the flat slot is "
               "block * block_size + offset")
def _slot_mapping():
    g = torch.Generator().manual_seed(0)
    for label, table, bs, length in (("3 blocks of 4", [7, 2, 9], 4, 11), ("block size 16", [3, 0, 5, 1], 16, 64),
                                      ("one block", [5], 8, 8), ("block size 1", [4, 1, 3, 0, 2], 1, 5)):
        def test(fn, table=table, bs=bs, length=length):
            n_blocks = max(table) + 1
            keys = torch.randn(length, 2, generator=g)  # the sequence's keys, contiguous: the oracle
            cache = torch.full((n_blocks * bs, 2), float("nan"))
            slots = torch.as_tensor(fn(table, list(range(length)), bs))
            assert slots.dtype == torch.long and slots.shape == (length,), \
                f"return one long slot per position, shape ({length},); got {slots.dtype} {tuple(slots.shape)}"
            cache[slots] = keys  # write through your mapping...
            back = cache.view(n_blocks, bs, 2)[torch.tensor(table)].reshape(-1, 2)[:length]  # ...read through the table
            assert torch.equal(back, keys), "reading the blocks of the table in order must give the keys in order"
        yield Case(label, test=test)


# ----------------------------------------------------------------------------- the allocator
class _NoRefcount:
    """Frees a block on its first free, even while another sequence still uses it."""

    def __init__(self, num_blocks):
        self.free_list = list(range(num_blocks))

    @property
    def num_free(self):
        return len(self.free_list)

    def allocate(self):
        if not self.free_list:
            raise RuntimeError("out of blocks")
        return self.free_list.pop(0)

    def share(self, block):
        return block

    def free(self, block):
        if block not in self.free_list:
            self.free_list.append(block)


class _NeverRemoves(_NoRefcount):
    """Hands out a block without taking it off the free list."""

    def __init__(self, num_blocks):
        super().__init__(num_blocks)
        self.ref = [0] * num_blocks

    def allocate(self):
        for b in self.free_list:
            if self.ref[b] == 0:
                self.ref[b] = 1
                return b
        raise RuntimeError("out of blocks")

    def share(self, block):
        self.ref[block] += 1
        return block

    def free(self, block):
        self.ref[block] -= 1


class _NoErrorWhenFull(_NoRefcount):
    def __init__(self, num_blocks):
        super().__init__(num_blocks)
        self.ref = {}

    def allocate(self):
        b = self.free_list.pop(0) if self.free_list else 0  # silently reuses block 0
        self.ref[b] = 1
        return b

    def share(self, block):
        self.ref[block] += 1
        return block

    def free(self, block):
        self.ref[block] -= 1
        if self.ref[block] == 0:
            self.free_list.append(block)


@exercise("serving.block_allocator", difficulty=2, minutes=20, reference="llmcourse.serving.paged_cache:BlockAllocator",
          wrong={"no reference counts": _NoRefcount, "allocate leaves the block on the free list": _NeverRemoves,
                 "no error when full": _NoErrorWhenFull},
          hint="keep a free list and ref[block]; allocate pops a free block (ref = 1) or raises when none is left; "
               "share adds 1; free subtracts 1 and returns the block to the free list only at 0")
def _block_allocator():
    def distinct(cls):
        alloc = cls(4)
        got = [alloc.allocate() for _ in range(4)]
        assert sorted(got) == [0, 1, 2, 3], f"four allocations from 4 blocks must give 4 different blocks, got {got}"
        assert alloc.num_free == 0, f"num_free should be 0 after taking every block, got {alloc.num_free}"

    def full(cls):
        alloc = cls(2)
        alloc.allocate(), alloc.allocate()
        try:
            alloc.allocate()
        except Exception:
            return
        raise AssertionError("allocating from a full cache must raise (the scheduler then queues or preempts)")

    def shared(cls):
        alloc = cls(3)
        b = alloc.allocate()
        alloc.share(b)  # a second sequence with the same prefix
        alloc.free(b)  # the first one finishes
        assert alloc.num_free == 2, f"one of 3 blocks is still in use: num_free should be 2, got {alloc.num_free}"
        others = [alloc.allocate() for _ in range(alloc.num_free)]
        assert b not in others, "a block still used by another sequence was handed out again"
        alloc.free(b)  # the second one finishes
        assert alloc.num_free == 1 and alloc.allocate() == b, "after the last user frees it, the block is free again"

    def recycles(cls):
        alloc = cls(2)
        a = alloc.allocate()
        alloc.free(a)
        assert alloc.num_free == 2, "a freed block goes back to the free list"
        assert sorted([alloc.allocate(), alloc.allocate()]) == [0, 1]

    for label, test in (("distinct blocks", distinct), ("full cache raises", full), ("shared blocks", shared),
                        ("freed blocks are reused", recycles)):
        yield Case(label, test=test)


# ----------------------------------------------------------------------------- paged attention
def _paged_no_length_mask(q, key_cache, value_cache, block_tables, ctx_lens, scale=None):
    B, H, hd = q.shape
    Hkv = key_cache.shape[2]
    k = key_cache[block_tables].reshape(B, -1, Hkv, hd).transpose(1, 2).repeat_interleave(H // Hkv, 1)
    v = value_cache[block_tables].reshape(B, -1, Hkv, hd).transpose(1, 2).repeat_interleave(H // Hkv, 1)
    return F.scaled_dot_product_attention(q[:, :, None], k, v, scale=scale)[:, :, 0]  # attends to stale slots too


def _paged_wrong_groups(q, key_cache, value_cache, block_tables, ctx_lens, scale=None):
    B, H, hd = q.shape
    Hkv = key_cache.shape[2]
    k = key_cache[block_tables].reshape(B, -1, Hkv, hd).transpose(1, 2).repeat(1, H // Hkv, 1, 1)  # tiles heads
    v = value_cache[block_tables].reshape(B, -1, Hkv, hd).transpose(1, 2).repeat(1, H // Hkv, 1, 1)
    mask = torch.arange(k.shape[2])[None] < ctx_lens[:, None]
    return F.scaled_dot_product_attention(q[:, :, None], k, v, attn_mask=mask[:, None, None], scale=scale)[:, :, 0]


def _paged_block_order(q, key_cache, value_cache, block_tables, ctx_lens, scale=None):
    B, H, hd = q.shape
    Hkv = key_cache.shape[2]
    tables = block_tables.sort(dim=1).values  # reads the blocks in id order, not table order
    k = key_cache[tables].reshape(B, -1, Hkv, hd).transpose(1, 2).repeat_interleave(H // Hkv, 1)
    v = value_cache[tables].reshape(B, -1, Hkv, hd).transpose(1, 2).repeat_interleave(H // Hkv, 1)
    mask = torch.arange(k.shape[2])[None] < ctx_lens[:, None]
    return F.scaled_dot_product_attention(q[:, :, None], k, v, attn_mask=mask[:, None, None], scale=scale)[:, :, 0]


@exercise("serving.paged_attention", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.serving.paged_attention:paged_attention_decode",
          wrong={"no mask past ctx_len": _paged_no_length_mask, "GQA heads tiled, not grouped": _paged_wrong_groups,
                 "blocks read in id order": _paged_block_order},
          hint="keys = key_cache[block_tables] -> (B, n_blocks * block_size, H_kv, hd), transpose to (B, H_kv, S, hd), "
               "repeat_interleave each kv head H / H_kv times, mask key positions >= ctx_len, then softmax attention")
def _paged_attention():
    g = torch.Generator().manual_seed(0)
    for label, (B, H, Hkv, hd, bs, nb, lens) in (("MHA, 2 sequences", (2, 4, 4, 8, 4, 10, [7, 12])),
                                                ("GQA 4 -> 2", (3, 4, 2, 8, 4, 16, [1, 9, 16])),
                                                ("MQA, block size 8", (2, 6, 1, 16, 8, 8, [20, 5]))):
        max_blocks = max((n + bs - 1) // bs for n in lens)
        perm = torch.randperm(nb, generator=g)[: B * max_blocks].reshape(B, max_blocks)  # scattered blocks
        key_cache = torch.randn(nb, bs, Hkv, hd, generator=g)
        value_cache = torch.randn(nb, bs, Hkv, hd, generator=g)
        q = torch.randn(B, H, hd, generator=g)
        ctx = torch.tensor(lens)
        want = []
        for b in range(B):  # the oracle: plain attention over each sequence's contiguous keys
            k = key_cache[perm[b]].reshape(-1, Hkv, hd)[: lens[b]].transpose(0, 1)  # (H_kv, S, hd)
            v = value_cache[perm[b]].reshape(-1, Hkv, hd)[: lens[b]].transpose(0, 1)
            k, v = k.repeat_interleave(H // Hkv, 0), v.repeat_interleave(H // Hkv, 0)
            want.append(F.scaled_dot_product_attention(q[b][:, None], k, v)[:, 0])  # (H, hd)
        yield Case(label, args=(q, key_cache, value_cache, perm, ctx), expected=torch.stack(want), atol=1e-5)
