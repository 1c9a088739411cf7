"""A small vision-language model, LLaVA-style: image encoder -> projector -> language model.

A language model reads a sequence of vectors (its token embeddings). To make it see, turn
an image into a few vectors *in the same space* and put them in front of the text:

    image (3, 32, 32) -> CLIP vision tower (1.3) -> 4x4 feature map = 16 patch vectors (16, C)
                      -> projector (Linear, GELU, Linear)          -> 16 "visual tokens" (16, n_embd)
    [visual tokens] + embed("Q: What colour are the shapes? A:") -> LM -> " red<eos>"

Training follows LLaVA (Liu et al., 2023) in two stages:
1. **Alignment**: only the projector learns (vision tower and LM frozen), on captions. The
   projector learns to write image content in words the LM already has vectors for.
2. **Instruction tuning**: LoRA adapters on the LM's attention join in, on captions and
   questions, so the LM learns to use what it sees to answer.

The loss is the LM's next-token cross-entropy on the answer tokens only (-100 elsewhere).
The language model is any Hugging Face causal LM: the course GPT (`GPT.to_hf()`, the
learner's model) or Gemma 3 270M. Generation is greedy through the course sampler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.inference.sampling import sample_next
from llmcourse.multimodal.clip import ImageEncoder, check_images

__all__ = ["Projector", "TinyVLM", "VisionTower", "answer_matches", "caption_attribute_accuracy", "encode_text",
           "train_vlm_stage"]


def encode_text(tokenizer, text: str) -> list[int]:
    """Token ids of `text` without special tokens, for the course tokenizer or a Hugging Face one."""
    if hasattr(tokenizer, "encode_ordinary"):
        return tokenizer.encode_ordinary(text)
    return tokenizer.encode(text, add_special_tokens=False)


def eos_id(tokenizer) -> int:
    """The end-of-text id: <|endoftext|> of the course tokenizer, or a Hugging Face eos_token_id."""
    specials = getattr(tokenizer, "special_tokens", None)
    if specials and "<|endoftext|>" in specials:
        return specials["<|endoftext|>"]
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise ValueError("the tokenizer has no end-of-text token to stop answers with")
    return int(eos)


class VisionTower(nn.Module):
    """The conv stack of a CLIP image encoder, cut before its pooling projection: 16 patch vectors."""

    def __init__(self, encoder: ImageEncoder):
        super().__init__()
        self.features = encoder.net[:9]  # three conv-ReLU-pool stages: (B, C, 4, 4)
        self.dim = encoder.net[6].out_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        fmap = self.features(images)  # (B, C, 4, 4)
        return fmap.flatten(2).transpose(1, 2)  # (B, 16, C): one vector per image region


class Projector(nn.Module):
    """LLaVA-1.5's two-layer MLP from vision features to the LM's embedding size."""

    def __init__(self, vision_dim: int, lm_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(vision_dim, lm_dim), nn.GELU(), nn.Linear(lm_dim, lm_dim))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.net(patches)  # (B, P, lm_dim)


@dataclass
class TinyVLM:
    """Vision tower (frozen) + projector + a Hugging Face causal LM and its tokenizer."""

    tower: VisionTower
    projector: Projector
    lm: nn.Module
    tokenizer: object
    history: dict = field(default_factory=dict)

    @classmethod
    def build(cls, encoder: ImageEncoder, lm: nn.Module, tokenizer, seed: int = 0) -> "TinyVLM":
        torch.manual_seed(seed)
        tower = VisionTower(encoder).eval()
        for p in tower.parameters():
            p.requires_grad_(False)
        lm_dim = lm.get_input_embeddings().weight.shape[1]
        return cls(tower, Projector(tower.dim, lm_dim), lm, tokenizer)

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def visual_tokens(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            patches = self.tower(images.to(self.device))  # (B, 16, C)
        return self.projector(patches)  # (B, 16, d)

    def _embed(self, ids: Sequence[int]) -> torch.Tensor:
        return self.lm.get_input_embeddings()(torch.tensor(list(ids), dtype=torch.long, device=self.device))

    def batch(self, images: torch.Tensor, prompts: Sequence[str], answers: Sequence[str]):
        """(inputs_embeds (B, L, d), attention_mask (B, L), labels (B, L)): [image][prompt][answer eos], right-padded."""
        if not (len(images) == len(prompts) == len(answers)):
            raise ValueError(f"{len(images)} images, {len(prompts)} prompts and {len(answers)} answers")
        vis = self.visual_tokens(images)  # (B, P, d)
        eos = eos_id(self.tokenizer)
        rows, labels = [], []
        for v, prompt, answer in zip(vis, prompts, answers):
            p_ids, a_ids = encode_text(self.tokenizer, prompt), encode_text(self.tokenizer, " " + answer) + [eos]
            rows.append(torch.cat([v, self._embed(p_ids + a_ids)]))  # (P + Tp + Ta, d)
            labels.append([-100] * (len(v) + len(p_ids)) + a_ids)  # learn the answer only
        width = max(len(r) for r in rows)
        d = vis.shape[-1]
        embeds = torch.zeros(len(rows), width, d, device=self.device)
        mask = torch.zeros(len(rows), width, dtype=torch.long, device=self.device)
        lab = torch.full((len(rows), width), -100, dtype=torch.long, device=self.device)
        for i, (r, l) in enumerate(zip(rows, labels)):
            embeds[i, : len(r)], mask[i, : len(r)], lab[i, : len(l)] = r, 1, torch.tensor(l)
        return embeds, mask, lab

    def loss(self, images: torch.Tensor, prompts: Sequence[str], answers: Sequence[str]) -> torch.Tensor:
        embeds, mask, labels = self.batch(images, prompts, answers)
        logits = self.lm(inputs_embeds=embeds, attention_mask=mask).logits  # (B, L, V)
        return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)

    @torch.no_grad()
    def generate(self, image: torch.Tensor, prompt: str, max_new_tokens: int = 16) -> str:
        """Greedy answer to `prompt` about one image (3, H, W), through the course sampler."""
        self.lm.eval()
        eos = eos_id(self.tokenizer)
        seq = torch.cat([self.visual_tokens(image[None])[0], self._embed(encode_text(self.tokenizer, prompt))])
        out: list[int] = []
        for _ in range(max_new_tokens):
            logits = self.lm(inputs_embeds=seq[None]).logits[:, -1, :]  # (1, V)
            nxt = int(sample_next(logits, temperature=0.0)[0, 0])
            if nxt == eos:
                break
            out.append(nxt)
            seq = torch.cat([seq, self._embed([nxt])])
        return self.tokenizer.decode(out).strip()

    def trainable(self) -> list[nn.Parameter]:
        return [p for m in (self.projector, self.lm) for p in m.parameters() if p.requires_grad]


def train_vlm_stage(vlm: TinyVLM, examples: list[tuple[int, str, str]], images: np.ndarray, steps: int,
                    batch: int = 32, lr: float = 1e-3, seed: int = 0, progress: bool = False,
                    desc: str = "VLM") -> list[float]:
    """AdamW on whatever requires grad (projector; + LoRA in stage 2) over (image index, prompt, answer) examples."""
    from tqdm.auto import tqdm

    if not examples:
        raise ValueError("no training examples")
    params = vlm.trainable()
    if not params:
        raise ValueError("nothing to train: freeze less (the projector at least)")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    x_all = torch.as_tensor(images, dtype=torch.float32)
    losses = []
    vlm.lm.train()
    for step in tqdm(range(steps), desc=desc, disable=not progress, mininterval=1.0):
        pick = rng.integers(len(examples), size=batch)
        img_idx = [examples[i][0] for i in pick]
        loss = vlm.loss(x_all[img_idx], [examples[i][1] for i in pick], [examples[i][2] for i in pick])
        for group in opt.param_groups:  # cosine decay to 10 %
            group["lr"] = lr * (0.1 + 0.45 * (1 + np.cos(np.pi * step / steps)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
    vlm.lm.eval()
    return losses


def answer_matches(generated: str, answer: str) -> bool:
    """Exact match after trimming spaces and final punctuation (case-insensitive)."""
    norm = lambda s: s.strip().strip(".?!").strip().lower()  # noqa: E731
    return norm(generated) == norm(answer)


def caption_attribute_accuracy(generated: str, attrs: dict, lang: str) -> dict[str, bool]:
    """Which attributes (colour, shape, count, side) the generated caption names correctly."""
    from llmcourse.assets.scenes import WORDS

    words = WORDS[lang]
    if lang == "th":  # no spaces between Thai words: look for the word itself
        return {k: words[attrs[k]] in generated for k in ("colour", "shape", "count", "side")}
    tokens = {t.rstrip("s") if lang == "en" else t for t in generated.lower().split()}
    want = {k: words[attrs[k]] for k in ("colour", "shape", "count", "side")}
    return {k: (w.rstrip("s") if lang == "en" and k == "shape" else w) in tokens for k, w in want.items()}
