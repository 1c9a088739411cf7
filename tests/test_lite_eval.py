"""Lite-eval: the 2PL IRT against girth and against the parameters that generated the data; subset methods."""

import numpy as np
import pytest

from llmcourse.evaluation.irt import fit_ability, fit_irt
from llmcourse.evaluation.lite import (
    METHODS, Subset, anchor_subset, estimate_scores, irt_subset, lite_eval_experiment, random_subset, stratified_subset,
    summarize_experiment,
)


def _simulate(M=60, N=300, seed=0):
    rng = np.random.default_rng(seed)
    a, b, theta = rng.uniform(0.6, 2.5, N), rng.normal(0, 1.2, N), np.sort(rng.normal(0, 1, M))
    p = 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    return (rng.random((M, N)) < p).astype(np.int8), a, b, theta


def test_irt_recovers_the_generating_parameters_as_well_as_girth():
    girth = pytest.importorskip("girth")
    y, a, b, theta = _simulate(M=50, N=200)
    ours = fit_irt(y)
    theirs = girth.twopl_jml(y.T.astype(int))  # girth wants (items, people)
    corr = lambda u, v: float(np.corrcoef(u, v)[0, 1])  # noqa: E731
    assert corr(ours.b, b) > 0.9 and corr(ours.theta, theta) > 0.9 and corr(ours.a, a) > 0.5
    assert corr(ours.b, b) >= corr(theirs["Difficulty"], b) - 0.03
    assert corr(ours.b, theirs["Difficulty"]) > 0.9
    assert corr(ours.a, theirs["Discrimination"]) > 0.6


def test_ability_of_a_new_model_from_a_subset():
    y, a, b, theta = _simulate(M=80, N=400, seed=1)
    model = fit_irt(y[:60])
    items = np.arange(0, 400, 4)
    est = [fit_ability(model, items, y[i, items]) for i in range(60, 80)]
    assert np.corrcoef(est, theta[60:])[0, 1] > 0.85
    with pytest.raises(ValueError, match="answers"):
        fit_ability(model, items, y[0, :10])
    with pytest.raises(ValueError, match="0 \\(wrong\\) and 1"):
        fit_irt(np.full((3, 3), 2))


def test_subsets_weights_and_estimates():
    y, *_ = _simulate(M=30, N=200, seed=2)
    rng = np.random.default_rng(0)
    strata = [f"s{i % 7}" for i in range(200)]
    for sub in (random_subset(200, 50, rng), stratified_subset(strata, 50, rng), anchor_subset(y, 50), 
                irt_subset(fit_irt(y), 50)):
        assert len(set(sub.items)) == len(sub.items) <= 50 and abs(sub.weights.sum() - 1) < 1e-9
    full = random_subset(200, 200, rng)
    np.testing.assert_allclose(estimate_scores(full, y[:, full.items]), y.mean(1))  # the whole benchmark is exact
    sub = stratified_subset(strata, 14, rng)
    assert {strata[i] for i in sub.items} == set(strata)  # every stratum is represented
    irt = fit_irt(y)
    every = Subset(np.arange(200), np.full(200, 1 / 200), "irt")  # p-IRT with every item observed is exact
    np.testing.assert_allclose(estimate_scores(every, y[:, every.items], irt), y.mean(1), atol=1e-9)
    with pytest.raises(ValueError, match="IRT model"):
        estimate_scores(every, y[:, every.items])


def test_experiment_errors_shrink_with_size_and_learned_methods_help_on_irt_data():
    y, *_ = _simulate(M=40, N=400, seed=3)
    strata = [f"c{i % 5}" for i in range(400)]
    rows = summarize_experiment(lite_eval_experiment(y, strata, sizes=(10, 100), repeats=3, folds=4))
    get = {(r["method"], r["n"]): r for r in rows}
    assert {r["method"] for r in rows} == set(METHODS)
    for m in METHODS:
        assert get[(m, 100)]["mae"] < get[(m, 10)]["mae"]
        assert get[(m, 100)]["spearman"] > 0.8
    # on data that follows a 2PL model, the IRT estimate beats plain random sampling with few items
    assert get[("irt", 10)]["mae"] < get[("random", 10)]["mae"]
    with pytest.raises(ValueError, match="too few"):
        lite_eval_experiment(y[:5], strata, sizes=(10,), folds=4)


def test_ability_equals_girths_map_estimate():
    girth = pytest.importorskip("girth")
    from llmcourse.evaluation.irt import ability_map

    rng = np.random.default_rng(4)
    for theta in (-1.5, 0.0, 0.7, 2.0):
        a, b = rng.uniform(0.5, 2.5, 60), rng.normal(0, 1, 60)
        y = (rng.random(60) < 1 / (1 + np.exp(-a * (theta - b)))).astype(int)
        assert ability_map(a, b, y) == pytest.approx(float(girth.ability_map(y[:, None], b, a)[0]), abs=1e-3)
    steep = np.full(20, 12.0)  # very discriminating items: Newton's method overshot here, bisection does not
    assert abs(ability_map(steep, np.linspace(-1, 1, 20), np.r_[np.ones(10), np.zeros(10)])) < 0.2


def test_population_pieces_quantisation_checkpoints_and_learner_models():
    import torch

    from llmcourse.evaluation.population import learner_lms, quantize_int4_rtn, quantize_int8_dynamic
    from llmcourse.models import GPT, GPTConfig
    from llmcourse.tokenization.bpe_regex import RegexTokenizer

    torch.manual_seed(0)
    model = GPT(GPTConfig.llama_style(vocab_size=300, n_layer=1, n_head=2, n_kv_head=1, n_embd=32, block_size=16))
    q4 = quantize_int4_rtn(model)
    name, w = next((n, m.weight) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
                   and m.weight.shape[1] % 32 == 0)
    name += ".weight"
    w4 = dict(q4.named_parameters())[name].detach().numpy().reshape(-1, 32)
    ref = w.detach().numpy().reshape(-1, 32)
    scale = np.abs(ref).max(1, keepdims=True) / 7  # numpy by hand: absmax/7 per group of 32, round, clip
    np.testing.assert_allclose(w4, np.clip(np.round(ref / scale), -7, 7) * scale, rtol=1e-6, atol=1e-7)
    assert all(len(np.unique(np.round(row / s, 4))) <= 15 for row, s in zip(w4, scale[:, 0]))  # 4-bit levels
    ids = torch.randint(300, (2, 8))
    q8 = quantize_int8_dynamic(model)
    assert torch.allclose(q8(ids)[0], model(ids)[0], atol=0.05)
    tok = RegexTokenizer().train("abc def ghi " * 50, 260)
    lms = learner_lms({"pretrain-checkpoints": {"step-10": model, "step-20": q4, "tokenizer": tok},
                       "course-gpt-sft": {"model": model, "tokenizer": tok}, "other": [1, 2]})
    assert sorted(lms) == ["course-gpt-sft", "pretrain-checkpoints/step-10", "pretrain-checkpoints/step-20"]
