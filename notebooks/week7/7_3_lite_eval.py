# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7.3 Lite-eval: a small subset that ranks models like the full benchmark
#
# A full benchmark run takes hours on big benchmarks; during training you want a number
# every few minutes. tinyBenchmarks (Polo et al., 2024) reports that about 100 well-chosen
# items estimate a model's full score within about 2 points. Does that hold for our
# benchmark and our models?
#
# We need many real models of different ability, each evaluated on every item: a
# **population** of course GPTs (three sizes — two in smoke — two seeds, four checkpoints along training,
# int8 and int4 quantised copies) plus Gemma 3 270M (laptop profile and up), and your own checkpoints from weeks
# 4-6 when you made them. Then four ways to choose a subset — random, stratified, anchor
# points, item response theory (IRT) — and, for each subset size, how well the subset's
# estimate matches the full score (mean absolute error, points) and ranks the models
# (Spearman and Kendall correlation), judged on models the method did not see.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("7.3")

# %% [markdown]
# ## Knobs

# %%
SIZES = cfg.pick(smoke=(10, 25, 50, 100), laptop=(10, 25, 50, 100, 200, 400))  # subset sizes
REPEATS = cfg.pick(smoke=2, laptop=10)  # random draws of folds and subsets per size (the spread)
FOLDS = cfg.pick(smoke=4, laptop=5)  # models are split in folds: select on the others, test on one
LITE = 100  # the subset size `llmcourse eval --suite lite` uses

# %% [markdown]
# ## 1. The population
#
# Building it trains 6 course GPTs (4 in the smoke profile: two sizes), keeps 4 checkpoints
# of each, and scores 31 models (20 in smoke) on every multiple-choice item; it is done once
# and cached (`eval-population`). Your own models (week 4's checkpoints and pre-trained GPT,
# week 5's fine-tune) are scored now and added.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from llmcourse.assets.artifacts import ArtifactError, load_artifact, save_artifact
from llmcourse.evaluation import course_benchmark, evaluate_lm, items_hash
from llmcourse.evaluation.population import learner_lms, reference_eval_population

pop = load_artifact("eval-population", fallback=reference_eval_population)
pop = {k: (list(v) if isinstance(v, list) else v) for k, v in pop.items()}
bench = {i.id: i for i in course_benchmark(pop.get("profile", cfg.profile))}
items = [bench[i] for i in pop["item_ids"]]
yours = {}
for name, load in (("pretrain-checkpoints", lambda: load_artifact("pretrain-checkpoints")),
                   ("course-gpt-pretrained", lambda: load_artifact("course-gpt-pretrained")),
                   ("course-gpt-sft", lambda: load_artifact("course-gpt-sft"))):
    try:
        yours[name] = load()
    except (ArtifactError, FileNotFoundError) as err:
        print(f"{name}: not made yet ({str(err)[:70]})")
for name, lm in learner_lms(yours).items():
    if name in pop["models"]:
        continue
    start = time.perf_counter()
    recs = evaluate_lm(lm, items)
    pop["models"].append(name)
    pop["correct"].append([r["correct"] for r in recs])
    pop["margin"].append([round(r["margin"], 3) for r in recs])
    pop["seconds"][name] = time.perf_counter() - start
    pop["facts"].append({"family": "yours", "size": "?", "params": lm.model.num_params(), "step": None, "seed": None,
                         "quant": "fp32"})
    print(f"added your {name}")
correct = np.asarray(pop["correct"])
facts = pd.DataFrame(pop["facts"], index=pop["models"])
facts["accuracy"] = correct.mean(1) * 100
M, N = correct.shape
print(f"{M} models x {N} items")
display(facts.sort_values("accuracy", ascending=False).head(12).round(1))

# %%
fig, ax = plt.subplots(figsize=(9, 3))
order = facts.sort_values("accuracy")
colors = {"course-gpt": "tab:blue", "gemma": "tab:red", "yours": "tab:green"}
ax.bar(range(M), order.accuracy, color=[colors.get(f, "gray") for f in order.family])
ax.set_xticks(range(M), order.index, rotation=90, fontsize=6)
ax.set_ylabel("full-benchmark accuracy (%)")
ax.set_title("The population, weakest to strongest (blue: course GPTs, red: Gemma, green: yours)")
plt.show()

