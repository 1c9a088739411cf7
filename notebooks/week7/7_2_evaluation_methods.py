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
# # 7.2 Evaluation methods: metrics, judges, people
#
# When the answer is one number, grading is easy (7.1). When it is a sentence, a
# translation or a summary, what should we compute?
#
# * **Reference-based** metrics compare with a gold answer: exact match, BLEU and chrF
#   (n-gram overlap), ROUGE-L (longest common subsequence), embedding similarity.
# * **Reference-free** ones need no gold: perplexity (fluency), an **LLM as judge**, and
#   **self-consistency** (do repeated samples agree?).
# * **People**, through a small web app: pairwise votes turned into Elo and Bradley–Terry
#   ratings.
#
# Which to trust? We *meta-evaluate*: on outputs whose correctness we know, how well does each
# metric separate right from wrong? Then the week's plots: scores with confidence
# intervals per category and language, a heat map across models, score against size and
# training step.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("7.2")

# %% [markdown]
# ## Knobs

# %%
N_PAIRS = cfg.pick(smoke=3, laptop=120)  # English→Indonesian phrases, each with ~6 candidate translations
N_SLOW = cfg.pick(smoke=1, laptop=120)  # phrases whose candidates the slow metrics (perplexity, judge) also score
N_JUDGE = cfg.pick(smoke=1, laptop=80)  # (good, bad) translation pairs the LLM judge compares, both orders
N_SC = cfg.pick(smoke=1, laptop=24)  # word problems for self-consistency
SC_SAMPLES = cfg.pick(smoke=3, laptop=7)  # samples per problem
N_RATERS = cfg.pick(smoke=4, laptop=12)  # simulated raters voting through the app
VOTES_PER_RATER = cfg.pick(smoke=15, laptop=60)
N_BOOT = cfg.pick(smoke=50, laptop=500)  # bootstrap resamples for confidence intervals

# %% [markdown]
# ## 1. Outputs whose quality we know
#
# English→Indonesian phrases (dates, numbers, quantities) and, for each, candidate
# translations: the reference, correct variants (a *rewording* such as "hari Sabtu, tanggal
# 26 Januari 1963", or just a capital first letter), and wrong ones — a changed number or month (a critical error: the meaning is wrong), a
# dropped word, two words swapped, the English left untranslated.

# %%
import random

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from llmcourse.assets.translation import translation_pairs
from llmcourse.evaluation.corruptions import translation_candidates

pairs = [p for p in translation_pairs("test") if p.kind in ("date", "number", "quantity")]
pairs = random.Random(0).sample(pairs, min(N_PAIRS, len(pairs)))
cands = pd.DataFrame(translation_candidates(pairs, seed=0))
display(cands[cands.source == cands.source.iloc[0]][["kind", "text", "correct"]])
print(cands.kind.value_counts().to_dict())

# %% [markdown]
# ## 2. Reference-based metrics
#
# ROUGE-L (the summarisation metric) scores the **longest common subsequence** of the two
# token lists: words in the same order, not necessarily adjacent. With L = LCS length,
# precision = L / len(output), recall = L / len(reference), and ROUGE-L is their F1.
#
# **Exercise `evaluation.rouge_l`** · difficulty 2 · ~20 min. Write `rouge_l(pred, ref)`
# returning the F1, with tokens as `rouge-score` makes them: lowercase, then every run of
# `[a-z0-9]` is a token. Return 0.0 when either side has no token.

# %%
import re


