"""The same task with trl's GRPO and RLOO trainers, on the same model, for a side-by-side.

trl (1.x) has no PPO trainer any more; its on-policy methods drop the value head:

* **GRPO** (Shao et al., 2024): sample G responses per prompt; each response's advantage is
  its reward minus the group's mean, divided by the group's std. PPO's clipped ratio and
  an optional k3 KL penalty (beta) to the reference.
* **RLOO** (Ahmadian et al., 2024): REINFORCE with a leave-one-out baseline: a response's
  advantage is its reward minus the mean reward of the *other* G - 1 responses.

The course GPT runs in trl as the Hugging Face `LlamaForCausalLM` it exports to (`to_hf()`,
equal logits), with its tokenizer rebuilt as a Hugging Face fast tokenizer
(`course_tokenizer_to_hf`, equal ids). Generation inside trl uses transformers' sampler.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Sequence

from llmcourse.assets.registry import require

__all__ = ["course_tokenizer_to_hf", "run_trl"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to printable characters (byte-level BPE's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def course_tokenizer_to_hf(tok):
    """The course tokenizer (regex split + byte-level BPE + specials) as a transformers fast tokenizer.

    Vocabulary and merges are written in GPT-2's byte-to-character alphabet, the split regex
    becomes an `isolated` Split pre-tokenizer; encodings equal the course tokenizer's.
    """
    tokenizers = require("tokenizers", "tokenizers")
    transformers = require("transformers")
    if list(getattr(tok, "byte_ids", range(256))) != list(range(256)):
        raise ValueError("only tokenizers whose bytes are ids 0..255 (the course's own) can be converted")
    b2u = _bytes_to_unicode()

    def as_str(token: bytes) -> str:
        return "".join(b2u[b] for b in token)

    vocab = {as_str(tok.vocab[i]): i for i in tok.vocab if i not in tok.inverse_special_tokens}
    merges = [(as_str(tok.vocab[a]), as_str(tok.vocab[b])) for (a, b), _ in sorted(tok.merges.items(), key=lambda kv: kv[1])]
    backend = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Sequence([
        tokenizers.pre_tokenizers.Split(tokenizers.Regex(tok.pattern), behavior="isolated"),
        tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = tokenizers.decoders.ByteLevel()
    specials = sorted(tok.special_tokens.items(), key=lambda kv: kv[1])
    backend.add_special_tokens([tokenizers.AddedToken(s, special=True) for s, _ in specials])
    for s, i in specials:
        if backend.token_to_id(s) != i:
            raise ValueError(f"special token {s!r} got id {backend.token_to_id(s)}, expected {i}")
    kw = {}
    if "<|endoftext|>" in tok.special_tokens:
        kw["eos_token"] = "<|endoftext|>"
    if "<|pad|>" in tok.special_tokens:
        kw["pad_token"] = "<|pad|>"
    return transformers.PreTrainedTokenizerFast(tokenizer_object=backend, **kw)


def run_trl(method: str, model, tokenizer, prompts: Sequence[str], metas: Sequence[str],
            reward_fn: Callable[[list[str], list[str]], list[float]], steps: int, *, batch_size: int = 16,
            num_generations: int = 4, max_completion_length: int = 16, lr: float = 1e-4, beta: float = 0.05,
            temperature: float = 1.0, seed: int = 0, out_dir: str = "/tmp/llmcourse-trl") -> dict:
    """Train `model` with trl's GRPO or RLOO on the prompts; returns {"rewards", "kl", "seconds", "trainer"}.

    `reward_fn(completions, metas)` is the same function PPO uses; each step sees
    batch_size completions (batch_size / num_generations prompts, num_generations each).
    """
    trl = require("trl", "trl")
    datasets = require("datasets", "datasets")
    if method not in ("grpo", "rloo"):
        raise ValueError(f"method must be 'grpo' or 'rloo', got {method!r}")
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
