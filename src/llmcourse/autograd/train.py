"""Training a scalar-Value MLP as a binary classifier (micrograd's demo): max-margin loss and SGD.

Labels are y in {-1, +1}; the model outputs a score s per point, and the prediction
is the sign of s. The SVM "max-margin" (hinge) loss

    L = mean_i relu(1 - y_i s_i)  +  alpha * sum_p p^2

is zero for a point on the right side with margin at least 1, and grows linearly
the further it is on the wrong side; the L2 term keeps weights small (a wider
margin). Plain SGD steps every parameter against its gradient, with a learning rate
that decays linearly from `lr` to `lr / 10` over the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from llmcourse.autograd.engine import Value, gc_paused
from llmcourse.autograd.nn import MLP


def hinge_loss(scores: Sequence[Value], ys: Sequence[float], params: Sequence[Value] = (),
               alpha: float = 1e-4) -> Value:
    """mean relu(1 - y s) + alpha * sum of squared params; labels must be -1 or +1."""
    if len(scores) != len(ys) or not scores:
        raise ValueError(f"need one label per score and at least one of each; got {len(scores)} scores, {len(ys)} labels")
    if not all(isinstance(s, Value) for s in scores):
        raise TypeError("scores must be one Value per point; a model with several outputs returns lists "
                        "(end the MLP with a layer of size 1)")
    if any(y not in (-1, 1) for y in ys):
        raise ValueError("labels must be -1 or +1 for the hinge loss (map 0/1 labels with 2*y - 1)")
    data_loss = sum(((1 + -y * s).relu() for y, s in zip(ys, scores)), Value(0.0)) * (1.0 / len(scores))
    if not params:
        return data_loss
    reg_loss = alpha * sum((p * p for p in params), Value(0.0))
    return data_loss + reg_loss


def cross_entropy(logits: Sequence[Value], target: int) -> Value:
    """-log softmax(logits)[target] for one example with several classes, as a Value.

    = log(sum_j exp(l_j - m)) - (l_target - m) with m = max_j l_j: subtracting the largest
    logit (a constant) changes nothing mathematically but keeps exp from overflowing
    (math.exp(1000) raises OverflowError). Its gradient is softmax(logits) - one_hot(target).
    """
    if not logits or not all(isinstance(v, Value) for v in logits):
        raise TypeError("logits must be a non-empty list of Values, one per class")
    if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < len(logits):
        raise ValueError(f"target must be a class index in [0, {len(logits)}), got {target!r}")
    m = max(v.data for v in logits)  # a plain number: no gradient flows through it
    total = sum(((v - m).exp() for v in logits), Value(0.0))
    return total.log() - (logits[target] - m)


def accuracy(scores: Sequence[Value], ys: Sequence[float]) -> float:
    """Fraction of points whose score has the sign of their label."""
    return sum((s.data > 0) == (y > 0) for s, y in zip(scores, ys)) / len(ys)


@dataclass
class FitHistory:
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def fit(model: MLP, X: Sequence[Sequence[float]], ys: Sequence[float], steps: int = 100, lr: float = 1.0,
        alpha: float = 1e-4, progress: bool = False) -> FitHistory:
    """Full-batch SGD on the hinge loss; returns the loss and training accuracy of every step."""
    ys = [float(y) for y in ys]
    inputs = [[Value(float(v)) for v in row] for row in X]
    hist = FitHistory()
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="SGD", leave=False)
    for step in it:
        with gc_paused():  # several times faster on big graphs (benchmarks/bench_micrograd.py)
            scores = [model(x) for x in inputs]
            loss = hinge_loss(scores, ys, model.parameters(), alpha)
            model.zero_grad()
            loss.backward()
        rate = lr * (1.0 - 0.9 * step / max(steps, 1))
        for p in model.parameters():
            p.data -= rate * p.grad
        hist.loss.append(loss.data)
        hist.accuracy.append(accuracy(scores, ys))
    return hist


def predict(model: MLP, X: Sequence[Sequence[float]]) -> list[float]:
    """Scores of the points X (plain floats; no graph is kept beyond each point)."""
    with gc_paused():
        return [model([float(v) for v in row]).data for row in X]
