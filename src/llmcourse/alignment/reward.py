"""A reward model: the language model with a scalar head, trained on preference pairs.

Bradley–Terry (1952) says the probability that answer c is preferred to answer r is

    P(c > r) = sigmoid(reward(c) - reward(r))

so the reward model is trained to maximise log sigmoid(r_chosen - r_rejected) over the
pairs: `bradley_terry_loss`, the loss of trl's RewardTrainer. The reward of a whole
conversation is a linear head on the hidden state of its **last** token (the model has
read everything by then), like Hugging Face's `...ForSequenceClassification` models.
The body is the course GPT or a Hugging Face causal LM; the pairs are week 5's chat
`PreferencePair`s or week 8's plain-text (prompt, chosen, rejected, lang) tuples. Week 8's
PPO asks this model for the reward of each sampled answer (`score_texts`).
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

from llmcourse.alignment.backbone import lm_hidden, lm_hidden_size, lm_kind
from llmcourse.models.gpt import GPT

__all__ = ["REWARD_STEPS", "RewardModel", "bradley_terry_loss", "encode_pairs", "evaluate_reward_model",
           "preference_accuracy", "reference_reward_model", "reward_accuracy", "reward_batches", "train_reward_model"]

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
    """A causal LM's body plus a scalar head on the last token: `forward(ids, attention_mask) -> rewards (B,)`.

    The backbone is the course GPT or a Hugging Face causal LM (`llmcourse.alignment.backbone`);
    the same weights give the same reward either way. The head is called `score`, as in Hugging
    Face's `...ForSequenceClassification`; `score_texts` rewards plain (prompt, response) text.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.kind = lm_kind(backbone)
        dim = lm_hidden_size(backbone, self.kind)
        self.score = nn.Linear(dim, 1, bias=False)
        nn.init.normal_(self.score.weight, std=1.0 / dim ** 0.5)

    @property
    def context_length(self) -> int:
        """Longest input the backbone takes (longer inputs are cut from the left)."""
        config = getattr(self.backbone, "config", None)
        return int(getattr(config, "block_size", None) or getattr(config, "max_position_embeddings", None) or 2048)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = lm_hidden(self.backbone, self.kind, ids, attention_mask)  # (B, T, C); right padding only
        if attention_mask is None:
            last = torch.full((ids.shape[0],), ids.shape[1] - 1, device=ids.device)
        else:
            last = attention_mask.long().cumsum(1).argmax(1)  # index of the last real token
        pooled = h[torch.arange(ids.shape[0], device=ids.device), last]  # (B, C)
        return self.score(pooled.to(self.score.weight.dtype)).squeeze(-1)  # (B,)

    @torch.no_grad()
    def score_texts(self, prompts: Sequence[str], responses: Sequence[str], tokenizer,
                    batch_size: int = 32) -> list[float]:
        """The reward of each prompt + response, as plain text (what PPO asks for each sampled answer)."""
        if len(prompts) != len(responses):
            raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses: give one prompt per response")
        from llmcourse.finetuning.sft import _pad_id

        rows = [_text_ids(tokenizer, p + r, self.context_length) for p, r in zip(prompts, responses)]
        was = self.training
        self.eval()
        dev = next(self.parameters()).device
        out = []
        for s in range(0, len(rows), batch_size):
            ids, mask = _pad(rows[s : s + batch_size], _pad_id(tokenizer))
            out += self(ids.to(dev), mask.to(dev)).float().tolist()
        self.train(was)
        return out

    def save(self, folder: str | os.PathLike) -> Path:
        """Backbone (course GPT `save`, or Hugging Face `save_pretrained` in safetensors) and the head."""
        from safetensors.torch import save_file

        folder = Path(folder)
        if self.kind == "gpt" and not hasattr(self.backbone, "get_base_model"):
            self.backbone.save(folder / "backbone")
        elif self.kind == "hf" and not hasattr(self.backbone, "get_base_model"):
            self.backbone.save_pretrained(folder / "backbone", safe_serialization=True)
        else:
            raise TypeError("only a plain course GPT or Hugging Face backbone can be saved; merge the adapters first")
        save_file({"score.weight": self.score.weight.detach().contiguous().cpu()}, str(folder / "score.safetensors"))
        (folder / "reward_model.json").write_text(json.dumps({"kind": "bradley-terry", "pooling": "last token",
                                                              "backbone": self.kind}))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> RewardModel:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / "score.safetensors").is_file():
            raise FileNotFoundError(f"{folder} does not hold a saved RewardModel (score.safetensors missing)")
        kind = json.loads((folder / "reward_model.json").read_text()).get("backbone", "gpt")
        if kind == "hf":
            from transformers import AutoModelForCausalLM

            backbone = AutoModelForCausalLM.from_pretrained(folder / "backbone", use_safetensors=True)
        else:
            backbone = GPT.load(folder / "backbone")
        model = cls(backbone)
        model.score.weight.data.copy_(load_file(str(folder / "score.safetensors"))["score.weight"])
        return model.eval()


