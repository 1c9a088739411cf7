# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2.4 Micrograd
#
# Every model in this course learns by **backpropagation**: compute a loss, then the
# derivative of that loss with respect to every parameter, then nudge each parameter
# against its derivative. PyTorch does the derivatives for us (`loss.backward()`). Here
# we build that machinery ourselves, for single numbers (scalars), in about a hundred
# lines — after Andrej Karpathy's *micrograd*:
#
# 1. what a derivative is, numerically;
# 2. a `Value` that remembers how it was computed, so it can apply the chain rule;
# 3. the order in which to apply it (a topological sort), and why gradients must
#    *accumulate* when a value is used twice;
# 4. neurons, layers and an MLP made of Values — yours — trained with SGD, with your
#    loss, to classify the two-moons data set.
#
# Every gradient we compute is checked against PyTorch's. The stretch exercise adds a
# cross-entropy loss for more than two classes and trains your MLP on three spirals.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("2.4")

# %% [markdown]
# ## Knobs
# A scalar engine is slow — one Python object per number — so the data set and the
# training run are small. The laptop profile uses micrograd's own demo size (100 points,
# two hidden layers of 16, 100 steps).

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import make_moons

N_POINTS = cfg.pick(smoke=30, laptop=100)  # two-moons training points
HIDDEN = cfg.pick(smoke=[16, 16], laptop=[16, 16])  # hidden layer sizes of the MLP
STEPS = cfg.pick(smoke=50, laptop=100)  # full-batch SGD steps
LR = 1.0  # initial learning rate (decays linearly to LR/10)
GRID = cfg.pick(smoke=25, laptop=80)  # decision-boundary grid resolution per axis
ALPHA = 1e-4  # L2 penalty on the weights
SPIRAL_POINTS = cfg.pick(smoke=24, laptop=90)  # three-class spirals (stretch), points in all
SPIRAL_HIDDEN = cfg.pick(smoke=[8], laptop=[16, 16])
SPIRAL_STEPS = cfg.pick(smoke=20, laptop=150)
print(f"{N_POINTS} points, MLP 2 -> {HIDDEN} -> 1, {STEPS} steps")

# %% [markdown]
# ## 1. What a derivative is
#
# The derivative of $f$ at $x$ says how much $f$ moves when $x$ moves a tiny bit:
#
# $$f'(x) = \lim_{h \to 0} \frac{f(x + h) - f(x)}{h}$$
#
# We can *measure* it: nudge $x$ by a small $h$ and see what happens. The symmetric
# (central) difference $\frac{f(x+h) - f(x-h)}{2h}$ is much more accurate than the
# one-sided one: its error shrinks like $h^2$ instead of $h$.

# %%
def f(x):
    return 3 * x**2 - 4 * x + 5


xs = np.arange(-5, 5, 0.25)
plt.figure(figsize=(5, 3))
plt.plot(xs, f(xs))
plt.title("f(x) = 3x² - 4x + 5")
plt.show()

# %% [markdown]
# **Exercise `autograd.numerical_derivative`** · difficulty 1 · ~5 min. Write
# `numerical_derivative(f, x)` with the central difference. The check compares it with the
# derivative PyTorch's autograd computes, on three functions, to 1e-6.

# %%
def numerical_derivative(f, x, h=1e-5):
    """(f(x + h) - f(x - h)) / 2h: the slope of f at x, measured."""
    ### BEGIN SOLUTION
    return (f(x + h) - f(x - h)) / (2 * h)
    ### END SOLUTION


# %%
numerical_derivative = check("autograd.numerical_derivative", numerical_derivative)

# %% [markdown]
# Your function measures the slope of the parabola; the exact one is $6x - 4$ (0 at the
# bottom, $x = 2/3$). And the error of the two kinds of difference against $h$: look at
# how fast each line falls, and where rounding takes over.

# %%
for x in (3.0, 2 / 3, -1.0):
    measured = numerical_derivative(f, x)
    assert abs(measured - (6 * x - 4)) < 1e-5
    print(f"x = {x:6.3f}   measured slope {measured:8.4f}   exact {6 * x - 4:8.4f}")
