"""Exercises of notebook 1.1: softmax, the decoding filters, greedy and beam search.

Oracles: torch.softmax; transformers' logits processors (TopK/TopP/MinP warpers,
RepetitionPenaltyLogitsProcessor); `model.generate` itself for greedy and beam search.
Each exercise also declares the mistakes students make, and the cases catch every one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


# ----------------------------------------------------------------------------- softmax
def _softmax_no_max(logits, temperature=1.0):
    e = (logits / temperature).exp()  # exp(1000) = inf, inf / inf = nan
    return e / e.sum(dim=-1, keepdim=True)


def _softmax_axis0(logits, temperature=1.0):
    z = logits / temperature
    z = z - z.amax(dim=0, keepdim=True)
    return z.exp() / z.exp().sum(dim=0, keepdim=True)  # over the batch, not the vocabulary


def _softmax_times_t(logits, temperature=1.0):
    z = logits * temperature  # multiplies: T < 1 flattens instead of sharpening
    z = z - z.amax(dim=-1, keepdim=True)
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)


@exercise("decoding.softmax", difficulty=1, minutes=10,
          reference="llmcourse.inference.decoding:softmax",
          wrong={"no max-subtraction (exp overflows)": _softmax_no_max, "softmax over the batch axis": _softmax_axis0,
                 "multiplies by the temperature": _softmax_times_t},
          hint="divide by the temperature, subtract the row max before exp (exp(1000) overflows), "
               "then divide by the row sum; every reduction over dim=-1")
def _softmax():
    g = torch.Generator().manual_seed(1)
    for name, x in [("small (3, 7)", torch.randn(3, 7, generator=g)), ("huge logits", torch.tensor([[1000.0, 999.0, 0.0]])),
                    ("temperature 0.5", torch.randn(2, 11, generator=g))]:
        t = 0.5 if "temperature" in name else 1.0
        yield Case(name, args=(x, t), expected=torch.softmax(x / t, dim=-1), atol=1e-6)


# ----------------------------------------------------------------------------- top-k
def _top_k_indices(logits, k):
    keep = torch.topk(logits, min(k, logits.size(-1)), dim=-1).indices  # exactly k: ties with the k-th dropped
    mask = torch.ones_like(logits, dtype=torch.bool).scatter(-1, keep, False)
    return logits.masked_fill(mask, float("-inf"))


def _top_k_no_clamp(logits, k):
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # k > vocabulary: topk raises
    return logits.masked_fill(logits < kth, float("-inf"))


def _top_k_smallest(logits, k):
    kth = torch.topk(logits, min(k, logits.size(-1)), dim=-1, largest=False).values[..., -1:]
    return logits.masked_fill(logits > kth, float("-inf"))  # keeps the k least likely


@exercise("decoding.top_k_filter", difficulty=1, minutes=10,
          reference="llmcourse.inference.sampling:top_k_filter",
          wrong={"drops tokens tied with the k-th": _top_k_indices, "k larger than the vocabulary": _top_k_no_clamp,
                 "keeps the k smallest": _top_k_smallest},
          hint="k = min(k, V); the k-th largest value is torch.topk(logits, k).values[..., -1:]; "
               "everything strictly below it becomes -inf (ties with it stay)")
def _top_k():
    from transformers.generation.logits_process import TopKLogitsWarper

    for name, x in _logits_cases():
        for k in (1, 2, 4, 10_000):
            expected = TopKLogitsWarper(top_k=k, min_tokens_to_keep=1)(None, x.clone())
            yield Case(f"{name}, k={k}", args=(x.clone(), k), expected=expected)


# ----------------------------------------------------------------------------- top-p
def _top_p_one_too_few(logits, p):
    probs, order = logits.softmax(-1).sort(dim=-1, descending=True)
    drop_sorted = probs.cumsum(-1) >= p  # also drops the token that carries the mass past p
    drop_sorted[..., 0] = False
    return logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))


def _top_p_not_unsorted(logits, p):
    sorted_logits, _ = torch.sort(logits, dim=-1)
    drop = sorted_logits.softmax(-1).cumsum(-1) <= 1 - p
    drop[..., -1] = False
    return logits.masked_fill(drop, float("-inf"))  # the mask is in sorted order, the logits are not


def _top_p_on_logits(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1)
    mass = sorted_logits.cumsum(-1) / sorted_logits.sum(-1, keepdim=True)  # logits, not probabilities
    drop = mass <= 1 - p
    drop[..., -1] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))


@exercise("decoding.top_p_filter", difficulty=2, minutes=15,
          reference="llmcourse.inference.sampling:top_p_filter",
          wrong={"keeps one token too few": _top_p_one_too_few, "mask left in sorted order": _top_p_not_unsorted,
                 "cumulative sum of logits, not probabilities": _top_p_on_logits},
          hint="sort ascending, cumulative softmax; drop tokens while the mass so far is <= 1 - p; keep the top "
               "token; scatter the mask back to vocabulary order before masked_fill")
def _top_p():
    from transformers.generation.logits_process import TopPLogitsWarper

    for name, x in _logits_cases():
        for p in (0.1, 0.5, 0.9, 1.0):
            expected = TopPLogitsWarper(top_p=p, min_tokens_to_keep=1)(None, x.clone())
            yield Case(f"{name}, p={p}", args=(x.clone(), p), expected=expected)


# ----------------------------------------------------------------------------- min-p
def _min_p_absolute(logits, p):
    probs = logits.softmax(-1)
    drop = probs < p  # an absolute cut: ignores how confident the model is
    drop.scatter_(-1, logits.argmax(-1, keepdim=True), False)
    return logits.masked_fill(drop, float("-inf"))


def _min_p_on_logits(logits, p):
    drop = logits < p * logits.amax(-1, keepdim=True)  # logits are not probabilities
    return logits.masked_fill(drop, float("-inf"))


@exercise("decoding.min_p_filter", difficulty=1, minutes=10,
          reference="llmcourse.inference.sampling:min_p_filter",
          wrong={"absolute threshold p": _min_p_absolute, "threshold on logits": _min_p_on_logits},
          hint="probs = softmax(logits); drop tokens whose probability is below p times the largest probability")
def _min_p():
    from transformers.generation.logits_process import MinPLogitsWarper

    for name, x in _logits_cases():
        for p in (0.05, 0.2, 0.9):
            expected = MinPLogitsWarper(min_p=p, min_tokens_to_keep=1)(None, x.clone())
            yield Case(f"{name}, p={p}", args=(x.clone(), p), expected=expected)


# ----------------------------------------------------------------------------- repetition penalty
def _rep_always_divide(logits, seen, penalty):
    picked = logits.gather(-1, seen) / penalty  # a negative logit divided by 1.3 goes UP
    return logits.scatter(-1, seen, picked)


def _rep_per_occurrence(logits, seen, penalty):
    out = logits.clone()
    for b in range(seen.size(0)):
        for t in seen[b].tolist():  # a token seen twice is penalised twice
            out[b, t] = out[b, t] * penalty if out[b, t] < 0 else out[b, t] / penalty
    return out


@exercise("decoding.repetition_penalty", difficulty=1, minutes=10,
          reference="llmcourse.inference.sampling:apply_repetition_penalty",
          wrong={"wrong sign for negative logits": _rep_always_divide,
                 "penalised once per occurrence": _rep_per_occurrence},
          hint="gather the seen tokens' logits; a positive one is divided by the penalty, a negative one "
               "multiplied; scatter back (each distinct token once, however often it was seen)")
def _rep():
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 30, generator=g) * 2
    x[0, 5], x[0, 7] = 1.5, -2.0  # a positive and a negative logit among the repeated tokens
    for seen, pen in [([[1, 2, 3]], 1.3), ([[5, 5, 7, 7, 29]], 2.0), ([[0]], 0.8)]:
        seen_t = torch.tensor(seen)
        expected = RepetitionPenaltyLogitsProcessor(penalty=pen)(seen_t, x.clone())
        yield Case(f"seen={seen[0]}, penalty={pen}", args=(x.clone(), seen_t, pen), expected=expected)


# ----------------------------------------------------------------------------- greedy
def _eos_ids(model) -> set[int]:
    eos = model.generation_config.eos_token_id
    return set(eos) if isinstance(eos, (list, tuple)) else {eos}


@torch.no_grad()
def _greedy_variant(model, input_ids, max_new_tokens, stop_at_eos=True, position=-1):
    ids = input_ids
    for _ in range(max_new_tokens):
        logits = model(ids).logits if position != -1 else model(ids, logits_to_keep=1).logits
        nxt = logits[:, position, :].argmax(dim=-1, keepdim=True)  # (1, 1)
        ids = torch.cat([ids, nxt], dim=1)
        if stop_at_eos and nxt.item() in _eos_ids(model):
            break
    return ids


@exercise("decoding.greedy", difficulty=2, minutes=15,
          reference="llmcourse.inference.decoding:greedy",
          wrong={"never stops at EOS": lambda m, i, n: _greedy_variant(m, i, n, stop_at_eos=False),
                 "argmax of the first position": lambda m, i, n: _greedy_variant(m, i, n, position=0),
                 "returns only the new tokens": lambda m, i, n: _greedy_variant(m, i, n)[:, i.size(1):]},
          hint="argmax of the LAST position's logits, append, repeat; return prompt + new tokens; stop right "
               "after an EOS id")
def _greedy():
    from llmcourse.assets import load_lm

    model, tok = load_lm("tiny", device="cpu")
    for prompt in ["The capital of Indonesia is", "สวัสดีครับ", "Apa kabar"]:
        ids = tok(prompt, return_tensors="pt").input_ids
        expected = model.generate(ids, max_new_tokens=8, do_sample=False)  # the oracle: transformers itself
        yield Case(f"{prompt!r}", args=(model, ids, 8), expected=expected)

    def stops_at_eos(fn):
        ids = tok("Hello", return_tensors="pt").input_ids
        free = model.generate(ids, max_new_tokens=3, do_sample=False)[0, ids.size(1):].tolist()
        saved = model.generation_config.eos_token_id
        model.generation_config.eos_token_id = free[1]  # pretend the second new token is EOS
        try:
            out = fn(model, ids, 8)
            expected = model.generate(ids, max_new_tokens=8, do_sample=False)
        finally:
            model.generation_config.eos_token_id = saved
        assert isinstance(out, torch.Tensor) and torch.equal(out, expected), \
            f"should stop right after EOS: got {out.tolist() if isinstance(out, torch.Tensor) else out}, " \
            f"generate() gives {expected.tolist()}"

    yield Case("stops after EOS", test=stops_at_eos)


# ----------------------------------------------------------------------------- beam search
@torch.no_grad()
def _beam_variant(model, input_ids, num_beams, max_new_tokens, length_penalty=1.0, *,
                  normalise=True, log_probs=True, keep_factor=2):
    """A from-scratch beam search (no cache); the flags switch on the classic mistakes."""
    eos = _eos_ids(model)
    seqs = input_ids.repeat(num_beams, 1)  # (nb, T)
    scores = torch.full((num_beams,), -1e9)
    scores[0] = 0.0
    finished: list[tuple[float, torch.Tensor]] = []
    for step in range(1, max_new_tokens + 1):
        logits = model(seqs, logits_to_keep=1).logits[:, -1, :].float()  # (nb, V)
        step_scores = F.log_softmax(logits, dim=-1) if log_probs else logits.softmax(-1)
        total = (step_scores + scores[:, None]).view(-1)
        top, idx = total.topk(keep_factor * num_beams)
        vocab = logits.size(-1)
        running = []
        for rank, (s, i) in enumerate(zip(top.tolist(), idx.tolist())):
            cand = torch.cat([seqs[i // vocab], torch.tensor([i % vocab])])
            if (i % vocab) in eos or step == max_new_tokens:
                if rank < num_beams:
                    finished.append((s / step**length_penalty if normalise else s, cand))
            elif len(running) < num_beams:
                running.append((s, cand))
        finished = sorted(finished, key=lambda f: -f[0])[:num_beams]
        if not running:
            break
        best_running = running[0][0] / step**length_penalty if normalise else running[0][0]
        if len(finished) == num_beams and best_running <= finished[-1][0]:
            break
        seqs = torch.stack([c for _, c in running])
        scores = torch.tensor([s for s, _ in running])
    return finished[0][1][None]


@exercise("decoding.beam_search", difficulty=3, minutes=45, stretch=True,
          reference="llmcourse.inference.decoding:beam_search",
          wrong={"greedy (one beam)": lambda m, i, nb, n: _greedy_variant(m, i, n),
                 "finished beams not length-normalised": lambda m, i, nb, n: _beam_variant(m, i, nb, n, normalise=False),
                 "adds probabilities, not log-probabilities": lambda m, i, nb, n: _beam_variant(m, i, nb, n, log_probs=False),
                 "only num_beams candidates per step": lambda m, i, nb, n: _beam_variant(m, i, nb, n, keep_factor=1)},
          hint="score = summed log-probs; each step keep the best 2*num_beams (beam, token) candidates; those "
               "among the top num_beams that end in EOS (or reach the length limit) finish with score / "
               "new_tokens**length_penalty; the best num_beams others run on; stop when the best running beam "
               "cannot beat the worst of num_beams finished ones")
def _beam():
    from llmcourse.assets import load_lm

    model, tok = load_lm("tiny", device="cpu")
    for prompt, nb in [("The capital of Indonesia is", 2), ("สวัสดีครับ", 3), ("Apa kabar", 4)]:
        ids = tok(prompt, return_tensors="pt").input_ids
        expected = model.generate(ids, max_new_tokens=6, num_beams=nb, do_sample=False)
        yield Case(f"{prompt!r}, {nb} beams", args=(model, ids, nb, 6), expected=expected)

    def finishes_on_eos(prompt: str, nb: int, at: int):
        def test(fn):
            ids = tok(prompt, return_tensors="pt").input_ids
            free = model.generate(ids, max_new_tokens=8, num_beams=nb, do_sample=False)[0, ids.size(1):].tolist()
            saved = model.generation_config.eos_token_id
            model.generation_config.eos_token_id = free[at]  # a token the beams really produce ends them
            try:
                out = fn(model, ids, nb, 8)
                expected = model.generate(ids, max_new_tokens=8, num_beams=nb, do_sample=False)
            finally:
                model.generation_config.eos_token_id = saved
            assert isinstance(out, torch.Tensor) and torch.equal(out, expected), \
                f"with EOS = token {free[at]}: got {out.tolist() if isinstance(out, torch.Tensor) else out}, " \
                f"generate(num_beams={nb}) gives {expected.tolist()}"
        return test

    # hypotheses that end early compete with longer ones: length normalisation and the 2*num_beams
    # candidates decide which wins (these two settings catch both mistakes)
    yield Case("EOS ends some hypotheses (3 beams)", test=finishes_on_eos("The capital of Indonesia is", 3, 1))
    yield Case("EOS ends some hypotheses (2 beams)", test=finishes_on_eos("Apa kabar", 2, 3))