def rouge_l(pred, ref):
    ### BEGIN SOLUTION
    p = re.sub(r"[^a-z0-9]+", " ", pred.lower()).split()
    r = re.sub(r"[^a-z0-9]+", " ", ref.lower()).split()
    if not p or not r:
        return 0.0
    table = [[0] * (len(p) + 1) for _ in range(len(r) + 1)]
    for i in range(1, len(r) + 1):
        for j in range(1, len(p) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if r[i - 1] == p[j - 1] else max(table[i - 1][j], table[i][j - 1])
    lcs = table[-1][-1]
    if lcs == 0:
        return 0.0
    prec, rec = lcs / len(p), lcs / len(r)
    return 2 * prec * rec / (prec + rec)
    ### END SOLUTION


# %%
rouge_l = check("evaluation.rouge_l", rouge_l)

# %% [markdown]
# Your ROUGE-L is the one used below; here it is beside `rouge-score` on every candidate.
# Then exact match, sacrebleu's sentence BLEU and chrF, and the cosine similarity of
# multilingual e5 embeddings.

# %%
from rouge_score import rouge_scorer

from llmcourse.evaluation import embedding_similarity, exact_match, sentence_bleu, sentence_chrf

scorer = rouge_scorer.RougeScorer(["rougeL"])
cands["ROUGE-L"] = [rouge_l(t, r) for t, r in zip(cands.text, cands.reference)]
rouge_equal = all(abs(x - scorer.score(r, t)["rougeL"].fmeasure) < 1e-12
                  for x, t, r in zip(cands["ROUGE-L"], cands.text, cands.reference))
assert rouge_equal
cands["exact match"] = [exact_match(t, r) for t, r in zip(cands.text, cands.reference)]
cands["BLEU"] = [sentence_bleu(t, r) for t, r in zip(cands.text, cands.reference)]
cands["chrF"] = [sentence_chrf(t, r) for t, r in zip(cands.text, cands.reference)]
cands["e5 cosine"] = embedding_similarity(list(cands.text), list(cands.reference), encoder="e5")
display(cands.groupby("kind")[["exact match", "BLEU", "chrF", "ROUGE-L", "e5 cosine"]].mean().round(2))

# %% [markdown]
# Look at the "number changed" row against "reworded": which metrics prefer the wrong
# translation to the correct rewording?
#
# ## 3. Reference-free: perplexity and an LLM judge
#
# **Perplexity** asks a language model how surprising a text is. We use Gemma 3 270M through
# llama.cpp. **LLM-as-judge**: Gemma reads a rubric, the task and the answer(s), and we read
# its probability of " Yes" (pointwise) or of " A" versus " B" (pairwise). The judge runs
# behind llama.cpp's OpenAI-compatible server, the way one calls a hosted judge.

# %%
from llmcourse.assets import gemma_gguf_path
from llmcourse.evaluation import Judge, LlamaCppLM, judge_report, perplexity
from llmcourse.inference.llamacpp import LlamaServer

gemma = LlamaCppLM(gemma_gguf_path(), name="gemma-3-270m-q4_k_m")
slow = cands.source.isin(cands.source.unique()[:N_SLOW])  # the rows the slow metrics score (NaN elsewhere)
cands.loc[slow, "-perplexity"] = -perplexity(gemma, list(cands.text[slow]), context="Bahasa Indonesia:")
server = LlamaServer(gemma_gguf_path(), n_ctx=1024).start()
try:
    judge = Judge(server_url=server.base_url, model=server.model_name)
    task = lambda src: f"Translate into Indonesian: {src}"  # noqa: E731
    cands.loc[slow, "judge P(yes)"] = [judge.grade(task(s), t) for s, t in zip(cands.source[slow], cands.text[slow])]
    rng = random.Random(1)
    cases = []
    for src, group in cands[slow].groupby("source"):
        good = group[group.kind == "reference"].text.iloc[0]
        bad = group[group.correct == 0].text.tolist()
        if bad:
            cases.append((task(src), good, rng.choice(bad)))
    jr = judge_report(judge, cases[:N_JUDGE])
finally:
    server.stop()
display(pd.DataFrame([{k: v for k, v in jr.items() if k != "rows"}]).round(3))
cfg.say(f"Asked in both orders on {jr['n']} (good, bad) pairs, the judge picks the answer shown first "
        f"{100 * jr['first_position_rate']:.0f}% of the time (50% = no position bias); its verdict flips with the "
        f"order {100 * (1 - jr['consistency']):.0f}% of the time. It picks the correct translation "
        f"{100 * jr['accuracy_good_first']:.0f}% of the time when it is shown first, "
        f"{100 * jr['accuracy_good_second']:.0f}% when second, {100 * jr['accuracy_debiased']:.0f}% after averaging "
        "the two orders.")

# %% [markdown]
# ### Meta-evaluation: which metric separates right from wrong?
#
# For each metric, its Spearman correlation with correctness and its ROC AUC: the chance
# that a correct candidate scores above a wrong one (1.0 perfect, 0.5 a coin flip). The two
# slow metrics are measured on the candidates they scored (`n`).

# %%
from llmcourse.evaluation import metric_correlations

metric_names = ["exact match", "BLEU", "chrF", "ROUGE-L", "e5 cosine", "-perplexity", "judge P(yes)"]
corr = pd.DataFrame(metric_correlations({m: cands[m] for m in metric_names}, cands.correct))
display(corr.round(3))
fig, ax = plt.subplots(figsize=(7, 3))
ax.barh(corr.metric, corr.auc, color=["tab:green" if a > 0.75 else "tab:orange" if a > 0.6 else "tab:red"
                                      for a in corr.auc])
ax.axvline(0.5, color="k", lw=1, ls="--")
ax.set_xlabel("ROC AUC: correct vs wrong translations")
ax.set_xlim(0, 1)
ax.set_title("Which metric to trust for translation?")
plt.show()
auc = dict(zip(corr.metric, corr.auc))
best = corr.sort_values("auc", ascending=False).iloc[0]
cfg.say(f"Best separator here: {best.metric} (AUC {best.auc:.2f}); chrF {auc['chrF']:.2f}, BLEU {auc['BLEU']:.2f}, "
        f"e5 {auc['e5 cosine']:.2f}, the judge {auc['judge P(yes)']:.2f}, perplexity {auc['-perplexity']:.2f}.")
by_kind = cands.groupby("kind")[["BLEU", "chrF", "e5 cosine"]].mean()
cfg.say(f"On a changed number (a wrong translation) chrF averages {by_kind.loc['number changed', 'chrF']:.0f}; "
        f"on a correct rewording {by_kind.loc['reworded', 'chrF']:.0f}." if "reworded" in by_kind.index and
        "number changed" in by_kind.index else "")

# %% [markdown]
# ### Self-consistency
#
# Sample several answers to a word problem at temperature 0.7 and take the majority. The
# share of samples that agree with the majority needs no reference: is it a confidence
# that tells right answers from wrong ones?

# %%
from llmcourse.evaluation import extract_answer, few_shot_prompt, is_equivalent, math_problems, parse_number, \
    self_consistency

shots = math_problems(n=12, seed=99, difficulties=(1, 2))
probs = [p for p in math_problems(n=N_SC * 3, seed=5, difficulties=(1, 2)) if p.language == "en"][:N_SC]


def canonical(text):
    values = parse_number(extract_answer(text) or "")
    return str(values[0]) if values else None


sc_rows = []
for p in probs:
    prompt = few_shot_prompt(p, shots)
    sample = lambda n, prompt=prompt: [gemma.llm.create_completion(prompt, max_tokens=48, temperature=0.7, seed=s,
                                                                    stop=["\n\n", "\nQuestion:"])["choices"][0]["text"]
                                       for s in range(n)]
    sc = self_consistency(sample, canonical, n=SC_SAMPLES)
    greedy = gemma.generate([prompt], 48, ["\n\n", "\nQuestion:"])[0]
    sc_rows.append({"question": p.question[:60], "gold": p.answer, "majority": sc["answer"],
                    "agreement": sc["agreement"], "majority right": sc["answer"] is not None and
                    is_equivalent(sc["answer"], p.answer), "greedy right": is_equivalent(extract_answer(greedy),
                                                                                         p.answer)})
sc_table = pd.DataFrame(sc_rows)
display(sc_table)

# %% [markdown]
# ## 4. People: a human-evaluation app
#
# `llmcourse annotate` serves a gradio page (127.0.0.1 only unless a password is set): a
# prompt, two anonymous outputs side by side as plain text (an output holding `<script>` is
# shown, never run), buttons A / B / tie / both bad and a comment box. Votes go to SQLite in
# WAL mode; model names stay on the server, and one rater votes once per pair. The tests
# drive it in a real browser (Chromium through Playwright). Here we start it, let simulated
# raters vote through its JSON API, and fit ratings. The "systems" are the candidate kinds
# above, so we know the right order: correct ones should win.

# %%
import json
import urllib.request
from pathlib import Path

from llmcourse.evaluation.annotate import AnnotationServer
from llmcourse.evaluation.votes import VoteStore

db = cfg.scratch("votes") / "votes.sqlite"
store = VoteStore(db)
rows = []
for src, group in cands.groupby("source"):
    g = group.set_index("kind").text
    kinds = list(g.index)
    for _ in range(3):
        a, b = random.Random(len(rows)).sample(kinds, 2)
        rows.append((f"Translate into Indonesian: {src}", g[a], g[b], a, b))
store.add_pairs(rows, seed=0)
quality = {"reference": 1.5, "reworded": 1.2, "capitalised": 1.4, "order swapped": -0.2, "word dropped": -0.5, "month changed": -0.8,
           "number changed": -0.8, "untranslated": -2.0}  # the raters' (hidden) taste


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


sent = 0
with AnnotationServer(store) as app:
    print("app running at", app.url)
    with urllib.request.urlopen(app.url + "/") as page:
        assert page.status == 200
    rng = np.random.default_rng(0)
    pair_models = store.pair_models()  # the simulation may know the systems; raters never see them
    for r in range(N_RATERS):
        rater = f"rater-{r}"
        for _ in range(VOTES_PER_RATER):
            pair = json.load(urllib.request.urlopen(f"{app.url}/api/next?rater={rater}"))["pair"]
            if pair is None:
                break
            ma, mb = pair_models[pair["pair_id"]]
            p_a = 1 / (1 + np.exp(quality[mb] - quality[ma]))
            u = rng.random()
            choice = "a" if u < 0.9 * p_a else "b" if u < 0.9 else "tie"
            post(app.url + "/api/vote", {"rater": rater, "pair_id": pair["pair_id"], "choice": choice})
            sent += 1
    board = json.load(urllib.request.urlopen(app.url + "/api/leaderboard"))
stored = store.votes()
votes_kept = len(stored) == sent and len({(v["rater"], v["pair_id"]) for v in stored}) == sent
display(pd.DataFrame(board["rows"]))
print(f"{sent} votes sent, {len(stored)} stored")
assert votes_kept

# %% [markdown]
# **Exercise `evaluation.elo_update`** · difficulty 1 · ~10 min. Elo after one game: with
# expected_a = 1 / (1 + 10^((r_b − r_a)/400)), A gains k·(score_a − expected_a) and B loses
# it (score_a is 1 for a win, ½ for a tie, 0 for a loss). Write `elo_update(r_a, r_b, score_a, k=32)`.

# %%
def elo_update(r_a, r_b, score_a, k=32.0):
    ### BEGIN SOLUTION
    expected_a = 1 / (1 + 10 ** ((r_b - r_a) / 400))
    delta = k * (score_a - expected_a)
    return r_a + delta, r_b - delta
    ### END SOLUTION


# %%
elo_update = check("evaluation.elo_update", elo_update)

# %% [markdown]
# **Exercise `evaluation.bradley_terry`** · difficulty 3 · ~35 min · stretch. Elo depends on
# the order of the votes; Bradley–Terry fits them all at once: P(i beats j) = p_i / (p_i + p_j).
# Write `bradley_terry(n_items, pairs)` for (winner, loser) index pairs, by Hunter's MM
# iteration p_i ← W_i / Σ_j n_ij / (p_i + p_j) (W_i: wins of i, n_ij: games between i and j)
# until nothing moves; return log p minus its mean. Checked against `choix`.

# %%
def bradley_terry(n_items, pairs):
    ### BEGIN SOLUTION
    wins = np.zeros(n_items)
    games = np.zeros((n_items, n_items))
    for w, l in pairs:
        wins[w] += 1
        games[w, l] += 1
        games[l, w] += 1
    p = np.ones(n_items)
    for _ in range(100_000):
        new = wins / (games / (p[:, None] + p[None, :])).sum(1)
        new /= np.exp(np.log(new).mean())
        if np.abs(np.log(new) - np.log(p)).max() < 1e-12:
            p = new
            break
        p = new
    s = np.log(p)
    return s - s.mean()
    ### END SOLUTION


# %%
bradley_terry = check("evaluation.bradley_terry", bradley_terry)

# %% [markdown]
# Your two functions rate the systems from the stored votes (a tie counts one win each way,
# as `choix` does), beside `choix` itself, with bootstrap intervals from the library.

# %%
import choix
from scipy.stats import spearmanr

from llmcourse.evaluation import bootstrap_ratings
from llmcourse.evaluation import bradley_terry as library_bt
from llmcourse.evaluation.ratings import ELO_SCALE, votes_to_pairs

votes = store.model_votes()
systems = sorted({m for v in votes for m in v[:2]})
bt_pairs = votes_to_pairs(votes, systems)
alpha = 0.01
theirs = choix.mm_pairwise(len(systems), bt_pairs, alpha=alpha, tol=1e-12, max_iter=100_000)

bt_equal = bool(np.allclose(library_bt(len(systems), bt_pairs, alpha=alpha), theirs, atol=1e-7))
won, lost = {w for w, _ in bt_pairs}, {l for _, l in bt_pairs}
if len(won) == len(lost) == len(systems):  # every system won and lost: finite strengths, your MM applies
    yours = bradley_terry(len(systems), bt_pairs)
    yours_equal = bool(np.allclose(yours, choix.ilsr_pairwise(len(systems), bt_pairs), atol=1e-4))
    assert yours_equal
else:  # an undefeated (or winless) system has an infinite strength: the library's fit with choix's prior
    print("some system never won or never lost: ratings from the library's regularised fit")
    yours, yours_equal = library_bt(len(systems), bt_pairs, alpha=alpha), None
elo = {m: 1000.0 for m in systems}
for a, b, outcome in votes:
    elo[a], elo[b] = elo_update(elo[a], elo[b], {"a": 1.0, "b": 0.0}.get(outcome, 0.5), 4.0)
ci = bootstrap_ratings(votes, n_boot=N_BOOT, alpha=alpha)
ratings = pd.DataFrame({"system": systems, "Bradley-Terry": 1000 + ELO_SCALE * np.asarray(yours),
                        "low": [ci[s][0] for s in systems], "high": [ci[s][1] for s in systems],
                        "Elo (yours)": [elo[s] for s in systems], "true quality": [quality[s] for s in systems]})
ratings = ratings.sort_values("Bradley-Terry", ascending=False)
display(ratings.round(1))
fig, ax = plt.subplots(figsize=(7, 3))
ax.errorbar(ratings["Bradley-Terry"], ratings.system, xerr=[ratings["Bradley-Terry"] - ratings.low,
                                                           ratings.high - ratings["Bradley-Terry"]], fmt="o")
ax.set_xlabel("Bradley–Terry rating (Elo scale) with 95% bootstrap CI")
ax.invert_yaxis()
plt.show()
rank_rho = float(spearmanr(ratings["Bradley-Terry"], ratings["true quality"]).statistic)
assert bt_equal  # the library's fit equals choix's
cfg.say(f"From {len(votes)} votes the Bradley–Terry order has a Spearman correlation of {rank_rho:.2f} with the "
        "raters' hidden taste. The library's fit equals choix's on the same votes; " +
        ("so does yours." if yours_equal else "yours was not compared (a system never won or never lost)."
         if yours_equal is None else "yours does not (see your exercise)."))

# %% [markdown]
# ## 5. Plots of model performance
#
# The course benchmark over the model population of 7.3 (course GPTs of three sizes along
# training, quantised ones, Gemma 3 270M): accuracy per category with 95% intervals, a heat
# map across models, and accuracy against training step and size.

# %%
from llmcourse.assets.artifacts import load_artifact
from llmcourse.evaluation import course_benchmark
from llmcourse.evaluation.population import reference_eval_population
from llmcourse.evaluation.stats import bootstrap_ci

pop = load_artifact("eval-population", fallback=reference_eval_population)
correct = np.asarray(pop["correct"])
facts = pd.DataFrame(pop["facts"], index=pop["models"])
items = {i.id: i for i in course_benchmark(pop.get("profile", cfg.profile))}
meta = pd.DataFrame([{"category": items[i].category, "language": items[i].language} for i in pop["item_ids"]])
heat = pd.DataFrame({c: correct[:, (meta.category == c).to_numpy()].mean(1) * 100 for c in sorted(meta.category.unique())},
                    index=pop["models"])
show = [m for m in pop["models"] if "seed0" in m and "int" not in m] + \
       [m for m in pop["models"] if m.startswith("gemma")]
fig, ax = plt.subplots(figsize=(9, 0.3 * len(show) + 1.5))
im = ax.imshow(heat.loc[show].to_numpy(), cmap="viridis", vmin=0, vmax=100, aspect="auto")
ax.set_yticks(range(len(show)), show, fontsize=7)
ax.set_xticks(range(heat.shape[1]), heat.columns, rotation=30)
plt.colorbar(im, label="accuracy (%)")
ax.set_title("Accuracy by category across models")
plt.show()

# %%
best_model = max(pop["models"], key=lambda m: correct[pop["models"].index(m)].mean())
row = correct[pop["models"].index(best_model)]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for ax, key in zip(axes, ("category", "language")):
    groups = sorted(meta[key].unique())
    means = [row[(meta[key] == g).to_numpy()].mean() * 100 for g in groups]
    cis = [bootstrap_ci(row[(meta[key] == g).to_numpy()] * 100, n_boot=N_BOOT) for g in groups]
    ax.bar(groups, means, yerr=[[m - lo for m, (lo, hi) in zip(means, cis)], [hi - m for m, (lo, hi) in zip(means, cis)]],
           capsize=3)
    ax.set_title(f"{best_model} by {key} (95% CI)")
    ax.tick_params(axis="x", rotation=30)
plt.show()
fig, ax = plt.subplots(figsize=(6, 3.2))
for size in facts[facts.family == "course-gpt"]["size"].unique():
    for seed in sorted(facts[facts.family == "course-gpt"].seed.unique()):
        sel = facts[(facts["size"] == size) & (facts.seed == seed) & (facts.quant == "fp32")].sort_values("step")
        acc = [correct[pop["models"].index(m)].mean() * 100 for m in sel.index]
        ax.plot(sel.step, acc, marker="o", ls="-" if seed == 0 else "--", label=f"{size}, seed {seed:.0f}")
ax.set_xscale("log")
ax.set_xlabel("training step")
ax.set_ylabel("accuracy (%)")
ax.set_title("Course GPT: score against step and size")
ax.legend(fontsize=7, ncol=2)
plt.show()

# %% [markdown]
# ## What we measured

# %%
cfg.report(rouge_equals_rouge_score=rouge_equal, bt_equals_choix=bt_equal, votes_all_kept=votes_kept,
           n_votes=len(votes), judge_first_position_rate=jr["first_position_rate"],
           judge_accuracy_debiased=jr["accuracy_debiased"], auc_chrf=auc["chrF"], auc_bleu=auc["BLEU"],
           auc_e5=auc["e5 cosine"], auc_judge=auc["judge P(yes)"], auc_perplexity=auc["-perplexity"],
           bt_rank_vs_truth=rank_rho, self_consistency_majority_right=float(sc_table["majority right"].mean()))
