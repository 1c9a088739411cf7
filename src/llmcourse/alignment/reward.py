"""A reward model: the language model with a scalar head, trained on preference pairs.

Bradley–Terry (1952) says the probability that answer c is preferred to answer r is

    P(c > r) = sigmoid(reward(c) - reward(r))

so the reward model is trained to maximise log sigmoid(r_chosen - r_rejected) over the
pairs: `bradley_terry_loss`, the loss of trl's RewardTrainer. The reward of a whole
conversation is a linear head on the hidden state of its **last** token (the model has
read everything by then), like Hugging Face's `...ForSequenceClassification` models.
Week 8's PPO asks this model for the reward of each sampled answer.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.models.gpt import GPT

__all__ = ["REWARD_STEPS", "RewardModel", "bradley_terry_loss", "encode_pairs", "preference_accuracy",
           "reference_reward_model", "reward_batches", "train_reward_model"]

REWARD_STEPS = {"smoke": 30, "laptop": 400, "colab": 800, "cluster": 800}


def bradley_terry_loss(rewards_chosen: torch.Tensor, rewards_rejected: torch.Tensor,
                       margin: torch.Tensor | None = None) -> torch.Tensor:
    """-mean log sigmoid(r_c - r_r [- margin]): the negative log-likelihood of the observed preferences."""
    diff = rewards_chosen - rewards_rejected
    if margin is not None:
        diff = diff - margin
    return -F.logsigmoid(diff).mean()


def preference_accuracy(rewards_chosen: torch.Tensor, rewards_rejected: torch.Tensor) -> float:
    """Share of pairs the reward model orders correctly (r_chosen > r_rejected)."""
    return (rewards_chosen > rewards_rejected).float().mean().item()


class RewardModel(nn.Module):
    """The course GPT's body plus a scalar head: `forward(ids, attention_mask) -> rewards (B,)`."""

    def __init__(self, backbone: GPT) -> None:
        super().__init__()
        if not isinstance(backbone, GPT):
            raise TypeError(f"RewardModel wraps the course GPT, got {type(backbone).__name__}")
        self.backbone = backbone
        self.score = nn.Linear(backbone.config.n_embd, 1, bias=False)
        nn.init.normal_(self.score.weight, std=1.0 / backbone.config.n_embd ** 0.5)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        from llmcourse.finetuning.gpt_forward import gpt_hidden

        h = gpt_hidden(self.backbone, ids)  # (B, T, C); right padding never changes earlier positions
        if attention_mask is None:
            last = torch.full((ids.shape[0],), ids.shape[1] - 1, device=ids.device)
        else:
            last = attention_mask.long().cumsum(1).argmax(1)  # index of the last real token
        pooled = h[torch.arange(ids.shape[0], device=ids.device), last]  # (B, C)
        return self.score(pooled).squeeze(-1)  # (B,)

    def save(self, folder: str | os.PathLike) -> Path:
        from safetensors.torch import save_file

        folder = Path(folder)
        self.backbone.save(folder / "backbone")
        save_file({"score.weight": self.score.weight.detach().contiguous().cpu()}, str(folder / "score.safetensors"))
        (folder / "reward_model.json").write_text(json.dumps({"kind": "bradley-terry", "pooling": "last token"}))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> RewardModel:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "score.safetensors").is_file():
            raise FileNotFoundError(f"{folder} does not hold a saved RewardModel (score.safetensors missing)")
        model = cls(GPT.load(folder / "backbone"))
        model.score.weight.data.copy_(load_file(str(folder / "score.safetensors"))["score.weight"])
        return model.eval()


def encode_pairs(pairs: Sequence, tokenizer, max_length: int) -> list[tuple[list[int], list[int]]]:
    """(chosen ids, rejected ids) per pair: the conversation rendered with the chat template, cut from the left."""
    from llmcourse.finetuning.chat import render_chat
    from llmcourse.finetuning.metrics import encode_text

    out = []
    for p in pairs:
        ids = []
        for which in ("chosen", "rejected"):
            text = render_chat(p.messages(which), tokenizer)
            enc = tokenizer.encode(text, allowed_special="all") if not hasattr(tokenizer, "apply_chat_template") \
                else encode_text(tokenizer, text)
            ids.append(enc[-max_length:])
        out.append((ids[0], ids[1]))
    return out


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    return ids, mask