# %% [markdown]
# ## 2. Ranking with a subset: rank correlation
#
# What matters most for lite-eval is often not the exact score but the *order*: is
# checkpoint 3 better than checkpoint 2? Spearman's rank correlation compares two orderings:
# rank both lists, then take the ordinary (Pearson) correlation of the ranks; tied values
# share the average of their ranks.
#
# **Exercise `evaluation.spearman`** · difficulty 1 · ~10 min. Write `spearman(x, y)`.

# %%
def spearman(x, y):
    ### BEGIN SOLUTION
    def ranks(v):
        v = np.asarray(v, dtype=float)
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        for value in np.unique(v):  # ties share their average rank
            r[v == value] = r[v == value].mean()
        return r

    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])
    ### END SOLUTION


# %%
spearman = check("evaluation.spearman", spearman)

# %% [markdown]
# A first look: 100 random items, the models' scores on them against their full scores.

# %%
rng = np.random.default_rng(0)
subset = rng.choice(N, size=min(LITE, N), replace=False)
truth = correct.mean(1)
est = correct[:, subset].mean(1)
rho_random = spearman(est, truth)
fig, ax = plt.subplots(figsize=(4, 4))
ax.scatter(truth * 100, est * 100, s=12)
ax.plot([0, 100], [0, 100], "k--", lw=1)
ax.set_xlabel("full benchmark (%)")
ax.set_ylabel(f"{len(subset)} random items (%)")
plt.show()
cfg.say(f"{len(subset)} random items: Spearman {rho_random:.2f} with the full ranking, mean absolute error "
        f"{np.abs(est - truth).mean() * 100:.1f} points.")

# %% [markdown]
# ## 3. Item response theory
#
# A 2PL model gives each model an ability θ and each item a difficulty b and a
# discrimination a: P(right) = sigmoid(a (θ − b)). Fitted on the population (joint MAP,
# from scratch, `llmcourse.evaluation.irt`; tested against `girth`), it tells which items
# separate models (large a) and how hard they are (b).

# %%
from llmcourse.evaluation import fit_irt

irt = fit_irt(correct)
cats = np.array([it.category for it in items])
fig, ax = plt.subplots(figsize=(7, 3.5))
for c in sorted(set(cats)):
    m = cats == c
    ax.scatter(irt.b[m], np.log(irt.a[m]), s=10, label=c)
ax.set_xlabel("difficulty b")
ax.set_ylabel("log discrimination a")
ax.legend(fontsize=7, ncol=2)
ax.set_title("Items in IRT space")
plt.show()

# %% [markdown]
# Once the items are fitted, a *new* model's ability can be estimated from its answers to a
# few items alone, and its full score predicted as the mean of P(right) over every item.
#
# **Exercise `evaluation.ability`** · difficulty 2 · ~20 min. Write `ability(a, b, answers)`:
# the θ that maximises Σ_j [y_j log p_j + (1 − y_j) log(1 − p_j)] − θ²/2 (a standard normal
# prior keeps it finite when every answer is right), with p_j = sigmoid(a_j (θ − b_j)), in
# [−6, 6]. Checked against `girth.ability_map`.

# %%
def ability(a, b, answers):
    ### BEGIN SOLUTION
    a, b, y = (np.asarray(v, dtype=float) for v in (a, b, answers))
    lo, hi = -6.0, 6.0
    for _ in range(60):  # the slope of the log posterior decreases in theta: bisection finds its zero
        mid = (lo + hi) / 2
        p = 1 / (1 + np.exp(-a * (mid - b)))
        if (a * (y - p)).sum() - mid > 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
    ### END SOLUTION


# %%
ability = check("evaluation.ability", ability)

# %% [markdown]
# Your `ability` estimates each model's θ from 100 items, with the items fitted on the other
# models; the predicted full score (observed items as they are, the rest by their P(right))
# against the truth:

# %%
held = np.arange(M) % FOLDS
pred = np.zeros(M)
for f in range(FOLDS):
    fit = fit_irt(correct[held != f])
    pick = rng.choice(N, size=min(LITE, N), replace=False)
    for i in np.flatnonzero(held == f):
        theta = ability(fit.a[pick], fit.b[pick], correct[i, pick])
        p = fit.prob(theta)
        p[pick] = correct[i, pick]
        pred[i] = p.mean()
