"""makemore (llmcourse.ngram, llmcourse.assets.names): names data, n-gram counts and NLL against direct
counts, the MLP, and every hand-made gradient against torch autograd."""

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.assets.names import (LANGUAGES, clean_names, load_names, name_splits, names_path, raw_names,
                                    read_names, split_of)
from llmcourse.exercises.registry import run_exercise
from llmcourse.ngram import (CharVocab, DeepMLP, MLPLanguageModel, NGramModel, UnknownCharacterError, average_nll,
                             bigram_counts, build_dataset, evaluate_nll, init_default, init_kaiming, init_randn,
                             layer_stats, lr_sweep, ngram_windows, sample_mlp, train_mlp, train_with_stats)
from llmcourse.ngram import manual_backprop as mb


@pytest.fixture(scope="module")
def splits():
    return {lang: name_splits(lang) for lang in LANGUAGES}


# ---------------------------------------------------------------- names data
def test_names_splits_are_disjoint_deterministic_and_sized(splits):
    for lang, s in splits.items():
        train, dev, test = set(s["train"]), set(s["dev"]), set(s["test"])
        assert not (train & dev or train & test or dev & test), lang
        assert len(s["train"]) == len(train), f"{lang}: duplicates in train"
        assert all(split_of(n) == "train" for n in s["train"])
        assert len(train) > 400 and len(dev) > 40 and len(test) > 40, (lang, len(train), len(dev), len(test))
        assert s == name_splits(lang), "splits must not change between calls"
    assert len(splits["en"]["train"]) > 4000 and len(splits["th"]["train"]) > 8000


def test_names_scripts():
    th = load_names("th", "dev")
    ta = load_names("ta", "dev")
    assert all(all(0x0E00 <= ord(c) <= 0x0E7F for c in n) for n in th)
    assert all(all(0x0B80 <= ord(c) <= 0x0BFF for c in n) for n in ta)
    assert all(n.isascii() and n.islower() and n.isalpha() for n in load_names("en", "dev"))
    assert all(n.isascii() for n in load_names("id", "dev"))


def test_names_files_match_the_packages(splits):
    for lang in LANGUAGES:
        for split in ("train", "dev", "test"):
            assert read_names(names_path(lang, split)) == splits[lang][split]


def test_thai_names_come_from_pythainlp():
    from pythainlp.corpus import thai_female_names

    clean = set(clean_names(raw_names("th"), "th"))
    shipped = set(thai_female_names())
    assert len(shipped & clean) > 0.99 * len(shipped)


def test_cleaning_splits_commas_drops_foreign_characters_and_normalises():
    decomposed = "\u0bae\u0bc6\u0bbe"  # Tamil MA + E sign + AA sign; NFC composes the signs into U+0BCA
    assert clean_names(["ஆதர்ஷ்,ஆதேஷ்", "உதயகுமார்;", "வருண்குமாH", decomposed], "ta") == sorted(
        ["ஆதர்ஷ்", "ஆதேஷ்", "உதயகுமார்", "\u0bae\u0bca"])
    assert clean_names(["Mary-Kate", "O'Brien", "Anna", "anna", " Bob "], "en") == ["anna", "bob"]
    assert clean_names(["ป.เสฎฐวุฒิ", "สมชาย"], "th") == ["สมชาย"]


