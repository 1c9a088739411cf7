"""micrograd (llmcourse.autograd) against torch autograd: random expression graphs, repeated nodes,
the MLP and its loss, training on two moons, graph drawing and bad input."""

import gc
import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.autograd import (MLP, Layer, Neuron, Value, cross_entropy, draw, fit, gc_paused, hinge_loss,
                                numerical_derivative, predict, to_dot, topological_order, trace)
from llmcourse.exercises.registry import run_exercise


def close(a, b, tol=1e-6):
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def T(x):
    return torch.tensor(float(x), dtype=torch.float64, requires_grad=True)


# ---------------------------------------------------------------- random expression graphs against torch
UNARY = ["exp", "log", "tanh", "relu", "neg", "pow"]
BINARY = ["add", "sub", "mul", "div", "radd", "rsub", "rmul", "rdiv"]
POWERS = [2, 3, -1, 0.5, -0.5, 1.5]


def build(program, leaves):
    """Apply `program` to Values and to torch scalars side by side; returns both node lists.

    Each step picks an op and operands among the nodes made so far (so nodes are reused
    freely); an op whose input is outside a safe domain is replaced by tanh.
    """
    vs = [Value(x) for x in leaves]
    ts = [T(x) for x in leaves]
    for op, i, j, c in program:
        i, j = i % len(vs), j % len(vs)
        a, b, ta, tb = vs[i], vs[j], ts[i], ts[j]
        x, y = a.data, b.data
        if op == "log" and x < 0.1 or op == "exp" and x > 5 or op == "div" and abs(y) < 0.1 \
                or op == "rdiv" and abs(x) < 0.1 \
                or op == "pow" and (abs(x) < 0.1 or (c % 1 and x <= 0) or abs(x) > 100):
            op = "tanh"
        if op == "exp": v, t = a.exp(), ta.exp()
        elif op == "log": v, t = a.log(), ta.log()
        elif op == "tanh": v, t = a.tanh(), ta.tanh()
        elif op == "relu": v, t = a.relu(), ta.relu()
        elif op == "neg": v, t = -a, -ta
        elif op == "pow": v, t = a**c, ta**c
        elif op == "add": v, t = a + b, ta + tb
        elif op == "sub": v, t = a - b, ta - tb
        elif op == "mul": v, t = a * b, ta * tb
        elif op == "div": v, t = a / b, ta / tb
        elif op == "radd": v, t = c + a, c + ta
        elif op == "rsub": v, t = c - a, c - ta
        elif op == "rmul": v, t = c * a, c * ta
        elif op == "rdiv": v, t = c / a, c / ta
        if abs(v.data) > 1e4:  # keep magnitudes where 1e-6 comparisons mean something
            v, t = a.tanh(), ta.tanh()
        t.retain_grad()
        vs.append(v)
        ts.append(t)
    return vs, ts


def check_graph(program, leaves, n_outputs):
    vs, ts = build(program, leaves)
    outs = list(range(len(vs) - n_outputs, len(vs))) + [0]  # several outputs, and a leaf used again
    root = sum((vs[k] for k in outs), Value(0.0))
    troot = sum(ts[k] for k in outs)
    root.backward()
    troot.backward()
    assert close(root.data, troot.item())
    for k, (v, t) in enumerate(zip(vs, ts)):
        assert close(v.data, t.item()), f"node {k}: value {v.data} vs torch {t.item()}"
        tg = 0.0 if t.grad is None else t.grad.item()
        assert close(v.grad, tg, 1e-6 * max(1.0, abs(tg))), f"node {k}: grad {v.grad} vs torch {tg}"


program_steps = st.tuples(st.sampled_from(UNARY + BINARY), st.integers(0, 10_000), st.integers(0, 10_000),
                          st.sampled_from(POWERS + [-2.0, 0.5, 3.0]))


@settings(max_examples=150, deadline=None)
@given(program=st.lists(program_steps, min_size=1, max_size=40),
       leaves=st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=5),
       n_outputs=st.integers(1, 4))
