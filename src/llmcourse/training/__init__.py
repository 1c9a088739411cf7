"""Training: batches of a token stream and a small reusable training loop (weeks 2-5)."""

from llmcourse.training.batches import get_batch, split_tokens
from llmcourse.training.loop import History, estimate_loss, lr_at, make_optimizer, train

__all__ = ["History", "estimate_loss", "get_batch", "lr_at", "make_optimizer", "split_tokens", "train"]
