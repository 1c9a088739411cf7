"""Decoding from scratch against transformers: generate() and its logits processors are the oracle."""

import pytest
import torch
from transformers.generation.logits_process import MinPLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from llmcourse.exercises import run_exercise
from llmcourse.inference import decoding as D

PROMPTS = ["The capital of Indonesia is", "สวัสดีครับ ผมชื่อ", "Selamat pagi, apa kabar?", "Hi"]


def _hf_beam(model, ids, nb, n, lp):
    return model.generate(ids, max_new_tokens=n, num_beams=nb, do_sample=False, length_penalty=lp)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_generate_tiny(tiny_lm, prompt):
    model, tok = tiny_lm
    ids = tok(prompt, return_tensors="pt").input_ids
    assert torch.equal(D.greedy(model, ids, 24), model.generate(ids, max_new_tokens=24, do_sample=False))


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("num_beams,length_penalty", [(2, 1.0), (3, 0.5), (4, 2.0)])
def test_beam_search_equals_generate_tiny(tiny_lm, prompt, num_beams, length_penalty):
    model, tok = tiny_lm
    ids = tok(prompt, return_tensors="pt").input_ids
    ours = D.beam_search(model, ids, num_beams, 12, length_penalty=length_penalty)
    assert torch.equal(ours, _hf_beam(model, ids, num_beams, 12, length_penalty))


def _with_eos(model, eos):
    saved = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = eos
    return saved


@pytest.mark.parametrize("num_beams", [2, 3])
def test_beam_search_with_eos_hits_equals_generate(tiny_lm, num_beams):
    """Make tokens the beams really produce count as EOS, so hypotheses finish early."""
    model, tok = tiny_lm
    ids = tok("Hello there", return_tensors="pt").input_ids
    free = _hf_beam(model, ids, num_beams, 10, 1.0)[0, ids.size(1):].tolist()
    for eos in {free[2], free[4]}:
        saved = _with_eos(model, eos)
        try:
            ours = D.beam_search(model, ids, num_beams, 10)
            theirs = _hf_beam(model, ids, num_beams, 10, 1.0)
        finally:
            model.generation_config.eos_token_id = saved
        assert torch.equal(ours, theirs)
        assert theirs.size(1) < ids.size(1) + 10 or eos in theirs[0].tolist()


def test_greedy_stops_after_eos(tiny_lm):
    model, tok = tiny_lm
    ids = tok("Hello", return_tensors="pt").input_ids
    free = D.greedy(model, ids, 6)[0, ids.size(1):].tolist()
    saved = _with_eos(model, free[2])
    try:
        out = D.greedy(model, ids, 6)
        ref = model.generate(ids, max_new_tokens=6, do_sample=False)
    finally:
        model.generation_config.eos_token_id = saved
    assert torch.equal(out, ref)
    assert out[0, -1].item() == free[2] and out.size(1) <= ids.size(1) + 3


@pytest.mark.parametrize("kw", [
    dict(temperature=0.7),
    dict(top_k=20),
    dict(top_p=0.8, temperature=1.3),
    dict(min_p=0.1),
    dict(top_k=50, top_p=0.9, min_p=0.05, repetition_penalty=1.3, temperature=0.8),
])
def test_sampling_equals_generate_with_same_seed(tiny_lm, kw):
    model, tok = tiny_lm
    ids = tok(PROMPTS[2], return_tensors="pt").input_ids
    torch.manual_seed(7)
    ours = D.sample(model, ids, 16, **kw)
    torch.manual_seed(7)
    # generate() applies top_k=50 unless told otherwise; top_k=0 switches it off
    theirs = model.generate(ids, max_new_tokens=16, do_sample=True, **{"top_k": 0, **kw})
    assert torch.equal(ours, theirs)


