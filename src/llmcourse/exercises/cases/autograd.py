"""Exercises of notebook 2.4 (micrograd): derivatives, a Value class, topological order, a loss.

The oracle everywhere is torch autograd in float64, on the same expressions.
"""

from __future__ import annotations

import math
import random

import torch

from llmcourse.exercises.registry import Case, exercise


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# ---------------------------------------------------------------- numerical derivative
FUNCTIONS = [
    ("3x^2 - 4x + 5 at x = 3", lambda x: 3 * x**2 - 4 * x + 5, lambda x: 3 * x**2 - 4 * x + 5, 3.0),
    ("tanh at x = 0.7", math.tanh, torch.tanh, 0.7),
    ("exp(x) / x at x = -1.5", lambda x: math.exp(x) / x, lambda x: torch.exp(x) / x, -1.5),
]


@exercise("autograd.numerical_derivative", hint="(f(x + h) - f(x - h)) / (2 h) with a small h such as 1e-5")
def _numerical_derivative():
    for label, f, f_torch, x0 in FUNCTIONS:
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        f_torch(x).backward()
        yield Case(label, args=(f, x0), expected=float(x.grad), atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- a Value class
def _check_grads(pairs: list[tuple[object, torch.Tensor, str]]) -> None:
    bad = []
    for mine, ref, name in pairs:
        grad = getattr(mine, "grad", None)
        expected = 0.0 if ref.grad is None else float(ref.grad)  # None: the output does not depend on it
        if grad is None or not _close(float(grad), expected):
            bad.append(f"{name}.grad = {grad}, torch says {expected:.6g}")
    if bad:
        raise AssertionError("; ".join(bad))


def _t(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def _neuron(cls) -> None:
    x1, x2, w1, w2, b = cls(2.0), cls(0.0), cls(-3.0), cls(1.0), cls(6.8813735870195432)
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    tx1, tx2, tw1, tw2, tb = _t(2.0), _t(0.0), _t(-3.0), _t(1.0), _t(6.8813735870195432)
    to = torch.tanh(tx1 * tw1 + tx2 * tw2 + tb)
    to.backward()
    if not _close(o.data, float(to.detach())):
        raise AssertionError(f"tanh(x1*w1 + x2*w2 + b) = {o.data}, torch says {float(to.detach()):.6g}")
    _check_grads([(x1, tx1, "x1"), (x2, tx2, "x2"), (w1, tw1, "w1"), (w2, tw2, "w2"), (b, tb, "b")])


def _exp(cls) -> None:
    a, c = cls(0.5), cls(-1.5)
    out = (a.exp() * c + a) * a
    out.backward()
    ta, tc = _t(0.5), _t(-1.5)
    tout = (torch.exp(ta) * tc + ta) * ta
    tout.backward()
    if not _close(out.data, float(tout.detach())):
        raise AssertionError(f"(exp(a) * c + a) * a = {out.data}, torch says {float(tout.detach()):.6g}")
    _check_grads([(a, ta, "a"), (c, tc, "c")])


def _repeated(cls) -> None:
    a = cls(3.0)
    (a + a).backward()
    if not _close(a.grad, 2.0):
        raise AssertionError(f"b = a + a gives a.grad = {a.grad}, expected 2: accumulate with +=, do not overwrite")
    a = cls(3.0)
    (a * a).backward()
    if not _close(a.grad, 6.0):
        raise AssertionError(f"b = a * a gives a.grad = {a.grad}, expected 6 (= 2a): accumulate with +=")


def _numbers(cls) -> None:
    a = cls(-2.0)
    out = (a * 2 + 1) * a  # numbers on the right need __add__/__mul__ to wrap them
    out.backward()
    ta = _t(-2.0)
    ((ta * 2 + 1) * ta).backward()
    if not _close(out.data, 6.0):
        raise AssertionError(f"(a * 2 + 1) * a at a = -2 is {out.data}, expected 6")
    _check_grads([(a, ta, "a")])


@exercise("autograd.value_ops", hint="each op returns out = Value(result, (self, other)) and sets out._backward to a "
          "function that does self.grad += local_derivative * out.grad (+=, never =); wrap plain numbers first")
def _value_ops():
    yield Case("a tanh neuron x1*w1 + x2*w2 + b", test=_neuron)
    yield Case("exp, mul and add", test=_exp)
    yield Case("a node used twice (a + a, a * a)", test=_repeated)
    yield Case("plain numbers mixed in", test=_numbers)


# ---------------------------------------------------------------- topological order
def _random_graph(seed: int, size: int):
    """A random expression of library Values and the same one in torch: (root, leaves, troot, tleaves)."""
    from llmcourse.autograd import Value

    rng = random.Random(seed)
    leaves = [Value(rng.uniform(-1, 1), label=f"x{i}") for i in range(4)]
    tleaves = [_t(v.data) for v in leaves]
    nodes, tnodes = list(leaves), list(tleaves)
    for _ in range(size):
        i, j = rng.randrange(len(nodes)), rng.randrange(len(nodes))  # often the same node twice
        op = rng.choice(["+", "*", "tanh"])
        if op == "+":
            nodes.append(nodes[i] + nodes[j])
            tnodes.append(tnodes[i] + tnodes[j])
        elif op == "*":
            nodes.append(nodes[i] * nodes[j])
            tnodes.append(tnodes[i] * tnodes[j])
        else:
            nodes.append(nodes[i].tanh())
            tnodes.append(torch.tanh(tnodes[i]))
    root, troot = sum(nodes[-3:], nodes[0]), sum(tnodes[-3:], tnodes[0])
    return root, leaves, troot, tleaves


def _reachable(root) -> set[int]:
    seen, stack = set(), [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen.add(id(v))
            stack.extend(v._prev)
    return seen


def _topo_case(seed: int, size: int, chain: bool = False):
    def test(fn):
        from llmcourse.autograd import Value

        if chain:  # a long chain x -> tanh -> *1.01 -> ... (no recursion limit issue at this depth)
            x = Value(0.3)
            root = x
            tx = _t(0.3)
            troot = tx
            for _ in range(size):
                root, troot = root.tanh() * 1.01, torch.tanh(troot) * 1.01
            leaves, tleaves = [x], [tx]
        else:
            root, leaves, troot, tleaves = _random_graph(seed, size)
        order = list(fn(root))
        ids = [id(v) for v in order]
        if len(set(ids)) != len(ids):
            raise AssertionError("a node appears more than once: remember which nodes you visited")
        if set(ids) != _reachable(root):
            raise AssertionError(f"{len(set(ids))} nodes in the order, but {len(_reachable(root))} reachable from root")
        where = {i: k for k, i in enumerate(ids)}
        for v in order:
            if any(where[id(c)] > where[id(v)] for c in v._prev):
                raise AssertionError("a node comes before one of its inputs: append a node after its children")
        if order[-1] is not root:
            raise AssertionError("the root (output) must come last")
        root.grad = 1.0
        for v in reversed(order):
            v._backward(v.grad)
        troot.backward()
        _check_grads([(v, t, v.label or "x") for v, t in zip(leaves, tleaves)])

    return test


@exercise("autograd.topo_sort", hint="depth-first: visit(v): if v not seen: mark it, visit each child in v._prev, "
          "then append v. The root ends up last")
def _topo_sort():
    yield Case("random graph with shared nodes", test=_topo_case(0, 12))
    yield Case("bigger random graph", test=_topo_case(1, 60))
    yield Case("a chain of 200 operations", test=_topo_case(2, 200, chain=True))


# ---------------------------------------------------------------- the hinge loss
def _hinge_case(seed: int, n: int):
    def test(fn):
        from llmcourse.autograd import Value

        rng = random.Random(seed)
        xs = [rng.uniform(-2.5, 2.5) for _ in range(n)]
        ys = [rng.choice([-1, 1]) for _ in range(n)]
        scores = [Value(x) for x in xs]
        loss = fn(scores, ys)
        if not isinstance(loss, Value):
            raise AssertionError(f"return a Value (so that it can be back-propagated), not {type(loss).__name__}")
        loss.backward()
        ts = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
        tloss = torch.relu(1 - torch.tensor(ys, dtype=torch.float64) * ts).mean()
        tloss.backward()
        if not _close(loss.data, float(tloss.detach())):
            raise AssertionError(f"loss {loss.data:.6g}, torch says {float(tloss.detach()):.6g}")
        bad = [i for i, s in enumerate(scores) if not _close(s.grad, float(ts.grad[i]))]
        if bad:
            i = bad[0]
            raise AssertionError(f"score {i}: grad {scores[i].grad:.6g}, torch says {float(ts.grad[i]):.6g}")

    return test


@exercise("autograd.hinge_loss", hint="mean over points of (1 - y * s).relu(): build it from Values so it can be "
          "back-propagated; divide the sum by the number of points")
def _hinge_loss():
    yield Case("8 points", test=_hinge_case(0, 8))
    yield Case("50 points, some beyond the margin", test=_hinge_case(1, 50))