hs = [10.0 ** -e for e in range(1, 13)]
g, g_prime = math.sin, math.cos
central = [abs(numerical_derivative(g, 1.0, h) - g_prime(1.0)) for h in hs]
one_sided = [abs((g(1.0 + h) - g(1.0)) / h - g_prime(1.0)) for h in hs]
plt.figure(figsize=(5, 3))
plt.loglog(hs, one_sided, "o-", label="one-sided (f(x+h) - f(x)) / h")
plt.loglog(hs, central, "s-", label="central (yours)")
plt.xlabel("h")
plt.ylabel("|error| of d sin(x)/dx at x = 1")
plt.legend(fontsize=8)
plt.show()
best = min(range(len(hs)), key=lambda i: central[i])
cfg.say(f"The central difference is most accurate at h = {hs[best]:.0e} (error {central[best]:.1e}); the one-sided "
        f"difference's best is {min(one_sided):.1e}.")

# %% [markdown]
# ## 2. A number that remembers how it was made
#
# Measuring slopes costs one extra evaluation per input: hopeless for a million
# parameters. Backpropagation gets them all in one backward pass, using the **chain
# rule**: if $L$ depends on $c$ and $c = a \cdot b$, then
# $\frac{\partial L}{\partial a} = \frac{\partial L}{\partial c}\cdot\frac{\partial c}{\partial a} = \frac{\partial L}{\partial c}\cdot b$.
#
# So each operation needs only its *local* derivative. A `Value` stores its number
# (`.data`), its inputs, and a little function `_backward` that, once the gradient of the
# output (`out.grad`) is known, adds `local derivative * out.grad` to each input's `.grad`.
#
# | operation | local derivatives |
# | --- | --- |
# | $c = a + b$ | $\partial c/\partial a = 1$, $\partial c/\partial b = 1$ |
# | $c = a \cdot b$ | $\partial c/\partial a = b$, $\partial c/\partial b = a$ |
# | $c = \tanh a$ | $1 - c^2$ |
# | $c = e^a$ | $e^a = c$ |
#
# **Exercise `autograd.value_ops`** · difficulty 2 · ~25 min. Fill in `__add__`,
# `__mul__`, `tanh` and `exp`. Each returns a new `Scalar` whose children are its inputs,
# and sets its `_backward`. Use `+=` on the grads (section 4 says why), and wrap a plain
# number (`a * 2`) in a `Scalar` first. `backward()` is given: it orders the graph and
# calls every `_backward` from the output back.

# %%
class Scalar:
    def __init__(self, data, _children=()):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_children)
        self._backward = lambda: None  # a leaf passes nothing on

    def __add__(self, other):
        ### BEGIN SOLUTION
        other = other if isinstance(other, Scalar) else Scalar(other)
        out = Scalar(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out
        ### END SOLUTION

    def __mul__(self, other):
        ### BEGIN SOLUTION
        other = other if isinstance(other, Scalar) else Scalar(other)
        out = Scalar(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out
        ### END SOLUTION

    def tanh(self):
        ### BEGIN SOLUTION
        t = math.tanh(self.data)
        out = Scalar(t, (self,))

        def _backward():
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out
        ### END SOLUTION

    def exp(self):
        ### BEGIN SOLUTION
        e = math.exp(self.data)
        out = Scalar(e, (self,))

        def _backward():
            self.grad += e * out.grad

        out._backward = _backward
        return out
        ### END SOLUTION

    def __radd__(self, other):  # 2 + a
        return self + other

    def __rmul__(self, other):  # 2 * a
        return self * other

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()

    def __repr__(self):
        return f"Scalar(data={self.data:.4f}, grad={self.grad:.4f})"


# %%
Scalar = check("autograd.value_ops", Scalar)

# %% [markdown]
# ## 3. Karpathy's first example, with your `Scalar`, and a picture of the graph
#
# $L = (a \cdot b + c) \cdot f$ with your class; PyTorch computes the same expression, and
# the gradients must agree (the cell asserts it).

# %%
sa, sb, sc, sf = Scalar(2.0), Scalar(-3.0), Scalar(10.0), Scalar(-2.0)
sL = (sa * sb + sc) * sf
sL.backward()
ta, tb, tc, tf = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, -3.0, 10.0, -2.0))
tL = (ta * tb + tc) * tf
tL.backward()
for name, mine, ref in [("a", sa, ta), ("b", sb, tb), ("c", sc, tc), ("f", sf, tf)]:
    assert abs(mine.grad - ref.grad.item()) < 1e-12
    print(f"dL/d{name}: yours {mine.grad:6.2f}   torch {ref.grad.item():6.2f}")

