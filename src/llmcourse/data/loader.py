"""Batches from token shards: deterministic, resumable, data-parallel, with worker processes.

`ShardBatchSampler` decides which windows form the batch of every optimiser step:

    epoch e   = a permutation of all windows, drawn from seed and e (the same on every machine)
    step s    = global batch s of that order, batch_size windows, then rank r of the
                world_size data-parallel ranks takes its contiguous slice

so the batch of step s depends on (seed, s) only: a run resumed at step s reads exactly
what the uninterrupted run would have read, and 2 ranks with half batches read together
what 1 process with the whole batch reads. `make_loader` wraps it in a PyTorch
`DataLoader`: worker processes read and collate the memory-mapped windows while the main
process trains, and on a GPU the batches come in pinned (page-locked) memory, so the
copy to the device can overlap compute (`.to(device, non_blocking=True)`).
"""

from __future__ import annotations

import time
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

__all__ = ["ShardBatchSampler", "datasets_loader", "loader_throughput", "make_loader"]


class ShardBatchSampler(Sampler[list[int]]):
    """Index lists, one per optimiser step from `start_step` on (forever, epoch after epoch)."""

    def __init__(self, n_windows: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 start_step: int = 0, steps: int | None = None):
        if batch_size < 1 or world_size < 1:
            raise ValueError(f"batch_size and world_size must be positive, got {batch_size}, {world_size}")
        if batch_size % world_size:
            raise ValueError(f"the global batch of {batch_size} sequences does not split evenly over "
                             f"{world_size} ranks: choose a batch size divisible by the world size")
        if n_windows < batch_size:
            raise ValueError(f"{n_windows} windows cannot fill one batch of {batch_size}: "
                             "use more data, a smaller batch or a smaller block_size")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.n, self.batch_size, self.seed = n_windows, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.start_step, self.steps = start_step, steps
        self.per_epoch = n_windows // batch_size  # the last partial batch of an epoch is dropped
        self._perm_epoch, self._perm = -1, None

    def permutation(self, epoch: int) -> torch.Tensor:
        """The order of all windows in `epoch`: torch.randperm seeded by (seed, epoch)."""
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g), epoch
        return self._perm

    def global_batch(self, step: int) -> list[int]:
        """All batch_size window indices of optimiser step `step` (every rank's together)."""
        epoch, b = divmod(step, self.per_epoch)
        return self.permutation(epoch)[b * self.batch_size:(b + 1) * self.batch_size].tolist()

    def batch_for(self, step: int) -> list[int]:
        """This rank's slice of step `step`'s global batch."""
        per_rank = self.batch_size // self.world_size
        return self.global_batch(step)[self.rank * per_rank:(self.rank + 1) * per_rank]

    def epoch_of(self, step: int) -> int:
        return step // self.per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while self.steps is None or step < self.steps:
            yield self.batch_for(step)
            step += 1

    def __len__(self) -> int:
        if self.steps is None:
            raise TypeError("an endless sampler has no length; give steps=")
        return max(0, self.steps - self.start_step)


def make_loader(dataset, batch_size: int, *, seed: int = 0, start_step: int = 0, steps: int | None = None,
                rank: int = 0, world_size: int = 1, num_workers: int = 0, pin_memory: bool | None = None,
                prefetch_factor: int = 4) -> DataLoader:
    """A DataLoader over `dataset` whose k-th batch is this rank's part of step start_step + k.

    pin_memory defaults to True when CUDA is available (page-locked host memory makes the
    host-to-GPU copy asynchronous). Workers each memory-map the shards themselves.
    """
    sampler = ShardBatchSampler(len(dataset), batch_size, seed, rank, world_size, start_step, steps)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    kw = {"num_workers": num_workers, "pin_memory": pin_memory}
    if num_workers:
        kw.update(prefetch_factor=prefetch_factor, persistent_workers=False)
    return DataLoader(dataset, batch_sampler=sampler, **kw)


def loader_throughput(loader, n_batches: int, warmup: int = 2) -> float:
    """Tokens per second the loader delivers (x tokens), after `warmup` batches (worker start-up)."""
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    tokens = 0
    start = time.perf_counter()
    for _ in range(n_batches):
        batch = next(it)
        x = batch[0] if isinstance(batch, (list, tuple)) else batch["input_ids"]
        tokens += x.numel()
    return tokens / (time.perf_counter() - start)


def datasets_loader(dataset, batch_size: int, seed: int = 0, num_workers: int = 0) -> DataLoader:
    """The same windows through Hugging Face `datasets` (an Arrow table, torch format): the usual alternative.

    Builds a `datasets.Dataset` with one row per window ("input_ids": block_size + 1 ids),
    formatted as torch tensors, shuffled by a seeded DataLoader. For comparisons with
    `make_loader` on equal data.
    """
    import numpy as np
    from datasets import Dataset

    windows = np.stack([dataset.window(i) for i in range(len(dataset))]).astype(np.int64)
    ds = Dataset.from_dict({"input_ids": windows}).with_format("torch")

    def collate(rows):
        ids = torch.stack([r["input_ids"] for r in rows])
        return ids[:, :-1], ids[:, 1:]

    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g, collate_fn=collate,
                      num_workers=num_workers, drop_last=True)
