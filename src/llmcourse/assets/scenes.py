"""Rendered scenes with captions and questions in English, Indonesian and Thai (Pillow, offline).

A scene shows 1-3 copies of one shape (circle, square, triangle) in one colour (red,
green, blue, yellow), side by side in the left or right half of the picture. It is drawn
with Pillow at 4x resolution and shrunk to 32x32 with anti-aliasing, so edges look like a
photo's rather than a grid's. Every scene keeps its attributes, which make

* a caption in each language: "two red circles on the left" / "dua lingkaran merah di kiri"
  / "วงกลมสีแดง สอง อัน ทางซ้าย";
* questions with one-word answers: what colour, what shape, how many, which side.

Held-out *combinations* (say, no green triangle in training) test whether a model composes
attributes it has seen separately. The words of each language are the course's own
translations of a 14-word vocabulary (colour, shape, number, side).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from llmcourse.assets.registry import Asset, register, require

__all__ = ["COLOURS", "LANGS", "SCENE_SIZE", "SHAPES", "Scenes", "image_to_tensor", "make_scenes", "render_scene",
           "scene_caption", "scene_questions"]

SCENE_SIZE = 32
LANGS = ("en", "id", "th")
COLOURS = {"red": (220, 40, 30), "green": (30, 180, 60), "blue": (40, 80, 240), "yellow": (240, 210, 30)}
SHAPES = ("circle", "square", "triangle")
SIDES = ("left", "right")
WORDS = {
    "en": {"red": "red", "green": "green", "blue": "blue", "yellow": "yellow", "circle": "circle",
           "square": "square", "triangle": "triangle", 1: "one", 2: "two", 3: "three", "left": "left", "right": "right"},
    "id": {"red": "merah", "green": "hijau", "blue": "biru", "yellow": "kuning", "circle": "lingkaran",
           "square": "persegi", "triangle": "segitiga", 1: "satu", 2: "dua", 3: "tiga", "left": "kiri", "right": "kanan"},
    "th": {"red": "แดง", "green": "เขียว", "blue": "น้ำเงิน", "yellow": "เหลือง", "circle": "วงกลม",
           "square": "สี่เหลี่ยม", "triangle": "สามเหลี่ยม", 1: "หนึ่ง", 2: "สอง", 3: "สาม", "left": "ซ้าย", "right": "ขวา"},
}
QUESTIONS = {
    "en": {"colour": "What colour are the shapes?", "shape": "What shape are they?", "count": "How many shapes?",
           "side": "Which side are they on?"},
    "id": {"colour": "Apa warna bentuknya?", "shape": "Bentuk apa itu?", "count": "Berapa banyak bentuk?",
           "side": "Di sisi mana?"},
    "th": {"colour": "รูปทรงสีอะไร", "shape": "เป็นรูปทรงอะไร", "count": "มีกี่รูป", "side": "อยู่ด้านไหน"},
}


def scene_caption(colour: str, shape: str, count: int, side: str, lang: str = "en") -> str:
    """The caption of a scene in `lang` (en, id, th)."""
    w = WORDS[lang]
    if lang == "en":
        noun = w[shape] + ("s" if count > 1 else "")
        return f"{w[count]} {w[colour]} {noun} on the {w[side]}"
    if lang == "id":
        return f"{w[count]} {w[shape]} {w[colour]} di {w[side]}"
    return f"{w[shape]}สี{w[colour]} {w[count]} อัน ทาง{w[side]}"


def scene_questions(colour: str, shape: str, count: int, side: str, lang: str = "en") -> list[tuple[str, str, str]]:
    """(kind, question, one-word answer) for the four questions about a scene, in `lang`."""
    w = WORDS[lang]
    answers = {"colour": w[colour], "shape": w[shape], "count": w[count], "side": w[side]}
    return [(kind, QUESTIONS[lang][kind], answers[kind]) for kind in ("colour", "shape", "count", "side")]


def render_scene(colour: str, shape: str, count: int, side: str, seed: int = 0, size: int = SCENE_SIZE):
    """A PIL RGB image of `count` shapes of one colour in the `side` half, drawn at 4x then shrunk."""
    Image = require("PIL.Image", "pillow")
    ImageDraw = require("PIL.ImageDraw", "pillow")
    if colour not in COLOURS or shape not in SHAPES or side not in SIDES or count not in (1, 2, 3):
        raise ValueError(f"unknown scene ({colour}, {shape}, {count}, {side}); colours {list(COLOURS)}, "
                         f"shapes {SHAPES}, counts 1-3, sides {SIDES}")
    rng = np.random.default_rng(seed)
    big = size * 4
    bg = tuple(int(v) for v in rng.integers(0, 40, 3))
    img = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(img)
    rgb = tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in COLOURS[colour])
    x0 = 0 if side == "left" else big // 2  # the half the shapes live in
    slot = big / count
    r = big * rng.uniform(0.09, 0.12) if count > 1 else big * rng.uniform(0.12, 0.16)
    for i in range(count):  # stacked top to bottom inside the half
        cx = x0 + big / 4 + rng.uniform(-0.05, 0.05) * big
        cy = slot * (i + 0.5) + rng.uniform(-0.03, 0.03) * big
        box = [cx - r, cy - r, cx + r, cy + r]
        if shape == "circle":
            draw.ellipse(box, fill=rgb)
        elif shape == "square":
            draw.rectangle([cx - 0.85 * r, cy - 0.85 * r, cx + 0.85 * r, cy + 0.85 * r], fill=rgb)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + 0.8 * r), (cx + r, cy + 0.8 * r)], fill=rgb)
    return img.resize((size, size), Image.LANCZOS)


def image_to_tensor(img, size: int = SCENE_SIZE) -> np.ndarray:
    """A PIL image or (H, W, 3) uint8 array -> (3, size, size) float32 in [0, 1]; wrong size or mode: a clear error."""
    Image = require("PIL.Image", "pillow")
    if isinstance(img, Image.Image):
        if img.mode != "RGB":
            raise ValueError(f"the image is in mode {img.mode!r}; convert it first: img.convert('RGB')")
        arr = np.asarray(img)
    else:
        arr = np.asarray(img)
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise ValueError(f"an image array must be (H, W, 3) RGB, got shape {arr.shape} "
                             "(grayscale? stack it three times; RGBA? drop the alpha channel)")
    if arr.shape[:2] != (size, size):
        raise ValueError(f"the image is {arr.shape[1]}x{arr.shape[0]} pixels but the encoder reads {size}x{size}: "
                         f"resize it first, e.g. img.resize(({size}, {size}))")
    if arr.dtype != np.uint8:
        raise ValueError(f"image arrays must be uint8 (0-255), got {arr.dtype}")
    return (arr.astype(np.float32) / 255.0).transpose(2, 0, 1)


@dataclass
class Scenes:
    """Images (N, 3, 32, 32) in [0, 1] and the attributes of each scene."""

    images: np.ndarray
    attrs: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.attrs)

    def captions(self, lang: str = "en") -> list[str]:
        return [scene_caption(a["colour"], a["shape"], a["count"], a["side"], lang) for a in self.attrs]

    def subset(self, index) -> "Scenes":
        index = np.asarray(index)
        return Scenes(self.images[index], [self.attrs[i] for i in index])


def make_scenes(n: int, seed: int = 0, exclude: tuple = (), only: tuple = ()) -> Scenes:
    """`n` random scenes; `exclude` lists (colour, shape) pairs never drawn, `only` restricts to those pairs."""
    if n < 1:
        raise ValueError(f"need n >= 1 scenes, got {n}")
    pairs = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in set(exclude)]
    if only:
        pairs = [p for p in pairs if p in set(only)]
    if not pairs:
        raise ValueError("every (colour, shape) pair is excluded: nothing left to draw")
    rng = np.random.default_rng(seed)
    images = np.empty((n, 3, SCENE_SIZE, SCENE_SIZE), dtype=np.float32)
    attrs = []
    for i in range(n):
        colour, shape = pairs[rng.integers(len(pairs))]
        count, side = int(rng.integers(1, 4)), SIDES[rng.integers(2)]
        images[i] = image_to_tensor(render_scene(colour, shape, count, side, seed=int(rng.integers(1 << 30))))
        attrs.append({"colour": colour, "shape": shape, "count": count, "side": side})
    return Scenes(images, attrs)


register(Asset("scenes", "image", "-", "pillow (rendered)", prepare=lambda: make_scenes(4) and "rendered",
               note="shapes/colours/counts/sides with en/id/th captions and questions"))
