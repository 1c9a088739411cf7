"""A Bengio-style MLP language model over characters (Bengio et al. 2003, makemore part 2-3).

A count table needs V^(n-1) rows of context, so it cannot look far back. The MLP
instead embeds each of the `block_size` previous characters as a learned vector,
concatenates them and lets a hidden layer predict the next character:

    x (B, T) -> C[x] (B, T, E) -> view (B, T*E) -> Linear -> BatchNorm -> tanh -> Linear -> logits (B, V)

Similar characters get similar embeddings, so what the model learns about one
context transfers to contexts it has never seen: the reason it beats the counts.

Initialisation follows makemore part 3: the hidden layer is scaled by
(5/3)/sqrt(fan_in) (the tanh gain), the output layer is scaled down (x0.1) so the
first loss is close to log(V) rather than a confident wrong guess, and batch norm
keeps the pre-activations unit-Gaussian so tanh does not saturate.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse.ngram.vocab import CharVocab


def build_dataset(names: Sequence[str], vocab: CharVocab, block_size: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Contexts X (N, block_size) and targets Y (N,) from names, with "." padding in front.

    "emma" with block_size 3 gives  ... -> e,  ..e -> m,  .em -> m,  emm -> a,  mma -> .
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, not {block_size}")
    xs, ys = [], []
    for name in names:
        context = [0] * block_size
        for ix in vocab.encode(name) + [0]:
            xs.append(context)
            ys.append(ix)
            context = context[1:] + [ix]
    return torch.tensor(xs, dtype=torch.long).reshape(-1, block_size), torch.tensor(ys, dtype=torch.long)


class MLPLanguageModel(nn.Module):
    """Embedding -> Linear -> BatchNorm1d -> tanh -> Linear, predicting the next character."""

    def __init__(self, vocab_size: int, block_size: int = 3, n_embd: int = 10, n_hidden: int = 200,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        self.emb = nn.Embedding(vocab_size, n_embd)
        self.hidden = nn.Linear(block_size * n_embd, n_hidden, bias=False)  # batch norm's shift replaces the bias
        self.bn = nn.BatchNorm1d(n_hidden)
        self.out = nn.Linear(n_hidden, vocab_size)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(vocab_size, n_embd, generator=generator))
            fan_in = block_size * n_embd
            self.hidden.weight.copy_(torch.randn(n_hidden, fan_in, generator=generator) * (5 / 3) / math.sqrt(fan_in))
            self.out.weight.copy_(torch.randn(vocab_size, n_hidden, generator=generator) * 0.1 / math.sqrt(n_hidden))
            self.out.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.block_size:
            raise ValueError(f"expected contexts of shape (B, {self.block_size}), got {tuple(x.shape)}")
        emb = self.emb(x)  # (B, T, E)
        h = torch.tanh(self.bn(self.hidden(emb.flatten(1))))  # (B, H)
        return self.out(h)  # (B, V)


def train_mlp(model: MLPLanguageModel, X: torch.Tensor, Y: torch.Tensor, steps: int, batch_size: int = 32,
              lr: float = 0.1, generator: torch.Generator | None = None, progress: bool = False) -> list[float]:
    """Minibatch SGD on cross-entropy; the learning rate drops 10x for the last quarter of the steps.

    Returns the loss of every step (noisy: one minibatch each).
    """
    model.train()
    losses: list[float] = []
    steps_iter = range(steps)
    if progress:
        from tqdm.auto import tqdm

        steps_iter = tqdm(steps_iter, desc="MLP", leave=False)
    for step in steps_iter:
        ix = torch.randint(0, X.shape[0], (batch_size,), generator=generator)
        loss = F.cross_entropy(model(X[ix]), Y[ix])
        model.zero_grad(set_to_none=True)
        loss.backward()
        rate = lr if step < 0.75 * steps else lr / 10
        with torch.no_grad():
            for p in model.parameters():
                p -= rate * p.grad
        losses.append(loss.item())
    return losses


@torch.no_grad()
def evaluate_nll(model: MLPLanguageModel, X: torch.Tensor, Y: torch.Tensor) -> float:
    """Average NLL per character on (X, Y), with batch norm using its running statistics."""
    model.eval()
    return F.cross_entropy(model(X), Y).item()


@torch.no_grad()
def sample_mlp(model: MLPLanguageModel, vocab: CharVocab, generator: torch.Generator | None = None,
               max_len: int = 50) -> str:
    """Draw one name from the model, character by character, until "." or max_len."""
    model.eval()
    context, out = [0] * model.block_size, []
    while len(out) < max_len:
        probs = F.softmax(model(torch.tensor([context])), dim=-1)  # (1, V)
        ix = int(torch.multinomial(probs[0], 1, generator=generator))
        if ix == 0:
            break
        out.append(vocab.chars[ix])
        context = context[1:] + [ix]
    return "".join(out)