# %% [markdown]
# `llmcourse.autograd.Value` is the same idea with every operation: `+ - * /`, `**` with a
# constant exponent, `exp`, `log`, `tanh`, `relu`, and labels for drawing. Here is the same
# expression drawn: after `L.backward()` every box shows its gradient
# $\partial L / \partial \text{box}$; read them right to left: $\partial L/\partial d = f$,
# the `+` passes it unchanged to $e$ and $c$, and the `*` multiplies by the other input.

# %%
from llmcourse.autograd import Value, draw, graphviz_available

a, b, c, f_ = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c"), Value(-2.0, label="f")
e = a * b
e.label = "e"
d = e + c
d.label = "d"
L = d * f_
L.label = "L"
L.backward()


def show(root):
    """Draw root's graph: graphviz when it is installed (Colab), else matplotlib."""
    graph = draw(root)
    if graphviz_available():
        display(graph)  # noqa: F821 (a notebook builtin)
    else:
        plt.show()


print("drawing with", "graphviz" if graphviz_available() else "matplotlib (graphviz is not installed)")
show(L)

# %% [markdown]
# ### A neuron
# A neuron computes $\tanh(x_1 w_1 + x_2 w_2 + b)$. With the numbers below the sum is
# about 0.8814, whose tanh is $1/\sqrt 2$; its local derivative $1 - \tanh^2 = 0.5$ is the
# gradient that reaches the sum, and from there each weight gets $0.5 \cdot x_i$. The cell
# prints what the engine computes.

# %%
x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
bias = Value(6.8813735870195432, label="b")
out = (x1 * w1 + x2 * w2 + bias).tanh()
out.label = "out"
out.backward()
print(f"out = {out.data:.4f}   dw1 = {w1.grad:.4f}   dw2 = {w2.grad:.4f}   dx1 = {x1.grad:.4f}")
show(out)

# %% [markdown]
# ## 4. The order of the backward pass, and nodes used twice
#
# A node's `_backward` may run only once its own gradient is complete, i.e. after every
# node that uses it has run. A **topological order** lists each node after all of its
# inputs; walking it backwards is exactly right. A depth-first search builds it: visit
# the children first, then append the node.
#
# **Exercise `autograd.topo_sort`** · difficulty 2 · ~15 min. Return every node reachable
# from `root`, each once, each after its inputs (`v._prev`), the root last. The check runs
# the backward pass over your order and compares the gradients with torch, on random graphs
# where nodes are shared.

# %%
def topo_sort(root):
    """Every node of root's graph, inputs before the nodes that use them."""
    ### BEGIN SOLUTION
    order, seen = [], set()

    def visit(v):
        if id(v) not in seen:
            seen.add(id(v))
            for child in v._prev:
                visit(child)
            order.append(v)

    visit(root)
    return order
    ### END SOLUTION


# %%
topo_sort = check("autograd.topo_sort", topo_sort)

# %% [markdown]
# **Why `+=`.** In `b = a + a` the value `a` reaches `b` along two paths, and the
# multivariable chain rule *sums* the contributions: $\partial b / \partial a = 2$. An
# implementation that writes `self.grad = out.grad` overwrites the first path with the
# second and reports 1. The same happens whenever a value is used in two places — a
# weight shared by every example of a batch, say. (The library uses an iterative search,
# so a chain of thousands of operations does not hit Python's recursion limit.)

# %%
a = Value(3.0, label="a")
b = a + a
b.backward()
ta = torch.tensor(3.0, requires_grad=True)
(ta + ta).backward()
print(f"b = a + a:  our da = {a.grad},  torch da = {ta.grad.item()}")

