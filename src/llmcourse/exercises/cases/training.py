"""Exercises of notebooks 4.2 and 4.3 (training infrastructure, pre-training): gradient accumulation,
learning-rate scaling, dynamic loss scaling, FLOPs per token, atomic checkpoints, a pre-training recipe.

Oracles: torch autograd on the whole batch (accumulation), torch.amp.GradScaler (loss scaling),
torch.utils.flop_counter.FlopCounterMode (FLOPs), torch.load(weights_only=True) after a simulated
crash (checkpoints), a validation-loss threshold (the recipe).
"""

from __future__ import annotations

import math

import torch

from llmcourse.exercises.registry import Case, exercise


def _tiny(seed: int = 0):
    from llmcourse.models.gpt import GPT, GPTConfig

    torch.manual_seed(seed)
    return GPT(GPTConfig.llama_style(vocab_size=40, block_size=12, n_layer=2, n_head=2, n_kv_head=1, n_embd=16))


def _gpt_loss(model, batch):
    return model(batch[0], batch[1])[1]


# ----------------------------------------------------------------------------- accumulation


def _acc_no_divide(model, micro_batches, loss_fn):
    model.zero_grad(set_to_none=True)
    for b in micro_batches:
        loss_fn(model, b).backward()
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def _acc_zero_each(model, micro_batches, loss_fn):
    for b in micro_batches:
        model.zero_grad(set_to_none=True)
        (loss_fn(model, b) / len(micro_batches)).backward()
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def _acc_last_only(model, micro_batches, loss_fn):
    model.zero_grad(set_to_none=True)
    loss_fn(model, micro_batches[-1]).backward()
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


@exercise("training.accumulate", difficulty=1, minutes=15,
          reference="llmcourse.training.accumulate:accumulated_gradients",
          wrong={"loss not divided by k": _acc_no_divide, "zero_grad inside the loop": _acc_zero_each,
                 "only the last micro-batch": _acc_last_only},
          hint="model.zero_grad() once; for each micro-batch: (loss_fn(model, batch) / k).backward(); "
               "return [p.grad.clone() for p in model.parameters() if p.grad is not None]")
def _accumulate():
    x = torch.randint(0, 40, (8, 13), generator=torch.Generator().manual_seed(0))
    for k in (2, 4):
        def same_as_big_batch(fn, k=k):
            model = _tiny()
            model.zero_grad()
            _gpt_loss(model, (x[:, :-1], x[:, 1:])).backward()  # the oracle: autograd on the whole batch
            want = [p.grad.clone() for p in model.parameters()]
            size = 8 // k
            got = fn(model, [(x[i:i + size, :-1], x[i:i + size, 1:]) for i in range(0, 8, size)], _gpt_loss)
            assert len(got) == len(want), f"expected {len(want)} gradients (one per parameter), got {len(got)}"
            for g, w in zip(got, want):
                if not torch.allclose(g, w, atol=1e-6, rtol=1e-5):
                    raise AssertionError(f"accumulated gradient differs from the big batch's by "
                                         f"{(g - w).abs().max().item():.2e} (x{(g.norm() / w.norm()).item():.2f})")

        yield Case(f"{k} micro-batches equal one batch of 8", test=same_as_big_batch)


# ----------------------------------------------------------------------------- LR scaling


def _lr_swapped(base_lr, base_batch, batch, rule="sqrt"):
    r = batch / base_batch
    return base_lr * (math.sqrt(r) if rule == "linear" else r)


def _lr_inverted(base_lr, base_batch, batch, rule="sqrt"):
    r = base_batch / batch
    return base_lr * (r if rule == "linear" else math.sqrt(r))


@exercise("training.scaled_lr", difficulty=1, minutes=5, reference="llmcourse.training.schedule:scaled_lr",
          wrong={"linear and sqrt swapped": _lr_swapped, "ratio upside down": _lr_inverted},
          hint="ratio = batch / base_batch; linear: base_lr * ratio; sqrt: base_lr * sqrt(ratio)")
def _scaled_lr():
    for base_lr, b0, b in ((3e-4, 32, 128), (1e-3, 64, 16), (6e-4, 512, 512)):
        for rule in ("linear", "sqrt"):
            ratio = b / b0
            yield Case(f"{rule} {b0} -> {b}", args=(base_lr, b0, b, rule),
                       expected=base_lr * (ratio if rule == "linear" else ratio ** 0.5), atol=1e-12, rtol=1e-9)


# ----------------------------------------------------------------------------- loss scaling (stretch of 4.2)


