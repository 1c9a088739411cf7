"""Lite-eval: estimate a model's full-benchmark score from a small subset of items.

A full evaluation can take hours; during training you want a number every few minutes.
Which 100 items stand in best for 1,000? Four answers, cheapest first:

* **random**: n items uniformly; the estimate is their mean. Unbiased, but noisy.
* **stratified**: n items spread over the strata (category x language) in proportion to
  their size; each stratum's mean is weighted by its share. Removes the noise that comes
  from drawing too many items of one kind.
* **anchor points** (Vivek et al., 2023): items that the *same models* get right are
  redundant. Cluster items by their correctness pattern across a population of known
  models (k-means on the columns of the models x items matrix), keep the item nearest each
  centre (the anchor) and weight it by its cluster's size.
* **IRT** (tinyBenchmarks, Polo et al., 2024): fit a 2PL model on the known models; pick
  anchors by clustering items in IRT space (discrimination, difficulty); estimate a new
  model's ability from its answers on the anchors and predict its score on every item it
  did not answer ("p-IRT": observed items count as they are, the rest by P(correct | theta)).

Methods that learn from known models must be judged on *other* models: `lite_eval_experiment`
splits the population into folds, selects on the others, estimates the held-out ones, and
reports the mean absolute error of the estimated score (in points) and the Spearman and
Kendall correlations of the estimated ranking with the full-benchmark ranking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from llmcourse.evaluation.irt import IRT2PL, fit_ability, fit_irt

__all__ = ["METHODS", "Subset", "anchor_points", "anchor_subset", "spearman", "estimate_scores", "irt_subset", "lite_eval_experiment",
           "random_subset", "stratified_subset", "summarize_experiment"]

METHODS = ("random", "stratified", "anchor", "irt")


@dataclass
class Subset:
    items: np.ndarray  # indices into the benchmark
    weights: np.ndarray  # one per chosen item, summing to 1: estimate = weights @ answers
    method: str


def random_subset(n_items: int, n: int, rng: np.random.Generator) -> Subset:
    items = np.sort(rng.choice(n_items, size=min(n, n_items), replace=False))
    return Subset(items, np.full(len(items), 1 / len(items)), "random")


def stratified_subset(strata: Sequence[str], n: int, rng: np.random.Generator) -> Subset:
    """Proportional allocation (at least one item per stratum), random within each stratum."""
    strata = np.asarray(strata)
    names, counts = np.unique(strata, return_counts=True)
    share = counts / counts.sum()
    alloc = np.maximum(1, np.floor(share * n)).astype(int)
    for k in np.argsort(-(share * n - np.floor(share * n))):  # hand out the rest by largest remainder
        if alloc.sum() >= n:
            break
        alloc[k] += 1
    items, weights = [], []
    for name, k, s in zip(names, np.minimum(alloc, counts), share):
        pool = np.flatnonzero(strata == name)
        pick = rng.choice(pool, size=k, replace=False)
        items += list(pick)
        weights += [s / k] * k
    order = np.argsort(items)
    return Subset(np.asarray(items)[order], np.asarray(weights)[order], "stratified")


def _anchors(points: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means on the rows of `points`; the row nearest each centre and its cluster's share."""
    from sklearn.cluster import KMeans

    import warnings

    from sklearn.exceptions import ConvergenceWarning

    n = min(n, len(points))
    with warnings.catch_warnings():  # identical items (all models right, say) make fewer distinct clusters: fine
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=n, n_init=1, random_state=seed).fit(points)
    items, weights = [], []
    for c in range(n):
        members = np.flatnonzero(km.labels_ == c)
        if len(members) == 0:
            continue
        d = ((points[members] - km.cluster_centers_[c]) ** 2).sum(1)
        items.append(members[np.argmin(d)])
        weights.append(len(members) / len(points))
    order = np.argsort(items)
    return np.asarray(items)[order], np.asarray(weights)[order]


def anchor_subset(known: np.ndarray, n: int, seed: int = 0) -> Subset:
    """Anchor points from the (known models x items) correctness matrix."""
    items, weights = _anchors(np.asarray(known, dtype=float).T, n, seed)
    return Subset(items, weights, "anchor")