a = Value(-2.0)
b_ = a + 1
c_ = (a * b_).tanh() + b_ * b_  # a reaches c_ by three paths
order = topo_sort(c_)  # your order drives this backward pass
c_.grad = 1.0
for node in reversed(order):
    node._backward(node.grad)
ta = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
tb_ = ta + 1
(torch.tanh(ta * tb_) + tb_ * tb_).backward()
assert abs(a.grad - ta.grad.item()) < 1e-12
print(f"three paths, backward over your order of {len(order)} nodes: da = {a.grad:.6f}, torch da = {ta.grad.item():.6f}")

# %% [markdown]
# **Exponents.** `x ** 2` (a constant exponent) has the simple derivative $k x^{k-1}$.
# A *variable* exponent, `Value ** Value`, is not supported and says so, together with
# the way to write it: $x^y = e^{y \ln x}$.

# %%
try:
    Value(2.0) ** Value(3.0)
except TypeError as err:
    print("TypeError:", err)
x, y = Value(2.0), Value(3.0)
z = (y * x.log()).exp()
z.backward()
print(f"x**y = {z.data:.4f}, dz/dx = {x.grad:.4f} (= y x^(y-1) = 12), dz/dy = {y.grad:.4f} (= x^y ln x)")

# %% [markdown]
# ## 5. Neurons, layers, an MLP, and a loss
#
# `Neuron(nin)` holds `nin` weights and a bias, all Values; `Layer` is a list of neurons
# reading the same inputs; `MLP(2, [16, 16, 1])` chains layers (ReLU in the hidden layers,
# a plain linear score at the end). Everything is Values, so one `backward()` from the
# loss reaches all the weights.
#
# To classify points with labels $y \in \{-1, +1\}$ we use the **hinge** (max-margin)
# loss of a support vector machine: a point costs nothing once its score $s$ has the right
# sign with margin 1, and $1 - y s$ otherwise:
#
# $$L = \frac{1}{n} \sum_i \max(0,\ 1 - y_i s_i)$$
#
# **Exercise `autograd.hinge_loss`** · difficulty 1 · ~10 min. Build it from Values
# (`.relu()` is $\max(0, \cdot)$) so it can be back-propagated.

# %%
def hinge(scores, ys):
    """Mean over points of relu(1 - y * s), as a Value."""
    ### BEGIN SOLUTION
    losses = [(1 + -y * s).relu() for s, y in zip(scores, ys)]
    return sum(losses, Value(0.0)) * (1.0 / len(losses))
    ### END SOLUTION


# %%
hinge = check("autograd.hinge_loss", hinge)

# %% [markdown]
# **Exercise `autograd.neuron`** · difficulty 1 · ~10 min. `Neuron(nin, nonlin, rng)`: `nin`
# weights drawn uniformly from [-1, 1] with `rng.uniform` (a `random.Random`, so a seed
# gives the same model), kept in a list `self.w`, and a bias `self.b` starting at 0, all
# Values; calling it on `x` (a list of numbers or Values) returns $\text{act}(w \cdot x + b)$
# with `act` tanh, relu or nothing (`nonlin=None`); `parameters()` lists the weights and the
# bias. The check reads your weights into torch and compares the output and every gradient.

# %%
import random


class Neuron:
    def __init__(self, nin, nonlin="relu", rng=None):
        rng = rng or random.Random()
        ### BEGIN SOLUTION
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin
        ### END SOLUTION

    def __call__(self, x):
        ### BEGIN SOLUTION
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.tanh() if self.nonlin == "tanh" else act.relu() if self.nonlin == "relu" else act
        ### END SOLUTION

    def parameters(self):
        ### BEGIN SOLUTION
        return self.w + [self.b]
        ### END SOLUTION

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


# %%
Neuron = check("autograd.neuron", Neuron)

# %% [markdown]
# **Exercise `autograd.layer`** · difficulty 1 · ~10 min. `Layer(nin, nout, nonlin, rng)`:
# `nout` of your neurons in a list `self.neurons`, each reading the same `nin` inputs (each
# its own object: `[Neuron(nin)] * nout` would repeat one). Calling it returns the list of
# their outputs, or the single Value when `nout == 1`.