class _NoSkip:
    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        from llmcourse.training.precision import LossScaler

        self.inner = LossScaler(init_scale, growth_factor, backoff_factor, growth_interval)

    def scale(self, loss):
        return self.inner.scale(loss)

    def step(self, optimizer):
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.mul_(1.0 / self.inner.scale_value)
        optimizer.step()  # steps even on inf/NaN gradients
        return True

    def update(self):
        self.inner.found_inf = False
        self.inner.update()

    def get_scale(self):
        return self.inner.get_scale()


class _NoUnscale(_NoSkip):
    def step(self, optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        self.inner.found_inf = not all(torch.isfinite(g).all() for g in grads)
        if not self.inner.found_inf:
            optimizer.step()  # the gradients are still S times too large
        return not self.inner.found_inf

    def update(self):
        self.inner.update()


class _GrowEveryStep(_NoSkip):
    def step(self, optimizer):
        return self.inner.step(optimizer)

    def update(self):
        if self.inner.found_inf:
            self.inner.scale_value *= self.inner.backoff_factor
        else:
            self.inner.scale_value *= self.inner.growth_factor


@exercise("training.loss_scaler", difficulty=3, minutes=40, stretch=True,
          reference="llmcourse.training.precision:LossScaler",
          wrong={"never skips a step": _NoSkip, "does not unscale before stepping": _NoUnscale,
                 "grows the scale after every clean step": _GrowEveryStep},
          hint="scale(loss) = loss * S; step: multiply every grad by 1/S, check torch.isfinite on all of them, "
               "call optimizer.step() only if all are finite; update: on overflow S *= backoff and reset the "
               "clean-step count, else count it and S *= growth when it reaches growth_interval")
def _loss_scaler():
    x = torch.randint(0, 40, (4, 13), generator=torch.Generator().manual_seed(1))
    blowups = {2, 3, 7}  # steps whose loss we make infinite (an fp16 overflow)

    def same_as_grad_scaler(cls):
        models = [_tiny(3), _tiny(3)]
        opts = [torch.optim.SGD(m.parameters(), lr=0.05) for m in models]
        ours = cls(init_scale=2.0 ** 10, growth_factor=2.0, backoff_factor=0.5, growth_interval=3)
        theirs = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_factor=2.0, backoff_factor=0.5,
                                      growth_interval=3)
        for step in range(10):
            for model, opt, scaler in zip(models, opts, (ours, theirs)):
                opt.zero_grad()
                loss = _gpt_loss(model, (x[:, :-1], x[:, 1:]))
                if step in blowups:
                    loss = loss * float("inf")
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            if float(ours.get_scale()) != float(theirs.get_scale()):
                raise AssertionError(f"after step {step} the scale is {ours.get_scale()}, GradScaler's "
                                     f"{theirs.get_scale()}")
            for a, b in zip(models[0].parameters(), models[1].parameters()):
                if not torch.allclose(a, b, atol=1e-6, equal_nan=False):
                    raise AssertionError(f"after step {step} the weights differ from GradScaler's "
                                         f"(max {(a - b).abs().max().item():.2e}; NaN means a step on inf gradients)")

    yield Case("10 steps with 3 overflows, against torch.amp.GradScaler", test=same_as_grad_scaler)


# ----------------------------------------------------------------------------- FLOPs per token (4.3)


def _flops_forward_only(model, seq_len):
    from llmcourse.training.mfu import matmul_params

    c = model.config
    return 2.0 * matmul_params(model) + 4.0 * c.n_layer * seq_len * c.n_embd


def _flops_no_attention(model, seq_len):
    from llmcourse.training.mfu import matmul_params

    return 6.0 * matmul_params(model)


def _flops_embedding_twice(model, seq_len):
    from llmcourse.training.mfu import flops_per_token

    return flops_per_token(model, seq_len) + 6.0 * model.tok_emb.weight.numel()


@exercise("training.flops_per_token", difficulty=2, minutes=15, reference="llmcourse.training.mfu:flops_per_token",
          wrong={"forward only (2N)": _flops_forward_only, "no attention term": _flops_no_attention,
                 "tied embedding counted twice": _flops_embedding_twice},
          hint="6 * N + 12 * n_layer * seq_len * n_embd, with N = sum of p.numel() over model.parameters() "
               "(a tied lm_head is the same tensor as the embedding: count it once)")
def _flops():
    from torch.utils.flop_counter import FlopCounterMode

    from llmcourse.models.gpt import GPT, GPTConfig

    for L, d, T, V in ((2, 64, 64, 256), (3, 96, 128, 200)):
        def close_to_counter(fn, L=L, d=d, T=T, V=V):
            torch.manual_seed(0)
            model = GPT(GPTConfig.llama_style(vocab_size=V, block_size=T, n_layer=L, n_head=4, n_kv_head=4,
                                              n_embd=d, attn_impl="ours"))
            x = torch.randint(0, V, (2, T))
            with FlopCounterMode(display=False) as counter:
                model(x, x)[1].backward()
            measured = counter.get_total_flops() / x.numel()
            got = float(fn(model, T))
            if abs(got - measured) > 0.03 * measured:
                raise AssertionError(f"{got:,.0f} FLOPs per token; torch's FlopCounterMode counts {measured:,.0f} "
                                     f"(forward + backward) — more than 3% apart")

        yield Case(f"L={L} d={d} T={T}: within 3% of FlopCounterMode", test=close_to_counter)


