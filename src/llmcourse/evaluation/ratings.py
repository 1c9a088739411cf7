"""Ratings from pairwise votes: Elo and Bradley–Terry, with bootstrap confidence intervals.

Raters see two anonymous outputs and say which is better. How do we turn many such votes
into one number per model?

**Elo** (chess; early Chatbot Arena) updates two ratings after each game: the winner takes
`K * (1 - expected)` points from the loser, with expected = 1 / (1 + 10^((R_b - R_a)/400)).
Simple and online, but the result depends on the *order* of the votes.

**Bradley–Terry** (1952) fits all votes at once: model i has a strength s_i and

    P(i beats j) = 1 / (1 + exp(-(s_i - s_j)))           (a logistic regression on s_i - s_j)

Maximum likelihood by Hunter's (2004) MM algorithm: with W_i the wins of i and n_ij the
games between i and j, repeat  p_i <- W_i / sum_j n_ij / (p_i + p_j)  with p = exp(s),
until nothing moves (the exercise; the library takes Newton steps to the same point). Order does not matter, and with enough votes it is what Chatbot
Arena reports now. We give s on the Elo scale (1000 + 400 / ln 10 * s, centred).

Ties (and "both bad") count as one win for each side, the convention of `choix` (whose
`mm_pairwise` our fit equals, regularisation included); votes
are resampled with replacement for 95% bootstrap intervals.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

__all__ = ["OUTCOMES", "votes_to_pairs", "bradley_terry", "bt_ratings", "elo_ratings", "elo_update", "bootstrap_ratings",
           "leaderboard"]

OUTCOMES = ("a", "b", "tie", "both_bad")
ELO_SCALE = 400 / math.log(10)


def _check(votes: Sequence[tuple[str, str, str]]) -> list[str]:
    if not votes:
        raise ValueError("no votes yet: ratings need at least one vote")
    for v in votes:
        if len(v) != 3 or v[2] not in OUTCOMES:
            raise ValueError(f"a vote is (model_a, model_b, outcome in {OUTCOMES}), got {v!r}")
        if v[0] == v[1]:
            raise ValueError(f"a model cannot play itself: {v!r}")
    return sorted({m for v in votes for m in v[:2]})


def votes_to_pairs(votes: Sequence[tuple[str, str, str]], models: Sequence[str]) -> list[tuple[int, int]]:
    """(winner index, loser index) pairs in choix's format; a tie gives one pair each way."""
    index = {m: i for i, m in enumerate(models)}
    pairs = []
    for a, b, outcome in votes:
        ia, ib = index[a], index[b]
        if outcome == "a":
            pairs.append((ia, ib))
        elif outcome == "b":
            pairs.append((ib, ia))
        else:
            pairs += [(ia, ib), (ib, ia)]
    return pairs


def bradley_terry(n_items: int, pairs: Sequence[tuple[int, int]], alpha: float = 0.0, max_iter: int = 200,
                  tol: float = 1e-12) -> np.ndarray:
    """Bradley–Terry log-strengths (mean 0) from (winner, loser) pairs, with `choix`'s prior.

    The fit maximises  L(s) = sum over games (w beat l) of log sigmoid(s_w - s_l)
                              + alpha * sum_i (s_i - exp(s_i)).
    Its stationary point is exactly the fixed point of the regularised MM update (the exercise,
    and choix's mm_pairwise):  p_i <- (W_i + alpha) / (sum_j n_ij / (p_i + p_j) + alpha).
    MM creeps there linearly — thousands of steps when a model almost never loses — so we take
    Newton steps instead (gradient and Hessian below; L is concave), which need about ten.
    With alpha = 0 every item must have won and lost at least once, else its maximum-likelihood
    strength is infinite.
    """
    wins = np.zeros(n_items)
    beat = np.zeros((n_items, n_items))  # beat[w, l]: how often w beat l
    for w, l in pairs:
        wins[w] += 1
        beat[w, l] += 1
    games = beat + beat.T  # n_ij
    if alpha == 0 and (np.any(wins == 0) or np.any(games.sum(1) == wins)):
        bad = [i for i in range(n_items) if wins[i] == 0 or games[i].sum() == wins[i]]
        raise ValueError(f"items {bad} never won or never lost: their strength is infinite; collect more votes "
                         "or pass alpha > 0 (a small prior)")

    def objective(s: np.ndarray) -> float:
        return float(-(beat * np.logaddexp(0, -(s[:, None] - s[None, :]))).sum() + alpha * (s - np.exp(s)).sum())

    s = np.zeros(n_items)
    for _ in range(max_iter):
        prob = 1 / (1 + np.exp(-(s[:, None] - s[None, :])))  # P(i beats j)
        grad = wins - (games * prob).sum(1) + alpha * (1 - np.exp(s))
        weight = games * prob * (1 - prob)
        neg_hessian = np.diag(weight.sum(1) + alpha * np.exp(s)) - weight  # a weighted graph Laplacian (+ prior)
        step = np.linalg.lstsq(neg_hessian, grad, rcond=None)[0]  # alpha = 0: singular along s + c; lstsq ignores it
        t, before = 1.0, objective(s)
        while objective(s + t * step) < before and t > 1e-10:  # backtrack: never step downhill
            t /= 2
        s = s + t * step
        if np.abs(t * step).sum() < tol or np.abs(grad).max() < tol:
            return s - s.mean()
    raise RuntimeError(f"Bradley–Terry did not converge in {max_iter} Newton steps")


