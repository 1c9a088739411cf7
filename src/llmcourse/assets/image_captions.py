"""Image-caption pairs made offline, for contrastive (CLIP-style) training.

* **Shapes**: a circle, square or triangle in one of four colours, small or large, in one of
  four places, drawn with NumPy on a noisy background, with a caption built from the same
  attributes ("a large red circle at the top left"). Positions, sizes and colours jitter,
  so no two images are the same.
* **Digits**: scikit-learn's 1,797 handwritten 8x8 digits, enlarged to 32x32 and tinted in one
  of four colours, captioned "a red seven" (the tint and the digit are the attributes).

Every example keeps its attributes, so held-out *combinations* (say, no green triangle and
no blue circle during training) can test zero-shot generalisation: the model has seen
"green" and "triangle" but never together.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from llmcourse.assets.registry import Asset, register, require

COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.1, 0.75, 0.2), "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1)}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
PLACES = ("top left", "top right", "bottom left", "bottom right")
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass
class CaptionedImages:
    """Images (N, 3, H, W) float32 in [0, 1], one caption each, and the attributes behind the captions."""

    images: np.ndarray
    captions: list[str]
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.captions)

    def subset(self, index) -> "CaptionedImages":
        index = np.asarray(index)
        return CaptionedImages(self.images[index], [self.captions[i] for i in index],
                               {k: [v[i] for i in index] for k, v in self.attributes.items()})

    def combo(self, keys: tuple[str, ...]) -> list[tuple[str, ...]]:
        """The (attr1, attr2, ...) tuple of each example, e.g. keys=("colour", "shape")."""
        return list(zip(*(self.attributes[k] for k in keys)))


def shape_caption(colour: str, shape: str, size: str | None = None, place: str | None = None) -> str:
    """"a large red circle at the top left"; size and place may be left out."""
    words = ["a"] + ([size] if size else []) + [colour, shape]
    if place:
        words += ["at", "the", *place.split()]
    return " ".join(words)


def _draw(canvas: np.ndarray, shape: str, cx: float, cy: float, r: float, rgb: tuple[float, float, float]) -> None:
    """Paint a shape of radius r centred at (cx, cy) onto canvas (H, W, 3), in place."""
    h, w, _ = canvas.shape
    yy, xx = np.mgrid[0:h, 0:w] + 0.5  # pixel centres
    if shape == "circle":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    elif shape == "square":
        mask = (np.abs(xx - cx) <= r * 0.85) & (np.abs(yy - cy) <= r * 0.85)
    elif shape == "triangle":  # pointing up: inside three half-planes
        top, base = cy - r, cy + r * 0.8
        half = (yy - top) / (base - top) * r  # half-width grows from apex to base
        mask = (yy >= top) & (yy <= base) & (np.abs(xx - cx) <= half)
    else:
        raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}")
    canvas[mask] = rgb


def make_shapes(n: int, size: int = 32, seed: int = 0, p_drop: float = 0.3) -> CaptionedImages:
    """`n` random shape images (3, size, size) with captions; each caption leaves out its size
    and/or place with probability `p_drop` (so short prompts like "a red circle" are familiar)."""
    if n < 1 or size < 16:
        raise ValueError(f"need n >= 1 and size >= 16 pixels, got n={n}, size={size}")
    rng = np.random.default_rng(seed)
    images = np.empty((n, 3, size, size), dtype=np.float32)
    captions, attrs = [], {"colour": [], "shape": [], "size": [], "place": []}
    for i in range(n):
        colour = list(COLOURS)[rng.integers(len(COLOURS))]
        shape, sz, place = SHAPES[rng.integers(3)], SIZES[rng.integers(2)], PLACES[rng.integers(4)]
        canvas = rng.uniform(0.0, 0.12, size=(size, size, 3)).astype(np.float32)  # dark noisy background
        r = size * (rng.uniform(0.10, 0.14) if sz == "small" else rng.uniform(0.19, 0.23))
        qx = size * (0.27 if "left" in place else 0.73) + rng.uniform(-0.06, 0.06) * size
        qy = size * (0.27 if "top" in place else 0.73) + rng.uniform(-0.06, 0.06) * size
        rgb = np.clip(np.array(COLOURS[colour]) + rng.normal(0, 0.05, 3), 0, 1)
        _draw(canvas, shape, qx, qy, r, tuple(rgb))
        images[i] = canvas.transpose(2, 0, 1)
        captions.append(shape_caption(colour, shape, sz if rng.random() > p_drop else None,
                                      place if rng.random() > p_drop else None))
        for k, v in zip(("colour", "shape", "size", "place"), (colour, shape, sz, place)):
            attrs[k].append(v)
    return CaptionedImages(images, captions, attrs)


def digit_caption(colour: str, digit: str) -> str:
    return f"a {colour} {digit}"


def make_digits(seed: int = 0, size: int = 32, limit: int | None = None) -> CaptionedImages:
    """scikit-learn's handwritten digits, enlarged to (3, size, size), tinted, captioned "a red seven"."""
    datasets = require("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    x, y = digits.images / 16.0, digits.target  # (N, 8, 8) in [0, 1]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    rng = np.random.default_rng(seed)
    scale = size // 8
    big = np.kron(x, np.ones((scale, scale)))  # (N, 8*scale, 8*scale) nearest-neighbour upscaling
    pad = size - big.shape[-1]
    big = np.pad(big, ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2)))
    names = list(COLOURS)
    colours = [names[i] for i in rng.integers(len(names), size=len(y))]
    rgb = np.array([COLOURS[c] for c in colours], dtype=np.float32)  # (N, 3)
    images = (big[:, None, :, :] * rgb[:, :, None, None]).astype(np.float32)  # (N, 3, size, size)
    captions = [digit_caption(c, DIGIT_NAMES[d]) for c, d in zip(colours, y)]
    return CaptionedImages(images, captions, {"colour": colours, "digit": [DIGIT_NAMES[d] for d in y]})


def held_out_split(data: CaptionedImages, keys: tuple[str, str], held_out: list[tuple[str, str]]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, zero-shot test): test = examples whose (key1, key2) combination is held out."""
    combos = data.combo(keys)
    held = set(held_out)
    test = np.array([i for i, c in enumerate(combos) if c in held], dtype=int)
    train = np.array([i for i, c in enumerate(combos) if c not in held], dtype=int)
    return train, test


def diagonal_held_out(values1: tuple[str, ...], values2: tuple[str, ...]) -> list[tuple[str, str]]:
    """One held-out combination per value of the first attribute, on a diagonal, so every value
    of each attribute is still seen in training with the other values."""
    return [(a, values2[i % len(values2)]) for i, a in enumerate(values1)]


def all_combos(values1, values2) -> list[tuple[str, str]]:
    return list(itertools.product(values1, values2))


register(Asset("shapes-captions", "image", "-", "numpy (drawn on the fly)", prepare=lambda: make_shapes(8),
               cached=lambda: True, note="coloured shapes with colour/size/place captions"))
register(Asset("digits-captions", "image", "-", "scikit-learn (load_digits)", prepare=lambda: make_digits(limit=8),
               cached=lambda: True, note="1,797 tinted digits with captions"))
