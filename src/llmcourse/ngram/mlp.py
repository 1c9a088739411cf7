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
from dataclasses import dataclass, field
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


@dataclass
class TrainHistory:
    """What happened during `train_mlp`: every minibatch loss, and the dev NLL every `eval_every` steps."""

    losses: list[float] = field(default_factory=list)
    dev_steps: list[int] = field(default_factory=list)
    dev_nll: list[float] = field(default_factory=list)
    best_step: int = -1
    best_dev_nll: float = math.inf


def train_mlp(model: MLPLanguageModel, X: torch.Tensor, Y: torch.Tensor, steps: int, batch_size: int = 32,
              lr: float = 0.1, generator: torch.Generator | None = None, dev: tuple[torch.Tensor, torch.Tensor] | None = None,
              eval_every: int = 500, patience: int | None = None, progress: bool = False) -> TrainHistory:
    """Minibatch SGD on cross-entropy; the learning rate drops 10x for the last quarter of the steps.

    With `dev=(X_dev, Y_dev)` the dev NLL is measured every `eval_every` steps and at the
    end, and the model is left with the weights of its best dev NLL (early stopping: the
    dev set picks when to stop, as it picks the smoothing of the count models). With
    `patience`, a dev NLL that has not improved for that many evaluations drops the
    learning rate 10x early (if it has not dropped yet), and the next such plateau stops
    training.
    """
    if dev is not None and eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, not {eval_every}")
    hist = TrainHistory()
    best_state: dict[str, torch.Tensor] | None = None
    since_best, decayed = 0, False
    steps_iter = range(steps)
    if progress:
        from tqdm.auto import tqdm

        steps_iter = tqdm(steps_iter, desc="MLP", leave=False)
    for step in steps_iter:
        model.train()
        ix = torch.randint(0, X.shape[0], (batch_size,), generator=generator)
        loss = F.cross_entropy(model(X[ix]), Y[ix])
        model.zero_grad(set_to_none=True)
        loss.backward()
        decayed = decayed or step >= 0.75 * steps
        rate = lr / 10 if decayed else lr
        with torch.no_grad():
            for p in model.parameters():
                p -= rate * p.grad
        hist.losses.append(loss.item())
        if dev is not None and ((step + 1) % eval_every == 0 or step == steps - 1):
            nll = evaluate_nll(model, *dev)
            hist.dev_steps.append(step + 1)
            hist.dev_nll.append(nll)
            if nll < hist.best_dev_nll:
                hist.best_step, hist.best_dev_nll, since_best = step + 1, nll, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += 1
                if patience is not None and since_best >= patience:
                    if decayed:
                        break
                    decayed, since_best = True, 0  # a plateau: try a smaller step first
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return hist


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
