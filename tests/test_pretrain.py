"""Pre-training: exact resume after a real kill -9, checkpoints that survive damage, refused resumes,
gradient accumulation equal to the big batch, mixed precision, MFU's FLOP count against torch's counter."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from llmcourse.models.gpt import GPT, GPTConfig

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env():
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1",
               LLMCOURSE_PROFILE="smoke")
    env.pop("WORLD_SIZE", None)
    return env


def _cmd(out, *extra):
    return [sys.executable, "-m", "llmcourse.training.pretrain", "--preset", "smoke", "--out", str(out),
            "--no-progress", *extra]


def _metrics(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The course shards, built once (the runs below then start in seconds)."""
    from llmcourse.training.pretrain import course_shards, make_config

    return course_shards(make_config("smoke"))


def test_resume_after_kill_9_logs_the_same_losses(tmp_path, shards):
    """A run killed with SIGKILL mid-training and resumed logs, at every later step, the loss of a
    run that was never interrupted (bit for bit, on CPU)."""
    steps, every = "30", "5"
    ref = subprocess.run(_cmd(tmp_path / "ref", "--max-steps", steps, "--ckpt-every", every), env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(out, "--max-steps", steps, "--ckpt-every", every), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
        path = out / "metrics.jsonl"
        if path.is_file() and len(path.read_text().splitlines()) >= 12:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up: as a crash or an OOM killer would
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    logged = len(_metrics(out))
    assert 12 <= logged < 30, f"the run should have died mid-way, it logged {logged} steps"
    res = subprocess.run(_cmd(out, "--max-steps", steps, "--ckpt-every", every, "--resume"), env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resumed from step_000000" in res.stdout + res.stderr
    a, b = _metrics(tmp_path / "ref"), _metrics(out)
    assert [r["step"] for r in b] == list(range(1, 31))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]  # exact equality, every step
    assert [r.get("val_loss") for r in a] == [r.get("val_loss") for r in b]


def test_truncated_checkpoint_falls_back_and_refusals(tmp_path, shards, capsys):
    from llmcourse.training.pretrain import make_config, pretrain

    out = tmp_path / "run"
    cfg = make_config("smoke", steps=6, ckpt_every=2, eval_every=6, progress=False)
    pretrain(cfg, out)
    newest = out / "step_00000006.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a crash mid-copy
    res = pretrain(make_config("smoke", steps=6, ckpt_every=2, eval_every=6, progress=False), out, resume=True)
    said = capsys.readouterr().out
    assert "damaged" in said and res.resumed_from == 4 and res.steps == 6
    with pytest.raises(ValueError, match=r"lr: checkpoint 0.003, this run 0.01"):
        pretrain(make_config("smoke", steps=6, ckpt_every=2, lr=1e-2, progress=False), out, resume=True)
    with pytest.raises(ValueError, match="n_layer"):
        pretrain(make_config("smoke", steps=6, ckpt_every=2, n_layer=3, progress=False), out, resume=True)
    with pytest.raises(ValueError, match="already holds checkpoints"):
        pretrain(make_config("smoke", steps=6, progress=False), out)
    before = sorted(p.name for p in out.iterdir())
    assert "step_00000006.pt" in before  # nothing was deleted by the refusals


def test_resume_with_other_tokenizer_is_refused(tmp_path, shards):
    from llmcourse.data.shards import write_shards
    from llmcourse.training.pretrain import make_config, pretrain

    class Bytes:
        vocab_size = 257
        special_tokens = {"<|endoftext|>": 256}

        def encode_ordinary(self, t):
            return list(t.encode())

        def to_dict(self):
            return {"bytes": True}

    other = tmp_path / "bytes"
    write_shards(["some text " * 400, "more words here " * 300] * 10, Bytes(), other, progress=False, val_fraction=0.3)
    out = tmp_path / "run"
    pretrain(make_config("smoke", steps=2, ckpt_every=2, progress=False), out)
    with pytest.raises(ValueError, match="tokenizer: checkpoint RegexTokenizer"):
        pretrain(make_config("smoke", steps=2, ckpt_every=2, data=str(other), progress=False), out, resume=True)


def test_resume_without_checkpoint_and_bad_layout(tmp_path):
    from llmcourse.training.checkpoint import CheckpointError
    from llmcourse.training.distributed import check_batch_layout
    from llmcourse.training.pretrain import make_config, pretrain

    with pytest.raises(CheckpointError, match="nothing to resume"):
        pretrain(make_config("smoke", progress=False), tmp_path / "empty", resume=True)
    with pytest.raises(ValueError, match="divisible by the world size"):
        check_batch_layout(6, 2, 4)
    with pytest.raises(ValueError, match="micro-batch"):
        check_batch_layout(12, 4, 2)
    assert check_batch_layout(8, 8, 2) == (1, 4) and check_batch_layout(32, 4, 2) == (4, 4)


def test_rng_state_round_trip(tmp_path):
    import random

    import numpy as np

    from llmcourse.training.checkpoint import capture_rng_state, restore_rng_state, save_checkpoint
    from llmcourse.training.checkpoint import load_latest_checkpoint

    state = capture_rng_state()
    draws = (random.random(), np.random.rand(), torch.rand(2))
    save_checkpoint(tmp_path, 1, {"rng": state})
    loaded, meta, _ = load_latest_checkpoint(tmp_path)
    restore_rng_state(loaded["rng"])
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert draws[0] == again[0] and draws[1] == again[1] and torch.equal(draws[2], again[2])
    (tmp_path / ".step_00000002.pt.tmp-123").write_bytes(b"half a checkpoint")  # a leftover of a crash
    assert load_latest_checkpoint(tmp_path)[2].name == "step_00000001.pt"


# ----------------------------------------------------------------------------- accumulation, precision
def _tiny(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig.llama_style(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_kv_head=1, n_embd=32))


def test_accumulated_gradients_equal_the_big_batch():
    """k micro-batches of loss/k give the gradient of the big batch. Tolerance: float32 sums of the
    same terms in a different order differ by a few ulps (eps 1.2e-7) times the number of terms
    added, so 1e-6 absolute / 1e-5 relative is ample, while forgetting the 1/k would be off by 4x."""
    from llmcourse.training.accumulate import accumulated_gradients

    model = _tiny()
    x = torch.randint(0, 50, (8, 16), generator=torch.Generator().manual_seed(1))
    loss_fn = lambda m, b: m(b[0], b[1])[1]  # noqa: E731
    big = accumulated_gradients(model, [(x[:, :-1], x[:, 1:])], loss_fn)
    small = accumulated_gradients(model, [(x[i:i + 2, :-1], x[i:i + 2, 1:]) for i in range(0, 8, 2)], loss_fn)
    for g_big, g_acc in zip(big, small):
        torch.testing.assert_close(g_acc, g_big, atol=1e-6, rtol=1e-5)


def test_train_step_bf16_and_fp16_scaler_skips_overflow():
    from llmcourse.training.accumulate import train_step
    from llmcourse.training.precision import grad_scaler

    x = torch.randint(0, 50, (4, 16), generator=torch.Generator().manual_seed(2))
    loss_fn = lambda m, b: m(b[0], b[1])[1]  # noqa: E731
    model = _tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss, norm, stepped = train_step(model, opt, [(x[:, :-1], x[:, 1:])], loss_fn, precision="bf16")
    assert stepped and 2.0 < loss < 6.0
    model = _tiny()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = grad_scaler("cpu", "fp16", init_scale=2.0 ** 127)  # so large the scaled gradients overflow
    res = train_step(model, opt, [(x[:, :-1], x[:, 1:])], loss_fn, precision="fp16", scaler=scaler)
    assert not res.stepped and scaler.get_scale() == 2.0 ** 126
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # a skipped step changes nothing


def test_lr_schedule_and_scaling():
    from llmcourse.training.schedule import cosine_schedule, scaled_lr, warmup_cosine

    assert scaled_lr(1e-3, 32, 128, "linear") == pytest.approx(4e-3)
    assert scaled_lr(1e-3, 32, 128, "sqrt") == pytest.approx(2e-3)
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1) and warmup_cosine(100, 100, 10) == pytest.approx(0.1)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = cosine_schedule(opt, 20, 5, 0.1)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[4] == pytest.approx(2.0) and lrs[0] == pytest.approx(0.4) and lrs[-1] < 0.3