cfg.say(f"IRT from {min(LITE, N)} random items, your ability function: mean absolute error "
        f"{np.abs(pred - truth).mean() * 100:.1f} points, Spearman {spearman(pred, truth):.2f}.")

# %% [markdown]
# ## 4. Anchor points
#
# Items that the same models get right are redundant. Cluster the items by their
# correctness pattern over the known models, keep one per cluster, weight it by its
# cluster's size (Vivek et al., 2023).
#
# **Exercise `evaluation.anchor_points`** · difficulty 3 · ~35 min · stretch. Write
# `anchor_points(known, n) -> (items, weights)` for a (models × items) 0/1 matrix: k-means
# with n clusters on the items' columns (`known.T`), in each cluster the item nearest its
# centre, weight = cluster size / number of items.

# %%
def anchor_points(known, n):
    ### BEGIN SOLUTION
    import warnings

    from sklearn.cluster import KMeans

    pts = np.asarray(known, dtype=float).T
    with warnings.catch_warnings():  # identical columns give fewer distinct clusters than asked: fine
        warnings.simplefilter("ignore")
        km = KMeans(n_clusters=min(n, len(pts)), n_init=1, random_state=0).fit(pts)
    chosen, weights = [], []
    for c in range(km.n_clusters):
        members = np.flatnonzero(km.labels_ == c)
        if len(members):
            d = ((pts[members] - km.cluster_centers_[c]) ** 2).sum(1)
            chosen.append(members[np.argmin(d)])
            weights.append(len(members) / len(pts))
    return np.asarray(chosen), np.asarray(weights)
    ### END SOLUTION


# %%
anchor_points = check("evaluation.anchor_points", anchor_points)

# %% [markdown]
# ## 5. The experiment
#
# For each method and subset size, models are split into folds; the subset is chosen (and
# the IRT fitted) on the other folds and used to estimate the held-out fold's scores. Each
# repeat draws new folds and subsets: the bands show the 5-95% spread.

# %%
from llmcourse.evaluation import lite_eval_experiment, summarize_experiment

strata = [f"{it.category}/{it.language}" for it in items]
start = time.perf_counter()
records = lite_eval_experiment(correct, strata, sizes=[n for n in SIZES if n <= N], repeats=REPEATS, folds=FOLDS,
                               progress=True)
summary = pd.DataFrame(summarize_experiment(records))
# your anchor points, at the lite size, on the same kind of folds
mae_yours, est_yours = [], np.zeros(M)
for f in range(FOLDS):
    train, test = np.flatnonzero(held != f), np.flatnonzero(held == f)
    chosen, w = anchor_points(correct[train], min(LITE, N))
    est_yours[test] = correct[test][:, chosen] @ w
yours_row = {"mae": np.abs(est_yours - truth).mean() * 100, "spearman": spearman(est_yours, truth)}
print(f"experiment: {time.perf_counter() - start:.0f} s")
display(summary.round(3))

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for method, grp in summary.groupby("method", sort=False):
    axes[0].plot(grp.n, grp.mae, marker="o", label=method)
    axes[0].fill_between(grp.n, grp.mae_lo, grp.mae_hi, alpha=0.2)
    axes[1].plot(grp.n, grp.spearman, marker="o", label=method)
    axes[1].fill_between(grp.n, grp.spearman_lo, grp.spearman_hi, alpha=0.2)
axes[0].axhline(2, color="k", ls="--", lw=1, label="goal: 2 points")
axes[1].axhline(0.9, color="k", ls="--", lw=1, label="goal: 0.9")
for ax, label in zip(axes, ("mean absolute error (points)", "Spearman with the full ranking")):
    ax.set_xscale("log")
    ax.set_xlabel("items in the subset")
    ax.set_ylabel(label)
    ax.legend(fontsize=7)
plt.show()

