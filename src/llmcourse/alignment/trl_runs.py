"""The same task with trl's GRPO and RLOO trainers, on the same model, for a side-by-side.

trl (1.x) has no PPO trainer any more; its on-policy methods drop the value head:

* **GRPO** (Shao et al., 2024): sample G responses per prompt; each response's advantage is
  its reward minus the group's mean, divided by the group's std. PPO's clipped ratio and
  an optional k3 KL penalty (beta) to the reference.
* **RLOO** (Ahmadian et al., 2024): REINFORCE with a leave-one-out baseline: a response's
  advantage is its reward minus the mean reward of the *other* G - 1 responses.

The course GPT runs in trl as the Hugging Face `LlamaForCausalLM` it exports to (`to_hf()`,
equal logits), with its tokenizer rebuilt as a Hugging Face fast tokenizer
(`llmcourse.tokenization.course_tokenizer_to_hf`, equal ids). Generation inside trl uses
transformers' sampler.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from contextlib import nullcontext
from typing import Callable, Sequence

from llmcourse.assets.registry import require

__all__ = ["run_trl"]


def run_trl(method: str, model, tokenizer, prompts: Sequence[str], metas: Sequence[str],
            reward_fn: Callable[[list[str], list[str]], list[float]], steps: int, *, batch_size: int = 16,
            num_generations: int = 4, max_completion_length: int = 16, lr: float = 1e-4, beta: float = 0.05,
            temperature: float = 1.0, seed: int = 0, out_dir: str | None = None) -> dict:
    """Train `model` with trl's GRPO or RLOO on the prompts; returns {"rewards", "kl", "seconds", "trainer"}.

    `reward_fn(completions, metas)` is the same function PPO uses; each step sees
    batch_size completions (batch_size / num_generations prompts, num_generations each).
    `out_dir` holds the model trl reloads and its outputs; by default a fresh temporary folder
    per run (two runs never share one), removed when the run ends.
    """
    logging.getLogger("torchao").setLevel(logging.ERROR)  # its CUDA kernels fail to load on a CPU: noise
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
    trl = require("trl", "trl")
    if method not in ("grpo", "rloo"):
        raise ValueError(f"method must be 'grpo' or 'rloo', got {method!r}")
    datasets = require("datasets", "datasets")
    folder = tempfile.TemporaryDirectory(prefix=f"llmcourse-{method}-") if out_dir is None else nullcontext(out_dir)
    with folder as out_dir:  # the model trl reloads, and its outputs
        data = datasets.Dataset.from_dict({"prompt": list(prompts), "meta": list(metas)})
        if not isinstance(model, str):  # trl builds its reference copy from a path: save the model there
            base = os.path.join(out_dir, "base")
            model.save_pretrained(base)
            tokenizer.save_pretrained(base)
            model = base

        def reward(prompts, completions, meta, **_):  # trl passes the dataset's columns by name
            return [float(r) for r in reward_fn(list(completions), list(meta))]

        common = dict(output_dir=os.path.join(out_dir, method), per_device_train_batch_size=batch_size,
                      num_generations=num_generations, max_completion_length=max_completion_length,
                      learning_rate=lr, beta=beta, temperature=temperature, max_steps=steps, logging_steps=1,
                      report_to="none", use_cpu=True, seed=seed, save_strategy="no", bf16=False,
                      disable_tqdm=True)
        if method == "grpo":
            args = trl.GRPOConfig(**common)
            trainer = trl.GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=data,
                                      processing_class=tokenizer)
        else:
            args = trl.RLOOConfig(**common)
            trainer = trl.RLOOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=data,
                                      processing_class=tokenizer)
        transformers = require("transformers")
        trainer.remove_callback(transformers.PrinterCallback)  # the notebook shows curves, not log dicts
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
        logs = [r for r in trainer.state.log_history if "reward" in r]
        step_times = [float(r["step_time"]) for r in logs if "step_time" in r]
        timed = sum(step_times) if step_times else seconds
        return {"rewards": [float(r["reward"]) for r in logs], "kl": [float(r.get("kl", float("nan"))) for r in logs],
                "seconds": seconds, "steps_per_second": len(logs) / timed if timed else float("nan"),
                "trainer": trainer}