# %%
class Layer:
    def __init__(self, nin, nout, nonlin="relu", rng=None):
        rng = rng or random.Random()
        ### BEGIN SOLUTION
        self.neurons = [Neuron(nin, nonlin, rng) for _ in range(nout)]
        ### END SOLUTION

    def __call__(self, x):
        ### BEGIN SOLUTION
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out
        ### END SOLUTION

    def parameters(self):
        ### BEGIN SOLUTION
        return [p for n in self.neurons for p in n.parameters()]
        ### END SOLUTION

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


# %%
Layer = check("autograd.layer", Layer)

# %% [markdown]
# **Exercise `autograd.mlp`** · difficulty 1 · ~10 min. `MLP(nin, nouts, nonlin, rng)`:
# layers of sizes `nin -> nouts[0] -> ... -> nouts[-1]` in a list `self.layers`; the hidden
# layers use `nonlin`, the last one none (it outputs scores for the loss). Calling it feeds
# each layer's output to the next.

# %%
class MLP:
    def __init__(self, nin, nouts, nonlin="relu", rng=None):
        rng = rng or random.Random()
        ### BEGIN SOLUTION
        sizes = [nin, *nouts]
        self.layers = [Layer(sizes[i], sizes[i + 1], nonlin if i < len(nouts) - 1 else None, rng)
                       for i in range(len(nouts))]
        ### END SOLUTION

    def __call__(self, x):
        ### BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x if isinstance(x, list) else [x])
        return x
        ### END SOLUTION

    def parameters(self):
        ### BEGIN SOLUTION
        return [p for layer in self.layers for p in layer.parameters()]
        ### END SOLUTION

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


# %%
MLP = check("autograd.mlp", MLP)

# %% [markdown]
# ## 6. Training on two moons
#
# Two interleaved half circles: no straight line separates them, so the network has to
# bend its decision boundary. Your MLP, your hinge loss plus a small L2 penalty on the
# weights, full-batch SGD: forward every point, `zero_grad`, `backward`, then
# `p.data -= lr * p.grad` for every parameter, with a learning rate that decays linearly
# to a tenth. (Python's cycle collector is paused while the graph is built: it would
# otherwise rescan tens of thousands of Values again and again; see
# `benchmarks/bench_micrograd.py`.)

# %%
from tqdm.auto import tqdm

from llmcourse.autograd import gc_paused

X, y01 = make_moons(n_samples=N_POINTS, noise=0.1, random_state=1)
y = 2 * y01 - 1  # labels -1 / +1
model = MLP(2, HIDDEN + [1], nonlin="relu", rng=random.Random(1337))  # one output: the score
print(model)
print("parameters:", len(model.parameters()))

plt.figure(figsize=(4, 4))
plt.scatter(X[:, 0], X[:, 1], c=y, s=20, cmap="jet")
plt.title("two moons")
plt.show()

# %%
def sgd(model, loss_of, steps, lr, desc):
    """Full-batch SGD on loss_of(model) -> (loss Value, accuracy); returns the per-step history."""
    losses, accuracies = [], []
    for step in tqdm(range(steps), desc=desc):
        with gc_paused():
            loss, acc = loss_of(model)
            model.zero_grad()
            loss.backward()
        rate = lr * (1.0 - 0.9 * step / steps)
        for p in model.parameters():
            p.data -= rate * p.grad
        losses.append(loss.data)
        accuracies.append(acc)
    return losses, accuracies


def moons_loss(model):
    scores = [model([float(v) for v in row]) for row in X]
    loss = hinge(scores, [float(t) for t in y]) + ALPHA * sum((p * p for p in model.parameters()), Value(0.0))
    return loss, float(np.mean([(s.data > 0) == (t > 0) for s, t in zip(scores, y)]))


losses, accuracies = sgd(model, moons_loss, STEPS, LR, "two moons")
with gc_paused():
    scores = [model([float(v) for v in row]).data for row in X]
