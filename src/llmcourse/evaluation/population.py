"""A population of real models to rank: course GPT checkpoints x sizes x seeds x quantisation, and Gemma.

Lite-eval (7.3) asks whether a small subset of items ranks models like the full
benchmark does. That needs many real models of different ability, evaluated on every item.
Offline we make them ourselves, deterministically:

* the course GPT (Llama-style, the learner's course tokenizer) in three sizes (two in smoke), two seeds
  each, trained on the course text (week 4's pre-training data) with a checkpoint kept at
  four points along training — weak early checkpoints, stronger late ones;
* the last checkpoint of each size quantised two ways: int8 dynamic quantisation
  (torch.ao, weights int8, activations quantised on the fly) and 4-bit round-to-nearest
  with one scale per group of 32 weights (the 6.2 recipe), dequantised for running;
* Gemma 3 270M, offline, far larger than the rest (laptop and larger profiles).

Every model answers every "choice" item of the benchmark (one batched log-likelihood pass
each); the result, a (models x items) 0/1 matrix with each model's facts and timing, is
what `reference_eval_population()` returns and 7.3 caches as the `eval-population`
artifact. The learner's own checkpoints (weeks 4-6 artifacts) are evaluated and added on top.
"""

from __future__ import annotations

import copy
import time
from typing import Sequence

import torch

__all__ = ["POPULATION", "evaluate_population", "learner_lms", "quantize_int4_rtn", "quantize_int8_dynamic",
           "reference_eval_population", "train_checkpoints"]

POPULATION = {  # per profile: sizes (n_layer, n_head, n_kv_head, n_embd), seeds, checkpoint steps, batch, context;
    # gemma: add Gemma 3 270M (its pass over every item costs about 90 s on 2 cores, too much for smoke)
    "smoke": dict(sizes={"xs": (1, 2, 1, 32), "s": (2, 4, 2, 64)}, seeds=(0, 1),  # 20 models in about 25 s
                  steps=(10, 30, 60, 120), batch=8, block=64, chars=30_000, gemma=False),
    "laptop": dict(sizes={"xs": (1, 2, 1, 64), "s": (2, 4, 2, 128), "m": (4, 4, 2, 128)}, seeds=(0, 1),
                   steps=(50, 150, 400, 800), batch=8, block=128, chars=300_000, gemma=True),  # ~20 min, 1 core
}


def _profile(profile: str | None) -> str:
    if profile:
        return profile
    from llmcourse.config import pick_profile

    return pick_profile()[0]


def quantize_int8_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """int8 weights (per tensor), activations quantised at run time: torch's dynamic quantisation."""
    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


@torch.no_grad()
def quantize_int4_rtn(model: torch.nn.Module, group: int = 32) -> torch.nn.Module:
    """Round every Linear weight to 4 bits (symmetric, one absmax scale per `group` weights), dequantised."""
    q = copy.deepcopy(model)
    for module in q.modules():
        if isinstance(module, torch.nn.Linear) and module.weight.shape[1] % group == 0:
            w = module.weight.data
            blocks = w.reshape(-1, group)  # (rows * cols / group, group)
            scale = blocks.abs().amax(1, keepdim=True).clamp(min=1e-12) / 7  # int4: -8..7, symmetric -7..7
            module.weight.data = (torch.round(blocks / scale).clamp(-7, 7) * scale).reshape(w.shape)
    return q


def course_ids(tokenizer, chars: int) -> torch.Tensor:
    """The course text (week 4's pre-training data, `chars` per language) as one token stream."""
    from llmcourse.models.course import course_text

    return torch.tensor([t for text in course_text(chars).values() for t in tokenizer.encode_ordinary(text)])


def train_checkpoints(tokenizer, size: tuple[int, int, int, int], seed: int, steps: Sequence[int], batch: int,
                      block: int, chars: int, lr: float = 3e-3, ids: torch.Tensor | None = None
                      ) -> dict[int, torch.nn.Module]:
    """Train one course GPT with constant learning rate and keep a copy at each step in `steps`.

    `ids`: the token stream, when several runs share it (else `chars` of course text are encoded).
    """
    from llmcourse.models.gpt import GPT, GPTConfig
    from llmcourse.training import get_batch, make_optimizer, train
    from llmcourse.training.loop import History

    ids = course_ids(tokenizer, chars) if ids is None else ids
    n_layer, n_head, n_kv, n_embd = size
    config = GPTConfig.llama_style(vocab_size=tokenizer.vocab_size, n_layer=n_layer, n_head=n_head, n_kv_head=n_kv,
                                   n_embd=n_embd, block_size=block, attn_impl="sdpa")
    out, done = {}, 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT(config)
        gen = torch.Generator().manual_seed(seed + 100)
        opt, history = make_optimizer(model, lr), History()
        for target in sorted(steps):  # constant learning rate: segments add up to one run
            train(model, lambda: get_batch(ids, block, batch, gen), steps=target - done, lr=lr, min_lr=lr,
                  optimizer=opt, history=history, eval_every=10**9, eval_batches=1, progress=False)
            done = target
            out[target] = copy.deepcopy(model).eval()
    return out


