"""HellaSwag: does the model pick the right ending? (The cluster run's periodic evaluation.)

Each item is a context and four endings, one right. A language model scores an ending
by the mean cross-entropy of its tokens given the context (lower is likelier) and picks
the lowest: "acc_norm" in the style of build-nanogpt (mean, not sum, so long endings are
not penalised). GPT-2 124M scores about 29%; chance is 25%. The data set comes from the
Hub (`Rowan/hellaswag`, validation split: 10,042 items), so this runs online only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["hellaswag_accuracy", "load_hellaswag", "pick_ending"]


def load_hellaswag(split: str = "validation", limit: int | None = None) -> list[dict]:
    """Items {"ctx", "endings", "label"} from the Hub (needs network)."""
    from datasets import load_dataset

    ds = load_dataset("Rowan/hellaswag", split=split)
    rows = [{"ctx": r["ctx"], "endings": list(r["endings"]), "label": int(r["label"])} for r in ds]
    return rows[:limit] if limit else rows


@torch.no_grad()
def pick_ending(model, encode, ctx: str, endings: list[str], device: str = "cpu") -> int:
    """Index of the ending with the lowest mean token loss after `ctx` (encode: str -> list of ids)."""
    ctx_ids = encode(ctx)
    block = model.config.block_size
    losses = []
    for ending in endings:
        end_ids = encode(" " + ending)
        r = (ctx_ids + end_ids)[-(block + 1):]  # keep the end: the ending must fit in the context
        x = torch.tensor(r[:-1], device=device)[None]  # (1, T)
        y = torch.tensor(r[1:], device=device)[None]
        per_tok = F.cross_entropy(model(x)[0][0].float(), y[0], reduction="none")  # (T,)
        losses.append(per_tok[-min(len(end_ids), len(per_tok)):].mean().item())
    return int(min(range(len(losses)), key=losses.__getitem__))


def hellaswag_accuracy(model, limit: int | None = None, device: str = "cpu", encode=None) -> float:
    """Fraction of HellaSwag validation items where `pick_ending` is right (GPT-2 tokenizer by default)."""
    if encode is None:
        from llmcourse.assets.tiktoken_files import get_encoding

        encode = get_encoding("gpt2").encode_ordinary
    rows = load_hellaswag("validation", limit)
    was = model.training
    model.eval()
    right = sum(pick_ending(model, encode, r["ctx"], r["endings"], device) == r["label"] for r in rows)
    model.train(was)
    return right / len(rows)