train_acc = float(np.mean((np.array(scores) > 0) == (y > 0)))
cfg.say(f"Your MLP after {STEPS} steps: loss {losses[-1]:.4f}, training accuracy {train_acc:.0%} "
        f"(first reached {max(accuracies):.0%} at step {accuracies.index(max(accuracies)) + 1}).")

fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].plot(losses)
axes[0].set_yscale("log")
axes[0].set_title("hinge + L2 loss")
axes[0].set_xlabel("step")
axes[1].plot(accuracies)
axes[1].set_title("training accuracy")
axes[1].set_xlabel("step")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### The decision boundary
# Score every point of a grid and colour it by the sign of the score: the curve where the
# colour changes is the boundary the network learnt.

# %%
xx, yy = np.meshgrid(np.linspace(X[:, 0].min() - 1, X[:, 0].max() + 1, GRID),
                     np.linspace(X[:, 1].min() - 1, X[:, 1].max() + 1, GRID))
with gc_paused():
    grid_scores = np.array([model([float(a), float(b)]).data for a, b in zip(xx.ravel(), yy.ravel())]).reshape(xx.shape)
plt.figure(figsize=(5, 4))
plt.contourf(xx, yy, grid_scores > 0, cmap=plt.cm.Spectral, alpha=0.8)
plt.scatter(X[:, 0], X[:, 1], c=y, s=25, cmap=plt.cm.Spectral, edgecolors="k")
plt.title(f"decision boundary, training accuracy {train_acc:.0%}")
plt.show()

# %% [markdown]
# ## 7. The same network in PyTorch
#
# Copy the trained weights into torch tensors, compute the same loss, and compare every
# one of the gradients with yours (the cell asserts they agree).

# %%
model.zero_grad()
with gc_paused():
    loss, _ = moons_loss(model)
    loss.backward()

Ws = [torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
      for layer in model.layers]
bs = [torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
      for layer in model.layers]
act = torch.tensor(X, dtype=torch.float64)  # (N, 2)
for k, (W, b) in enumerate(zip(Ws, bs)):
    act = act @ W.T + b  # (N, width)
    if k < len(Ws) - 1:
        act = torch.relu(act)
t_loss = torch.relu(1 - torch.tensor(y, dtype=torch.float64) * act[:, 0]).mean()
t_loss = t_loss + ALPHA * sum((p**2).sum() for p in Ws + bs)
t_loss.backward()

ours = torch.tensor([p.grad for p in model.parameters()], dtype=torch.float64)
theirs = torch.cat([torch.cat([torch.cat([W.grad[r], b.grad[r:r + 1]]) for r in range(W.shape[0])])
                    for W, b in zip(Ws, bs)])
max_grad_diff = (ours - theirs).abs().max().item()
assert abs(loss.data - t_loss.item()) < 1e-9 and max_grad_diff < 1e-9
print(f"loss: yours {loss.data:.10f}  torch {t_loss.item():.10f}")
print(f"{len(ours)} gradients, max |yours - torch| = {max_grad_diff:.2e}")

# %% [markdown]
# The same computation, timed: one forward and backward pass over all the points, scalar
# by scalar with your Values, and as a few tensor operations with PyTorch.

# %%
import time


def torch_step():
    act = torch.tensor(X, dtype=torch.float64)
    for k, (W, b) in enumerate(zip(Ws, bs)):
        act = act @ W.T + b
        act = torch.relu(act) if k < len(Ws) - 1 else act
    torch.relu(1 - torch.tensor(y, dtype=torch.float64) * act[:, 0]).mean().backward()


def values_step():
    with gc_paused():
        moons_loss(model)[0].backward()


reliable, why = cfg.timing_is_reliable()
timings = {}
for name, step in (("Values", values_step), ("torch", torch_step)):
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(3):
        step()
    timings[name] = (time.perf_counter() - t0) / 3
speedup = timings["Values"] / timings["torch"]
cfg.say(f"One forward and backward pass: {timings['Values'] * 1e3:.1f} ms with Values, "
        f"{timings['torch'] * 1e3:.2f} ms with torch tensors, {speedup:,.0f} times faster"
        + ("." if reliable else f" ({why})."))

