"""Drawing a computation graph: every Value as a box (label | data | grad), every operation as a circle.

`trace(root)` collects the nodes and edges. `draw(root)` renders them with graphviz
when both the `graphviz` Python package and its `dot` program are installed (as on
Colab), else with matplotlib, laying the graph out left to right by depth (inputs
on the left, the output on the right). `to_dot(root)` gives the DOT source, which
any graphviz viewer can render.
"""

from __future__ import annotations

import shutil
from typing import Any

from llmcourse.autograd.engine import Value, topological_order


def trace(root: Value) -> tuple[list[Value], list[tuple[Value, Value]]]:
    """The nodes of `root`'s graph (inputs first) and its edges (child -> parent)."""
    nodes = topological_order(root)
    edges = [(child, node) for node in nodes for child in node._prev]
    return nodes, edges


def _box(v: Value) -> str:
    name = f"{v.label} | " if v.label else ""
    return f"{name}data {v.data:.4f} | grad {v.grad:.4f}"


def _dot_escape(text: str) -> str:
    """Escape what a DOT record label treats as syntax (the " | " field separators stay)."""
    for ch in '\\"{}<>':
        text = text.replace(ch, "\\" + ch)
    return text


def to_dot(root: Value, rankdir: str = "LR") -> str:
    """DOT source of the graph: record nodes for Values, small nodes for their operations."""
    nodes, edges = trace(root)
    lines = [f"digraph G {{\n  rankdir={rankdir};"]
    for v in nodes:
        uid = str(id(v))
        lines.append(f'  "{uid}" [label="{{ {_dot_escape(_box(v))} }}", shape=record];')
        if v._op:
            lines.append(f'  "{uid}{v._op}" [label="{v._op}"];')
            lines.append(f'  "{uid}{v._op}" -> "{uid}";')
    for child, parent in edges:
        lines.append(f'  "{id(child)}" -> "{id(parent)}{parent._op}";')
    lines.append("}")
    return "\n".join(lines)


def graphviz_available() -> bool:
    """Is the graphviz Python package importable and its `dot` program on PATH?"""
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def draw(root: Value, backend: str = "auto", ax: Any = None) -> Any:
    """Draw the graph of `root`: a graphviz.Source (backend "graphviz") or a matplotlib Figure.

    backend="auto" uses graphviz when `graphviz_available()`, else matplotlib.
    """
    if backend not in ("auto", "graphviz", "matplotlib"):
        raise ValueError(f"backend must be 'auto', 'graphviz' or 'matplotlib', not {backend!r}")
    if backend == "graphviz" or (backend == "auto" and graphviz_available()):
        if not graphviz_available():
            raise RuntimeError("graphviz needs `pip install graphviz` and the dot program "
                               "(apt-get install graphviz); or use backend='matplotlib'")
        import graphviz

        return graphviz.Source(to_dot(root))
    return draw_matplotlib(root, ax=ax)


def layout(root: Value) -> dict[int, tuple[float, float]]:
    """(x, y) of every Value, inputs on the left and the root on the right.

    x: an operation's column is one more than its deepest input's; a leaf (an input or
    a weight) sits in the column just left of its first user, so it is drawn next to
    where it is used. y: columns are filled from the root leftwards, each node placed
    near the mean height of the nodes that use it, which keeps arrows short.
    """
    nodes, edges = trace(root)
    users: dict[int, list[Value]] = {id(v): [] for v in nodes}
    for child, parent in edges:
        users[id(child)].append(parent)
    col: dict[int, int] = {}
    for v in nodes:  # inputs come first, so children are placed before parents
        col[id(v)] = 1 + max((col[id(c)] for c in v._prev), default=-1)
    for v in nodes:  # then move each leaf next to its first user
        if not v._prev:
            col[id(v)] = min((col[id(u)] for u in users[id(v)]), default=1) - 1
    columns: dict[int, list[Value]] = {}
    for v in nodes:
        columns.setdefault(col[id(v)], []).append(v)
    pos: dict[int, tuple[float, float]] = {}
    for c in sorted(columns, reverse=True):
        col_nodes = columns[c]
        def wanted(v: Value) -> float:
            ys = [pos[id(u)][1] for u in users[id(v)] if id(u) in pos]
            return sum(ys) / len(ys) if ys else 0.0
        col_nodes.sort(key=wanted, reverse=True)
        centre = sum(wanted(v) for v in col_nodes) / len(col_nodes)
        for i, v in enumerate(col_nodes):
            pos[id(v)] = (2.2 * c, centre + (len(col_nodes) - 1) / 2 - i)
    return pos


def draw_matplotlib(root: Value, ax: Any = None) -> Any:
    """The graph drawn with matplotlib; returns the Figure."""
    import matplotlib.pyplot as plt

    nodes, edges = trace(root)
    pos = layout(root)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    if ax is None:
        width, height = (max(xs) - min(xs)) / 2.2 + 1, max(ys) - min(ys) + 1
        fig, ax = plt.subplots(figsize=(min(2.4 * width, 18), min(0.9 * height + 0.8, 12)))
    else:
        fig = ax.figure
    arrow = dict(arrowstyle="->", color="0.55", lw=1, shrinkA=0, shrinkB=0)
    for child, parent in edges:  # into the operation's circle, just left of the box it makes
        (x0, y0), (x1, y1) = pos[id(child)], pos[id(parent)]
        ax.annotate("", xy=(x1 - 1.0, y1), xytext=(x0 + 0.5, y0), arrowprops=arrow)
    for v in nodes:
        x, y = pos[id(v)]
        ax.text(x, y, _box(v).replace(" | ", "\n"), ha="center", va="center", fontsize=8, family="monospace",
                bbox=dict(boxstyle="round,pad=0.3", fc="#e8f0fe", ec="#4a6fa5"))
        if v._op:
            ax.annotate("", xy=(x - 0.5, y), xytext=(x - 0.8, y), arrowprops=arrow)
            ax.text(x - 0.92, y, v._op, ha="center", va="center", fontsize=9,
                    bbox=dict(boxstyle="circle,pad=0.25", fc="#fff3d6", ec="#c08a00"))
    ax.set_xlim(min(xs) - 0.7, max(xs) + 0.7)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    return fig
