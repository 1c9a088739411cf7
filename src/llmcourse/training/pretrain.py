"""Pre-training on token shards: causal LM (the course GPT) or masked LM (BERT), one process or many.

    python -m llmcourse.training.pretrain --model gpt --preset smoke --out runs/gpt
    torchrun --nproc_per_node=2 -m llmcourse.training.pretrain --model gpt --preset smoke --out runs/ddp
    llmcourse pretrain --model bert --preset laptop --out runs/bert --resume

Each optimiser step reads this rank's slice of the step's global batch from the shards
(`llmcourse.data.make_loader`), runs `train_step` (micro-batches with gradient
accumulation, autocast, a GradScaler for fp16, clipping), steps a warmup + cosine
schedule, and appends a line to `DIR/metrics.jsonl`: step, loss, lr, grad norm, tokens/s
and MFU (plus val_loss every `eval_every` steps). Every `ckpt_every` steps it writes an
atomic checkpoint with the model, optimiser, scheduler, scaler, the data position and
every RNG state; `--resume` continues from the newest intact one and, on CPU, logs the
same loss at every later step as a run that was never interrupted. A resume whose
config, tokenizer or data differ from the checkpoint's is refused, naming the difference.

The masked LM masks each micro-batch with BERT's 80/10/10 rule from a generator seeded by
(seed, step, rank, micro-batch): nothing about masking needs saving to resume exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

__all__ = ["PRESETS", "PretrainConfig", "PretrainResult", "build_model", "course_shards", "make_config", "pretrain",
           "recipe_val_loss", "reference_pretrain_shards", "tuned_recipe"]

from llmcourse.training.presets import PRESETS, RUN_ONLY, PretrainConfig, make_config  # noqa: E402

# ----------------------------------------------------------------------------- data
def course_shards(config: PretrainConfig, say=print, profile: str | None = None) -> Path:
    """The course text (Shakespeare + seven languages) tokenised with the course tokenizer, in the cache.

    `profile` picks whose course tokenizer (default: the running profile's).
    """
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.assets.registry import asset_dir
    from llmcourse.data.shards import read_manifest, tokenizer_fingerprint, write_shards
    from llmcourse.models.course import course_text, reference_course_tokenizer

    if config.tokenizer == "gpt2":
        from llmcourse.assets.tiktoken_files import get_encoding

        tok = get_encoding("gpt2")
    else:
        tok = load_artifact("course-tokenizer", fallback=lambda: reference_course_tokenizer(profile), profile=profile,
                            quiet=True)
    fp = tokenizer_fingerprint(tok).replace(":", "-")
    folder = asset_dir("data", "course-shards", f"{fp}-{config.data_chars}")
    try:
        read_manifest(folder)
        return folder
    except Exception:
        pass
    say(f"[pretrain] tokenising the course text ({config.data_chars:,} characters per source) into {folder}")
    docs = []
    for text in course_text(config.data_chars).values():  # ~2,000-character documents, split on lines
        chunk = []
        size = 0
        for line in text.split("\n"):
            chunk.append(line)
            size += len(line) + 1
            if size >= 2000:
                docs.append("\n".join(chunk))
                chunk, size = [], 0
        if chunk:
            docs.append("\n".join(chunk))
    write_shards(docs, tok, folder, val_fraction=0.1, progress=False, extra={"source": "course text"})
    return folder


def reference_pretrain_shards():
    """Shards of the course text with the course tokenizer (what 4.3 uses when 4.1 has not run)."""
    from llmcourse.data.shards import ShardSet

    return ShardSet(course_shards(make_config(_profile_preset(), data_chars=None)))


def _profile_preset() -> str:
    from llmcourse.config import pick_profile

    return {"cluster": "colab"}.get(pick_profile()[0], pick_profile()[0])


# ----------------------------------------------------------------------------- model
def build_model(config: PretrainConfig, vocab_size: int) -> torch.nn.Module:
    """The course GPT (Llama-style), GPT-2 124M (cluster), or a BERT with one extra id for <mask>."""
    vocab = max(config.vocab_size or vocab_size, vocab_size)
    context = max(config.context or config.block_size, config.block_size)
    if config.model == "bert":
        from llmcourse.models.bert import BERT, BertConfig

        return BERT(BertConfig(vocab_size=vocab + 1, block_size=config.block_size, n_layer=config.n_layer,
                               n_head=config.n_head, n_embd=config.n_embd, n_segments=0, pad_id=-1,
                               attn_impl="sdpa"))
    from llmcourse.models.gpt import GPT, GPTConfig

    if config.style == "gpt2":
        return GPT(GPTConfig(vocab_size=vocab, block_size=context, n_layer=config.n_layer,
                             n_head=config.n_head, n_embd=config.n_embd, attn_impl="sdpa"))
    return GPT(GPTConfig.llama_style(vocab_size=vocab, block_size=context, n_layer=config.n_layer,
                                     n_head=config.n_head, n_kv_head=config.n_kv_head, n_embd=config.n_embd,
                                     attn_impl="sdpa"))


def _loss_fn(config: PretrainConfig, vocab: int, eot: int):
    if config.model == "gpt":
        def gpt_loss(model, batch):
            x, y, _ = batch
            return model(x, y)[1]
        return gpt_loss
    from llmcourse.models.bert import mask_tokens

    mask_id = vocab  # the extra id past the tokenizer's vocabulary

    def mlm_loss(model, batch):
        x, _, seed = batch
        g = torch.Generator().manual_seed(seed)
        inputs, labels = mask_tokens(x.cpu(), mask_id, vocab + 1, (eot, mask_id), config.mask_prob, g)
        return model(inputs.to(x.device), labels=labels.to(x.device))[1]
    return mlm_loss


# ----------------------------------------------------------------------------- the run
@dataclass
class PretrainResult:
    out: Path
    model: torch.nn.Module
    steps: int
    final_loss: float
    val_loss: float | None
    tokens_per_s: float
    mfu: float
    peak: str
    metrics: list[dict] = field(default_factory=list)
    resumed_from: int | None = None


def _metrics_path(out: Path) -> Path:
    return out / "metrics.jsonl"


def _truncate_metrics(out: Path, step: int) -> None:
    """Keep only the metrics lines of steps <= `step` (a resumed run rewrites what came after)."""
    path = _metrics_path(out)
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)


def _differences(saved: dict, now: dict) -> list[str]:
    return [f"{k}: checkpoint {saved.get(k)!r}, this run {now.get(k)!r}" for k in sorted(set(saved) | set(now))
            if saved.get(k) != now.get(k)]


def pretrain(config: PretrainConfig, out: str | os.PathLike, resume: bool = False, say=print,
             stop_after: int | None = None) -> PretrainResult:
    """Run (or resume) pre-training into folder `out`; returns the trained model and its numbers.

    `stop_after` ends this invocation after that many steps (the schedule still spans
    config.steps): how a notebook runs a long schedule in parts.
    """
    from llmcourse.data.loader import make_loader
    from llmcourse.data.shards import TokenShardDataset
    from llmcourse.training.accumulate import train_step
    from llmcourse.training.checkpoint import (CheckpointError, capture_rng_state, checkpoint_files,
                                               load_latest_checkpoint, restore_rng_state, save_checkpoint)
    from llmcourse.training.distributed import (all_reduce_mean, check_batch_layout, init_distributed, unwrap,
                                                wrap_model)
    from llmcourse.training.loop import make_optimizer
    from llmcourse.training.mfu import flops_per_token, peak_flops
    from llmcourse.training.precision import grad_scaler
    from llmcourse.training.schedule import cosine_schedule

    info = init_distributed()
    out = Path(out)
    log = say if info.is_main else (lambda *_: None)
    accum, micro_batch = check_batch_layout(config.batch_size, config.micro_batch, info.world_size)
    if config.precision == "fp16" and not info.device.startswith("cuda"):
        log("[pretrain] fp16 with a grad scaler is meant for GPUs; on CPU it runs, slowly (bf16 is the CPU choice)")
    # data: rank 0 builds the course shards if needed, the others wait for it
    if config.data:
        data_dir = Path(config.data)
    else:
        if config.preset == "cluster":
            raise ValueError("the cluster preset trains on FineWeb-Edu shards: prepare them with `llmcourse "
                             "pretrain-data --source fineweb-edu --tokenizer gpt2 --out DIR` and pass --data DIR")
        data_dir = course_shards(config, log) if info.is_main else None
        if info.distributed:
            import torch.distributed as dist

            box = [str(data_dir) if data_dir else None]
            dist.broadcast_object_list(box, src=0)
            data_dir = Path(box[0])
    train_ds = TokenShardDataset(data_dir, config.block_size, "train")
    val_ds = TokenShardDataset(data_dir, config.block_size, "val", verify=False)
    vocab = train_ds.vocab_size
    eot = int(train_ds.manifest["eot_id"])
    facts = {"config": config.comparable(), "tokenizer": train_ds.tokenizer,
             "data_tokens": train_ds.manifest["tokens"]}

    torch.manual_seed(config.seed)
    raw = build_model(config, vocab).to(info.device)
    model = wrap_model(raw, info, fsdp=config.fsdp)
    optimizer = make_optimizer(model, config.lr, config.weight_decay)
    scheduler = cosine_schedule(optimizer, config.steps, config.warmup, config.min_lr_ratio)
    scaler = grad_scaler(info.device, config.precision)
    start = 0
    resumed_from = None
    if resume:
        try:
            state, meta, path = load_latest_checkpoint(out, say=log)
        except CheckpointError as err:
            raise CheckpointError(f"--resume: {err}") from None
        diff = _differences(meta.get("config", {}), facts["config"])
        if meta.get("tokenizer") != facts["tokenizer"]:
            diff.append(f"tokenizer: checkpoint {meta.get('tokenizer')}, this run {facts['tokenizer']}")
        if meta.get("data_tokens") != facts["data_tokens"]:
            diff.append(f"data: checkpoint {meta.get('data_tokens')} tokens, this run {facts['data_tokens']}")
        if diff:
            raise ValueError(f"--resume refused: {out} was trained with a different setup: " + "; ".join(diff) +
                             ". Resume with the same flags, or start a new run in another --out folder")
        _load_state(model, optimizer, state, config.fsdp)
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        start = resumed_from = int(state["step"])
        if info.is_main:
            _truncate_metrics(out, start)
        log(f"[pretrain] resumed from {path.name} (step {start})")
    elif checkpoint_files(out):
        raise ValueError(f"{out} already holds checkpoints of a run: pass --resume to continue it, or choose "
                         "another --out folder (nothing there was changed)")
    elif info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        _metrics_path(out).write_text("")
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))

    loader = make_loader(train_ds, config.batch_size, seed=config.seed, start_step=start, steps=config.steps,
                         rank=info.rank, world_size=info.world_size, num_workers=config.num_workers)
    step_model = torch.compile(model) if config.compile else model
    loss_fn = _loss_fn(config, vocab, eot)
    fpt = flops_per_token(raw, config.block_size)
    peak, peak_how = peak_flops(info.device, config.precision)
    tokens_per_step = config.batch_size * config.block_size
    val_batches = _val_batches(val_ds, config)
    last = config.steps if stop_after is None else min(config.steps, start + stop_after)
    metrics, tps_hist, val_loss, loss = [], [], None, float("nan")
    from tqdm.auto import tqdm

    bar = tqdm(total=last - start, desc=f"pretrain {config.model}", disable=not (config.progress and info.is_main),
               mininterval=0.5)
    it = iter(loader)
    model.train()
    for step in range(start, last):
        t0 = time.perf_counter()
        x, y = next(it)
        x, y = x.to(info.device, non_blocking=True), y.to(info.device, non_blocking=True)
        micro = [(x[i:i + micro_batch], y[i:i + micro_batch],
                  config.seed * 1_000_003 + step * 1009 + info.rank * 101 + j)
                 for j, i in enumerate(range(0, len(x), micro_batch))]
        assert len(micro) == accum
        loss, norm, stepped = train_step(step_model, optimizer, micro, loss_fn, device=info.device,
                                         precision=config.precision, scaler=scaler, grad_clip=config.grad_clip)
        lr = scheduler.get_last_lr()[0]
        scheduler.step()
        loss = all_reduce_mean(loss, info)
        if info.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        tps = tokens_per_step / dt
        tps_hist.append(tps)
        row = {"step": step + 1, "loss": loss, "lr": lr, "grad_norm": norm, "tokens_per_s": round(tps, 1),
               "mfu": round(fpt * tps / (peak * info.world_size), 6)}
        if not stepped:
            row["skipped"] = True  # fp16: the scaler found inf/NaN gradients and skipped the step
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            val_loss = _evaluate(step_model, val_batches, loss_fn, info, config)
            row["val_loss"] = val_loss
        if config.hellaswag_every and (step + 1) % config.hellaswag_every == 0:
            row["hellaswag"] = _hellaswag(raw, config, info, log)
        if info.is_main:
            with open(_metrics_path(out), "a") as fh:
                fh.write(json.dumps(row) + "\n")
        metrics.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tps:,.0f}")
        if (config.ckpt_every and (step + 1) % config.ckpt_every == 0) or step + 1 == last:
            state = {"step": step + 1, **_full_state(model, optimizer, config.fsdp),
                     "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                     "data": {"next_step": step + 1, "epoch": loader.batch_sampler.epoch_of(step + 1),
                              "seed": config.seed}, "rng": capture_rng_state()}
            if info.is_main:
                save_checkpoint(out, step + 1, state, meta={**facts, "world_size": info.world_size},
                                keep=config.keep_checkpoints)
    bar.close()
    if info.distributed or config.fsdp:  # what each rank held: parameters, gradients, optimiser state
        from llmcourse.training.distributed import model_state_bytes

        (out / "ranks").mkdir(parents=True, exist_ok=True)
        (out / "ranks" / f"rank_{info.rank}.json").write_text(json.dumps(
            {"rank": info.rank, "world_size": info.world_size, "fsdp": config.fsdp,
             "state_bytes": model_state_bytes(model, optimizer)}))
    steady = tps_hist[len(tps_hist) // 5:] or tps_hist  # skip the warm-up steps
    tps_mean = sum(steady) / len(steady) if steady else 0.0
    if info.is_main and last == config.steps and config.model == "gpt":
        unwrap(raw).save(out / "model") if not config.fsdp else None
    return PretrainResult(out, unwrap(raw), last, loss, val_loss, tps_mean,
                          fpt * tps_mean / (peak * info.world_size) if tps_mean else 0.0, peak_how, metrics,
                          resumed_from)


def _val_batches(val_ds, config: PretrainConfig) -> list[tuple]:
    n = min(len(val_ds), config.eval_batches * config.micro_batch)
    rows = [val_ds[i] for i in range(n)]
    out = []
    for j, i in enumerate(range(0, n, config.micro_batch)):
        xs, ys = zip(*rows[i:i + config.micro_batch])
        out.append((torch.stack(xs), torch.stack(ys), 7_777_777 + j))  # fixed masks for the MLM
    return out


@torch.no_grad()
def _evaluate(model, batches, loss_fn, info, config: PretrainConfig) -> float:
    from llmcourse.training.precision import autocast

    model.eval()
    losses = []
    for x, y, seed in batches:
        with autocast(info.device, config.precision):
            losses.append(float(loss_fn(model, (x.to(info.device), y.to(info.device), seed))))
    model.train()
    return sum(losses) / max(1, len(losses))


def _full_state(model, optimizer, fsdp: bool) -> dict:
    """Model and optimiser state dicts, gathered whole on every rank under FSDP."""
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        m, o = get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {"model": m, "optimizer": o}
    from llmcourse.training.distributed import unwrap

    return {"model": {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()},
            "optimizer": optimizer.state_dict()}


def _load_state(model, optimizer, state: dict, fsdp: bool) -> None:
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
                       options=StateDictOptions(full_state_dict=True))
        return
    from llmcourse.training.distributed import unwrap

    unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])


def _hellaswag(model, config, info, log) -> float | None:
    try:
        from llmcourse.training.hellaswag import hellaswag_accuracy

        return hellaswag_accuracy(model, limit=None if config.preset == "cluster" else 100, device=info.device)
    except Exception as err:  # the Hub unreachable: train on, say why once
        log(f"[pretrain] HellaSwag skipped ({type(err).__name__}: {err})")
        config.hellaswag_every = 0
        return None


from llmcourse.training.recipes import course_recipe, recipe_val_loss, tuned_recipe  # noqa: E402,F401


# ----------------------------------------------------------------------------- command line
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=["gpt", "bert"], default="gpt")
    p.add_argument("--preset", choices=list(PRESETS), default="smoke")
    p.add_argument("--out", required=True, help="run folder: metrics.jsonl, checkpoints, final model")
    p.add_argument("--max-steps", type=int, help="total optimiser steps (the schedule spans them)")
    p.add_argument("--resume", action="store_true", help="continue from the newest intact checkpoint in --out")
    p.add_argument("--ckpt-every", type=int, help="steps between checkpoints")
    p.add_argument("--eval-every", type=int)
    p.add_argument("--data", help="token shard folder (default: the course text, tokenised into the cache)")
    p.add_argument("--batch-size", type=int, help="sequences per step, all ranks together")
    p.add_argument("--micro-batch", type=int, help="sequences per forward pass per rank")
    p.add_argument("--lr", type=float)
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--seed", type=int)
    p.add_argument("--num-workers", type=int)
    p.add_argument("--fsdp", action="store_true", help="shard parameters, gradients and optimiser state (FSDP2)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPUs)")
    p.add_argument("--no-progress", action="store_true")


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    return make_config(args.preset, args.model, steps=args.max_steps, ckpt_every=args.ckpt_every,
                       eval_every=args.eval_every, data=args.data, batch_size=args.batch_size,
                       micro_batch=args.micro_batch, lr=args.lr, precision=args.precision, seed=args.seed,
                       num_workers=args.num_workers, fsdp=args.fsdp or None, compile=args.compile or None,
                       progress=False if args.no_progress else None)


def run_from_args(args: argparse.Namespace) -> int:
    from llmcourse.training.distributed import cleanup_distributed, init_distributed

    config = config_from_args(args)
    try:
        res = pretrain(config, args.out, resume=args.resume)
        if init_distributed().is_main:
            print(f"[pretrain] {res.steps} steps; loss {res.final_loss:.4f}"
                  + (f", val {res.val_loss:.4f}" if res.val_loss is not None else "")
                  + f"; {res.tokens_per_s:,.0f} tokens/s, MFU {res.mfu:.2%} ({res.peak}); {res.out}")
        return 0
    finally:
        cleanup_distributed()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llmcourse.training.pretrain", description=__doc__.split("\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_from_args(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"pretrain: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
