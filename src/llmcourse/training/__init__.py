"""Training: batches, the training loop and its step (accumulation, mixed precision), schedules,
distributed data parallel (DDP/FSDP with torchrun), checkpoints, MFU, and pre-training (weeks 2-5)."""

from llmcourse.training.accumulate import StepResult, accumulated_gradients, train_step
from llmcourse.training.batches import get_batch, split_tokens
from llmcourse.training.checkpoint import (CheckpointError, atomic_torch_save, capture_rng_state, checkpoint_files,
                                           load_latest_checkpoint, restore_rng_state, save_checkpoint)
from llmcourse.training.distributed import (DistInfo, check_batch_layout, init_distributed, model_state_bytes,
                                            wrap_model)
from llmcourse.training.loop import History, estimate_loss, lr_at, make_optimizer, train
from llmcourse.training.mfu import flops_per_token, mfu, peak_flops
from llmcourse.training.precision import LossScaler, autocast, grad_scaler
from llmcourse.training.presets import PRESETS, PretrainConfig, make_config
from llmcourse.training.pretrain import PretrainResult, pretrain, reference_pretrain_shards
from llmcourse.training.schedule import cosine_schedule, scaled_lr, warmup_cosine

__all__ = [
    "CheckpointError", "DistInfo", "History", "LossScaler", "PRESETS", "PretrainConfig", "PretrainResult",
    "StepResult", "accumulated_gradients", "atomic_torch_save", "autocast", "capture_rng_state",
    "check_batch_layout", "checkpoint_files", "cosine_schedule", "estimate_loss", "flops_per_token",
    "get_batch", "grad_scaler", "init_distributed", "load_latest_checkpoint", "lr_at", "make_config",
    "make_optimizer", "mfu", "model_state_bytes", "peak_flops", "pretrain", "reference_pretrain_shards",
    "restore_rng_state", "save_checkpoint", "scaled_lr", "split_tokens", "train", "train_step", "warmup_cosine",
    "wrap_model",
]
