"""Human evaluation: ratings against choix and scikit-learn, the SQLite vote store, the web app in a real browser."""

import base64
import json
import shutil
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from llmcourse.evaluation.ratings import (
    ELO_SCALE, bootstrap_ratings, bradley_terry, bt_ratings, elo_ratings, leaderboard, votes_to_pairs,
)
from llmcourse.evaluation.votes import DuplicateVote, UnknownPair, VoteError, VoteStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's browser (deps/debian.txt)


def _simulated_votes(n=400, seed=0, strengths=(0.0, 0.5, 1.0, -1.0, 2.0)):
    rng = np.random.default_rng(seed)
    names = [f"m{i}" for i in range(len(strengths))]
    votes = []
    for _ in range(n):
        i, j = rng.choice(len(names), 2, replace=False)
        p = 1 / (1 + np.exp(-(strengths[i] - strengths[j])))
        u = rng.random()
        votes.append((names[i], names[j], "a" if u < 0.9 * p else ("b" if u < 0.9 else rng.choice(["tie", "both_bad"]))))
    return names, votes


# ----------------------------------------------------------------------------- ratings
@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0])
def test_bradley_terry_equals_choix(alpha):
    choix = pytest.importorskip("choix")
    names, votes = _simulated_votes()
    pairs = votes_to_pairs(votes, names)
    ours = bradley_terry(len(names), pairs, alpha=alpha)
    theirs = choix.ilsr_pairwise(len(names), pairs) if alpha == 0 else \
        choix.mm_pairwise(len(names), pairs, alpha=alpha, tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(ours, theirs, atol=1e-7)


def test_bradley_terry_equals_choix_when_a_model_almost_never_loses():
    # the case MM crawls through (thousands of steps): one model loses 1 game in 40, a small prior
    choix = pytest.importorskip("choix")
    pairs = [(0, 1)] * 20 + [(0, 2)] * 19 + [(2, 0)] + [(1, 2)] * 6 + [(2, 1)] * 4 + [(3, 1), (1, 3), (2, 3)]
    ours = bradley_terry(4, pairs, alpha=0.01)
    theirs = choix.mm_pairwise(4, pairs, alpha=0.01, tol=1e-13, max_iter=1_000_000)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_bradley_terry_equals_a_logistic_regression_on_the_same_votes():
    from sklearn.linear_model import LogisticRegression

    names, votes = _simulated_votes(600, seed=1)
    pairs = votes_to_pairs(votes, names)
    rng = np.random.default_rng(0)
    X = np.zeros((len(pairs), len(names)))
    y = np.ones(len(pairs))
    for r, (w, l) in enumerate(pairs):  # "w beat l" as +1/-1 features; flip half the rows so both classes exist
        X[r, w], X[r, l] = 1, -1
        if rng.random() < 0.5:
            X[r] *= -1
            y[r] = 0
    lr = LogisticRegression(fit_intercept=False, C=1e10, tol=1e-12, max_iter=10_000).fit(X, y)
    coef = lr.coef_[0] - lr.coef_[0].mean()
    np.testing.assert_allclose(bradley_terry(len(names), pairs), coef, atol=1e-4)


def test_ratings_recover_the_true_order_and_elo_is_zero_sum():
    names, votes = _simulated_votes(2000, seed=2)
    bt = bt_ratings(votes)
    assert sorted(names, key=lambda m: -bt[m]) == ["m4", "m2", "m1", "m0", "m3"]
    elo = elo_ratings(votes)
    assert abs(sum(elo.values()) - 1000 * len(names)) < 1e-6
    assert abs(np.mean(list(bt.values())) - 1000) < 1e-6
    # BT on the Elo scale: a 400-point gap means 10:1 odds
    s = bradley_terry(len(names), votes_to_pairs(votes, sorted(names)))
    assert abs((bt["m4"] - bt["m3"]) - ELO_SCALE * (s[4] - s[3])) < 1e-6


def test_bootstrap_intervals_and_leaderboard():
    names, votes = _simulated_votes(300, seed=3)
    ci = bootstrap_ratings(votes, n_boot=60)
    bt = bt_ratings(votes, alpha=1e-3)
    for m in names:
        assert ci[m][0] <= bt[m] <= ci[m][1], (m, ci[m], bt[m])
    rows = leaderboard(votes, n_boot=30)
    assert [r["model"] for r in rows][0] == "m4" and sum(r["votes"] for r in rows) == 2 * len(votes)


def test_ratings_refuse_bad_votes():
    with pytest.raises(ValueError, match="no votes"):
        bt_ratings([])
    with pytest.raises(ValueError, match="outcome"):
        bt_ratings([("a", "b", "maybe")])
    with pytest.raises(ValueError, match="never won or never lost"):
        bt_ratings([("a", "b", "a"), ("a", "b", "a")])
    assert bt_ratings([("a", "b", "a")], alpha=0.1)["a"] > 1000  # a prior keeps it finite


# ----------------------------------------------------------------------------- the vote store
@pytest.fixture()
def store(tmp_path):
    s = VoteStore(tmp_path / "votes.sqlite")
    s.add_pairs([(f"prompt {i}", f"out {i} one", f"out {i} two", "alpha", "beta") for i in range(6)])
    return s


def test_store_is_wal_one_vote_per_rater_per_pair_and_hides_models(store):
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    pair = store.next_pair("ann")
    assert set(pair) == {"pair_id", "prompt", "output_a", "output_b"}  # no model names
    store.vote("ann", pair["pair_id"], "a", "clearer")
    with pytest.raises(DuplicateVote, match="one vote per rater per pair"):
        store.vote("ann", pair["pair_id"], "b")
    assert store.next_pair("ann")["pair_id"] != pair["pair_id"]
    with pytest.raises(UnknownPair, match="no pair"):
        store.vote("ann", "nope", "a")
    with pytest.raises(VoteError, match="choice"):
        store.vote("ann", pair["pair_id"], "A")
    with pytest.raises(VoteError, match="rater"):
        store.vote("  ", pair["pair_id"], "a")
    assert store.counts() == {"pairs": 6, "votes": 1, "raters": 1}
    sides = {(v["model_a"], v["model_b"]) for v in store.votes()}
    assert sides <= {("alpha", "beta"), ("beta", "alpha")}


def test_a_locked_database_is_retried_and_the_vote_kept(store):
    pid = store.pair_ids()[0]
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the lock
    fast = VoteStore(store.path, busy_timeout=0.05, retries=8)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("id", fast.vote("bob", pid, "tie")))
    t.start()
    time.sleep(0.4)
    blocker.execute("COMMIT")
    t.join(10)
    assert result.get("id") and store.counts()["votes"] == 1
    blocker.execute("BEGIN EXCLUSIVE")  # held for good: a clear error, nothing half-stored
    hopeless = VoteStore(store.path, busy_timeout=0.02, retries=2)
    with pytest.raises(VoteError, match="locked"):
        hopeless.vote("carol", pid, "a")
    blocker.execute("ROLLBACK")
    blocker.close()
    assert store.counts()["votes"] == 1


