"""Exercises of notebook 1.1: softmax and the decoding filters, against transformers' processors."""

from __future__ import annotations

import torch

from llmcourse.exercises.registry import Case, exercise


def _logits_cases() -> list[tuple[str, torch.Tensor]]:
    """Random logits plus the awkward ones: ties, a tiny vocabulary, everything -inf but one."""
    g = torch.Generator().manual_seed(0)
    ties = torch.tensor([[2.0, 2.0, 1.0, 1.0, 1.0, 0.5, -1.0, 3.0]])
    one_left = torch.full((1, 10), float("-inf"))
    one_left[0, 3] = 0.7
    return [
        ("random (2, 50)", torch.randn(2, 50, generator=g) * 3),
        ("random (1, 1000)", torch.randn(1, 1000, generator=g)),
        ("ties", ties),
        ("all -inf but one", one_left),
        ("peaked", torch.tensor([[10.0, 0.0, -1.0, 0.5, 0.2]])),
    ]


@exercise("decoding.softmax", hint="subtract the row max before exp (exp(1000) overflows), then divide by the row sum")
def _softmax():
    g = torch.Generator().manual_seed(1)
    for name, x in [("small", torch.randn(3, 7, generator=g)), ("huge logits", torch.tensor([[1000.0, 999.0, 0.0]])),
                    ("temperature 0.5", torch.randn(2, 11, generator=g))]:
        t = 0.5 if "temperature" in name else 1.0
        yield Case(name, args=(x, t), expected=torch.softmax(x / t, dim=-1), atol=1e-6)


@exercise("decoding.top_k_filter", hint="find the k-th largest value with torch.topk; everything strictly below it becomes -inf")
def _top_k():
    from transformers.generation.logits_process import TopKLogitsWarper

    for name, x in _logits_cases():
        for k in (1, 3, 10_000):
            expected = TopKLogitsWarper(top_k=k, min_tokens_to_keep=1)(None, x.clone())
            yield Case(f"{name}, k={k}", args=(x.clone(), k), expected=expected)


@exercise("decoding.top_p_filter",
          hint="sort ascending, cumulative softmax; drop tokens while the mass so far is <= 1 - p; keep the top token")
def _top_p():
    from transformers.generation.logits_process import TopPLogitsWarper

    for name, x in _logits_cases():
        for p in (0.1, 0.5, 0.9, 1.0):
            expected = TopPLogitsWarper(top_p=p, min_tokens_to_keep=1)(None, x.clone())
            yield Case(f"{name}, p={p}", args=(x.clone(), p), expected=expected)


@exercise("decoding.min_p_filter", hint="drop tokens whose probability is below p times the largest probability")
def _min_p():
    from transformers.generation.logits_process import MinPLogitsWarper

    for name, x in _logits_cases():
        for p in (0.05, 0.2, 0.9):
            expected = MinPLogitsWarper(min_p=p, min_tokens_to_keep=1)(None, x.clone())
            yield Case(f"{name}, p={p}", args=(x.clone(), p), expected=expected)


@exercise("decoding.repetition_penalty",
          hint="for each seen token: a positive logit is divided by the penalty, a negative one multiplied")
def _rep():
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 30, generator=g) * 2
    for seen, pen in [([[1, 2, 3]], 1.3), ([[5, 5, 7, 29]], 2.0), ([[0]], 0.8)]:
        seen_t = torch.tensor(seen)
        expected = RepetitionPenaltyLogitsProcessor(penalty=pen)(seen_t, x.clone())
        yield Case(f"seen={seen[0]}, penalty={pen}", args=(x.clone(), seen_t, pen), expected=expected)


@exercise("decoding.greedy", hint="argmax of the last position's logits, append, repeat; stop after EOS")
def _greedy():
    from llmcourse.assets import load_lm

    model, tok = load_lm("tiny", device="cpu")
    for prompt in ["The capital of Indonesia is", "สวัสดีครับ", "Apa kabar"]:
        ids = tok(prompt, return_tensors="pt").input_ids
        expected = model.generate(ids, max_new_tokens=8, do_sample=False)  # the oracle: transformers itself
        yield Case(f"{prompt!r}", args=(model, ids, 8), expected=expected)

    def stops_at_eos(fn):
        ids = tok("Hello", return_tensors="pt").input_ids
        first = model.generate(ids, max_new_tokens=1, do_sample=False)[0, -1].item()
        saved = model.generation_config.eos_token_id
        model.generation_config.eos_token_id = first  # pretend the next token is EOS
        try:
            out = fn(model, ids, 8)
        finally:
            model.generation_config.eos_token_id = saved
        assert out.shape == (1, ids.size(1) + 1), f"should stop right after EOS: got shape {tuple(out.shape)}"

    yield Case("stops after EOS", test=stops_at_eos)
