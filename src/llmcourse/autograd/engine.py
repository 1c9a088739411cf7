"""A scalar autograd engine: `Value` (after karpathy's micrograd).

A `Value` wraps one number (`.data`) and remembers how it was made: which Values
went in (`_prev`) and which operation (`_op`). Chaining operations therefore builds
a graph of the whole computation. `backward()` then fills `.grad` of every Value in
that graph with d(output)/d(that value), by the chain rule, output first:

1. order the graph topologically (every node after everything it depends on);
2. set the output's grad to 1 (d out / d out);
3. walk the order backwards; each node's `_backward(grad)` passes its grad on to
   its inputs, multiplied by the local derivative of its operation.

(micrograd's closures read `out.grad`; ours are handed it as an argument instead,
so a node never refers to itself and a dropped graph is freed at once by reference
counting rather than waiting for Python's cycle collector.)

Gradients ACCUMULATE (`+=`): a Value used twice, as in `a * a` or `b = a + 1; c = a * b`,
receives the sum of the gradients along every path (the multivariable chain rule).
Writing `=` instead is the classic micrograd bug; the tests check it with torch.

Like torch, `backward()` adds to whatever `.grad` already holds: zero the grads
(`model.zero_grad()`) before each new backward pass.

Exponents: `x ** k` needs a plain int/float constant k. `Value ** Value` (or
`2 ** Value`) is not supported and raises a TypeError saying how to write it
with exp and log instead.
"""

from __future__ import annotations

import gc
import math
from contextlib import contextmanager
from numbers import Real
from typing import Callable, Iterator, Union

Number = Union[int, float]


class Value:
    """One scalar in a computation graph, with its gradient."""

    __slots__ = ("data", "grad", "_backward", "_prev", "_op", "label")

    def __init__(self, data: Number, _children: tuple["Value", ...] = (), _op: str = "", label: str = "") -> None:
        if type(data) is not float:  # the common case skips the slower checks
            if isinstance(data, Value):
                raise TypeError("Value(Value(...)) is not allowed: use the Value itself")
            if not isinstance(data, Real) or isinstance(data, bool):
                raise TypeError(f"a Value holds a real number (int or float), not {type(data).__name__}")
            data = float(data)
        self.data = data
        self.grad = 0.0
        self._backward: Callable[[float], None] = _no_inputs
        self._prev = tuple(_children)
        self._op = _op
        self.label = label

    # ------------------------------------------------------------------ operations
    def __add__(self, other: "Value | Number") -> "Value":
        other = _as_value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward(grad: float) -> None:  # grad is out.grad
            self.grad += grad  # d(a+b)/da = 1
            other.grad += grad

        out._backward = _backward
        return out

    def __mul__(self, other: "Value | Number") -> "Value":
        other = _as_value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward(grad: float) -> None:
            self.grad += other.data * grad  # d(a*b)/da = b
            other.grad += self.data * grad

        out._backward = _backward
        return out

    def __pow__(self, k: Number) -> "Value":
        if isinstance(k, Value):
            raise TypeError(
                "Value ** Value is not supported: the exponent must be a plain int or float constant. "
                "For a variable exponent write (y * x.log()).exp() for x ** y (x > 0)."
            )
        if not isinstance(k, Real) or isinstance(k, bool):
            raise TypeError(f"the exponent of a Value must be an int or float, not {type(k).__name__}")
        k = float(k) if not float(k).is_integer() else int(k)
        try:
            result = self.data**k
        except ZeroDivisionError:
            raise ZeroDivisionError(f"0.0 ** {k} is undefined (division by zero)") from None
        if isinstance(result, complex):
            raise ValueError(f"{self.data} ** {k} is not a real number; a fractional power needs a positive base")
        out = Value(result, (self,), f"**{k}")

        def _backward(grad: float) -> None:
            self.grad += k * self.data ** (k - 1) * grad  # d x^k / dx = k x^(k-1)

        out._backward = _backward
        return out

    def __rpow__(self, base: Number) -> "Value":
        raise TypeError(
            f"{base!r} ** Value is not supported: only constant exponents are. "
            "For c ** x write (x * math.log(c)).exp() (c > 0)."
        )

    def exp(self) -> "Value":
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward(grad: float) -> None:
            self.grad += e * grad  # d e^x / dx = e^x

        out._backward = _backward
        return out

    def log(self) -> "Value":
        if self.data <= 0:
            raise ValueError(f"log of {self.data}: the natural log needs a positive argument")
        out = Value(math.log(self.data), (self,), "log")

        def _backward(grad: float) -> None:
            self.grad += grad / self.data  # d ln x / dx = 1/x

        out._backward = _backward
        return out

    def tanh(self) -> "Value":
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward(grad: float) -> None:
            self.grad += (1.0 - t * t) * grad  # d tanh x / dx = 1 - tanh^2 x

        out._backward = _backward
        return out

    def relu(self) -> "Value":
        positive = self.data > 0
        out = Value(self.data if positive else 0.0, (self,), "relu")

        def _backward(grad: float) -> None:
            if positive:  # slope 1 for x > 0, 0 otherwise (also at x = 0, as in torch)
                self.grad += grad

        out._backward = _backward
        return out

    # everything else is made of the operations above
    def __neg__(self) -> "Value":
        return self * -1

    def __radd__(self, other: Number) -> "Value":
        return self + other

    def __sub__(self, other: "Value | Number") -> "Value":
        return self + (-other)

    def __rsub__(self, other: Number) -> "Value":
        return other + (-self)

    def __rmul__(self, other: Number) -> "Value":
        return self * other

    def __truediv__(self, other: "Value | Number") -> "Value":
        other = _as_value(other)
        if other.data == 0:
            raise ZeroDivisionError("division of a Value by zero")
        return self * other**-1

    def __rtruediv__(self, other: Number) -> "Value":
        return _as_value(other) / self

    # ------------------------------------------------------------------ backward
    def backward(self) -> None:
        """Fill `.grad` of every Value this one depends on with d(self)/d(that Value)."""
        self.grad = 1.0
        for node in reversed(topological_order(self)):
            node._backward(node.grad)

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"


def _no_inputs(grad: float) -> None:
    """The _backward of a leaf: nothing to pass the gradient on to."""


def _as_value(x: "Value | Number") -> Value:
    if isinstance(x, Value):
        return x
    if isinstance(x, Real) and not isinstance(x, bool):
        return Value(x)
    raise TypeError(f"cannot combine a Value with {type(x).__name__}; use an int, a float or a Value")


def numerical_derivative(f: Callable[[float], float], x: float, h: float = 1e-5) -> float:
    """The slope of f at x, measured: the central difference (f(x + h) - f(x - h)) / 2h.

    Its error shrinks like h^2 (the one-sided (f(x + h) - f(x)) / h only like h), until
    h is so small that float rounding in f(x + h) - f(x - h) takes over.
    """
    return (f(x + h) - f(x - h)) / (2 * h)


def topological_order(root: Value) -> list[Value]:
    """Every Value `root` depends on, each once, each after all of its inputs (root last).

    An iterative depth-first search (a recursive one hits Python's recursion limit on
    long chains such as `sum()` over thousands of terms). A node is appended when all
    of its children are done: the post-order of the DFS.
    """
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for child in node._prev:
            if id(child) not in visited:
                stack.append((child, False))
    return order


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while building and back-propagating big graphs.

    The collector runs every few hundred allocations and, as a graph grows to tens of
    thousands of Values, keeps rescanning all of them: most of a training step's time.
    Value graphs hold no reference cycles, so reference counting alone frees them and
    pausing the collector loses nothing. The previous state is restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
