"""Exercises of notebook 3.3 (architecture comparisons): BERT masking, cross-attention masks, BLEU, chrF.

Oracles: binomial statistics counted directly (masking), torch's own
`F.scaled_dot_product_attention` on unpadded inputs (masks), sacrebleu (BLEU, chrF).
"""

from __future__ import annotations

import collections
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


def _mask_all(ids, mask_id, vocab_size, special_ids=(), mask_prob=0.15, generator=None):
    special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob) & ~torch.isin(ids, special)
    inputs = torch.where(chosen, torch.full_like(ids, mask_id), ids)  # 100% <mask>: no random, no kept tokens
    return inputs, torch.where(chosen, ids, torch.full_like(ids, IGNORE))


def _mask_specials_too(ids, mask_id, vocab_size, special_ids=(), mask_prob=0.15, generator=None):
    chosen = torch.rand(ids.shape, generator=generator) < mask_prob  # padding and <s> can be chosen
    u = torch.rand(ids.shape, generator=generator)
    pool = torch.tensor([i for i in range(vocab_size) if i not in set(special_ids)])
    random_ids = pool[torch.randint(len(pool), ids.shape, generator=generator)]
    inputs = torch.where(chosen & (u < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    return inputs, torch.where(chosen, ids, torch.full_like(ids, IGNORE))


def _mask_random_any_id(ids, mask_id, vocab_size, special_ids=(), mask_prob=0.15, generator=None):
    special = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob) & ~torch.isin(ids, special)
    u = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(vocab_size, ids.shape, generator=generator)  # <pad>, <mask>... can come out
    inputs = torch.where(chosen & (u < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, inputs)
    return inputs, torch.where(chosen, ids, torch.full_like(ids, IGNORE))


@exercise("architectures.mlm_mask", difficulty=2, minutes=20,
          reference="llmcourse.models.bert:mask_tokens",
          wrong={"100% <mask> instead of 80/10/10": _mask_all,
                 "special tokens (padding, <s>) can be chosen": _mask_specials_too,
                 "random replacements drawn from the whole vocabulary": _mask_random_any_id},
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


def _cross_float(src, pad_id, tgt_len):
    B, S = src.shape
    return (src != pad_id)[:, None, None, :].expand(B, 1, tgt_len, S).float()  # 0/1 floats are added, not masks


def _cross_inverted(src, pad_id, tgt_len):
    B, S = src.shape
    return (src == pad_id)[:, None, None, :].expand(B, 1, tgt_len, S)  # True on the padding


def _cross_source_square(src, pad_id, tgt_len):
    B, S = src.shape
    return (src != pad_id)[:, None, None, :].expand(B, 1, S, S)  # the encoder's (S, S) mask, not (T, S)


@exercise("architectures.cross_mask", difficulty=1, minutes=10,
          reference="llmcourse.models.t5:cross_attention_mask",
          wrong={"a float 0/1 mask instead of a boolean one": _cross_float,
                 "True on the padding (torch nn.MultiheadAttention's convention)": _cross_inverted,
                 "the encoder's (S, S) mask instead of (T, S)": _cross_source_square},
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
    (["the cat sat on the mat today and then it left", "a b c d"], ["the cat sat on the mat", "a b c d e f g h"]),
    (["the the the the the the the"], ["the cat is on the mat"]),
    (["dua ratus lima puluh", "5 Maret 2021", "Jerman"], ["dua ratus lima puluh satu", "5 Maret 2021", "Jerman"]),
    (["seribu dua ratus tiga puluh empat ribu", "lima"], ["seribu dua ratus tiga puluh empat", "enam"]),
]


def _sacre(tokenize="none"):
    from llmcourse.assets.registry import require

    return require("sacrebleu.metrics", "sacrebleu").BLEU(tokenize=tokenize, smooth_method="none")


def _stats_unclipped(hyps, refs, n):
    matches = total = 0
    for hyp, ref in zip(hyps, refs):
        h, r = hyp.split(), ref.split()
        rc = collections.Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
        grams = [tuple(h[i:i + n]) for i in range(len(h) - n + 1)]
        matches += sum(1 for g in grams if g in rc)  # "the the the" scores three times
        total += len(grams)
    return matches, total


def _stats_ref_total(hyps, refs, n):
    matches = total = 0
    for hyp, ref in zip(hyps, refs):
        h, r = hyp.split(), ref.split()
        hc = collections.Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
        rc = collections.Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
        matches += sum(min(c, rc[g]) for g, c in hc.items())
        total += sum(rc.values())  # the reference's n-grams: that is recall's denominator
    return matches, total


def _stats_joined(hyps, refs, n):
    h, r = " ".join(hyps).split(), " ".join(refs).split()  # n-grams across sentence boundaries
    hc = collections.Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
    rc = collections.Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
    return sum(min(c, rc[g]) for g, c in hc.items()), sum(hc.values())


@exercise("architectures.ngram_stats", difficulty=1, minutes=15,
          reference="llmcourse.evaluation.bleu:clipped_ngram_stats",
          wrong={"no clipping: every matching n-gram counts": _stats_unclipped,
                 "total = the reference's n-grams": _stats_ref_total,
                 "the corpus joined into one sentence": _stats_joined},
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


def _bleu_parts(hyps, refs):
    from llmcourse.evaluation.bleu import clipped_ngram_stats

    precisions = []
    for n in range(1, 5):
        m, t = clipped_ngram_stats(hyps, refs, n)
        precisions.append(m / t if t else 0.0)
    c, r = sum(len(h.split()) for h in hyps), sum(len(x.split()) for x in refs)
    return precisions, c, r


def _bleu_no_bp(hyps, refs):
    p, c, r = _bleu_parts(hyps, refs)
    return 0.0 if min(p) == 0 else 100 * math.exp(sum(math.log(x) for x in p) / 4)  # short outputs go unpunished


def _bleu_arithmetic(hyps, refs):
    p, c, r = _bleu_parts(hyps, refs)
    bp = 1.0 if c > r else math.exp(1 - r / max(c, 1))
    return 0.0 if min(p) == 0 else 100 * bp * sum(p) / 4  # arithmetic, not geometric, mean


def _bleu_sentence_mean(hyps, refs):
    from llmcourse.evaluation.bleu import corpus_bleu

    return sum(corpus_bleu([h], [r]) for h, r in zip(hyps, refs)) / len(hyps)  # mean of sentence BLEUs


@exercise("architectures.bleu", difficulty=2, minutes=15,
          reference="llmcourse.evaluation.bleu:corpus_bleu",
          wrong={"no brevity penalty": _bleu_no_bp,
                 "arithmetic mean of the precisions": _bleu_arithmetic,
                 "mean of sentence-level BLEU scores": _bleu_sentence_mean},
          hint="p_n = matches_n / total_n for n = 1..4; BLEU = 100 * BP * exp(mean(log p_n)); "
               "BP = 1 if c > r else exp(1 - r/c) with c, r the total hypothesis and reference word counts; "
               "return 0.0 if some p_n is 0")
def _bleu():
    bleu = _sacre()
    for i, (hyps, refs) in enumerate(CORPORA):
        yield Case(f"corpus {i}", args=(hyps, refs), expected=float(bleu.corpus_score(hyps, [refs]).score),
                   atol=1e-6, rtol=1e-6)


# ----------------------------------------------------------------------------- stretch: chrF


def _chrf_with_spaces(hyps, refs):
    from sacrebleu.metrics import CHRF

    return float(CHRF(whitespace=True).corpus_score(list(hyps), [list(refs)]).score)  # spaces kept as characters


def _chrf_beta_one(hyps, refs):
    from sacrebleu.metrics import CHRF

    return float(CHRF(beta=1).corpus_score(list(hyps), [list(refs)]).score)  # precision and recall weighed alike


def _chrf_sentence_mean(hyps, refs):
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    return sum(float(metric.sentence_score(h, [r]).score) for h, r in zip(hyps, refs)) / len(hyps)


CHRF_CORPORA = CORPORA + [
    (["Februari", "lima puluh"], ["Febuari", "lima puluh"]),
    (["ab", "xyz uvw"], ["abcdefgh", "x"]),  # short references: some orders have no n-gram at all
    (["seratus", "Senin, 1 Maret 2021"], ["seratus dua", "Senin, 1 Maret 2021"]),
]


@exercise("architectures.chrf", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.evaluation.bleu:corpus_chrf",
          wrong={"spaces kept as characters": _chrf_with_spaces,
                 "beta = 1 (F1) instead of 2": _chrf_beta_one,
                 "mean of sentence-level chrF": _chrf_sentence_mean},
          hint="remove spaces; for n = 1..6 sum over the corpus: hypothesis n-grams (only where the reference has "
               "n-grams of that order), reference n-grams, clipped matches; average precision and recall over the "
               "orders where both sums are > 0; F = (1 + 4) P R / (4 P + R), x100")
def _chrf():
    from llmcourse.assets.registry import require

    chrf = require("sacrebleu.metrics", "sacrebleu").CHRF()
    for i, (hyps, refs) in enumerate(CHRF_CORPORA):
        yield Case(f"corpus {i}: {hyps[0]!r} vs {refs[0]!r}...", args=(hyps, refs),
                   expected=float(chrf.corpus_score(hyps, [refs]).score), atol=1e-6, rtol=1e-6)
