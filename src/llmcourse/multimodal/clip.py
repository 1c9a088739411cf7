"""CLIP-style contrastive learning from scratch: an image encoder, a text encoder, one space.

CLIP (Radford et al., 2021) trains two encoders so that an image and its caption land on
nearby unit vectors. For a batch of B (image, caption) pairs it computes the B x B matrix of
cosine similarities divided by a temperature T; the diagonal holds the true pairs. The loss
is cross-entropy in both directions (each image picks its caption among B, each caption its
image), the *symmetric InfoNCE* loss:

    logits = (img / |img|) @ (txt / |txt|).T / T          # (B, B)
    loss   = ( CE(logits, arange(B)) + CE(logits.T, arange(B)) ) / 2

T is learned (CLIP stores log(1/T), starts at T = 0.07 and caps 1/T at 100). Once trained,
the text encoder turns any caption into a classifier: embed "a red circle", "a blue
square", ... and give an image the label whose caption is most similar. That is *zero-shot*
classification: no classifier was trained on those labels. Here the test images show
colour-shape combinations that never appeared in training.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SHAPE = (3, 32, 32)


def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, temperature: float | torch.Tensor,
              caption_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of B pairs: image_emb (B, D), text_emb (B, D) -> scalar.

    Rows are L2-normalised first, so the logits are cosines / temperature. When several
    pairs share a caption, pass `caption_ids` (B,): pairs with the same id are then all
    positives for each other (the target spreads evenly over them) instead of false negatives.
    """
    if image_emb.ndim != 2 or image_emb.shape != text_emb.shape:
        raise ValueError(f"need image_emb and text_emb of the same shape (B, D); got "
                         f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}")
    img = F.normalize(image_emb, dim=-1)
    txt = F.normalize(text_emb, dim=-1)
    logits = img @ txt.T / temperature  # (B, B)
    if caption_ids is None:
        target = torch.arange(len(img), device=img.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    same = (caption_ids[:, None] == caption_ids[None, :]).float()  # (B, B), symmetric
    target = same / same.sum(dim=1, keepdim=True)  # each row a distribution over its positives
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


# ------------------------------------------------------------------ text side

class CaptionTokenizer:
    """Word-level tokenizer over the captions it was built from (0 = padding).

    Follows the course's tokenizer protocol: `encode(text) -> ids`, `decode(ids) -> text`,
    `vocab_size`; `encode_batch(captions)` pads a batch into a (B, T) tensor for the model.
    """

    PAD = 0

    def __init__(self, captions: Sequence[str]):
        words = sorted({w for c in captions for w in self.split(c)})
        if not words:
            raise ValueError("no words in the captions: give at least one non-empty caption")
        self.vocab = {w: i + 1 for i, w in enumerate(words)}
        self.words = ["<pad>"] + words  # id -> word

    @staticmethod
    def split(caption: str) -> list[str]:
        return re.findall(r"[a-z]+", caption.lower())

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + 1

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str) -> list[int]:
        """The word ids of one caption. Unknown words are an error (it says which)."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes one caption (a str), got {type(text).__name__}; "
                            "for a batch use encode_batch(captions)")
        words = self.split(text)
        unknown = [w for w in words if w not in self.vocab]
        if unknown or not words:
            raise ValueError(f"caption {text!r}: " + (f"unknown words {unknown}; the model only knows "
                             f"{sorted(self.vocab)}" if unknown else "has no words"))
        return [self.vocab[w] for w in words]

    def decode(self, ids) -> str:
        """Words of the ids, joined by spaces (padding dropped)."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        bad = [i for i in ids if not isinstance(i, int) or not 0 <= i < len(self.words)]
        if bad:
            raise ValueError(f"unknown token ids {bad[:5]}: this tokenizer has ids 0..{len(self.words) - 1}")
        return " ".join(self.words[i] for i in ids if i != self.PAD)

    def encode_batch(self, captions: Sequence[str]) -> torch.Tensor:
        """(B, T) token ids of the captions, right-padded with 0."""
        if isinstance(captions, str):
            captions = [captions]
        rows = [self.encode(c) for c in captions]
        width = max(len(r) for r in rows)
        return torch.tensor([r + [self.PAD] * (width - len(r)) for r in rows], dtype=torch.long)