def test_random_graphs_match_torch(program, leaves, n_outputs):
    check_graph(program, leaves, n_outputs)


def test_seeded_sweep_of_larger_graphs():
    rng = random.Random(0)
    for _ in range(40):
        program = [(rng.choice(UNARY + BINARY), rng.randrange(10**4), rng.randrange(10**4),
                    rng.choice(POWERS)) for _ in range(rng.randint(50, 150))]
        check_graph(program, [rng.uniform(-2, 2) for _ in range(rng.randint(1, 6))], rng.randint(1, 5))


# ---------------------------------------------------------------- repeated use of a node
def test_repeated_use_accumulates():
    a = Value(3.0)
    (a + a).backward()
    assert a.grad == 2.0
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0
    a, ta = Value(-2.0), T(-2.0)
    b, tb = a + 1, ta + 1
    c, tc = a * b, ta * tb  # a reaches c directly and through b
    d, td = (c * a).tanh() + b * b, torch.tanh(tc * ta) + tb * tb
    d.backward()
    td.backward()
    assert close(a.grad, ta.grad.item())


def test_backward_accumulates_across_calls_until_zeroed():
    a = Value(2.0)
    out = a * 3
    out.backward()
    out.backward()
    assert a.grad == 6.0  # like torch: grads add up, zero them between passes
    model = MLP(2, [3, 1], seed=0)
    model([1.0, 2.0]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())


def test_topological_order_of_a_long_chain():
    x = Value(0.5)
    y = x
    for _ in range(5000):  # deeper than Python's recursion limit
        y = y * 1.0 + 0.0
    order = topological_order(y)
    assert order[0] is not y and order[-1] is y
    assert len(order) == len({id(v) for v in order}) == 1 + 5000 * 4
    y.backward()
    assert x.grad == pytest.approx(1.0)


# ---------------------------------------------------------------- the MLP against torch
def test_mlp_forward_and_gradients_match_torch():
    rng = random.Random(0)
    model = MLP(3, [4, 4, 1], nonlin="tanh", seed=1)
    X = [[rng.uniform(-1, 1) for _ in range(3)] for _ in range(6)]
    ys = [rng.choice([-1, 1]) for _ in range(6)]
    loss = hinge_loss([model(x) for x in X], ys, model.parameters(), alpha=1e-2)
    loss.backward()
    # the same network in torch, with the same weights
    Ws = [torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True)
          for layer in model.layers]
    bs = [torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
          for layer in model.layers]
    h = torch.tensor(X, dtype=torch.float64)
    for k, (W, b) in enumerate(zip(Ws, bs)):
        h = h @ W.T + b
        if k < len(Ws) - 1:
            h = torch.tanh(h)
    tys = torch.tensor(ys, dtype=torch.float64)
    tloss = torch.relu(1 - tys * h[:, 0]).mean() + 1e-2 * sum((p**2).sum() for p in Ws + bs)
    tloss.backward()
    assert close(loss.data, tloss.item())
    for layer, W, b in zip(model.layers, Ws, bs):
        for r, n in enumerate(layer.neurons):
            assert all(close(w.grad, W.grad[r, c].item()) for c, w in enumerate(n.w))
            assert close(n.b.grad, b.grad[r].item())


def test_mlp_shapes_and_parameter_count():
    model = MLP(2, [16, 16, 1], seed=0)
    assert len(model.parameters()) == (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1)
    assert isinstance(model([0.1, 0.2]), Value)
    assert len(MLP(2, [3, 2], seed=0)([0.1, 0.2])) == 2
    assert [p.data for p in MLP(2, [4, 1], seed=7).parameters()] == [p.data for p in MLP(2, [4, 1], seed=7).parameters()]
    assert model.layers[-1].neurons[0].nonlin is None
    assert "relu" in repr(MLP(2, [3, 1], nonlin="relu", seed=0))