def reward_batches(encoded: list[tuple[list[int], list[int]]], batch_size: int, pad_id: int,
                   generator: torch.Generator | None = None, device="cpu"):
    """Random batches (chosen ids, chosen mask, rejected ids, rejected mask), or all pairs in order if no generator."""
    def make(picks: list[int]) -> tuple:
        c_ids, c_mask = _pad([encoded[i][0] for i in picks], pad_id)
        r_ids, r_mask = _pad([encoded[i][1] for i in picks], pad_id)
        return c_ids.to(device), c_mask.to(device), r_ids.to(device), r_mask.to(device)

    if generator is None:
        return [make(list(range(s, min(len(encoded), s + batch_size)))) for s in range(0, len(encoded), batch_size)]
    return lambda: make(torch.randint(len(encoded), (batch_size,), generator=generator).tolist())


def _reward_loss(model: RewardModel, batch: tuple, loss=None) -> torch.Tensor:
    c_ids, c_mask, r_ids, r_mask = batch
    return (loss or bradley_terry_loss)(model(c_ids, c_mask), model(r_ids, r_mask))


@torch.no_grad()
def evaluate_reward_model(model: RewardModel, batches: list[tuple]) -> float:
    """Preference accuracy over fixed batches."""
    was = model.training
    model.eval()
    rc = torch.cat([model(b[0], b[1]) for b in batches])
    rr = torch.cat([model(b[2], b[3]) for b in batches])
    model.train(was)
    return preference_accuracy(rc, rr)


def train_reward_model(model: RewardModel, tokenizer, pairs: Sequence, steps: int, lr: float = 3e-4,
                       batch_size: int = 16, val_pairs: Sequence | None = None, seed: int = 0,
                       progress: bool = True, loss=None):
    """Train with Bradley–Terry through the course's training loop; returns (History, val accuracy or None).

    `loss(r_chosen, r_rejected)` defaults to `bradley_terry_loss`.
    """
    from llmcourse.finetuning.sft import _pad_id
    from llmcourse.training import train

    T = model.backbone.config.block_size
    pad = _pad_id(tokenizer)
    g = torch.Generator().manual_seed(seed)
    batches = reward_batches(encode_pairs(pairs, tokenizer, T), batch_size, pad, g)
    history = train(model, batches, steps=steps, lr=lr, eval_every=max(1, steps // 4), eval_batches=2,
                    warmup=max(1, steps // 10), loss_fn=lambda m, b: _reward_loss(m, b, loss), progress=progress,
                    desc="reward model")
    acc = None
    if val_pairs:
        acc = evaluate_reward_model(model, reward_batches(encode_pairs(val_pairs, tokenizer, T), 32, pad))
    return history, acc


def reference_reward_model() -> dict:
    """A reward model on a copy of the SFT course GPT, trained on verifiable preference pairs, seed 0.

    Returns the artifact bundle {"model": RewardModel, "tokenizer", "metrics"} (what 5.3 saves as "reward-model").
    """
    from llmcourse.alignment.preferences import preference_pairs
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.config import pick_profile
    from llmcourse.finetuning.sft import reference_sft_gpt

    profile = pick_profile()[0]
    art = load_artifact("course-gpt-sft", fallback=reference_sft_gpt)
    per_kind = 40 if profile == "smoke" else 100
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        rm = RewardModel(copy.deepcopy(art["model"]))
        steps = REWARD_STEPS.get(profile, 400)
        _, acc = train_reward_model(rm, art["tokenizer"], preference_pairs("train", per_kind), steps,
                                    val_pairs=preference_pairs("val", per_kind), progress=False)
    return {"model": rm.eval(), "tokenizer": art["tokenizer"],
            "metrics": {"val_preference_accuracy": acc, "steps": steps, "trained_by": "reference"}}