# ----------------------------------------------------------------------------- atomic checkpoint (4.3)


def _save_direct(state, path):
    torch.save(state, path)
    return path


def _save_tmp_left(state, path):
    import os

    tmp = f"{path}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def _save_tmp_only(state, path):
    import os
    from pathlib import Path

    tmp = Path(f"{path}.tmp")
    try:
        torch.save(state, tmp)
    finally:
        if Path(path).exists() and tmp.exists():
            os.remove(tmp)
    return path


class _SimulatedCrash(Exception):
    """The process 'dies' in the middle of torch.save."""


@exercise("training.atomic_save", difficulty=2, minutes=15, reference="llmcourse.training.checkpoint:atomic_torch_save",
          wrong={"torch.save straight onto the file": _save_direct,
                 "temporary file left behind after a crash": _save_tmp_left,
                 "never renamed into place": _save_tmp_only},
          hint="write to a temporary name in the same folder (torch.save to an open file, flush, os.fsync), "
               "then os.replace(tmp, path); in a finally: remove the temporary file if it is still there")
def _atomic():
    import tempfile
    from pathlib import Path

    def round_trip(fn):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ckpt.pt"
            fn({"w": torch.arange(5.0), "step": 3}, path)
            back = torch.load(path, weights_only=True)
            assert torch.equal(back["w"], torch.arange(5.0)) and back["step"] == 3, "what was saved must load back"
            assert sorted(p.name for p in Path(tmp).iterdir()) == ["ckpt.pt"], "leave only the checkpoint file"

    def crash_keeps_old(fn):
        real_save = torch.save

        def crashing_save(obj, f, *a, **k):  # writes half a file, then the process "dies"
            if hasattr(f, "write"):
                f.write(b"PK\x03\x04 half a zip")
            else:
                Path(f).write_bytes(b"PK\x03\x04 half a zip")
            raise _SimulatedCrash("simulated crash while writing")

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ckpt.pt"
            real_save({"step": 1}, path)
            torch.save = crashing_save
            try:
                fn({"step": 2}, path)
            except _SimulatedCrash:
                pass
            finally:
                torch.save = real_save
            try:
                back = torch.load(path, weights_only=True)
            except Exception as err:
                raise AssertionError(f"after a crash mid-write the old checkpoint no longer loads ({err}): "
                                     "write to a temporary file and rename it") from None
            assert back == {"step": 1}, "after a crash the old checkpoint must be intact"
            left = sorted(p.name for p in Path(tmp).iterdir())
            assert left == ["ckpt.pt"], f"a crash left {left}: remove the temporary file (try/finally)"

    yield Case("saves and loads back", test=round_trip)
    yield Case("a crash mid-write keeps the old checkpoint", test=crash_keeps_old)


# ----------------------------------------------------------------------------- stretch of 4.3: a recipe

RECIPE_TARGET = 4.80  # validation loss to reach (the smoke preset's recipe reaches about 4.86)


def _recipe_default():
    from llmcourse.training.recipes import course_recipe

    return course_recipe()


def _recipe_tiny_lr():
    return {"lr": 1e-4, "warmup": 4, "batch_size": 8}


def _recipe_big_batch():
    return {"lr": 3e-3, "warmup": 4, "batch_size": 32}


@exercise("training.pretrain_recipe", difficulty=3, minutes=40, stretch=True,
          reference="llmcourse.training.recipes:tuned_recipe",
          wrong={"the preset's recipe unchanged": _recipe_default, "learning rate 1e-4": _recipe_tiny_lr,
                 "a batch of 32 (4x fewer steps)": _recipe_big_batch},
          hint="with a fixed token budget, smaller batches give more steps; a small model tolerates a higher "
               "learning rate; try a short warmup and less weight decay. Measure with recipe_val_loss")
def _recipe():
    def reaches_target(fn):
        from llmcourse.training.recipes import recipe_val_loss

        recipe = fn()
        assert isinstance(recipe, dict), "return a dict like {'lr': 3e-3, 'warmup': 4, 'batch_size': 8}"
        loss = recipe_val_loss(recipe)
        assert loss <= RECIPE_TARGET, f"validation loss {loss:.3f} with {recipe}; reach {RECIPE_TARGET}"

    yield Case(f"validation loss <= {RECIPE_TARGET} on 20,480 tokens", test=reaches_target)
