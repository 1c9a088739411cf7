"""The RL task of 8.2: write in the language the prompt asks for, judged by a language identifier.

The course GPT was pre-trained on text in seven languages with no instructions, so asked
"Thai:" it continues in whichever language it likes. The *verifiable* reward is the
probability that a language identifier (langid.py, restricted to the task's languages)
gives the requested language for the response: no human labels, no reward model, and it
cannot be argued with. An empty response scores 0.

The reward-model variant learns the same preference from pairs (a text in the requested
language preferred to one in another language), Bradley-Terry style, with a small
network on the course GPT's trunk. A learned reward is only as good as its pairs: it never
saw degenerate text, so nothing stops it from liking some; `true_quality` (right language
*and* not a loop of a few tokens) is what a person would check.
"""

from __future__ import annotations

import copy
import functools
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.alignment.reward import bradley_terry_loss
from llmcourse.alignment.ppo import PolicyWithValue, forward_lm

__all__ = ["TASK_LANGS", "TaskRewardModel", "distinct_ratio", "language_preference_pairs", "language_prompts",
           "language_reward", "pairwise_accuracy", "train_task_reward_model", "true_quality"]

TASK_LANGS = {"en": "English", "id": "Indonesian", "th": "Thai", "vi": "Vietnamese", "ta": "Tamil"}


def language_prompts() -> list[tuple[str, str]]:
    """(prompt, language code) pairs: "Thai:" asks for Thai."""
    return [(f"{name}:", code) for code, name in TASK_LANGS.items()]


@functools.lru_cache(maxsize=1)
def _identifier():
    from llmcourse.assets.registry import require

    langid = require("langid.langid", "langid")
    ident = langid.LanguageIdentifier.from_modelstring(langid.model, norm_probs=True)
    ident.set_languages(list(TASK_LANGS))
    return ident


def language_probability(text: str, lang: str) -> float:
    """P(text is in `lang`) among the task's languages, by langid.py; 0 for empty text."""
    if lang not in TASK_LANGS:
        raise ValueError(f"unknown task language {lang!r}; use one of {list(TASK_LANGS)}")
    if not text.strip():
        return 0.0
    probs = dict(_identifier().rank(text))
    return float(probs.get(lang, 0.0))


def language_reward(texts: Sequence[str], langs: Sequence[str]) -> list[float]:
    """The verifiable reward of each response: the identifier's probability of the requested language."""
    return [language_probability(t, l) for t, l in zip(texts, langs)]


def distinct_ratio(text: str) -> float:
    """Distinct characters bigrams / all bigrams (1 = no repetition; a loop scores low)."""
    grams = [text[i : i + 2] for i in range(len(text) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def true_quality(texts: Sequence[str], langs: Sequence[str]) -> list[float]:
    """What a person wants: the right language and not a loop (language probability x min(1, 2 x distinct ratio))."""
    return [language_probability(t, l) * min(1.0, 2 * distinct_ratio(t)) for t, l in zip(texts, langs)]


# ----------------------------------------------------------------------------- a Bradley-Terry reward model
def language_preference_pairs(n: int, chars: int = 40, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """(prompt, chosen, rejected, lang): chosen is a real snippet in the prompt's language, rejected in another."""
    from llmcourse.assets.multilingual import multilingual_sample

    rng = np.random.default_rng(seed)
    texts = {code: multilingual_sample(code, 20_000, seed=seed) for code in TASK_LANGS}
    codes = list(TASK_LANGS)

    def snippet(code: str) -> str:
        t = texts[code]
        start = int(rng.integers(0, len(t) - chars))
        return t[start : start + chars]

    out = []
    for _ in range(n):
        lang = codes[rng.integers(len(codes))]
        other = codes[(codes.index(lang) + rng.integers(1, len(codes))) % len(codes)]
        out.append((f"{TASK_LANGS[lang]}:", " " + snippet(lang), " " + snippet(other), lang))
    return out


class TaskRewardModel(nn.Module):
    """A copy of the LM's trunk with a scalar head read at the last token: r(prompt + response)."""

    def __init__(self, lm: nn.Module, tokenizer):
        super().__init__()
        self.lm = copy.deepcopy(lm)
        self.kind = PolicyWithValue._kind(self.lm)
        self.tokenizer = tokenizer
        dim = PolicyWithValue(self.lm)._hidden_size(self.lm)
        self.head = nn.Linear(dim, 1)

    def _ids(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = [(self.tokenizer.encode_ordinary(t) if hasattr(self.tokenizer, "encode_ordinary")
                else self.tokenizer.encode(t, add_special_tokens=False)) or [0] for t in texts]
        width = max(len(e) for e in enc)
        ids = torch.zeros(len(enc), width, dtype=torch.long)
        mask = torch.zeros(len(enc), width, dtype=torch.long)
        for i, e in enumerate(enc):  # left padding: the last position is every row's last token
            ids[i, width - len(e) :], mask[i, width - len(e) :] = torch.tensor(e), 1
        dev = next(self.parameters()).device
        return ids.to(dev), mask.to(dev)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        ids, mask = self._ids(texts)
        _, hidden = forward_lm(self.lm, self.kind, ids, mask)
        return self.head(hidden[:, -1].float()).squeeze(-1)  # (B,)

    @torch.no_grad()
    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> list[float]:
        self.eval()
        return self([p + r for p, r in zip(prompts, responses)]).tolist()


def train_task_reward_model(rm: TaskRewardModel, pairs, steps: int = 200, batch: int = 16, lr: float = 3e-4,
                            seed: int = 0, progress: bool = False) -> list[float]:
    """Fit the reward model on (prompt, chosen, rejected, lang) pairs; returns the loss per step."""
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW([p for p in rm.parameters() if p.requires_grad], lr=lr)
    losses = []
    rm.train()
    for _ in tqdm(range(steps), desc="reward model", disable=not progress, mininterval=1.0):
        pick = rng.integers(len(pairs), size=batch)
        r_c = rm([pairs[i][0] + pairs[i][1] for i in pick])
        r_r = rm([pairs[i][0] + pairs[i][2] for i in pick])
        loss = bradley_terry_loss(r_c, r_r)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    rm.eval()
    return losses


@torch.no_grad()
def pairwise_accuracy(rm: TaskRewardModel, pairs) -> float:
    """Share of held-out pairs where the chosen response gets the higher reward."""
    rm.eval()
    r_c = rm([p + c for p, c, _, _ in pairs])
    r_r = rm([p + r for p, _, r, _ in pairs])
    return float((r_c > r_r).float().mean())