# ----------------------------------------------------------------------------- the app
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from llmcourse.evaluation.annotate import AnnotationServer

    store = VoteStore(tmp_path_factory.mktemp("app") / "votes.sqlite")
    store.add_pair("Greet the user", "<script>window.__xss = 1</script>Hello!",
                   '<img src=x onerror="window.__xss = 2">Hi there', "model-x", "model-y", pair_id="xss")
    store.add_pairs([(f"question {i}", f"answer {i} (x)", f"answer {i} (y)", "model-x", "model-y") for i in range(12)])
    with AnnotationServer(store) as srv:
        yield srv


def _post(url, body, auth=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


@pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM),
                    reason="Debian's chromium is not installed (scripts/setup-system.sh installs it)")
def test_vote_through_the_browser_and_scripts_in_outputs_do_not_run(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(server.url)
            page.locator("#rater textarea, #rater input").first.fill("browser-rater")
            page.locator("#next").click()
            page.wait_for_function("(document.querySelector('#output-a textarea') || {}).value", timeout=30_000)
            shown = {page.locator("#output-a textarea").input_value(), page.locator("#output-b textarea").input_value()}
            assert shown == {"<script>window.__xss = 1</script>Hello!", '<img src=x onerror="window.__xss = 2">Hi there'}
            assert page.evaluate("window.__xss === undefined"), "HTML in a model output was executed"
            assert page.locator("#output-a img, #output-b img, #output-a script").count() == 0
            page.locator("#comment textarea, #comment input").first.fill("first one is friendlier")
            page.locator("#vote-b").click()
            page.wait_for_function("document.querySelector('#status textarea').value.includes('saved')",
                                   timeout=30_000)
        finally:
            browser.close()
    rows = [v for v in server.store.votes() if v["rater"] == "browser-rater"]
    assert len(rows) == 1 and rows[0]["pair_id"] == "xss" and rows[0]["choice"] == "b"
    assert rows[0]["comment"] == "first one is friendlier" and rows[0]["model_b"] in ("model-x", "model-y")


def test_concurrent_votes_through_the_api_lose_none_and_duplicate_none(server):
    ids = [pid for pid in server.store.pair_ids() if pid != "xss"]
    raters = [f"r{i}" for i in range(8)]
    jobs = [(r, pid) for r in raters for pid in ids] * 2  # every vote sent twice, at the same time
    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(lambda job: _post(server.url + "/api/vote",
                                                {"rater": job[0], "pair_id": job[1], "choice": "a"})[0], jobs))
    assert codes.count(200) == len(raters) * len(ids) and codes.count(409) == len(raters) * len(ids)
    stored = [(v["rater"], v["pair_id"]) for v in server.store.votes() if v["rater"] in raters]
    assert len(stored) == len(set(stored)) == len(raters) * len(ids)
    status, board = json.load(urllib.request.urlopen(server.url + "/api/leaderboard")), None
    assert {r["model"] for r in status["rows"]} == {"model-x", "model-y"}


def test_api_rejects_unknown_pairs_and_bad_choices(server):
    assert _post(server.url + "/api/vote", {"rater": "z", "pair_id": "missing", "choice": "a"})[0] == 400
    assert _post(server.url + "/api/vote", {"rater": "z", "pair_id": "xss", "choice": "maybe"})[0] == 400
    assert not [v for v in server.store.votes() if v["rater"] == "z"]


def test_password_required_beyond_loopback_and_for_raters_without_it(tmp_path):
    from llmcourse.evaluation.annotate import AnnotationServer

    store = VoteStore(tmp_path / "v.sqlite")
    pid = store.add_pair("p", "x", "y", "m1", "m2")
    with pytest.raises(ValueError, match="without a password"):
        AnnotationServer(store, host="0.0.0.0")
    with AnnotationServer(store, password="open sesame") as srv:
        assert _post(srv.url + "/api/vote", {"rater": "eve", "pair_id": pid, "choice": "a"})[0] == 401
        assert _post(srv.url + "/api/vote", {"pair_id": pid, "choice": "a"}, auth="eve:wrong")[0] == 401
        code, body = _post(srv.url + "/api/vote", {"pair_id": pid, "choice": "a"}, auth="eve:open sesame")
        assert code == 200 and store.votes()[0]["rater"] == "eve"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(srv.url + "/config", timeout=30)  # the page's data needs the login too
        assert err.value.code in (401, 403)