def test_sampling_reproducible_with_generator(tiny_lm):
    model, tok = tiny_lm
    ids = tok("Apa kabar", return_tensors="pt").input_ids
    runs = [D.sample(model, ids, 12, top_k=40, generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    assert torch.equal(runs[0], runs[1])
    assert runs[0].shape[0] == 1 and runs[0].dtype == torch.long


def _random_logits():
    g = torch.Generator().manual_seed(0)
    one = torch.full((1, 9), float("-inf"))
    one[0, 4] = 1.0
    return [torch.randn(3, 64, generator=g) * 4, torch.tensor([[1.0, 1.0, 1.0, 2.0, 2.0, 0.0]]), one,
            torch.randn(1, 5, generator=g)]


@pytest.mark.parametrize("k", [1, 2, 5, 10_000])
def test_top_k_matches_transformers(k):
    for x in _random_logits():
        assert torch.equal(D.top_k_filter(x, k), TopKLogitsWarper(k)(None, x.clone()))


@pytest.mark.parametrize("p", [0.05, 0.3, 0.75, 0.95, 1.0])
def test_top_p_matches_transformers(p):
    for x in _random_logits():
        assert torch.equal(D.top_p_filter(x, p), TopPLogitsWarper(p)(None, x.clone()))


@pytest.mark.parametrize("p", [0.0, 0.01, 0.3, 1.0])
def test_min_p_matches_transformers(p):
    for x in _random_logits():
        got = D.min_p_filter(x, p)
        if p == 0.0:  # transformers refuses min_p=0; it means "keep every token"
            assert torch.equal(got, x)
        else:
            assert torch.equal(got, MinPLogitsWarper(p)(None, x.clone()))


@pytest.mark.parametrize("bad", [
    lambda m, i: D.greedy(m, i[:, :0], 5),
    lambda m, i: D.greedy(m, i, 0),
    lambda m, i: D.sample(m, i, -1),
    lambda m, i: D.sample(m, i, 5, top_p=0.0),
    lambda m, i: D.sample(m, i, 5, top_p=1.5),
    lambda m, i: D.sample(m, i, 5, temperature=0.0),
    lambda m, i: D.sample(m, i, 5, top_k=0),
    lambda m, i: D.beam_search(m, i, 0, 5),
    lambda m, i: D.greedy(m, i.repeat(2, 1), 5),
])
def test_bad_input_is_a_clear_error(tiny_lm, bad):
    model, tok = tiny_lm
    ids = tok("Hello", return_tensors="pt").input_ids
    with pytest.raises(ValueError) as err:
        bad(model, ids)
    assert len(str(err.value)) > 20


@pytest.mark.parametrize("name,fn", [
    ("decoding.softmax", lambda x, t: torch.softmax(x / t, -1)),
    ("decoding.top_k_filter", D.top_k_filter),
    ("decoding.top_p_filter", D.top_p_filter),
    ("decoding.min_p_filter", D.min_p_filter),
    ("decoding.repetition_penalty", lambda logits, seen, p: D.apply_repetition_penalty(logits, seen, p)),
    ("decoding.greedy", D.greedy),
])
def test_reference_passes_exercise(name, fn):
    res = run_exercise(name, fn)
    assert res.ok, res.failures


def test_exercise_catches_a_wrong_answer():
    res = run_exercise("decoding.top_k_filter", lambda x, k: x)  # forgets to filter
    assert not res.ok and res.passed < res.total


@pytest.mark.slow
@pytest.mark.parametrize("prompt", PROMPTS[:3])
def test_gemma_greedy_and_beam_equal_generate(gemma, prompt):
    model, tok = gemma
    ids = tok(prompt, return_tensors="pt").input_ids
    assert torch.equal(D.greedy(model, ids, 12), model.generate(ids, max_new_tokens=12, do_sample=False))
    assert torch.equal(D.beam_search(model, ids, 3, 8), _hf_beam(model, ids, 3, 8, 1.0))


def test_softmax_against_torch_and_bad_temperature():
    x = torch.tensor([[1000.0, 999.0, 0.0], [1.0, 2.0, 3.0]])
    for t in (0.5, 1.0, 3.0):
        assert torch.allclose(D.softmax(x, t), torch.softmax(x / t, dim=-1), atol=1e-7)
    with pytest.raises(ValueError, match="temperature"):
        D.softmax(x, 0.0)


def test_generate_with_a_choose_built_from_pieces_equals_generate(tiny_lm):
    """The loop notebook 1.1 drives with the learner's pieces: here with the library's pieces."""
    model, tok = tiny_lm
    ids = tok(PROMPTS[0], return_tensors="pt").input_ids

    def choose(logits, seen):
        logits = D.apply_repetition_penalty(logits, seen, 1.3)
        logits = D.top_p_filter(D.top_k_filter(logits / 0.8, 40), 0.9)
        return torch.multinomial(D.softmax(logits), 1)

    torch.manual_seed(3)
    ours = D.generate_with(model, ids, 10, choose)
    torch.manual_seed(3)
    theirs = model.generate(ids, max_new_tokens=10, do_sample=True, temperature=0.8, top_k=40, top_p=0.9,
                            repetition_penalty=1.3)
    assert torch.equal(ours, theirs)
    with pytest.raises(ValueError, match=r"\(1, 1\)"):
        D.generate_with(model, ids, 3, lambda logits, seen: logits.argmax(-1))  # (1,) not (1, 1)


@pytest.mark.parametrize("name", ["decoding.beam_search"])
def test_notebook_beam_search_solution_passes(name):
    """The solution written in notebook 1.1 (no cache, full recompute) passes its own exercise."""
    import jupytext

    from llmcourse.course import notebook_source

    nb = jupytext.read(notebook_source("1.1"))
    src = next(c.source for c in nb.cells if c.cell_type == "code" and "def beam_search(" in c.source)
    ns = {"torch": torch}
    exec(src, ns)
    assert run_exercise(name, ns["beam_search"]).ok
