"""Early against late fusion: two ways to let a model see an image and a text at once.

The task needs both: *does the number written in this text match the handwritten digit in
this image?* The image is one of scikit-learn's 8x8 digits; the text is a number word in
English, Indonesian, Thai or Vietnamese ("seven", "tujuh", "เจ็ด", "bảy"). Neither
modality alone says anything about the answer (half the pairs match), so a text-only or
image-only model sits at chance: the baselines.

* **Early fusion** joins the inputs first: the pixels and the text's features are
  concatenated and one network learns everything from there. It can model any interaction,
  but it has to *discover* that "tujuh" and a drawn 7 belong together from raw features.
* **Late fusion** keeps one encoder per modality to the end, each producing a vector, and
  joins them only at the decision: logit = <f_image(x), f_text(t)> + b. It is built for
  matching (each side learns "which digit is this?" into a shared space, the CLIP idea),
  but it cannot learn interactions that are not a similarity of the two summaries.

Parameter counts are matched (`width_for_params`) so the comparison is about the wiring.
The text side reads characters (an embedding bag over the word's characters and
character pairs), so one text encoder serves every script.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CharBag", "EarlyFusion", "FUSION_LANGS", "FusionData", "ImageOnly", "LateFusion", "TextOnly",
           "count_params", "digit_match_data", "fusion_accuracy", "make_fusion_model", "number_words",
           "train_fusion", "width_for_params"]

FUSION_LANGS = ("en", "id", "th", "vi")


def number_words(lang: str) -> list[str]:
    """The words for 0..9 in `lang` (num2words; Malay and Tamil it does not know)."""
    from llmcourse.assets.registry import require

    num2words = require("num2words", "num2words").num2words
    if lang not in FUSION_LANGS:
        raise ValueError(f"number words are available for {FUSION_LANGS}, not {lang!r}")
    return [num2words(d, lang=lang) for d in range(10)]


# ----------------------------------------------------------------------------- data
@dataclass
class FusionData:
    """Pairs (image, text) with label = the text names the image's digit."""

    images: torch.Tensor  # (N, 64) pixels in [0, 1]
    texts: list[str]
    labels: torch.Tensor  # (N,) float 0/1
    image_digit: np.ndarray
    text_digit: np.ndarray
    lang: list[str]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)


def digit_match_data(n: int, split: str = "train", langs=FUSION_LANGS, seed: int = 0) -> FusionData:
    """`n` image-text pairs, half matching; train and test draw from disjoint halves of the 1,797 digits."""
    from llmcourse.assets.registry import require

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    digits = require("sklearn.datasets", "scikit-learn").load_digits()
    half = len(digits.target) // 2
    idx_pool = np.arange(half) if split == "train" else np.arange(half, len(digits.target))
    rng = np.random.default_rng(seed + (0 if split == "train" else 1000))
    words = {lang: number_words(lang) for lang in langs}
    pick = rng.choice(idx_pool, n)
    img_d = digits.target[pick]
    match = rng.random(n) < 0.5
    other = (img_d + rng.integers(1, 10, n)) % 10  # a different digit
    txt_d = np.where(match, img_d, other)
    lang = [langs[i] for i in rng.integers(len(langs), size=n)]
    texts = [words[l][d] for l, d in zip(lang, txt_d)]
    images = torch.tensor(digits.data[pick] / 16.0, dtype=torch.float32)
    return FusionData(images, texts, torch.tensor(match, dtype=torch.float32), img_d, txt_d, lang)


class CharBag(nn.Module):
    """Text -> vector: the mean embedding of its characters and character pairs (any script)."""

    def __init__(self, dim: int, buckets: int = 256):
        super().__init__()
        self.buckets = buckets
        self.emb = nn.EmbeddingBag(buckets, dim, mode="mean")

    def ids(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        flat, offsets = [], []
        for t in texts:
            if not t:
                raise ValueError("an empty text has no characters to read")
            grams = list(t) + [t[i : i + 2] for i in range(len(t) - 1)]
            offsets.append(len(flat))
            flat.extend(_stable_hash(g) % self.buckets for g in grams)
        return torch.tensor(flat), torch.tensor(offsets)

    def forward(self, texts: list[str]) -> torch.Tensor:
        flat, offsets = self.ids(texts)
        return self.emb(flat.to(self.emb.weight.device), offsets.to(self.emb.weight.device))  # (B, dim)


def _stable_hash(s: str) -> int:
    """A hash that is the same in every process (Python's hash() of str is salted)."""
    h = 2166136261
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF  # FNV-1a
    return h


def _mlp(d_in: int, width: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, d_out))


