"""A small, reusable training loop: AdamW, warmup + cosine learning rate, gradient clipping,
a tqdm progress bar, and train/validation loss measured every `eval_every` steps.

    history = train(model, lambda: get_batch(train_ids, T, B), steps=2000,
                    val_batch=lambda: get_batch(val_ids, T, B), eval_every=200)
    history.plot()                          # loss curves
    history.val_loss[-1], history.seconds   # what the notebook reports

The model is called as `loss = loss_fn(model, batch)`; the default unpacks `batch` into the
model and takes the second output, which fits the course GPT (`model(x, y) -> (logits,
loss)`). Pass your own `loss_fn` for other models.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

__all__ = ["History", "bits_per_char", "default_loss", "estimate_loss", "lr_at", "make_optimizer", "train"]

Batch = tuple[torch.Tensor, ...]


def default_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """`model(*batch)` returns (logits, loss): take the loss."""
    out = model(*batch)
    return out[1] if isinstance(out, tuple) else out.loss


@dataclass
class History:
    """What happened during training: per-step train loss and periodic evaluations."""

    step_loss: list[float] = field(default_factory=list)  # every step (noisy)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # averaged over eval batches
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall-clock time of the run, evaluations included
    cpu_seconds: float = 0.0  # CPU time of this process (all threads): fairer on a shared machine
    tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def plot(self, ax=None, label: str = "", smooth: int = 20):
        """Loss curves: the smoothed per-step loss and the periodic train/val estimates."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(7, 4))[1]
        prefix = f"{label} " if label else ""
        if self.step_loss:
            k = max(1, min(smooth, len(self.step_loss) // 5 or 1))
            sm = torch.tensor(self.step_loss).unfold(0, k, 1).mean(-1) if len(self.step_loss) >= k else torch.tensor(self.step_loss)
            ax.plot(range(k - 1, k - 1 + len(sm)), sm.tolist(), alpha=0.35, label=f"{prefix}train (per step)")
        if self.eval_steps:
            ax.plot(self.eval_steps, self.train_loss, "o-", label=f"{prefix}train")
            if self.val_loss:
                ax.plot(self.eval_steps, self.val_loss, "s-", label=f"{prefix}val")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.legend()
        return ax


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.1,
                   betas: tuple[float, float] = (0.9, 0.95)) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norm weights or 1-D params)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


def lr_at(step: int, steps: int, lr: float, warmup: int = 0, min_lr: float | None = None) -> float:
    """Linear warmup for `warmup` steps, then cosine decay from lr to min_lr (default lr/10)."""
    min_lr = lr / 10 if min_lr is None else min_lr
    if warmup and step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def estimate_loss(model: nn.Module, get_batch: Callable[[], Batch], n_batches: int = 10,
                  loss_fn: Callable[[nn.Module, Batch], torch.Tensor] = default_loss) -> float:
    """Mean loss over n_batches fresh batches, in eval mode (dropout off); restores the mode."""
    was_training = model.training
    model.eval()
    losses = [float(loss_fn(model, get_batch())) for _ in range(n_batches)]
    model.train(was_training)
    return sum(losses) / len(losses)


@torch.no_grad()
def bits_per_char(model: nn.Module, ids: torch.Tensor | list[int], n_chars: int, block_size: int,
                  batch_size: int = 64) -> float:
    """How many bits the model needs per character of a text, whatever its tokenizer.

    `ids` (N,) is the text's token ids and `n_chars` its length in characters. Every token
    i >= 1 is predicted from the min(i, block_size) tokens before it (the first has no
    context and is not scored): -log2 p(token i | context), summed and divided by n_chars.
    Losses per *token* cannot be compared across tokenizers (a BPE token holds several
    characters); bits per *character* can.

    The first window scores tokens 1 .. block_size - 1 at once; every later token gets a
    window of its own (the block_size tokens before it), `batch_size` windows per forward.
    `model(x)` must return (logits, ...) or logits, shape (B, T, V).
    """
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"ids must be a 1-D sequence of at least 2 tokens, got shape {tuple(ids.shape)}")
    if n_chars < 1:
        raise ValueError(f"n_chars must be the text's length in characters (>= 1), got {n_chars}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    def logits_of(x: torch.Tensor) -> torch.Tensor:
        out = model(x.to(device))
        return (out[0] if isinstance(out, tuple) else out).float()  # (B, T, V)

    first = ids[:block_size]  # tokens 1..len(first)-1 are predicted inside the first window
    logp = logits_of(first[None])[0, :-1].log_softmax(-1)  # (T - 1, V)
    nats = -logp.gather(-1, first[1:, None].to(device)).sum()
    targets = torch.arange(min(block_size, len(ids)), len(ids))  # every later token: its own window
    for chunk in targets.split(batch_size) if len(targets) else ():
        windows = ids[chunk[:, None] - block_size + torch.arange(block_size)]  # (b, block_size)
        logp = logits_of(windows)[:, -1].log_softmax(-1)  # (b, V): the last position predicts the target
        nats -= logp.gather(-1, ids[chunk, None].to(device)).sum()
    model.train(was_training)
    return float(nats) / math.log(2) / n_chars


def train(model: nn.Module, train_batch: Callable[[], Batch], steps: int, lr: float = 1e-3, *,
          val_batch: Callable[[], Batch] | None = None, eval_every: int = 100, eval_batches: int = 10,
          warmup: int = 0, min_lr: float | None = None, weight_decay: float = 0.1, grad_clip: float | None = 1.0,
          loss_fn: Callable[[nn.Module, Batch], torch.Tensor] = default_loss,
          optimizer: torch.optim.Optimizer | None = None, history: History | None = None,
          progress: bool = True, desc: str = "train") -> History:
    """Train `model` for `steps` steps on batches from `train_batch()`; returns a History.

    Evaluates train and val loss (mean of `eval_batches` batches) at step 0, every
    `eval_every` steps and at the end. Pass `history` (and `optimizer`) to continue a run.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    from tqdm.auto import tqdm

    history = history or History()
    opt = optimizer or make_optimizer(model, lr, weight_decay)
    start = history.eval_steps[-1] if history.eval_steps else 0

    def evaluate(step: int) -> None:
        history.eval_steps.append(step)
        history.train_loss.append(estimate_loss(model, train_batch, eval_batches, loss_fn))
        if val_batch is not None:
            history.val_loss.append(estimate_loss(model, val_batch, eval_batches, loss_fn))

    model.train()
    if not history.eval_steps:
        evaluate(0)
    t0, c0 = time.perf_counter(), time.process_time()
    bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=0.5)
    for i in bar:
        step_lr = lr_at(i, steps, lr, warmup, min_lr)
        for group in opt.param_groups:
            group["lr"] = step_lr
        batch = train_batch()
        loss = loss_fn(model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {start + i}; lower the learning rate")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        history.step_loss.append(loss.item())
        history.lr.append(step_lr)
        history.tokens += batch[0].numel()
        if (i + 1) % eval_every == 0 or i + 1 == steps:
            evaluate(start + i + 1)
            post = {"train": f"{history.train_loss[-1]:.3f}"}
            if history.val_loss:
                post["val"] = f"{history.val_loss[-1]:.3f}"
            bar.set_postfix(post)
    history.seconds += time.perf_counter() - t0
    history.cpu_seconds += time.process_time() - c0
    return history