def anchor_points(known: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(item indices, weights) of `n` anchor points of a (models x items) correctness matrix."""
    sub = anchor_subset(known, n, seed=0)
    return sub.items, sub.weights


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation: Pearson correlation of the ranks (ties get their average rank)."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if np.std(rx) == 0 or np.std(ry) == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def irt_subset(irt: IRT2PL, n: int, seed: int = 0) -> Subset:
    """Anchors in IRT space: items described by (discrimination, difficulty)."""
    emb = np.stack([np.log(irt.a), irt.b], axis=1)
    emb = (emb - emb.mean(0)) / (emb.std(0) + 1e-9)
    items, weights = _anchors(emb, n, seed)
    return Subset(items, weights, "irt")


def estimate_scores(subset: Subset, answers: np.ndarray, irt: IRT2PL | None = None) -> np.ndarray:
    """Estimated full-benchmark accuracy (0..1) of each model from its (models, subset) 0/1 answers."""
    answers = np.asarray(answers, dtype=float)
    if subset.method != "irt":
        return answers @ subset.weights
    if irt is None:
        raise ValueError("the IRT estimate needs the fitted IRT model")
    n_items = len(irt.a)
    out = []
    for row in answers:
        theta = fit_ability(irt, subset.items, row)
        p = irt.prob(theta)
        p[subset.items] = row  # p-IRT: what was observed counts as observed
        out.append(p.sum() / n_items)
    return np.asarray(out)


def _select(method: str, known: np.ndarray, strata, n: int, rng, seed: int, irt: IRT2PL | None) -> Subset:
    if method == "random":
        return random_subset(known.shape[1], n, rng)
    if method == "stratified":
        return stratified_subset(strata, n, rng)
    if method == "anchor":
        return anchor_subset(known, n, seed)
    if method == "irt":
        return irt_subset(irt, n, seed)
    raise ValueError(f"unknown method {method!r}; use one of {METHODS}")


def lite_eval_experiment(correct: np.ndarray, strata: Sequence[str], sizes: Sequence[int],
                         methods: Sequence[str] = METHODS, repeats: int = 5, folds: int = 5, seed: int = 0,
                         progress: bool = False) -> list[dict]:
    """For every method, subset size and repeat: MAE (points) and rank correlations on held-out models."""
    from scipy.stats import kendalltau, spearmanr

    correct = np.asarray(correct)
    M, N = correct.shape
    if M < 2 * folds:
        raise ValueError(f"{M} models are too few for {folds} folds: need at least {2 * folds}")
    truth = correct.mean(1)
    records = []
    runs = [(r, n, m) for r in range(repeats) for n in sizes for m in methods]
    bar = runs
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(runs, desc="lite-eval", leave=False)
    irt_cache: dict[tuple[int, int], IRT2PL] = {}
    for r, n, method in bar:
        rng = np.random.default_rng(seed * 1000 + r * 97 + n)
        fold_of = np.random.default_rng(seed + r).permutation(M) % folds
        est = np.zeros(M)
        for f in range(folds):
            train, test = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
            irt = None
            if method == "irt":
                if (r, f) not in irt_cache:
                    irt_cache[(r, f)] = fit_irt(correct[train])
                irt = irt_cache[(r, f)]
            subset = _select(method, correct[train], strata, n, rng, seed + r, irt)
            est[test] = estimate_scores(subset, correct[test][:, subset.items], irt)
        records.append({"method": method, "n": int(n), "repeat": r,
                        "mae": float(np.abs(est - truth).mean() * 100),
                        "spearman": float(spearmanr(est, truth).statistic),
                        "kendall": float(kendalltau(est, truth).statistic)})
    return records


def summarize_experiment(records: Sequence[dict]) -> list[dict]:
    """Per (method, n): mean and 5-95% spread over repeats of MAE, Spearman and Kendall."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for rec in records:
        groups.setdefault((rec["method"], rec["n"]), []).append(rec)
    rows = []
    for (method, n), recs in sorted(groups.items(), key=lambda kv: (METHODS.index(kv[0][0])
                                                                    if kv[0][0] in METHODS else 9, kv[0][1])):
        row = {"method": method, "n": n}
        for key in ("mae", "spearman", "kendall"):
            v = np.array([x[key] for x in recs])
            row[key], row[f"{key}_lo"], row[f"{key}_hi"] = float(v.mean()), float(np.percentile(v, 5)), \
                float(np.percentile(v, 95))
        rows.append(row)
    return rows