def bt_ratings(votes: Sequence[tuple[str, str, str]], alpha: float = 0.0, tol: float = 1e-12) -> dict[str, float]:
    """Bradley–Terry ratings on the Elo scale (mean 1000) from (model_a, model_b, outcome) votes."""
    models = _check(votes)
    s = bradley_terry(len(models), votes_to_pairs(votes, models), alpha=alpha, tol=tol)
    return {m: 1000 + ELO_SCALE * float(x) for m, x in zip(models, s)}


def elo_update(r_a: float, r_b: float, score_a: float, k: float = 32.0) -> tuple[float, float]:
    """One Elo game: A scored score_a (1 win, 0.5 draw, 0 loss); returns the new (r_a, r_b)."""
    expected_a = 1 / (1 + 10 ** ((r_b - r_a) / 400))
    delta = k * (score_a - expected_a)
    return r_a + delta, r_b - delta


def elo_ratings(votes: Sequence[tuple[str, str, str]], k: float = 4.0, base: float = 1000.0) -> dict[str, float]:
    """Online Elo, votes in the order given (a tie or both-bad scores 0.5 for each)."""
    models = _check(votes)
    r = {m: base for m in models}
    for a, b, outcome in votes:
        r[a], r[b] = elo_update(r[a], r[b], {"a": 1.0, "b": 0.0}.get(outcome, 0.5), k)
    return r


def bootstrap_ratings(votes: Sequence[tuple[str, str, str]], method: str = "bt", n_boot: int = 200, seed: int = 0,
                      alpha: float = 0.0) -> dict[str, tuple[float, float]]:
    """95% intervals of each model's rating over `n_boot` resamples of the votes (with replacement)."""
    models = _check(votes)
    rng = np.random.default_rng(seed)
    draws = {m: [] for m in models}
    for _ in range(n_boot):
        sample = [votes[i] for i in rng.integers(0, len(votes), len(votes))]
        present = {m for v in sample for m in v[:2]}
        try:
            fit = bt_ratings(sample, alpha=max(alpha, 1e-3), tol=1e-7) if method == "bt" else elo_ratings(sample)
        except ValueError:
            continue
        for m in present:
            draws[m].append(fit[m])
    return {m: (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))) if d else (math.nan, math.nan)
            for m, d in draws.items()}


def leaderboard(votes: Sequence[tuple[str, str, str]], n_boot: int = 200, seed: int = 0,
                alpha: float = 0.01) -> list[dict]:
    """One row per model, best first: BT rating with its 95% interval, Elo, wins / losses / ties, votes."""
    models = _check(votes)
    bt = bt_ratings(votes, alpha=alpha)
    ci = bootstrap_ratings(votes, "bt", n_boot, seed, alpha=alpha)
    elo = elo_ratings(votes)
    tally = {m: Counter() for m in models}
    for a, b, outcome in votes:
        if outcome == "a":
            tally[a]["wins"] += 1
            tally[b]["losses"] += 1
        elif outcome == "b":
            tally[b]["wins"] += 1
            tally[a]["losses"] += 1
        else:
            tally[a]["ties"] += 1
            tally[b]["ties"] += 1
    rows = [{"model": m, "bt": round(bt[m], 1), "ci_low": round(ci[m][0], 1), "ci_high": round(ci[m][1], 1),
             "elo": round(elo[m], 1), "wins": tally[m]["wins"], "losses": tally[m]["losses"],
             "ties": tally[m]["ties"], "votes": sum(tally[m].values())} for m in models]
    return sorted(rows, key=lambda r: -r["bt"])
