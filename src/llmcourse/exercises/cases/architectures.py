"""Exercises of notebook 3.3 (architecture comparisons): BERT masking, cross-attention masks, BLEU.

Oracles: binomial statistics counted directly (masking), torch's own
`F.scaled_dot_product_attention` on unpadded inputs (masks), sacrebleu (BLEU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise

IGNORE = -100


# ----------------------------------------------------------------------------- masking


def _within(observed: int, n: int, p: float, what: str, sigmas: float = 5.0) -> None:
    """Assert a binomial count is within `sigmas` standard deviations of n*p."""
    expected = n * p
    sd = math.sqrt(max(n * p * (1 - p), 1e-12))
    if abs(observed - expected) > sigmas * sd + 1:
        raise AssertionError(f"{what}: {observed}/{n} = {observed / max(n, 1):.4f}, expected about {p:.4f} "
                             f"(more than {sigmas:g} standard deviations away)")


def _batch(vocab: int, n_special: int, shape=(64, 256), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(n_special, vocab, shape, generator=g)
    ids[:, 0] = 2  # <s>
    ids[:, -20:] = 0  # padding
    ids[:, shape[1] // 2] = 5  # <sep>
    return ids


@exercise("architectures.mlm_mask",
          hint="choose each non-special token with prob mask_prob; then one uniform draw u per token: "
               "u < 0.8 -> mask_id, 0.8 <= u < 0.9 -> random non-special id, else keep; labels = ids where "
               "chosen, -100 elsewhere; draw every random number from `generator`")
def _mlm_mask():
    V, specials, MASK = 300, (0, 1, 2, 3, 4, 5), 4

    def labels_match(fn):
        ids = _batch(V, 6)
        inputs, labels = fn(ids.clone(), MASK, V, specials, 0.15, torch.Generator().manual_seed(1))
        assert inputs.shape == ids.shape and labels.shape == ids.shape, \
            f"inputs {tuple(inputs.shape)} and labels {tuple(labels.shape)} must both have the shape of ids {tuple(ids.shape)}"
        chosen = labels != IGNORE
        assert torch.equal(labels[chosen], ids[chosen]), "labels must hold the ORIGINAL token at chosen positions"
        assert torch.equal(inputs[~chosen], ids[~chosen]), "tokens that were not chosen must stay unchanged"
        assert chosen.any(), "no token was chosen at all"

    def statistics(fn):
        ids = _batch(V, 6, shape=(128, 256))
        inputs, labels = fn(ids.clone(), MASK, V, specials, 0.15, torch.Generator().manual_seed(2))
        candidates = ~torch.isin(ids, torch.tensor(specials))
        chosen = labels != IGNORE
        n_cand, n_chosen = int(candidates.sum()), int(chosen.sum())
        _within(n_chosen, n_cand, 0.15, "fraction of non-special tokens chosen")
        masked = int((inputs[chosen] == MASK).sum())
        kept = int((inputs[chosen] == ids[chosen]).sum())
        pool = V - len(specials)
        _within(masked, n_chosen, 0.8, "fraction of chosen tokens replaced by <mask>")
        # a random replacement equals the original token 1 time in `pool`: that counts as kept
        _within(kept, n_chosen, 0.1 + 0.1 / pool, "fraction of chosen tokens left unchanged")
        _within(n_chosen - masked - kept, n_chosen, 0.1 - 0.1 / pool, "fraction of chosen tokens replaced at random")

    def specials_untouched(fn):
        ids = _batch(V, 6)
        inputs, labels = fn(ids.clone(), MASK, V, specials, 0.5, torch.Generator().manual_seed(3))
        special = torch.isin(ids, torch.tensor(specials))
        assert (labels[special] == IGNORE).all(), "special tokens (pad, <s>, <sep>...) must never be chosen"
        assert torch.equal(inputs[special], ids[special]), "special tokens must stay as they are"

    def random_ids_not_special(fn):
        V2 = 12  # few regular ids, so every one of them should show up
        ids = _batch(V2, 6, shape=(64, 256))
        inputs, labels = fn(ids.clone(), MASK, V2, specials, 1.0, torch.Generator().manual_seed(4))
        chosen = labels != IGNORE
        random = chosen & (inputs != MASK) & (inputs != ids)
        assert random.any(), "with mask_prob=1 some tokens should be replaced by random tokens"
        got = inputs[random]
        assert not torch.isin(got, torch.tensor(specials)).any(), \
            "random replacements must be drawn from the non-special ids only"
        counts = torch.bincount(got, minlength=V2)[6:].float()
        assert (counts > 0).all(), f"random replacements should cover every regular id, got counts {counts.tolist()}"

    def all_or_nothing(fn):
        ids = _batch(V, 6, shape=(8, 64))
        _, labels = fn(ids.clone(), MASK, V, specials, 1.0, torch.Generator().manual_seed(5))
        cand = ~torch.isin(ids, torch.tensor(specials))
        assert torch.equal(labels != IGNORE, cand), "mask_prob=1.0 must choose every non-special token"
        inputs, labels = fn(ids.clone(), MASK, V, specials, 0.0, torch.Generator().manual_seed(5))
        assert (labels == IGNORE).all() and torch.equal(inputs, ids), "mask_prob=0.0 must change nothing"

    def reproducible(fn):
        ids = _batch(V, 6, shape=(8, 64))
        a = fn(ids.clone(), MASK, V, specials, 0.15, torch.Generator().manual_seed(7))
        b = fn(ids.clone(), MASK, V, specials, 0.15, torch.Generator().manual_seed(7))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), \
            "the same seeded generator must give the same masks: draw every random number from `generator`"

    yield Case("labels hold the originals", test=labels_match)
    yield Case("15% chosen, then 80/10/10", test=statistics)
    yield Case("special tokens are never chosen", test=specials_untouched)
    yield Case("random tokens are regular tokens", test=random_ids_not_special)
    yield Case("mask_prob 1.0 and 0.0", test=all_or_nothing)
    yield Case("reproducible with a generator", test=reproducible)


# ----------------------------------------------------------------------------- cross-attention mask


def _loop_mask(src: torch.Tensor, pad_id: int, tgt_len: int) -> torch.Tensor:
    B, S = src.shape
    out = torch.zeros(B, 1, tgt_len, S, dtype=torch.bool)
    for b in range(B):
        for t in range(tgt_len):
            for s in range(S):
                out[b, 0, t, s] = int(src[b, s]) != pad_id
    return out


@exercise("architectures.cross_mask",
          hint="a target position may look at every REAL source token: mask[b, 0, t, s] = src[b, s] != pad_id; "
               "build (B, 1, 1, S) and expand to (B, 1, T, S); dtype bool (True = may attend)")
def _cross_mask():
    src = torch.tensor([[7, 8, 9, 10], [7, 8, 0, 0], [11, 0, 0, 0]])
    yield Case("three sources, pad 0", args=(src, 0, 3), expected=_loop_mask(src, 0, 3))
    src2 = torch.tensor([[1, 1, 5, 6, 1]])
    yield Case("pad id 1, target of 5", args=(src2, 1, 5), expected=_loop_mask(src2, 1, 5))

    def is_bool(fn):
        m = fn(src, 0, 2)
        assert m.dtype == torch.bool, f"the mask must be bool (True = may attend), got {m.dtype}"

    def padding_changes_nothing(fn):
        # Oracle: torch's SDPA on each unpadded source alone vs the padded batch with our mask.
        g = torch.Generator().manual_seed(0)
        lengths, S, T, H, hd = [5, 3, 1], 5, 4, 2, 8
        ids = torch.zeros(len(lengths), S, dtype=torch.long)
        for b, n in enumerate(lengths):
            ids[b, :n] = torch.arange(1, n + 1)
        q = torch.randn(len(lengths), H, T, hd, generator=g)
        kv = torch.randn(len(lengths), H, S, hd, generator=g)
        out = F.scaled_dot_product_attention(q, kv, kv, attn_mask=fn(ids, 0, T))
        for b, n in enumerate(lengths):
            alone = F.scaled_dot_product_attention(q[b:b + 1], kv[b:b + 1, :, :n], kv[b:b + 1, :, :n])
            if not torch.allclose(out[b:b + 1], alone, atol=1e-5):
                raise AssertionError(f"source {b} (length {n} padded to {S}) attends differently than alone: "
                                     "padding keys must be blocked")

    yield Case("bool mask", test=is_bool)
    yield Case("padded batch equals unpadded runs (torch SDPA)", test=padding_changes_nothing)


# ----------------------------------------------------------------------------- BLEU


CORPORA = [
    (["the cat sat on the mat", "a b c d e"], ["the cat is on the mat", "a b c d e f"]),
    (["the the the the the the the"], ["the cat is on the mat"]),
    (["dua ratus lima puluh", "5 Maret 2021", "Jerman"], ["dua ratus lima puluh satu", "5 Maret 2021", "Jerman"]),
    (["seribu dua ratus tiga puluh empat ribu", "lima"], ["seribu dua ratus tiga puluh empat", "enam"]),
]


def _sacre(tokenize="none"):
    from llmcourse.assets.registry import require

    return require("sacrebleu.metrics", "sacrebleu").BLEU(tokenize=tokenize, smooth_method="none")


@exercise("architectures.ngram_stats",
          hint="per sentence: count hypothesis n-grams and reference n-grams (tuples of n words split on "
               "whitespace); matches = sum of min(hyp count, ref count); total = number of hypothesis n-grams; "
               "sum both over the corpus")
def _ngram_stats():
    bleu = _sacre()
    for i, (hyps, refs) in enumerate(CORPORA):
        stats = bleu.corpus_score(hyps, [refs])
        for n in (1, 2, 4):
            yield Case(f"corpus {i}, n={n}", args=(hyps, refs, n), expected=(stats.counts[n - 1], stats.totals[n - 1]),
                       compare=lambda g, e: None if tuple(g) == tuple(e) else f"got {tuple(g)}, expected "
                                                                            f"(matches, total) = {tuple(e)}")


@exercise("architectures.bleu",
          hint="p_n = matches_n / total_n for n = 1..4; BLEU = 100 * BP * exp(mean(log p_n)); "
               "BP = 1 if c > r else exp(1 - r/c) with c, r the total hypothesis and reference word counts; "
               "return 0.0 if some p_n is 0")
def _bleu():
    bleu = _sacre()
    for i, (hyps, refs) in enumerate(CORPORA):
        yield Case(f"corpus {i}", args=(hyps, refs), expected=float(bleu.corpus_score(hyps, [refs]).score),
                   atol=1e-6, rtol=1e-6)
