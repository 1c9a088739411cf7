"""Exercises of notebook 2.4 (micrograd): derivatives, a Value class, topological order, a loss,
neurons, layers and an MLP, and (the stretch) a multi-class cross-entropy.

The oracle everywhere is torch autograd in float64, on the same expressions (for the
neural-network pieces: the same weights, read from the learner's Values, in torch tensors).
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# ---------------------------------------------------------------- numerical derivative
FUNCTIONS = [
    ("3x^2 - 4x + 5 at x = 3", lambda x: 3 * x**2 - 4 * x + 5, lambda x: 3 * x**2 - 4 * x + 5, 3.0),
    ("tanh at x = 0.7", math.tanh, torch.tanh, 0.7),
    ("exp(x) / x at x = -1.5", lambda x: math.exp(x) / x, lambda x: torch.exp(x) / x, -1.5),
]


def _one_sided(f, x, h=1e-5):
    return (f(x + h) - f(x)) / h


def _forgets_the_two(f, x, h=1e-5):
    return (f(x + h) - f(x - h)) / h


@exercise("autograd.numerical_derivative", difficulty=1, minutes=5,
          reference="llmcourse.autograd.engine:numerical_derivative",
          wrong={"one-sided difference (error ~ h)": _one_sided, "divides by h, not 2h": _forgets_the_two},
          hint="(f(x + h) - f(x - h)) / (2 h) with a small h such as 1e-5")
def _numerical_derivative():
    for label, f, f_torch, x0 in FUNCTIONS:
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        f_torch(x).backward()
        yield Case(label, args=(f, x0), expected=float(x.grad), atol=1e-6, rtol=1e-6)


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


class _Scalar:
    """A micrograd-style Value whose classic mistakes can be switched on, one per subclass."""

    overwrite = False  # `=` instead of `+=`
    tanh_of_input = False  # 1 - x^2 instead of 1 - tanh(x)^2
    mul_own_data = False  # d(a*b)/da = a instead of b

    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev, self._backward = float(data), 0.0, tuple(_children), lambda: None

    def _acc(self, node, g):
        node.grad = g if self.overwrite else node.grad + g

    def __add__(self, other):
        other = other if isinstance(other, _Scalar) else type(self)(other)
        out = type(self)(self.data + other.data, (self, other))

        def _backward():
            self._acc(self, out.grad)
            self._acc(other, out.grad)
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, _Scalar) else type(self)(other)
        out = type(self)(self.data * other.data, (self, other))

        def _backward():
            self._acc(self, (self.data if self.mul_own_data else other.data) * out.grad)
            self._acc(other, (other.data if self.mul_own_data else self.data) * out.grad)
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = type(self)(t, (self,))

        def _backward():
            self._acc(self, (1 - (self.data if self.tanh_of_input else t) ** 2) * out.grad)
        out._backward = _backward
        return out

    def exp(self):
        e = math.exp(self.data)
        out = type(self)(e, (self,))

        def _backward():
            self._acc(self, e * out.grad)
        out._backward = _backward
        return out

    __radd__ = __add__
    __rmul__ = __mul__

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


class _Overwrites(_Scalar):
    overwrite = True


class _TanhOfInput(_Scalar):
    tanh_of_input = True


class _MulOwnData(_Scalar):
    mul_own_data = True


@exercise("autograd.value_ops", difficulty=2, minutes=25,
          reference="llmcourse.autograd.engine:Value",
          wrong={"= instead of += in backward": _Overwrites, "tanh's derivative as 1 - x^2": _TanhOfInput,
                 "d(a*b)/da = a": _MulOwnData},
          hint="each op returns out = Value(result, (self, other)) and sets out._backward to a function that does "
               "self.grad += local_derivative * out.grad (+=, never =); wrap plain numbers first")
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


def _topo_no_visited(root):
    order = []

    def visit(v):
        for c in v._prev:
            visit(c)
        order.append(v)
    visit(root)
    return order


def _topo_preorder(root):
    order, seen = [], set()

    def visit(v):
        if id(v) not in seen:
            seen.add(id(v))
            order.append(v)  # appended before its children are visited
            for c in v._prev:
                visit(c)
    visit(root)
    return order


def _topo_reversed(root):
    from llmcourse.autograd.engine import topological_order

    return list(reversed(topological_order(root)))


@exercise("autograd.topo_sort", difficulty=2, minutes=15,
          reference="llmcourse.autograd.engine:topological_order",
          wrong={"no visited set: shared nodes twice": _topo_no_visited,
                 "appends a node before visiting its children": _topo_preorder,
                 "root first (the reversed order)": _topo_reversed},
          hint="depth-first: visit(v): if v not seen: mark it, visit each child in v._prev, then append v. "
               "The root ends up last")
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


def _hinge_sum(scores, ys):
    from llmcourse.autograd import Value

    return sum(((1 + -y * s).relu() for s, y in zip(scores, ys)), Value(0.0))


def _hinge_no_relu(scores, ys):
    from llmcourse.autograd import Value

    return sum((1 + -y * s for s, y in zip(scores, ys)), Value(0.0)) * (1.0 / len(scores))


def _hinge_no_margin(scores, ys):
    from llmcourse.autograd import Value

    return sum(((-y * s).relu() for s, y in zip(scores, ys)), Value(0.0)) * (1.0 / len(scores))


@exercise("autograd.hinge_loss", difficulty=1, minutes=10,
          reference="llmcourse.autograd.train:hinge_loss",
          wrong={"sum, not mean": _hinge_sum, "no relu: points beyond the margin still count": _hinge_no_relu,
                 "margin 0: relu(-y s)": _hinge_no_margin},
          hint="mean over points of (1 - y * s).relu(): build it from Values so it can be back-propagated; "
               "divide the sum by the number of points")
def _hinge_loss():
    yield Case("8 points", test=_hinge_case(0, 8))
    yield Case("50 points, some beyond the margin", test=_hinge_case(1, 50))


# ---------------------------------------------------------------- neurons, layers, an MLP (the same weights in torch)
def _act(t: torch.Tensor, nonlin: str | None) -> torch.Tensor:
    return torch.tanh(t) if nonlin == "tanh" else torch.relu(t) if nonlin == "relu" else t


def _as_list(out) -> list:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _params_are(module, expected: list, what: str) -> None:
    params = module.parameters()
    if len({id(p) for p in params}) != len(params):
        raise AssertionError(f"{what}.parameters() lists some Values twice: are several neurons one and the same "
                             "object? ([Neuron(nin)] * nout repeats one neuron)")
    if {id(p) for p in params} != {id(p) for p in expected}:
        raise AssertionError(f"{what}.parameters() has {len(params)} Values, expected {len(expected)}: every weight "
                             "and bias, of every neuron")


def _compare(name: str, mine: list, ref: torch.Tensor) -> None:
    got = [float(v.grad) for v in mine]
    want = ref.detach().reshape(-1).tolist()
    bad = [i for i, (a, b) in enumerate(zip(got, want)) if not _close(a, b)]
    if bad:
        i = bad[0]
        raise AssertionError(f"{len(bad)} of the {len(want)} gradients of {name} differ from torch's "
                             f"(e.g. entry {i}: {got[i]:.6g} vs {want[i]:.6g})")


def _layer_weights(layer) -> tuple[list, list]:
    neurons = getattr(layer, "neurons", None)
    if not neurons:
        raise AssertionError("a layer keeps its neurons in a list named `neurons`")
    return [w for n in neurons for w in n.w], [n.b for n in neurons]


def _run_against_torch(module, layers: list, nin: int, nonlins: list, seed: int, what: str) -> None:
    """Forward random Value inputs through `module`, back-propagate sum_j c_j out_j, compare with torch."""
    from llmcourse.autograd import Value

    rng = random.Random(seed + 7)
    for layer in layers:  # nonzero biases, so that a forgotten bias shows
        for n in layer.neurons:
            n.b.data = rng.uniform(-0.5, 0.5)
    xs = [Value(rng.uniform(-1.5, 1.5)) for _ in range(nin)]
    outs = _as_list(module(xs))
    coeffs = [rng.uniform(0.5, 1.5) * rng.choice([-1, 1]) for _ in outs]
    loss = sum((c * o for c, o in zip(coeffs, outs)), Value(0.0))
    loss.backward()

    tx = torch.tensor([x.data for x in xs], dtype=torch.float64, requires_grad=True)
    tws, tbs, act = [], [], tx
    for layer, nonlin in zip(layers, nonlins):
        ws, bs = _layer_weights(layer)
        W = torch.tensor([w.data for w in ws], dtype=torch.float64).view(len(bs), -1).requires_grad_(True)
        b = torch.tensor([v.data for v in bs], dtype=torch.float64, requires_grad=True)
        act = _act(W @ act + b, nonlin)
        tws.append(W)
        tbs.append(b)
    if len(outs) != act.numel():
        raise AssertionError(f"{what} returned {len(outs)} outputs, expected {act.numel()}")
    bad = [i for i, (o, t) in enumerate(zip(outs, act.tolist())) if not _close(o.data, t)]
    if bad:
        raise AssertionError(f"output {bad[0]} is {outs[bad[0]].data:.6g}, torch says {act[bad[0]].item():.6g}")
    (torch.tensor(coeffs, dtype=torch.float64) * act).sum().backward()
    for k, (layer, W, b) in enumerate(zip(layers, tws, tbs)):
        ws, bs = _layer_weights(layer)
        _compare(f"layer {k}'s weights", ws, W.grad)
        _compare(f"layer {k}'s biases", bs, b.grad)
    _compare("the inputs", xs, tx.grad)


def _neuron_case(nin: int, nonlin: str | None, seed: int):
    def test(cls):
        n = cls(nin, nonlin=nonlin, rng=random.Random(seed))
        if len(getattr(n, "w", [])) != nin or getattr(n, "b", None) is None:
            raise AssertionError(f"a Neuron({nin}) keeps {nin} weights in a list `w` and its bias in `b`")
        _params_are(n, [*n.w, n.b], "Neuron")

        class _OneNeuronLayer:
            neurons = [n]
        _run_against_torch(n, [_OneNeuronLayer], nin, [nonlin], seed, "the neuron")
    return test


class _NeuronNoBias:
    """Forgets the bias in the sum."""

    def __init__(self, nin, nonlin="tanh", rng=None):
        from llmcourse.autograd import Neuron

        self._n = Neuron(nin, nonlin, rng)
        self.w, self.b, self.nonlin = self._n.w, self._n.b, nonlin

    def __call__(self, x):
        act = sum(wi * xi for wi, xi in zip(self.w, x))
        return act.tanh() if self.nonlin == "tanh" else act.relu() if self.nonlin == "relu" else act

    def parameters(self):
        return self.w + [self.b]


class _NeuronAlwaysTanh(_NeuronNoBias):
    """Applies tanh whatever `nonlin` says."""

    def __call__(self, x):
        return sum((wi * xi for wi, xi in zip(self.w, x)), self.b).tanh()


class _NeuronForgetsBiasParam(_NeuronNoBias):
    """Computes the right thing but leaves the bias out of parameters(): it would never be trained."""

    def __call__(self, x):
        return self._n(x)

    def parameters(self):
        return list(self.w)


@exercise("autograd.neuron", difficulty=1, minutes=10,
          reference="llmcourse.autograd.nn:Neuron",
          wrong={"forgets the bias": _NeuronNoBias, "tanh whatever nonlin says": _NeuronAlwaysTanh,
                 "bias missing from parameters()": _NeuronForgetsBiasParam},
          hint="w = [Value(rng.uniform(-1, 1)) for _ in range(nin)], b = Value(0.0); __call__: act = sum of w_i * x_i "
               "plus b, then tanh / relu / nothing; parameters() = w + [b]")
def _neuron_exercise():
    yield Case("relu, 3 inputs", test=_neuron_case(3, "relu", 0))
    yield Case("tanh, 4 inputs", test=_neuron_case(4, "tanh", 1))
    yield Case("linear (nonlin=None), 2 inputs", test=_neuron_case(2, None, 2))


def _layer_case(nin: int, nout: int, nonlin: str | None, seed: int):
    def test(cls):
        layer = cls(nin, nout, nonlin=nonlin, rng=random.Random(seed))
        ws, bs = _layer_weights(layer)
        if len(layer.neurons) != nout:
            raise AssertionError(f"Layer({nin}, {nout}) should hold {nout} neurons, holds {len(layer.neurons)}")
        _params_are(layer, ws + bs, "Layer")
        _run_against_torch(layer, [layer], nin, [nonlin], seed, "the layer")
    return test


def _shared_neuron_layer(nin, nout, nonlin="tanh", rng=None):
    from llmcourse.autograd import Layer, Neuron

    layer = Layer(nin, 1, nonlin, rng)
    layer.neurons = [Neuron(nin, nonlin, rng)] * nout  # one neuron, repeated
    return layer


def _first_neuron_params_layer(nin, nout, nonlin="tanh", rng=None):
    from llmcourse.autograd import Layer

    layer = Layer(nin, nout, nonlin, rng)
    layer.parameters = lambda: layer.neurons[0].parameters()  # only the first neuron's
    return layer


def _tanh_layer(nin, nout, nonlin="tanh", rng=None):
    from llmcourse.autograd import Layer

    return Layer(nin, nout, "tanh", rng)  # ignores nonlin


@exercise("autograd.layer", difficulty=1, minutes=10,
          reference="llmcourse.autograd.nn:Layer",
          wrong={"[Neuron(nin)] * nout: one neuron repeated": _shared_neuron_layer,
                 "parameters() of the first neuron only": _first_neuron_params_layer,
                 "ignores nonlin": _tanh_layer},
          hint="self.neurons = [Neuron(nin, nonlin, rng) for _ in range(nout)]; __call__ returns [n(x) for n in "
               "self.neurons] (the Value itself when nout == 1); parameters() chains every neuron's")
def _layer_exercise():
    yield Case("3 -> 4, relu", test=_layer_case(3, 4, "relu", 0))
    yield Case("2 -> 3, tanh", test=_layer_case(2, 3, "tanh", 1))
    yield Case("4 -> 1, linear", test=_layer_case(4, 1, None, 2))


def _mlp_case(nin: int, nouts: list[int], nonlin: str, seed: int):
    def test(cls):
        mlp = cls(nin, nouts, nonlin=nonlin, rng=random.Random(seed))
        layers = getattr(mlp, "layers", None)
        if not layers or len(layers) != len(nouts):
            raise AssertionError(f"MLP({nin}, {nouts}) keeps its {len(nouts)} layers in a list named `layers`")
        expected = [p for layer in layers for p in sum(_layer_weights(layer), [])]
        _params_are(mlp, expected, "MLP")
        nonlins = [nonlin] * (len(nouts) - 1) + [None]  # the last layer is linear: it outputs scores
        _run_against_torch(mlp, layers, nin, nonlins, seed, "the MLP")
    return test


def _mlp_nonlinear_output(nin, nouts, nonlin="tanh", rng=None):
    from llmcourse.autograd import MLP, Layer

    mlp = MLP(nin, nouts, nonlin, rng=rng)
    sizes = [nin, *nouts]
    mlp.layers = [Layer(sizes[i], sizes[i + 1], nonlin, rng) for i in range(len(nouts))]  # last layer too
    return mlp


def _mlp_linear_hidden(nin, nouts, nonlin="tanh", rng=None):
    from llmcourse.autograd import MLP, Layer

    mlp = MLP(nin, nouts, "tanh", rng=rng)
    sizes = [nin, *nouts]
    mlp.layers = [Layer(sizes[i], sizes[i + 1], None, rng) for i in range(len(nouts))]  # ignores nonlin
    return mlp


@exercise("autograd.mlp", difficulty=1, minutes=10,
          reference="llmcourse.autograd.nn:MLP",
          wrong={"nonlinearity on the output layer too": _mlp_nonlinear_output,
                 "no nonlinearity in the hidden layers": _mlp_linear_hidden},
          hint="sizes = [nin] + nouts; layer i is Layer(sizes[i], sizes[i + 1], nonlin if i < len(nouts) - 1 else None); "
               "__call__ feeds each layer's output to the next; parameters() chains every layer's")
def _mlp_exercise():
    yield Case("2 -> [4, 4, 1], relu", test=_mlp_case(2, [4, 4, 1], "relu", 0))
    yield Case("3 -> [5, 2], tanh", test=_mlp_case(3, [5, 2], "tanh", 1))


# ---------------------------------------------------------------- stretch: cross-entropy over several classes
def _ce_case(seed: int, n_classes: int, scale: float):
    def test(fn):
        from llmcourse.autograd import Value

        rng = random.Random(seed)
        raw = [rng.gauss(0, 1) * scale for _ in range(n_classes)]
        target = rng.randrange(n_classes)
        logits = [Value(x) for x in raw]
        loss = fn(logits, target)
        if not isinstance(loss, Value):
            raise AssertionError(f"return a Value (so that it can be back-propagated), not {type(loss).__name__}")
        loss.backward()
        t = torch.tensor(raw, dtype=torch.float64, requires_grad=True)
        tl = F.cross_entropy(t[None], torch.tensor([target]))
        tl.backward()
        if not _close(loss.data, tl.item()):
            raise AssertionError(f"loss {loss.data:.6g}, F.cross_entropy says {tl.item():.6g}")
        _compare("the logits", logits, t.grad)
    return test


def _ce_naive(logits, target):
    from llmcourse.autograd import Value

    total = sum((v.exp() for v in logits), Value(0.0))  # exp(1000) overflows
    return total.log() - logits[target]


def _ce_no_minus(logits, target):
    from llmcourse.autograd import cross_entropy

    return cross_entropy(logits, target) * -1


def _ce_mean_over_classes(logits, target):
    from llmcourse.autograd import Value, cross_entropy

    return sum((cross_entropy(logits, j) for j in range(len(logits))), Value(0.0)) * (1.0 / len(logits))


@exercise("autograd.cross_entropy", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.autograd.train:cross_entropy",
          wrong={"exp without subtracting the max": _ce_naive, "log p(target), not -log p": _ce_no_minus,
                 "averages -log p over every class": _ce_mean_over_classes},
          hint="m = max(v.data for v in logits) (a plain number); loss = log(sum_j exp(l_j - m)) - (l_target - m); "
               "build it from Value ops (exp, log, +, -) so it back-propagates")
def _cross_entropy_exercise():
    yield Case("3 classes", test=_ce_case(0, 3, 1.0))
    yield Case("10 classes", test=_ce_case(1, 10, 2.0))
    yield Case("large logits (a 1000 overflows exp)", test=_ce_case(2, 4, 600.0))