def test_two_moons_reach_100_percent():
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=30, noise=0.1, random_state=1)
    y = 2 * y - 1
    model = MLP(2, [16, 16, 1], seed=1337)
    was_enabled = gc.isenabled()
    hist = fit(model, X, y, steps=50, lr=1.0)
    assert gc.isenabled() == was_enabled, "fit restores the garbage collector"
    assert hist.loss[-1] < hist.loss[0] / 5
    scores = predict(model, X)
    assert sum((s > 0) == (t > 0) for s, t in zip(scores, y)) == len(y)


def test_gc_paused_restores_state():
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    gc.enable()
    with pytest.raises(RuntimeError):
        with gc_paused():
            raise RuntimeError("boom")
    assert gc.isenabled()


# ---------------------------------------------------------------- drawing
def _expression():
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    L = d * Value(-2.0, label="f")
    L.label = "L"
    return L


def test_trace_and_dot():
    L = _expression()
    nodes, edges = trace(L)
    assert len(nodes) == 7 and len(edges) == 6
    L.backward()
    dot = to_dot(L)
    assert dot.startswith("digraph") and dot.count("shape=record") == 7 and dot.count("->") == 6 + 3
    assert "grad -2.0000" in dot  # dL/da = b * f = -3 * -2... of e: f = -2
    weird = Value(1.0, label='x"{<y>}')
    assert '\\"\\{\\<y\\>\\}' in to_dot(weird * 2)


def test_draw_with_matplotlib(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import llmcourse.autograd.drawing as drawing

    monkeypatch.setattr(drawing, "graphviz_available", lambda: False)
    L = _expression()
    L.backward()
    fig = draw(L)  # auto falls back to matplotlib
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum("data" in t for t in texts) == 7 and texts.count("*") == 2 and texts.count("+") == 1
    with pytest.raises(RuntimeError, match="pip install graphviz"):
        draw(L, backend="graphviz")
    with pytest.raises(ValueError, match="backend"):
        draw(L, backend="svg")
    import matplotlib.pyplot as plt

    plt.close(fig)


# ---------------------------------------------------------------- bad input
def test_value_power_of_value_is_refused():
    a, b = Value(2.0), Value(3.0)
    with pytest.raises(TypeError, match=r"Value \*\* Value is not supported.*\(y \* x.log\(\)\).exp\(\)"):
        a**b
    with pytest.raises(TypeError, match=r"2 \*\* Value is not supported"):
        2**a
    with pytest.raises(TypeError, match="int or float"):
        a ** "2"
    # the suggested rewrite works, and matches torch
    out = (b * a.log()).exp()
    out.backward()
    ta, tb = T(2.0), T(3.0)
    (ta**tb).backward()
    assert close(out.data, 8.0) and close(a.grad, ta.grad.item()) and close(b.grad, tb.grad.item())


def test_bad_values_and_domains():
    with pytest.raises(TypeError, match="real number"):
        Value("1.0")
    with pytest.raises(TypeError, match="real number"):
        Value(True)
    with pytest.raises(TypeError, match="use the Value itself"):
        Value(Value(1.0))
    with pytest.raises(TypeError, match="cannot combine"):
        Value(1.0) + "a"
    with pytest.raises(ValueError, match="positive"):
        Value(-1.0).log()
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / 0
    with pytest.raises(ZeroDivisionError):
        Value(0.0) ** -1
    with pytest.raises(ValueError, match="positive base"):
        Value(-2.0) ** 0.5
    import numpy as np

    assert (Value(np.float32(1.5)) * np.float64(2.0)).data == 3.0


def test_bad_model_input():
    with pytest.raises(ValueError, match="takes 2 inputs, got 3"):
        MLP(2, [3, 1], seed=0)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="nonlin"):
        Neuron(2, nonlin="sigmoid")
    with pytest.raises(ValueError, match="at least one"):
        Layer(2, 0)
    with pytest.raises(ValueError, match="2\\*y - 1"):
        hinge_loss([Value(0.5)], [0])
    with pytest.raises(TypeError, match="layer of size 1"):
        hinge_loss([MLP(2, [3, 2], seed=0)([1.0, 2.0])], [1])
    with pytest.raises(ValueError, match="one label per score"):
        hinge_loss([Value(0.5)], [1, -1])


