"""Recipes: the hyperparameters of a short pre-training run, compared on an equal token budget.

Notebook 4.3's stretch exercise: find a recipe that beats the smoke preset's on the same
20,480 tokens. `recipe_val_loss(recipe)` trains the smoke-size course GPT with it.
"""

from __future__ import annotations

from llmcourse.training.presets import PRESETS, make_config

__all__ = ["RECIPE_KEYS", "RECIPE_TOKENS", "course_recipe", "recipe_val_loss", "tuned_recipe"]

RECIPE_KEYS = ("lr", "warmup", "batch_size", "min_lr_ratio", "weight_decay")
RECIPE_TOKENS = 40 * 8 * 64  # the token budget every recipe gets: 40 steps of 8 x 64 in the smoke preset


def course_recipe() -> dict:
    """The smoke preset's recipe: lr 3e-3, 4 warmup steps, batches of 8, cosine to 10%."""
    return {"lr": 3e-3, "warmup": 4, "batch_size": 8, "min_lr_ratio": 0.1, "weight_decay": 0.1}


def tuned_recipe() -> dict:
    """A recipe that beats the preset's on the same token budget: smaller batches, a higher rate, no decay."""
    return {"lr": 1.5e-2, "warmup": 2, "batch_size": 4, "min_lr_ratio": 0.1, "weight_decay": 0.0}


def recipe_val_loss(recipe: dict, tokens: int = RECIPE_TOKENS, seed: int = 0) -> float:
    """Validation loss of the smoke-size course GPT trained with `recipe` on a fixed token budget.

    steps = tokens / (batch_size * block_size): a bigger batch means fewer steps, as in a real
    compute budget. Raises ValueError for unknown keys or a budget that gives no step.
    """
    import tempfile

    unknown = set(recipe) - set(RECIPE_KEYS)
    if unknown:
        raise ValueError(f"a recipe has only {', '.join(RECIPE_KEYS)}; unknown: {sorted(unknown)}")
    kw = {**course_recipe(), **recipe}
    kw["batch_size"] = int(kw["batch_size"])
    steps = tokens // (kw["batch_size"] * PRESETS["smoke"]["block_size"])
    if steps < 1:
        raise ValueError(f"batch_size {kw['batch_size']} leaves no step in a budget of {tokens} tokens")
    from llmcourse.training.pretrain import course_shards, pretrain

    # the smoke profile's tokenizer and shards in every profile: the target is a fixed yardstick
    data = course_shards(make_config("smoke"), say=lambda *_: None, profile="smoke")
    config = make_config("smoke", steps=steps, micro_batch=min(8, kw["batch_size"]), eval_every=steps,
                         ckpt_every=0, eval_batches=4, seed=seed, progress=False, data=str(data), **kw)

    with tempfile.TemporaryDirectory(prefix="recipe-") as tmp:
        res = pretrain(config, tmp, say=lambda *_: None)
    return float(res.val_loss)