# ----------------------------------------------------------------------------- models
class TextOnly(nn.Module):
    """Baseline: the text alone (cannot beat chance on a balanced match task)."""

    def __init__(self, width: int, text_dim: int = 16):
        super().__init__()
        self.text = CharBag(text_dim)
        self.head = _mlp(text_dim, width, 1)

    def forward(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return self.head(self.text(texts)).squeeze(-1)  # (B,) logits


class ImageOnly(nn.Module):
    """Baseline: the image alone."""

    def __init__(self, width: int, image_dim: int = 64):
        super().__init__()
        self.head = _mlp(image_dim, width, 1)

    def forward(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return self.head(images).squeeze(-1)


class EarlyFusion(nn.Module):
    """Concatenate pixels and text features at the input; one MLP learns the rest."""

    def __init__(self, width: int, image_dim: int = 64, text_dim: int = 16):
        super().__init__()
        self.text = CharBag(text_dim)
        self.head = _mlp(image_dim + text_dim, width, 1)

    def forward(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        x = torch.cat([images, self.text(texts)], dim=-1)  # (B, 64 + text_dim): fused from the start
        return self.head(x).squeeze(-1)


class LateFusion(nn.Module):
    """One encoder per modality into a shared space; fused only at the end by a dot product."""

    def __init__(self, width: int, image_dim: int = 64, text_dim: int = 16, shared: int = 16):
        super().__init__()
        self.text = CharBag(text_dim)
        self.image_enc = _mlp(image_dim, width, shared)
        self.text_enc = _mlp(text_dim, width, shared)
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.bias = nn.Parameter(torch.tensor(0.0))

    def forward(self, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
        zi = F.normalize(self.image_enc(images), dim=-1)  # (B, shared)
        zt = F.normalize(self.text_enc(self.text(texts)), dim=-1)  # (B, shared)
        return 10 * self.scale * (zi * zt).sum(-1) + self.bias  # (B,) cosine -> logit


MODELS = {"text-only": TextOnly, "image-only": ImageOnly, "early": EarlyFusion, "late": LateFusion}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def width_for_params(kind: str, target: int) -> int:
    """The hidden width that brings model `kind` closest to `target` parameters."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; use one of {', '.join(MODELS)}")
    lo, hi = 4, 1024  # parameters grow with the width: bisect, then take the closer neighbour
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count_params(MODELS[kind](mid)) < target:
            lo = mid
        else:
            hi = mid
    return min((lo, hi), key=lambda w: abs(count_params(MODELS[kind](w)) - target))


def make_fusion_model(kind: str, params: int, seed: int = 0) -> nn.Module:
    """Model `kind` ("text-only", "image-only", "early", "late") with about `params` parameters."""
    width = width_for_params(kind, params)
    torch.manual_seed(seed)
    return MODELS[kind](width)


def train_fusion(model: nn.Module, data: FusionData, steps: int = 500, batch: int = 128, lr: float = 3e-3,
                 seed: int = 0, progress: bool = False) -> list[float]:
    """Binary cross-entropy with AdamW; returns the loss of each step."""
    from tqdm.auto import tqdm

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    losses = []
    model.train()
    for _ in tqdm(range(steps), desc=type(model).__name__, disable=not progress, mininterval=1.0):
        idx = torch.randint(len(data), (batch,), generator=g)
        logits = model(data.images[idx], [data.texts[i] for i in idx.tolist()])
        loss = F.binary_cross_entropy_with_logits(logits, data.labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def fusion_accuracy(model: nn.Module, data: FusionData) -> dict:
    """Accuracy overall, per language, on matching and on non-matching pairs, and the worst digits."""
    model.eval()
    pred = (model(data.images, data.texts) > 0).float()
    right = (pred == data.labels).numpy()
    lang = np.array(data.lang)
    out = {"accuracy": float(right.mean()),
           "by_lang": {l: float(right[lang == l].mean()) for l in dict.fromkeys(data.lang)},
           "on_matches": float(right[data.labels.numpy() == 1].mean()),
           "on_mismatches": float(right[data.labels.numpy() == 0].mean())}
    per_digit = {d: float(right[data.image_digit == d].mean()) for d in range(10) if (data.image_digit == d).any()}
    out["worst_digits"] = sorted(per_digit, key=per_digit.get)[:3]
    out["by_digit"] = per_digit
    return out