# %%
at = summary[summary.n == min(LITE, N)].set_index("method")
best = at.mae.idxmin()
cfg.say(f"At {min(LITE, N)} items (of {N}): " + "; ".join(
    f"{m} MAE {at.loc[m, 'mae']:.1f} points (5-95%: {at.loc[m, 'mae_lo']:.1f}-{at.loc[m, 'mae_hi']:.1f}), Spearman "
    f"{at.loc[m, 'spearman']:.2f}, Kendall {at.loc[m, 'kendall']:.2f}" for m in at.index) +
    f". Your anchor points: MAE {yours_row['mae']:.1f}, Spearman {yours_row['spearman']:.2f}. "
    f"The goal (within 2 points, rank correlation >= 0.9) is {'met' if at.loc[best, 'mae'] <= 2 and at.loc[best, 'spearman'] >= 0.9 else 'not met'} "
    f"by the best method, {best}.")

# %% [markdown]
# How well a subset can rank depends on the population: models closer together than the noise of
# a random sample cannot be put in order by it. The standard error of one model's score on n
# random items of N is `sqrt(p (1 - p) / n * (N - n) / (N - 1))` (the last factor: the subset
# is drawn from a finite benchmark); compare it with the gaps between models.

# %%
n_lite = min(LITE, N)
acc = correct.mean(1) * 100  # (M,) full-benchmark accuracy, points
se_lite = 100 * np.sqrt(np.mean(acc / 100 * (1 - acc / 100)) / n_lite * (N - n_lite) / max(N - 1, 1))
close = (np.abs(acc[:, None] - acc[None, :]) < se_lite)[np.triu_indices(M, 1)].mean()
cfg.say(f"The {M} models' scores spread with a standard deviation of {acc.std():.1f} points (from "
        f"{acc.min():.1f} to {acc.max():.1f}); a random {n_lite}-item estimate of one score has a standard error "
        f"of about {se_lite:.1f} points, and {close:.0%} of the pairs of models are closer than that. A random "
        f"subset orders such pairs partly by chance (Spearman {at.loc['random', 'spearman']:.2f}); anchor points "
        f"and IRT choose and weight items by how the population answered them, and reach "
        f"{at.loc['anchor', 'spearman']:.2f} and {at.loc['irt', 'spearman']:.2f}.")
cfg.report(population_sd=round(float(acc.std()), 2), pairs_closer_than_se=round(float(close), 3))

# %% [markdown]
# ### Time saved
#
# Scoring time grows with the number of items; the lite subset costs `LITE / N` of a full run.

# %%
secs = pd.Series(pop["seconds"])
full_time = float(secs.sum())
lite_time = full_time * min(LITE, N) / N
factor = full_time / lite_time
cfg.say(f"Scoring all {M} models on all {N} items took {full_time:.0f} s in all (your models included); "
        f"{min(LITE, N)} items would take about {lite_time:.0f} s ({factor:.1f}x less). "
        f"The slowest model ({secs.idxmax()}, {secs.max():.0f} s) takes {secs.max() / full_time:.0%} of it.")

# %% [markdown]
# The subset `llmcourse eval --suite lite` uses: the best method's choice on *all* models,
# saved with its weights. The population (with your models) is saved for week 8.

# %%
from llmcourse.evaluation import anchor_subset, irt_subset, stratified_subset

chooser = {"anchor": lambda: anchor_subset(correct, min(LITE, N)), "irt": lambda: irt_subset(irt, min(LITE, N)),
           "stratified": lambda: stratified_subset(strata, min(LITE, N), np.random.default_rng(0))}
lite = chooser.get(best, chooser["stratified"])()
if best == "irt":  # p-IRT needs the IRT model to estimate; the saved subset uses cluster weights instead
    lite.method = "irt anchors (cluster weights)"
save_artifact("lite-subset", {"item_ids": [pop["item_ids"][i] for i in lite.items],
                              "weights": [float(w) for w in lite.weights], "method": lite.method,
                              "benchmark_sha256": pop["benchmark_sha256"]}, notebook="7.3",
              about=f"{len(lite.items)} items chosen by {lite.method} for `llmcourse eval --suite lite`")
_ = save_artifact("eval-population", pop, notebook="7.3", about=f"{M} models x {N} items, per-item correctness")

# %% [markdown]
# ## What we measured

# %%
cfg.report(n_models=M, n_items=N, best_method=best, **{f"mae_{m}_at_{min(LITE, N)}": float(at.loc[m, "mae"])
                                                     for m in at.index},
           **{f"spearman_{m}_at_{min(LITE, N)}": float(at.loc[m, "spearman"]) for m in at.index},
           mae_your_anchors=float(yours_row["mae"]), time_saved_factor=factor)