# %% [markdown]
# ## 8. Stretch: more than two classes
#
# The hinge loss separates two classes. For $K$ classes a network outputs $K$ scores
# (logits) and the **cross-entropy** turns them into probabilities with a softmax and
# charges $-\log p_{\text{target}}$. Computed naively, `exp` of a large logit overflows
# (`math.exp(1000)` raises); subtracting the largest logit first changes nothing
# mathematically: $-\log p_t = \log \sum_j e^{l_j - m} - (l_t - m)$.
#
# **Exercise `autograd.cross_entropy`** · difficulty 3 · ~30 min (stretch).
# `cross_entropy(logits, target)`: a list of Values and a class index -> a Value. The check
# compares the loss and the gradient of every logit with `F.cross_entropy`, also for logits
# in the hundreds. Then train your MLP on three interleaved spirals with it; how close to
# 100% can you get by changing the width, depth and steps (the `SPIRAL_` knobs at the top)
# or the learning rate (`SPIRAL_LR` below)?

# %%
def cross_entropy(logits, target):
    ### BEGIN SOLUTION
    m = max(v.data for v in logits)  # a plain number: shifts every logit, changes no gradient
    total = sum(((v - m).exp() for v in logits), Value(0.0))
    return total.log() - (logits[target] - m)
    ### END SOLUTION


# %%
cross_entropy = check("autograd.cross_entropy", cross_entropy)

# %%
def spirals(n, classes=3, seed=0):
    """n points on `classes` interleaved spiral arms (cs231n's toy set), labels 0..classes-1."""
    rs = np.random.RandomState(seed)
    per = n // classes
    pts, labels = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, per)
        angle = np.linspace(c * 4.0, (c + 1) * 4.0, per) + rs.randn(per) * 0.2
        pts.append(np.c_[r * np.sin(angle), r * np.cos(angle)])
        labels += [c] * per
    return np.concatenate(pts), np.array(labels)


Xs, ys = spirals(SPIRAL_POINTS)
spiral_model = MLP(2, SPIRAL_HIDDEN + [3], nonlin="relu", rng=random.Random(0))


def spiral_loss(model):
    outs = [model([float(v) for v in row]) for row in Xs]  # 3 logits per point
    loss = sum((cross_entropy(o, int(t)) for o, t in zip(outs, ys)), Value(0.0)) * (1.0 / len(ys))
    loss = loss + ALPHA * sum((p * p for p in model.parameters()), Value(0.0))
    acc = float(np.mean([int(np.argmax([v.data for v in o])) == t for o, t in zip(outs, ys)]))
    return loss, acc


SPIRAL_LR = 0.5
spiral_losses, spiral_accs = sgd(spiral_model, spiral_loss, SPIRAL_STEPS, SPIRAL_LR, "spirals")
spiral_acc = spiral_accs[-1]
cfg.say(f"Three spirals, {len(ys)} points, MLP 2 -> {SPIRAL_HIDDEN} -> 3, {SPIRAL_STEPS} steps: cross-entropy "
        f"{spiral_losses[0]:.3f} → {spiral_losses[-1]:.3f} (log 3 = {math.log(3):.3f} is a uniform guess), training "
        f"accuracy {spiral_acc:.0%}.")
plt.figure(figsize=(4, 4))
plt.scatter(Xs[:, 0], Xs[:, 1], c=ys, s=25, cmap="brg")
plt.title("three spirals")
plt.show()

# %% [markdown]
# ## Summary
# * A derivative can be measured (finite differences) but backpropagation computes all of
#   them in one pass from local derivatives and the chain rule.
# * The backward pass runs in reverse topological order, and gradients accumulate (`+=`)
#   where a value is used more than once.
# * A few dozen lines of scalar autograd train a real classifier; PyTorch does the same
#   thing on tensors, many times faster (section 7 measured how many).

# %%
cfg.report(train_accuracy=train_acc, final_loss=losses[-1], steps=STEPS, n_points=N_POINTS,
           parameters=len(model.parameters()), max_grad_diff_vs_torch=max_grad_diff,
           spiral_loss_first=spiral_losses[0], spiral_loss_last=spiral_losses[-1], spiral_accuracy=spiral_acc,
           torch_speedup=speedup)
