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
    """(x, y) of every Value: x is its depth (longest path from an input), y spreads each column."""
    nodes, _ = trace(root)
    depth: dict[int, int] = {}
    for v in nodes:  # inputs come first, so children are placed before parents
        depth[id(v)] = 1 + max((depth[id(c)] for c in v._prev), default=-1)
    columns: dict[int, list[Value]] = {}
    for v in nodes:
        columns.setdefault(depth[id(v)], []).append(v)
    pos = {}
    for d, col in columns.items():
        for i, v in enumerate(col):
            pos[id(v)] = (2.0 * d, (len(col) - 1) / 2 - i)
    return pos


def draw_matplotlib(root: Value, ax: Any = None) -> Any:
    """The graph drawn with matplotlib; returns the Figure."""
    import matplotlib.pyplot as plt

    nodes, edges = trace(root)
    pos = layout(root)
    width = max(x for x, _ in pos.values()) / 2 + 1
    height = max(1, max(sum(1 for p in pos.values() if p[0] == x) for x, _ in pos.values()))
    if ax is None:
        fig, ax = plt.subplots(figsize=(min(3.2 * width, 18), min(1.1 * height + 1, 12)))
    else:
        fig = ax.figure
    for child, parent in edges:
        (x0, y0), (x1, y1) = pos[id(child)], pos[id(parent)]
        ax.annotate("", xy=(x1 - 0.55, y1), xytext=(x0 + 0.55, y0),
                    arrowprops=dict(arrowstyle="->", color="0.5", lw=1, shrinkA=0, shrinkB=0))
    for v in nodes:
        x, y = pos[id(v)]
        ax.text(x, y, _box(v).replace(" | ", "\n"), ha="center", va="center", fontsize=8, family="monospace",
                bbox=dict(boxstyle="round,pad=0.3", fc="#e8f0fe", ec="#4a6fa5"))
        if v._op:
            ax.text(x - 0.8, y, v._op, ha="center", va="center", fontsize=9,
                    bbox=dict(boxstyle="circle,pad=0.25", fc="#fff3d6", ec="#c08a00"))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.2, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    ax.axis("off")
    return fig