def _text_ids(tokenizer, text: str, max_length: int) -> list[int]:
    from llmcourse.finetuning.metrics import encode_text

    ids = encode_text(tokenizer, text)
    if not ids:
        raise ValueError("cannot reward an empty text: give a non-empty prompt or response")
    return ids[-max_length:]


def encode_pairs(pairs: Sequence, tokenizer, max_length: int) -> list[tuple[list[int], list[int]]]:
    """(chosen ids, rejected ids) per pair, cut from the left to `max_length` tokens.

    The one place where both kinds of pairs become token ids:
    * a `PreferencePair` (week 5): the conversation rendered with the chat template;
    * a (prompt, chosen, rejected, lang) tuple (`language_preference_pairs`, week 8): plain
      text prompt + response, encoded as `score_texts` encodes it.
    """
    from llmcourse.alignment.preferences import PreferencePair
    from llmcourse.finetuning.chat import render_chat
    from llmcourse.finetuning.metrics import encode_text

    out = []
    for p in pairs:
        if isinstance(p, PreferencePair):
            ids = []
            for which in ("chosen", "rejected"):
                text = render_chat(p.messages(which), tokenizer)
                enc = tokenizer.encode(text, allowed_special="all") if not hasattr(tokenizer, "apply_chat_template") \
                    else encode_text(tokenizer, text)
                ids.append(enc[-max_length:])
            out.append((ids[0], ids[1]))
        elif isinstance(p, (tuple, list)) and len(p) in (3, 4) and all(isinstance(x, str) for x in p[:3]):
            out.append((_text_ids(tokenizer, p[0] + p[1], max_length), _text_ids(tokenizer, p[0] + p[2], max_length)))
        else:
            raise TypeError(f"a preference pair is a PreferencePair or a (prompt, chosen, rejected[, lang]) tuple "
                            f"of strings, got {p!r:.80}")
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


def reward_accuracy(model: RewardModel, tokenizer, pairs: Sequence, batch_size: int = 32) -> float:
    """Share of `pairs` (PreferencePairs or (prompt, chosen, rejected, lang) tuples) the model orders correctly."""
    from llmcourse.finetuning.sft import _pad_id

    dev = next(model.parameters()).device
    encoded = encode_pairs(pairs, tokenizer, model.context_length)
    return evaluate_reward_model(model, reward_batches(encoded, batch_size, _pad_id(tokenizer), device=dev))


def train_reward_model(model: RewardModel, tokenizer, pairs: Sequence, steps: int, lr: float = 3e-4,
                       batch_size: int = 16, val_pairs: Sequence | None = None, seed: int = 0,
                       progress: bool = True, loss=None):
    """Train with Bradley–Terry through the course's training loop; returns (History, val accuracy or None).

    `pairs` are PreferencePairs or (prompt, chosen, rejected, lang) tuples (see `encode_pairs`);
    `loss(r_chosen, r_rejected)` defaults to `bradley_terry_loss`.
    """
    from llmcourse.finetuning.sft import _pad_id
    from llmcourse.training import train

    if not pairs:
        raise ValueError("no preference pairs to train on")
    g = torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device
    encoded = encode_pairs(pairs, tokenizer, model.context_length)
    batches = reward_batches(encoded, batch_size, _pad_id(tokenizer), g, device=dev)
    history = train(model, batches, steps=steps, lr=lr, eval_every=max(1, steps // 4), eval_batches=2,
                    warmup=max(1, steps // 10), loss_fn=lambda m, b: _reward_loss(m, b, loss), progress=progress,
                    desc="reward model")
    model.eval()
    acc = reward_accuracy(model, tokenizer, val_pairs) if val_pairs else None
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
