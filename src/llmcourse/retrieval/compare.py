"""RAG against fine-tuning on the same base model: the pieces 8.3 compares.

* `generate_answer`: greedy decoding of a Hugging Face causal LM (Gemma 3 270M, or the course
  GPT exported with `to_hf()`) through `llmcourse.inference.decoding.greedy`, the course's
  KV-cached decoder on the one sampler.
* `lora_finetune`: LoRA adapters on the attention projections, trained on the corpus text
  (next-token loss). Week 5 builds LoRA from scratch (`llmcourse.finetuning`); until that
  package is there this uses peft's implementation, which week 5 proves equal to its own.
* `evaluate_answers`: exact match, token F1 and citation precision over questions.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from llmcourse.retrieval.rag import answer_in, citation_precision, exact_match, parse_answer, token_f1

__all__ = ["evaluate_answers", "generate_answer", "lora_finetune"]


def generate_answer(model, tokenizer, prompt: str, max_new_tokens: int = 12) -> str:
    """Greedy continuation of `prompt` (text only, special tokens dropped)."""
    from llmcourse.inference.decoding import greedy

    ids = tokenizer(prompt, return_tensors="pt").input_ids
    out = greedy(model, ids, max_new_tokens)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def lora_finetune(model, tokenizer, texts: Sequence[str], steps: int, lr: float = 1e-3, r: int = 16,
                  batch: int = 8, seed: int = 0, progress: bool = False) -> tuple[object, dict]:
    """LoRA (rank r) on q/k/v/o projections, trained on `texts`; returns (model with adapters, stats)."""
    from tqdm.auto import tqdm

    from llmcourse.finetuning import apply_lora  # week 5's LoRA, proven equal to peft

    if not texts:
        raise ValueError("nothing to fine-tune on: no texts")
    model = apply_lora(model, ["q_proj", "k_proj", "v_proj", "o_proj"], r=r, alpha=2 * r)
    how = "llmcourse.finetuning.apply_lora"
    enc = [tokenizer(t, add_special_tokens=True).input_ids + [tokenizer.eos_token_id] for t in texts]
    rng = np.random.default_rng(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    losses, t0 = [], time.perf_counter()
    for _ in tqdm(range(steps), desc="LoRA fine-tune", disable=not progress, mininterval=1.0):
        rows = [enc[i] for i in rng.integers(len(enc), size=batch)]
        width = max(len(r_) for r_ in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id or 0, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r_ in enumerate(rows):
            ids[i, : len(r_)], labels[i, : len(r_)], mask[i, : len(r_)] = torch.tensor(r_), torch.tensor(r_), 1
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    stats = {"seconds": time.perf_counter() - t0, "losses": losses, "lora": how,
             "trainable_params": sum(p.numel() for p in params)}
    return model, stats


def evaluate_answers(answer_fn: Callable[[str], tuple[str, list[str]]], questions) -> dict:
    """Run `answer_fn(question) -> (generated text, sources shown)` on QA items.

    Returns EM, F1, "found" (the answer appears in the reply: `answer_in`), citation precision,
    the share of replies that cite, time per question, and the rows.
    """
    em, f1, found, cites, rows = [], [], [], [], []
    t0 = time.perf_counter()
    for q in questions:
        generated, sources = answer_fn(q.question)
        parsed = parse_answer(generated)
        em.append(exact_match(parsed.text, q.accepted))
        f1.append(token_f1(parsed.text, q.accepted))
        found.append(answer_in(parsed.text, q.accepted))
        cp = citation_precision(parsed.citations, sources, q.accepted) if sources else None
        if cp is not None:
            cites.append(cp)
        rows.append({"question": q.question, "answer": q.answer, "generated": parsed.text, "citations": parsed.citations})
    n = max(1, len(em))
    return {"em": float(np.mean(em)) if em else 0.0, "f1": float(np.mean(f1)) if f1 else 0.0,
            "found": float(np.mean(found)) if found else 0.0,
            "citation_precision": float(np.mean(cites)) if cites else float("nan"),
            "cited_share": len(cites) / n, "seconds_per_question": (time.perf_counter() - t0) / n, "rows": rows}