def test_names_file_with_empty_lines(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("\nemma\n\n  olivia  \n\n\nava\n", encoding="utf-8")
    assert read_names(path) == ["emma", "olivia", "ava"]
    (tmp_path / "empty.txt").write_text("\n \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no names"):
        read_names(tmp_path / "empty.txt")
    (tmp_path / "latin1.txt").write_bytes("jos\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        read_names(tmp_path / "latin1.txt")
    with pytest.raises(FileNotFoundError, match="names_path"):
        read_names(tmp_path / "missing.txt")


def test_unknown_language_and_split():
    from llmcourse.assets import AssetError

    with pytest.raises(AssetError, match="en, id, ta, th"):
        load_names("xx")
    with pytest.raises(ValueError, match="split"):
        names_path("en", "validation")


# ---------------------------------------------------------------- vocabulary
def test_vocab_rejects_unknown_characters_and_the_boundary():
    vocab = CharVocab.from_names(["anna", "bob"])
    assert vocab.chars == (".", "a", "b", "n", "o")
    assert vocab.decode(vocab.encode("bob")) == "bob"
    with pytest.raises(UnknownCharacterError, match=r"'é' \(U\+00E9"):
        vocab.encode("josé")
    with pytest.raises(ValueError, match="start/end token"):
        CharVocab.from_names(["a.b"])
    with pytest.raises(ValueError, match="at least one"):
        CharVocab.from_names(["", ""])


# ---------------------------------------------------------------- counts and NLL
def direct_nll(train, test, n, k, vocab):
    """The n-gram NLL with add-k smoothing, from Counters and math.log: no tensors."""
    grams, contexts = Counter(), Counter()
    for name in train:
        chars = ["."] * (n - 1) + list(name) + ["."]
        for i in range(len(chars) - n + 1):
            grams[tuple(chars[i : i + n])] += 1
            contexts[tuple(chars[i : i + n - 1])] += 1
    V, total, count = len(vocab), 0.0, 0
    for name in test:
        chars = ["."] * (n - 1) + list(name) + ["."]
        for i in range(len(chars) - n + 1):
            g = tuple(chars[i : i + n])
            num, den = grams[g] + k, contexts[g[:-1]] + k * V
            total += math.log(num / den) if num > 0 else -math.inf
            count += 1
    return -total / count


@pytest.mark.parametrize("lang", ["en", "th", "ta"])
@pytest.mark.parametrize("n,k", [(1, 0.5), (2, 1.0), (2, 0.1), (3, 0.01)])
def test_ngram_nll_equals_direct_counts(splits, lang, n, k):
    s = splits[lang]
    vocab = CharVocab.from_names(s["train"] + s["dev"] + s["test"])
    train, dev = s["train"][:1500], s["dev"][:200]
    model = NGramModel(vocab, n=n, smoothing=k).fit(train)
    assert model.nll(dev) == pytest.approx(direct_nll(train, dev, n, k, vocab), rel=1e-10)
    assert model.nll(train) == pytest.approx(direct_nll(train, train, n, k, vocab), rel=1e-10)


def test_counts_equal_direct_counter(splits):
    s = splits["en"]
    vocab = CharVocab.from_names(s["train"])
    model = NGramModel(vocab, n=3, smoothing=0).fit(s["train"])
    direct = Counter()
    for name in s["train"]:
        chars = ["."] * 2 + list(name) + ["."]
        direct.update(zip(chars, chars[1:], chars[2:]))
    assert int(model.counts.sum()) == sum(direct.values()) == sum(len(n) + 1 for n in s["train"])
    for (a, b, c), cnt in direct.most_common(50):
        assert int(model.counts[vocab.stoi[a], vocab.stoi[b], vocab.stoi[c]]) == cnt
    torch.testing.assert_close(model.probs.sum(-1)[model.counts.sum(-1) > 0],
                               torch.ones(int((model.counts.sum(-1) > 0).sum()), dtype=torch.float64))


@settings(max_examples=30, deadline=None)
@given(names=st.lists(st.text(alphabet="abcสม", min_size=1, max_size=8), min_size=1, max_size=12),
       n=st.integers(1, 3), k=st.sampled_from([0.0, 0.5, 2.0]))
def test_ngram_nll_property(names, n, k):
    vocab = CharVocab.from_names(names)
    model = NGramModel(vocab, n=n, smoothing=k).fit(names)
    expected = direct_nll(names, names, n, k, vocab)
    assert model.nll(names) == pytest.approx(expected, rel=1e-9)
    assert len(ngram_windows(names, vocab, n)) == sum(len(x) + 1 for x in names)


def test_smoothing_zero_gives_inf_on_unseen_and_a_clear_sampling_error():
    vocab = CharVocab.from_names(["ab", "ba", "c"])
    model = NGramModel(vocab, n=2, smoothing=0).fit(["ab", "ba"])
    assert model.nll(["ab"]) < math.inf
    assert model.nll(["ac"]) == math.inf
    with pytest.raises(ValueError, match="smoothing > 0"):
        model.sample(torch.Generator().manual_seed(0), prefix="c")
    smoothed = NGramModel(vocab, n=2, smoothing=1).fit(["ab", "ba"])
    assert math.isfinite(smoothed.nll(["ac"]))


def test_sampling_is_reproducible_and_in_vocab(splits):
    s = splits["th"]
    vocab = CharVocab.from_names(s["train"] + s["dev"] + s["test"])
    model = NGramModel(vocab, n=3, smoothing=0.1).fit(s["train"])
    a = [model.sample(torch.Generator().manual_seed(i)) for i in range(5)]
    b = [model.sample(torch.Generator().manual_seed(i)) for i in range(5)]
    assert a == b
    assert all(set(x) <= set(vocab.chars[1:]) for x in a)
    assert model.sample(torch.Generator().manual_seed(0), prefix="สม").startswith("สม")
    assert len(model.sample(torch.Generator().manual_seed(0), max_len=3)) <= 3


def test_unseen_characters_at_sampling_and_scoring_time():
    vocab = CharVocab.from_names(["anna", "bob"])
    model = NGramModel(vocab, n=2).fit(["anna", "bob"])
    with pytest.raises(UnknownCharacterError, match="'z'"):
        model.sample(torch.Generator().manual_seed(0), prefix="z")
    with pytest.raises(UnknownCharacterError, match="CharVocab.from_names"):
        model.nll(["zed"])
    with pytest.raises(UnknownCharacterError):
        build_dataset(["zed"], vocab)


def test_bad_model_arguments():
    vocab = CharVocab.from_names(["ab"])
    with pytest.raises(ValueError, match="n >= 1"):
        NGramModel(vocab, n=0)
    with pytest.raises(ValueError, match="pseudo-count"):
        NGramModel(vocab, smoothing=-1)
    with pytest.raises(ValueError, match="no names"):
        NGramModel(vocab).fit(["ab"]).nll([])


# ---------------------------------------------------------------- the MLP
def test_early_stopping_restores_the_best_weights_and_stops_on_patience():
    vocab = CharVocab.from_names(["ab", "ba"])
    X, Y = build_dataset(["ab"], vocab, 2)  # learns ".." -> a
    Xd, Yd = build_dataset(["ba"], vocab, 2)  # the dev set wants ".." -> b: it only gets worse
    g = torch.Generator().manual_seed(0)
    model = MLPLanguageModel(len(vocab), 2, 4, 8, generator=g)
    hist = train_mlp(model, X, Y, steps=400, batch_size=8, lr=0.5, generator=g, dev=(Xd, Yd), eval_every=10,
                     patience=3)
    # 3 evaluations without improvement drop the learning rate, 3 more stop training
    assert hist.best_step == 10 and len(hist.losses) == 70 and hist.dev_steps == [10, 20, 30, 40, 50, 60, 70]
    assert hist.dev_nll[-1] > hist.dev_nll[0]
    assert evaluate_nll(model, Xd, Yd) == pytest.approx(hist.best_dev_nll)
    with pytest.raises(ValueError, match="eval_every"):
        train_mlp(model, X, Y, steps=1, dev=(X, Y), eval_every=0)


def test_build_dataset_windows():
    vocab = CharVocab.from_names(["emma"])
    X, Y = build_dataset(["emma"], vocab, block_size=3)
    assert X.shape == (5, 3) and Y.shape == (5,)
    assert [vocab.decode(x) + "->" + vocab.decode([y]) for x, y in zip(X.tolist(), Y.tolist())] == [
        "...->e", "..e->m", ".em->m", "emm->a", "mma->."]


def test_mlp_learns_and_beats_uniform(splits):
    torch.manual_seed(0)
    s = splits["en"]
    vocab = CharVocab.from_names(s["train"] + s["dev"] + s["test"])
    Xtr, Ytr = build_dataset(s["train"], vocab, 3)
    Xdev, Ydev = build_dataset(s["dev"], vocab, 3)
    g = torch.Generator().manual_seed(0)
    model = MLPLanguageModel(len(vocab), 3, 10, 64, generator=g)
    before = evaluate_nll(model, Xdev, Ydev)
    assert before == pytest.approx(math.log(len(vocab)), abs=0.2), "the scaled-down output layer starts near uniform"
    hist = train_mlp(model, Xtr, Ytr, steps=300, batch_size=32, lr=0.1, generator=g, dev=(Xdev, Ydev), eval_every=100)
    after = evaluate_nll(model, Xdev, Ydev)
    assert after < before - 0.5, (before, after)
    assert sum(hist.losses[-30:]) / 30 < sum(hist.losses[:30]) / 30
    assert hist.dev_steps == [100, 200, 300] and after == pytest.approx(min(hist.dev_nll)), "keeps the best weights"
    name = sample_mlp(model, vocab, torch.Generator().manual_seed(1))
    assert set(name) <= set(vocab.chars[1:])
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        model(torch.zeros(4, 5, dtype=torch.long))


# ---------------------------------------------------------------- backprop by hand
def _batch(seed, V=27, B=32, H=64, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    params = mb.init_params(V, 3, 10, H, generator=g, dtype=dtype)
    X = torch.randint(0, V, (B, 3), generator=g)
    Y = torch.randint(0, V, (B,), generator=g)
    return params, X, Y


@pytest.mark.parametrize("seed,V,B,H", [(0, 27, 32, 64), (1, 45, 7, 10), (2, 67, 2, 5)])
def test_every_manual_gradient_equals_autograd(seed, V, B, H):
    params, X, Y = _batch(seed, V, B, H)
    ref = mb.autograd_grads(params, X, Y)
    _, cache = mb.forward(params, X, Y)
    grads = mb.backward(params, X, Y, cache)
    names = set(mb.STEP_NAMES) | set(mb.PARAM_NAMES)
    assert set(grads) == names
    for name in names:
        torch.testing.assert_close(grads[name], ref[name], rtol=1e-7, atol=1e-12, msg=name)


def test_manual_gradients_float32_are_close_to_autograd():
    params, X, Y = _batch(3, dtype=torch.float32)
    results = mb.compare_with_autograd(mb.backward(params, X, Y, mb.forward(params, X, Y)[1]), params, X, Y,
                                       verbose=False, rtol=1e-4, atol=1e-6)
    assert len(results) == len(mb.STEP_NAMES) + len(mb.PARAM_NAMES)
    assert all(r.approx for r in results), [str(r) for r in results if not r.approx]


def test_fused_gradients_equal_autograd():
    params, X, Y = _batch(4)
    ref = mb.autograd_grads(params, X, Y)
    _, cache = mb.forward(params, X, Y)
    torch.testing.assert_close(mb.cross_entropy_backward(cache["logits"], Y), ref["logits"])
    dhprebn = mb.batchnorm_backward(ref["hpreact"], params["bngain"], cache["bnraw"], cache["bnvar_inv"])
    torch.testing.assert_close(dhprebn, ref["hprebn"])


def test_manual_forward_equals_the_nn_module():
    g = torch.Generator().manual_seed(5)
    model = MLPLanguageModel(30, 3, 8, 16, generator=g).double().train()
    X = torch.randint(0, 30, (16, 3), generator=g)
    Y = torch.randint(0, 30, (16,), generator=g)
    loss, _ = mb.forward(mb.params_from_model(model), X, Y)
    torch.testing.assert_close(loss, F.cross_entropy(model(X), Y))


def test_cmp_reports_exact_approximate_and_mismatch(capsys):
    t = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert mb.cmp("same", t, t.clone()).exact
    near = mb.cmp("near", t, t + 1e-12)
    assert not near.exact and near.approx and 0 < near.maxdiff < 1e-11
    far = mb.cmp("far", t, t + 1.0)
    assert not far.approx and far.maxdiff == pytest.approx(1.0)
    shape = mb.cmp("shape", t, t.view(1, 2))
    assert not shape.approx and "shape" in shape.note
    assert not mb.cmp("none", None, t).approx
    out = capsys.readouterr().out
    assert "exact: True" in out and "approximate: False" in out and "maxdiff" in out


def test_batch_of_one_is_refused():
    params, X, Y = _batch(6, B=2)
    with pytest.raises(ValueError, match="at least 2"):
        mb.forward(params, X[:1], Y[:1])


# ---------------------------------------------------------------- exercises, reference side
def ref_bigram_counts(names, stoi):
    return NGramModel(CharVocab(tuple(sorted(stoi, key=stoi.get))), n=2, smoothing=0).fit(names).counts


def ref_nll(P, names, stoi):
    vocab = CharVocab(tuple(sorted(stoi, key=stoi.get)))
    windows = ngram_windows(names, vocab, 2)
    return float(-torch.log(P[windows[:, 0], windows[:, 1]]).mean())


@pytest.mark.parametrize("name,fn", [
    ("ngram.bigram_counts", ref_bigram_counts),
    ("ngram.nll", ref_nll),
    ("ngram.cross_entropy_backward", mb.cross_entropy_backward),
    ("ngram.batchnorm_backward", mb.batchnorm_backward),
    ("ngram.manual_backward", mb.backward),
])
def test_reference_passes_exercise(name, fn):
    res = run_exercise(name, fn)
    assert res.ok, res.failures


def test_exercises_catch_wrong_answers():
    def off_by_one_counts(names, stoi):  # forgets the end token
        return ref_bigram_counts([n[:-1] for n in names], stoi)

    def forgets_mean(logits, Y):
        return mb.cross_entropy_backward(logits, Y) * logits.shape[0]

    def overwrites_instead_of_accumulating(params, X, Y, cache):
        grads = mb.backward(params, X, Y, cache)
        grads["bndiff"] = cache["bnvar_inv"] * (params["bngain"].detach() * grads["hpreact"])  # only one path
        return grads

    def drops_a_gradient(params, X, Y, cache):
        grads = mb.backward(params, X, Y, cache)
        del grads["C"]
        return grads

    assert not run_exercise("ngram.bigram_counts", off_by_one_counts).ok
    assert not run_exercise("ngram.cross_entropy_backward", forgets_mean).ok
    res = run_exercise("ngram.manual_backward", overwrites_instead_of_accumulating)
    assert not res.ok and "bndiff" in res.failures[0]
    res = run_exercise("ngram.manual_backward", drops_a_gradient)
    assert not res.ok and "missing: C" in res.failures[0]
    assert not run_exercise("ngram.batchnorm_backward", lambda d, g, r, v: g * v * d).ok
    assert not run_exercise("ngram.nll", lambda P, names, stoi: -ref_nll(P, names, stoi)).ok


# ---------------------------------------------------------------- bigram counts and NLL as plain functions
def test_bigram_counts_and_average_nll_equal_direct_counting(splits):
    names = splits["ta"]["train"][:300]
    vocab = CharVocab.from_names(names)
    pairs = Counter(p for n in names for p in zip("." + n, n + "."))
    N = bigram_counts(names, vocab.stoi)
    assert N.dtype == torch.long and int(N.sum()) == sum(pairs.values())
    for (a, b), c in pairs.items():
        assert int(N[vocab.stoi[a], vocab.stoi[b]]) == c
    P = (N + 1).double() / (N + 1).sum(1, keepdim=True)
    direct = -sum(c * math.log(float(P[vocab.stoi[a], vocab.stoi[b]])) for (a, b), c in pairs.items())
    assert average_nll(P, names, vocab.stoi) == pytest.approx(direct / sum(pairs.values()), rel=1e-12)
    mle = N.double() / N.sum(1, keepdim=True).clamp_min(1)
    unseen = next((a, b) for a in vocab.chars[1:] for b in vocab.chars[1:] if (a, b) not in pairs)
    assert average_nll(mle, [unseen[0] + unseen[1]], vocab.stoi) == math.inf  # a pair never seen: P = 0
    with pytest.raises(ValueError, match="boundary"):
        bigram_counts(["ab"], {"a": 0, "b": 1})
    with pytest.raises(ValueError, match="no names"):
        average_nll(P, [], vocab.stoi)


# ---------------------------------------------------------------- diagnostics
def _random_batch(V=27, n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(V, (n, 3), generator=g), torch.randint(V, (n,), generator=g)


def test_initialisations_have_the_scales_they_claim():
    model = DeepMLP(27, n_hidden=200, n_layers=3, generator=torch.Generator().manual_seed(0))
    init_kaiming(model, generator=torch.Generator().manual_seed(1))
    for lin in model.hidden:
        assert lin.weight.std().item() == pytest.approx((5 / 3) / math.sqrt(lin.in_features), rel=0.05)
        assert torch.equal(lin.bias, torch.zeros_like(lin.bias))
    assert model.out.weight.std().item() == pytest.approx(0.1 / math.sqrt(200), rel=0.05)
    init_default(model, generator=torch.Generator().manual_seed(2))  # nn.Linear's rule: U(+-1/sqrt(fan_in))
    for lin in model.linears:
        bound = 1 / math.sqrt(lin.in_features)
        assert lin.weight.abs().max().item() <= bound
        assert lin.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    init_randn(model, generator=torch.Generator().manual_seed(3))
    assert model.hidden[1].weight.std().item() == pytest.approx(1.0, rel=0.05)


def test_layer_stats_match_direct_measurements_and_autograd():
    X, Y = _random_batch()
    model = init_randn(DeepMLP(27, generator=torch.Generator().manual_seed(0)), torch.Generator().manual_seed(1))
    loss, stats = layer_stats(model, X, Y)
    # the oracle: the same forward pass written out, gradients from torch.autograd.grad
    h = model.emb(X).flatten(1)
    acts = []
    for lin in model.hidden:
        h = torch.tanh(lin(h))
        acts.append(h)
    ref_loss = F.cross_entropy(model.out(h), Y)
    grads = torch.autograd.grad(ref_loss, acts)
    assert loss == pytest.approx(ref_loss.item(), rel=1e-6)
    for s, a, g in zip(stats, acts, grads):
        sat = a.detach().abs() > 0.97
        assert s.saturated == pytest.approx(sat.float().mean().item())
        assert s.dead == pytest.approx(sat.all(0).float().mean().item())
        assert s.act_std == pytest.approx(a.std().item(), rel=1e-5)
        torch.testing.assert_close(s.grads, g)
    assert all(s.saturated > 0.5 for s in stats)  # unit-Gaussian weights saturate tanh
    assert all(p.grad is None for p in model.parameters())


def test_kaiming_keeps_the_signal_and_the_default_shrinks_it():
    X, Y = _random_batch()
    kaiming = init_kaiming(DeepMLP(27, n_layers=6, generator=torch.Generator().manual_seed(0)))
    loss, stats = layer_stats(kaiming, X, Y)
    assert abs(loss - math.log(27)) < 0.1
    assert all(0.5 < s.act_std < 0.9 and s.saturated < 0.3 for s in stats)
    default = DeepMLP(27, n_layers=6, generator=torch.Generator().manual_seed(0))
    _, stats = layer_stats(default, X, Y)
    assert stats[-1].act_std < 0.5 * stats[0].act_std  # each layer shrinks it


def test_update_ratios_and_lr_sweep():
    X, Y = _random_batch(n=500)
    model = init_kaiming(DeepMLP(27, n_layers=2, n_hidden=32, generator=torch.Generator().manual_seed(0)))
    before = [p.detach().clone() for p in model.parameters()]
    stats = train_with_stats(model, X, Y, steps=5, lr=0.1, generator=torch.Generator().manual_seed(1))
    assert len(stats.losses) == 5 and len(stats.update_ratio) == 5 and len(stats.update_ratio[0]) == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    make = lambda: init_kaiming(DeepMLP(27, n_layers=2, n_hidden=32))  # noqa: E731
    losses = lr_sweep(make, X, Y, [1e-4, 0.3, 1e4], steps=20, seed=0)
    assert losses[1] < losses[0]  # a sensible rate beats a tiny one
    assert losses[2] == math.inf or losses[2] > losses[1]  # an absurd one diverges