class TextEncoder(nn.Module):
    """Token + position embeddings, one transformer layer, mean over the real tokens, projection."""

    def __init__(self, vocab_size: int, dim: int = 64, out_dim: int = 64, max_len: int = 16, heads: int = 4):
        super().__init__()
        self.tok = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        self.block = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True)
        self.proj = nn.Linear(dim, out_dim)
        self.max_len = max_len

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 2 or tokens.shape[1] > self.max_len:
            raise ValueError(f"need token ids (B, T) with T <= {self.max_len}, got {tuple(tokens.shape)}")
        pad = tokens == 0  # (B, T)
        x = self.tok(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))  # (B, T, C)
        x = self.block(x, src_key_padding_mask=pad)  # (B, T, C)
        keep = (~pad).unsqueeze(-1).float()  # (B, T, 1)
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1)  # (B, C)
        return self.proj(pooled)  # (B, out_dim)


# ------------------------------------------------------------------ image side

class ImageEncoder(nn.Module):
    """Three conv-ReLU-pool stages (32 -> 16 -> 8 -> 4 pixels), flattened, projected.

    Flattening the 4x4 map (instead of averaging it away) keeps *where* things are, which the
    captions talk about ("at the top left").
    """

    def __init__(self, out_dim: int = 64, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, 16, 16)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, 8, 8)
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, 4, 4)
            nn.Flatten(), nn.Linear(2 * width * 16, out_dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        return self.net(images)


def check_images(images) -> None:
    """Raise a clear ValueError unless `images` is a float (B, 3, 32, 32) tensor."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor of shape (B, 3, 32, 32), got {type(images).__name__}")
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE:
        hint = ""
        if images.ndim == 4 and images.shape[-1] == 3:
            hint = " (channels last? use images.permute(0, 3, 1, 2))"
        elif images.ndim == 3:
            hint = " (a single image? add a batch dimension with images[None])"
        raise ValueError(f"images must have shape (B, 3, 32, 32), got {tuple(images.shape)}{hint}")
    if not images.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1], got dtype {images.dtype}; divide by 255")


class CLIP(nn.Module):
    """An image encoder and a text encoder into one `dim`-dimensional space, and a learned temperature."""

    def __init__(self, vocab_size: int, dim: int = 64, init_temperature: float = 0.07, max_scale: float = 100.0):
        super().__init__()
        self.image_encoder = ImageEncoder(dim)
        self.text_encoder = TextEncoder(vocab_size, out_dim=dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / init_temperature)))  # log(1/T)
        self.max_scale = max_scale

    @property
    def temperature(self) -> torch.Tensor:
        return torch.exp(-self.logit_scale.clamp(max=math.log(self.max_scale)))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_encoder(images), dim=-1)  # (B, D)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_encoder(tokens), dim=-1)  # (B, D)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor, caption_ids: torch.Tensor | None = None) -> torch.Tensor:
        return clip_loss(self.encode_image(images), self.encode_text(tokens), self.temperature, caption_ids)


# ------------------------------------------------------------------ training and evaluation

@dataclass
class ClipRun:
    model: CLIP
    tokenizer: CaptionTokenizer
    losses: list[float]
    temperatures: list[float]


def train_clip(images: np.ndarray, captions: Sequence[str], steps: int = 500, batch_size: int = 128,
               lr: float = 2e-3, dim: int = 64, device: str = "cpu", seed: int = 0,
               tokenizer: CaptionTokenizer | None = None, progress: bool = True,
               loss_fn: Callable | None = None) -> ClipRun:
    """Train a CLIP from scratch on (N, 3, 32, 32) images and their captions (AdamW, warm-up then cosine).

    loss_fn: the contrastive loss, `(image_emb, text_emb, temperature) -> scalar`, or with a
    fourth argument `caption_ids` (pairs that share a caption get the same id); None uses
    `clip_loss` with caption ids. Notebook 1.3 trains with the learner's.
    """
    from tqdm.auto import tqdm

    if len(images) != len(captions) or len(captions) < 2:
        raise ValueError(f"need at least two (image, caption) pairs, one caption per image; "
                         f"got {len(images)} images and {len(captions)} captions")
    check_images(torch.as_tensor(images[:1]))
    if steps < 1 or batch_size < 2:
        raise ValueError(f"need steps >= 1 and batch_size >= 2 (a contrastive batch needs negatives), "
                         f"got steps={steps}, batch_size={batch_size}")
    torch.manual_seed(seed)
    tok = tokenizer or CaptionTokenizer(captions)
    model = CLIP(len(tok), dim).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = max(1, steps // 10)  # linear warm-up over the first 10 %, then a cosine down to 0

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    loss_fn = loss_fn or clip_loss
    wants_ids = _takes_caption_ids(loss_fn)
    x_all = torch.as_tensor(images, dtype=torch.float32)
    t_all = tok.encode_batch(captions)  # (N, T)
    ids_all = torch.as_tensor(np.unique(np.asarray(captions), return_inverse=True)[1])  # caption id per pair
    gen = torch.Generator().manual_seed(seed)
    losses, temps = [], []
    model.train()
    for _ in tqdm(range(steps), desc="CLIP", disable=not progress, mininterval=1.0):
        idx = torch.randperm(len(x_all), generator=gen)[: batch_size]
        img, txt = model.encode_image(x_all[idx].to(device)), model.encode_text(t_all[idx].to(device))
        args = (img, txt, model.temperature) + ((ids_all[idx].to(device),) if wants_ids else ())
        loss = loss_fn(*args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        temps.append(model.temperature.item())
    model.eval()
    return ClipRun(model, tok, losses, temps)


def _takes_caption_ids(fn: Callable) -> bool:
    """Does a loss accept a fourth argument (caption ids)? Decided from its signature."""
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 4


@torch.no_grad()
def similarity(model: CLIP, tokenizer: CaptionTokenizer, images: np.ndarray | torch.Tensor,
               captions: Sequence[str], batch_size: int = 512) -> np.ndarray:
    """(N_images, N_captions) cosine similarities."""
    device = model.logit_scale.device
    x = torch.as_tensor(images, dtype=torch.float32)
    img = torch.cat([model.encode_image(x[i : i + batch_size].to(device)) for i in range(0, len(x), batch_size)])
    txt = model.encode_text(tokenizer.encode_batch(list(captions)).to(device))
    return (img @ txt.T).cpu().numpy()


def zero_shot_accuracy(model: CLIP, tokenizer: CaptionTokenizer, images: np.ndarray, labels: Sequence,
                       candidates: Sequence, prompt: Callable[..., str]) -> tuple[float, np.ndarray]:
    """Classify each image by the most similar prompt among `candidates`; (accuracy, predicted index).

    labels: the true candidate of each image (an element of `candidates`, e.g. ("red", "circle"));
    prompt: turns a candidate into a caption, e.g. lambda c, s: f"a {c} {s}".
    """
    if not len(images):
        raise ValueError("no images to classify")
    prompts = [prompt(*c) if isinstance(c, tuple) else prompt(c) for c in candidates]
    sims = similarity(model, tokenizer, images, prompts)  # (N, C)
    pred = sims.argmax(axis=1)
    truth = np.array([list(candidates).index(l) for l in labels])
    return float((pred == truth).mean()), pred


def recall_at_k(sims: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """Fraction of queries (rows) with a relevant item among their k most similar columns."""
    sims, relevant = np.asarray(sims), np.asarray(relevant, dtype=bool)
    if sims.shape != relevant.shape:
        raise ValueError(f"similarities {sims.shape} and relevance {relevant.shape} differ in shape")
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]  # (Q, k)
    return float(np.take_along_axis(relevant, top, axis=1).any(axis=1).mean())


def chance_recall_at_k(relevant: np.ndarray, k: int) -> float:
    """Expected recall@k of a random ranking: per query 1 - C(N-m, k) / C(N, k), m relevant of N."""
    relevant = np.asarray(relevant, dtype=bool)
    n = relevant.shape[1]
    k = min(k, n)
    out = [1.0 - (math.comb(n - m, k) / math.comb(n, k)) for m in relevant.sum(axis=1)]
    return float(np.mean(out))


def plot_similarity_matrix(sims: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], ax=None,
                           title: str = "cosine similarity"):
    """Heat map of an (images x captions) similarity matrix; the diagonal should light up."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * len(col_labels) + 3, 0.35 * len(row_labels) + 2))
    im = ax.imshow(sims, cmap="viridis")
    ax.set_xticks(range(len(col_labels)), col_labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=7)
    ax.set_title(title)
    plt.colorbar(im, ax=ax, fraction=0.046)
    return ax