# ---------------------------------------------------------------- exercises, both ways
def ref_numerical_derivative(f, x, h=1e-5):
    return (f(x + h) - f(x - h)) / (2 * h)


def ref_hinge(scores, ys):
    return hinge_loss(scores, ys)


@pytest.mark.parametrize("name,fn", [
    ("autograd.numerical_derivative", ref_numerical_derivative),
    ("autograd.value_ops", Value),
    ("autograd.topo_sort", topological_order),
    ("autograd.hinge_loss", ref_hinge),
])
def test_reference_passes_exercise(name, fn):
    res = run_exercise(name, fn)
    assert res.ok, res.failures


class OverwritingValue:
    """micrograd's classic bug: grads are assigned (=), not accumulated (+=)."""

    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev, self._backward = float(data), 0.0, _children, lambda: None

    def __add__(self, other):
        other = other if isinstance(other, OverwritingValue) else OverwritingValue(other)
        out = OverwritingValue(self.data + other.data, (self, other))

        def _backward():
            self.grad = out.grad
            other.grad = out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, OverwritingValue) else OverwritingValue(other)
        out = OverwritingValue(self.data * other.data, (self, other))

        def _backward():
            self.grad = other.data * out.grad
            other.grad = self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = OverwritingValue(t, (self,))

        def _backward():
            self.grad = (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)
        out = OverwritingValue(e, (self,))

        def _backward():
            self.grad = e * out.grad
        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for c in v._prev:
                    visit(c)
                order.append(v)
        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            v._backward()


def test_exercises_catch_wrong_answers():
    res = run_exercise("autograd.value_ops", OverwritingValue)
    assert not res.ok and any("+=" in f for f in res.failures)
    assert run_exercise("autograd.value_ops", OverwritingValue).passed >= 1  # the neuron has no shared node

    def duplicates(root):  # no visited set: shared nodes appear twice
        out = []

        def visit(v):
            for c in v._prev:
                visit(c)
            out.append(v)
        visit(root)
        return out

    res = run_exercise("autograd.topo_sort", duplicates)
    assert not res.ok and "more than once" in res.failures[0]
    res = run_exercise("autograd.topo_sort", lambda root: list(reversed(topological_order(root))))
    assert not res.ok and "before one of its inputs" in res.failures[0]
    assert not run_exercise("autograd.hinge_loss", lambda s, y: sum(((1 - yi * si).relu() for si, yi in zip(s, y)),
                                                                    Value(0.0))).ok
    assert not run_exercise("autograd.numerical_derivative", lambda f, x: (f(x + 0.1) - f(x)) / 0.1).ok


# ---------------------------------------------------------------- cross-entropy and the measured derivative
@pytest.mark.parametrize("scale", [1.0, 5.0, 800.0])
def test_cross_entropy_matches_torch_also_for_huge_logits(scale):
    rng = random.Random(int(scale))
    raw = [rng.gauss(0, 1) * scale for _ in range(6)]
    for target in range(6):
        logits = [Value(x) for x in raw]
        loss = cross_entropy(logits, target)
        loss.backward()
        t = torch.tensor(raw, dtype=torch.float64, requires_grad=True)
        ref = torch.nn.functional.cross_entropy(t[None], torch.tensor([target]))
        ref.backward()
        assert close(loss.data, ref.item())
        assert all(close(v.grad, g) for v, g in zip(logits, t.grad.tolist()))
    with pytest.raises(ValueError, match="class index"):
        cross_entropy([Value(1.0)], 1)
    with pytest.raises(TypeError, match="list of Values"):
        cross_entropy([1.0, 2.0], 0)


def test_numerical_derivative_is_second_order_accurate():
    f = lambda x: math.sin(3 * x)  # noqa: E731
    exact = 3 * math.cos(3 * 0.4)
    errors = [abs(numerical_derivative(f, 0.4, h) - exact) for h in (1e-2, 1e-3)]
    assert errors[1] < errors[0] / 50  # h 10x smaller: error ~100x smaller (h^2)
    assert abs(numerical_derivative(f, 0.4) - exact) < 1e-8
