"""A paged KV cache: fixed-size blocks, a free list, block tables, shared prefixes.

A plain KV cache reserves max_len positions per sequence up front; most of it sits empty
(a request that ends after 20 tokens held room for 2048), and memory, not compute, caps
the batch. PagedAttention (vLLM, Kwon et al. 2023) stores keys and values the way an
operating system stores memory pages:

    physical blocks   key_cache[layer]: (num_blocks, block_size, H_kv, hd)   (and values)
    block table       per sequence: [7, 2, 9]  = its positions 0-15 live in block 7,
                      16-31 in block 2, 32-47 in block 9 (block_size 16)
    allocator         a free list; a sequence takes one more block each time it crosses
                      a block boundary and gives all back when it finishes

Waste is at most one partly filled block per sequence. Because blocks are reached through
a table, two sequences can point at the *same* physical block: requests that start with
the same system prompt share its blocks (prefix sharing). Each block carries a reference
count; a full block of a prompt is registered under a hash of all tokens up to its end,
so a later prompt with the same prefix finds it. A block is written only by a sequence
that owns it alone: writing into a shared block first copies it (copy-on-write).

Freed blocks that hold a registered prefix stay findable until the allocator needs them
again (least recently freed first), so a popular system prompt survives between requests.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

__all__ = ["BlockAllocator", "NoFreeBlocks", "PagedKVCache", "prefix_hashes", "slot_mapping"]


class NoFreeBlocks(RuntimeError):
    """Every block is in use; the scheduler queues or preempts instead."""


def slot_mapping(block_table: list[int], positions: list[int], block_size: int) -> torch.Tensor:
    """Where positions live in the flat cache: block_table[p // block_size] * block_size + p % block_size."""
    table = torch.as_tensor(block_table, dtype=torch.long)
    pos = torch.as_tensor(positions, dtype=torch.long)
    return table[pos // block_size] * block_size + pos % block_size


def prefix_hashes(tokens: list[int], block_size: int, parent: int | None = None) -> list[int]:
    """One hash per *full* block of `tokens`, each covering every token from the start to the block's end."""
    out, h = [], parent
    for i in range(0, len(tokens) - block_size + 1, block_size):
        h = hash((h, tuple(tokens[i:i + block_size])))
        out.append(h)
    return out


class BlockAllocator:
    """Hands out block ids from a free list, with reference counts and a prefix table."""

    def __init__(self, num_blocks: int) -> None:
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.num_blocks = num_blocks
        self.ref = [0] * num_blocks
        self.free_list: OrderedDict[int, None] = OrderedDict((b, None) for b in range(num_blocks))
        self.by_hash: dict[int, int] = {}  # prefix hash -> block holding it
        self.hash_of: dict[int, int] = {}  # block -> its prefix hash

    @property
    def num_free(self) -> int:
        return len(self.free_list)

    @property
    def num_used(self) -> int:
        return self.num_blocks - self.num_free

    def allocate(self) -> int:
        """A block nobody uses, now with one user: the least recently freed one."""
        if not self.free_list:
            raise NoFreeBlocks(f"all {self.num_blocks} KV-cache blocks are in use")
        block, _ = self.free_list.popitem(last=False)  # least recently freed
        old = self.hash_of.pop(block, None)
        if old is not None:
            self.by_hash.pop(old, None)  # its cached prefix is overwritten now
        self.ref[block] = 1
        return block

    def share(self, block: int) -> int:
        """One more user of `block` (a sequence that shares a prefix)."""
        if self.ref[block] == 0:
            self.free_list.pop(block, None)  # a cached block comes back to life
        self.ref[block] += 1
        return block

    def free(self, block: int) -> None:
        """One user fewer; at zero the block returns to the free list (keeping its prefix findable)."""
        if self.ref[block] <= 0:
            raise RuntimeError(f"block {block} freed more often than it was allocated")
        self.ref[block] -= 1
        if self.ref[block] == 0:
            self.free_list[block] = None

    def lookup(self, prefix_hash: int) -> int | None:
        """The block registered under this prefix hash, shared with the caller; None if not cached."""
        block = self.by_hash.get(prefix_hash)
        return None if block is None else self.share(block)

    def register(self, block: int, prefix_hash: int) -> None:
        """Make a full block findable by its prefix hash (the first block with a given hash wins)."""
        if prefix_hash not in self.by_hash and block not in self.hash_of:
            self.by_hash[prefix_hash] = block
            self.hash_of[block] = prefix_hash


class PagedKVCache:
    """The physical blocks of every layer: keys and values (num_blocks, block_size, H_kv, hd)."""

    def __init__(self, n_layer: int, num_blocks: int, block_size: int, n_kv_head: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> None:
        shape = (num_blocks, block_size, n_kv_head, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layer)]
        self.block_size, self.num_blocks = block_size, num_blocks
        self.allocator = BlockAllocator(num_blocks)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.keys + self.values)

    @property
    def bytes_per_block(self) -> int:
        return self.nbytes // self.num_blocks

    def write(self, layer: int, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store k, v (N, H_kv, hd) at flat slots (N,) = block * block_size + offset."""
        self.keys[layer].view(-1, *k.shape[1:])[slots] = k
        self.values[layer].view(-1, *v.shape[1:])[slots] = v

    def copy_block(self, src: int, dst: int) -> None:
        """Copy-on-write: duplicate one block in every layer."""
        for t in self.keys + self.values:
            t[dst] = t[src]

    def gather(self, layer: int, tables: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of sequences through their block tables (B, n_blocks) -> (B, S, H_kv, hd)."""
        B, nb = tables.shape
        k = self.keys[layer][tables].reshape(B, nb * self.block_size, *self.keys[layer].shape[2:])
        v = self.values[layer][tables].reshape(B, nb * self.block_size, *self.values[layer].shape[2:])
        return k, v