def test_flops_per_token_matches_torch_flop_counter():
    """6N + 12 L T d against torch's FlopCounterMode on a real forward + backward (matmuls and SDPA)."""
    from torch.utils.flop_counter import FlopCounterMode

    from llmcourse.training.mfu import flops_per_token

    torch.manual_seed(0)
    model = GPT(GPTConfig.llama_style(vocab_size=256, block_size=64, n_layer=2, n_head=4, n_kv_head=4, n_embd=64,
                                      attn_impl="ours"))
    x = torch.randint(0, 256, (2, 64))
    with FlopCounterMode(display=False) as counter:
        model(x, x)[1].backward()
    measured = counter.get_total_flops() / x.numel()
    assert measured == pytest.approx(flops_per_token(model, 64), rel=0.03)


def test_peak_flops_is_measured_on_cpu():
    from llmcourse.training.mfu import peak_flops

    peak, how = peak_flops("cpu", "fp32")
    assert peak > 1e8 and "measured" in how


def test_hellaswag_pick_ending_matches_transformers_scoring():
    """pick_ending on our GPT equals the same scoring done with Hugging Face GPT-2's logits (same weights)."""
    import torch.nn.functional as F
    import transformers

    from llmcourse.training.hellaswag import pick_ending

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2,
                                                              n_head=2)).eval()
    ours = GPT.from_hf(hf).eval()

    def encode(text):
        return [ord(c) % 97 for c in text]

    ctx = "The man opens the fridge and"
    for endings in (["takes out milk.", "flies to the moon", "x", "sings a long song about cheese"],
                    ["a", "bb", "ccc", "dddd"]):
        losses = []
        for e in endings:
            ids = encode(ctx) + encode(" " + e)
            logits = hf(torch.tensor([ids[:-1]])).logits[0]
            per = F.cross_entropy(logits, torch.tensor(ids[1:]), reduction="none")
            losses.append(per[-len(encode(" " + e)):].mean().item())
        assert pick_ending(ours, encode, ctx, endings) == min(range(4), key=losses.__getitem__)


def test_cli_bad_input_gets_a_sentence(tmp_path, capsys, shards):
    from llmcourse.cli import main

    assert main(["pretrain", "--preset", "smoke", "--out", str(tmp_path / "none"), "--resume", "--no-progress"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["pretrain", "--preset", "smoke", "--out", str(tmp_path / "x"), "--data", str(tmp_path),
                 "--no-progress"]) == 2
    assert "not a shard folder" in capsys.readouterr().err
    assert main(["pretrain", "--preset", "cluster", "--out", str(tmp_path / "c"), "--no-progress"]) == 2
    assert "pretrain-data --source fineweb-edu" in capsys.readouterr().err