def evaluate_population(models: dict[str, object], items, progress: bool = True) -> dict:
    """Score every model on every "choice" item: {"models", "item_ids", "correct", "margin", "seconds"}."""
    from llmcourse.evaluation.runner import evaluate_lm

    choice = [it for it in items if it.grader == "choice"]
    rows, margins, seconds = [], [], {}
    names = list(models)
    bar = names
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(names, desc="evaluating the population")
    for name in bar:
        start = time.perf_counter()
        recs = evaluate_lm(models[name], choice)
        seconds[name] = time.perf_counter() - start
        rows.append([r["correct"] for r in recs])
        margins.append([round(r["margin"], 3) for r in recs])
    return {"models": names, "item_ids": [it.id for it in choice], "correct": rows, "margin": margins,
            "seconds": seconds}


def reference_eval_population() -> dict:
    """The course's model population, trained and evaluated deterministically (JSON-able; cached by 7.3)."""
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.evaluation.benchmark import items_hash
    from llmcourse.evaluation.course_bench import course_benchmark
    from llmcourse.evaluation.lm import CourseGPTLM, HFLM
    from llmcourse.models.course import reference_course_tokenizer
    from tqdm.auto import tqdm

    profile = _profile(None)
    plan = POPULATION.get(profile, POPULATION["laptop"])
    tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer, quiet=True)
    items = course_benchmark(profile)
    lms, facts = {}, {}
    ids = course_ids(tok, plan["chars"])  # encoded once for every run
    bar = tqdm(total=len(plan["sizes"]) * len(plan["seeds"]), desc="training the population (size x seed)")
    for size_name, size in plan["sizes"].items():
        for seed in plan["seeds"]:
            ckpts = train_checkpoints(tok, size, seed, plan["steps"], plan["batch"], plan["block"], plan["chars"],
                                      ids=ids)
            bar.update()
            for step, model in ckpts.items():
                name = f"gpt-{size_name}-seed{seed}-step{step}"
                lms[name] = CourseGPTLM(model, tok, name=name, batch_size=64)
                facts[name] = {"family": "course-gpt", "size": size_name, "params": model.num_params(), "step": step,
                               "seed": seed, "quant": "fp32"}
            last = ckpts[max(ckpts)]
            if seed == plan["seeds"][0]:
                for quant, fn in (("int8", quantize_int8_dynamic), ("int4", quantize_int4_rtn)):
                    name = f"gpt-{size_name}-seed{seed}-step{max(ckpts)}-{quant}"
                    lms[name] = CourseGPTLM(fn(last), tok, name=name, batch_size=64)
                    facts[name] = {**facts[f"gpt-{size_name}-seed{seed}-step{max(ckpts)}"], "quant": quant}
    bar.close()
    try:
        if not plan["gemma"]:
            raise RuntimeError(f"not in the {profile} profile's population")
        from llmcourse.assets import load_lm

        gemma, gtok = load_lm("gemma-3-270m", device="cpu")
        lms["gemma-3-270m"] = HFLM(gemma, gtok, name="gemma-3-270m", batch_size=8)
        facts["gemma-3-270m"] = {"family": "gemma", "size": "270m", "params": sum(p.numel() for p in gemma.parameters()),
                                 "step": None, "seed": None, "quant": "fp32"}
    except Exception as err:  # no Gemma here: the population is still 30 course models
        print(f"[population] Gemma 3 270M left out: {err}")
    result = evaluate_population(lms, items)
    result["facts"] = [facts[m] for m in result["models"]]
    result["benchmark_sha256"] = items_hash(items)
    result["profile"] = profile
    return result


def learner_lms(artifacts: dict[str, object]) -> dict[str, object]:
    """The learner's own models among loaded artifacts, as EvalLMs named after them.

    A course GPT bundle ({"model", "tokenizer"}) is one model; a bundle of several checkpoints
    (week 4's `pretrain-checkpoints`: GPTs under any keys, one tokenizer) gives one per checkpoint.
    """
    from llmcourse.evaluation.lm import CourseGPTLM

    out = {}
    for name, art in artifacts.items():
        if not isinstance(art, dict):
            continue
        tok = art.get("tokenizer")
        if tok is None:
            continue
        if isinstance(art.get("model"), torch.nn.Module):
            out[name] = CourseGPTLM(art["model"], tok, name=name, batch_size=64)
            continue
        for key, value in sorted(art.items()):
            if isinstance(value, torch.nn.Module) and hasattr(value, "config"):
                out[f"{name}/{key}"] = CourseGPTLM(value, tok, name=f"{name}/{key}", batch_size=64)
    return out
