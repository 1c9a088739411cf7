"""Data-parallel training with torchrun: DDP (replicate) and FSDP (shard), gloo on CPU, NCCL on GPUs.

`torchrun --nproc_per_node=N -m llmcourse.training.pretrain ...` starts N processes and
gives each RANK, LOCAL_RANK, WORLD_SIZE and a rendezvous address in its environment.
`init_distributed()` reads them (a plain `python` run is a world of one) and joins the
process group: NCCL when every rank has a GPU, gloo on CPUs. Multi-node is the same
command on every node with `--nnodes=M --node_rank=i --rdzv-backend=c10d
--rdzv-endpoint=HOST:PORT`.

DDP: every rank holds the whole model and optimiser, computes gradients on its slice of
the batch, and an all-reduce averages the gradients, so every rank takes the same step:
with equal slices, the average of the ranks' mean gradients *is* the mean gradient of the
whole batch, and N ranks with B/N sequences each end with the weights of one process
with B.

FSDP (`torch.distributed.fsdp.fully_shard`, "FSDP2"): each rank keeps only 1/N of every
parameter, gradient and optimiser state; the layer's full weights are all-gathered just
before it runs and freed after, gradients are reduce-scattered. Memory per rank for the
model state drops about N-fold, for more communication. gloo has the collectives FSDP2
needs in this torch, so it runs on CPU too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistInfo", "all_reduce_mean", "check_batch_layout", "cleanup_distributed", "init_distributed",
           "model_state_bytes", "unwrap", "wrap_model"]


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: str = "cpu"
    backend: str | None = None  # None: not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None


def init_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun process group if there is one; return this process's rank, world and device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if world == 1:
        return DistInfo(device=device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if device.startswith("cuda"):
        if torch.cuda.device_count() <= local:
            raise RuntimeError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPUs here: "
                               "give --nproc_per_node at most the number of GPUs")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank, local, world, device, backend)


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def check_batch_layout(batch_size: int, micro_batch: int, world_size: int) -> tuple[int, int]:
    """(micro-batches per rank per step, micro-batch size); a clear error if they do not divide.

    A micro-batch larger than a rank's share shrinks to that share, so the same command
    runs on 1 or N ranks (the global batch, hence the training, stays the same).
    """
    if batch_size % world_size:
        raise ValueError(f"batch size {batch_size} does not split over {world_size} ranks: use a batch size "
                         f"divisible by the world size (e.g. {world_size * max(1, batch_size // world_size)})")
    per_rank = batch_size // world_size
    micro = min(micro_batch, per_rank)
    if micro < 1 or per_rank % micro:
        raise ValueError(f"each rank gets {per_rank} sequences per step, not a multiple of the micro-batch "
                         f"{micro}: choose a micro-batch that divides {per_rank}")
    return per_rank // micro, micro


def wrap_model(model: nn.Module, info: DistInfo, fsdp: bool = False) -> nn.Module:
    """DDP or FSDP2 around `model` when distributed; the model itself otherwise."""
    if not info.distributed:
        return model
    if fsdp:
        from torch.distributed.fsdp import fully_shard

        blocks = getattr(model, "blocks", None)
        for block in blocks if blocks is not None else []:
            fully_shard(block)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [info.local_rank] if info.device.startswith("cuda") else None
    return DDP(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (FSDP2 modifies the model in place)."""
    return model.module if hasattr(model, "module") and isinstance(model, nn.parallel.DistributedDataParallel) \
        else model


def all_reduce_mean(value: float, info: DistInfo) -> float:
    """The mean of `value` over all ranks (the value itself when not distributed)."""
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def _local_bytes(t: torch.Tensor) -> int:
    if hasattr(t, "to_local"):
        t = t.to_local()
    return t.numel() * t.element_size()


def model_state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """Bytes this rank holds for parameters, gradients and optimiser state (local shards under FSDP)."""
    params = sum(_local_bytes(p) for p in model.parameters())
    grads = sum(_local_bytes(p.grad) for p in model.parameters() if p.grad is not None)
    opt = 0
    if optimizer is not None:
        for state in optimizer.state.values():
            opt += sum(_local_bytes(v) for v in state.values() if torch.is_tensor(v) and v.dim() > 0)
    return {"params": params, "grads": grads, "optimizer": opt, "total": params + grads + opt}
