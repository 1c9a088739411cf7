"""Week 6.1's generators against plain greedy generation (the course's cached `generate` and
Hugging Face `generate`): speculative and prompt-lookup decoding, left-padded batches, the
static cache, torch.compile; the distilled draft; vLLM when its environment exists."""

import pytest
import torch

from llmcourse.inference import (
    SpeculativeStats, accept_greedy, generate_batched, generate_static, left_pad, prompt_lookup_candidates,
    prompt_lookup_generate, speculative_generate,
)
from llmcourse.inference.kv_cache import generate_cached
from llmcourse.inference.sampling import SamplingParams
from week6_models import noisy_draft, prompts, small_draft, tiny_target, tiny_tokenizer


def _greedy(model, prompt, n):
    return generate_cached(model, torch.tensor([prompt]), n, temperature=0)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("draft", ["noisy", "small", "self"])
def test_speculative_greedy_equals_target_greedy(draft, k):
    target = tiny_target()
    d = {"noisy": noisy_draft, "small": small_draft, "self": tiny_target}[draft]()
    stats = SpeculativeStats()
    for p in prompts(4, seed=k):
        assert torch.equal(speculative_generate(target, d, torch.tensor([p]), 30, k=k, stats=stats),
                           _greedy(target, p, 30))
    assert stats.new_tokens == 4 * 30
    if draft == "self":  # a draft identical to the target is always right: k + 1 tokens per target pass
        assert stats.acceptance_rate == 1.0 and stats.tokens_per_target_forward > k
    if draft == "small":  # an unrelated draft is almost never right: about one token per pass
        assert stats.tokens_per_target_forward < 1.3


def test_a_related_draft_is_accepted_more_than_an_unrelated_one():
    target = tiny_target()
    rates = {}
    for name, d in (("noisy", noisy_draft()), ("small", small_draft())):
        stats = SpeculativeStats()
        for p in prompts(4):
            speculative_generate(target, d, torch.tensor([p]), 30, k=3, stats=stats)
        rates[name] = stats.acceptance_rate
    assert rates["noisy"] > 0.2 > rates["small"]


def test_speculative_equals_hf_assisted_generation():
    target, draft = tiny_target(), noisy_draft()
    hf_t, hf_d = target.to_hf(), draft.to_hf()
    p = prompts(1, seed=3)[0]
    want = hf_t.generate(torch.tensor([p]), assistant_model=hf_d, max_new_tokens=25, min_new_tokens=25,
                         do_sample=False)
    assert torch.equal(speculative_generate(target, draft, torch.tensor([p]), 25, k=4), want)


def test_speculative_sampling_runs_and_is_reproducible():
    target, draft = tiny_target(), noisy_draft()
    idx = torch.tensor([prompts(1)[0]])
    params = SamplingParams(temperature=0.9, seed=5)
    a = speculative_generate(target, draft, idx, 20, k=3, sampling=params)
    b = speculative_generate(target, draft, idx, 20, k=3, sampling=params)
    assert torch.equal(a, b) and a.shape == (1, idx.shape[1] + 20)


def test_accept_greedy_and_bad_arguments():
    assert accept_greedy([5, 6, 7], [5, 6, 9, 1]) == (2, 9)
    assert accept_greedy([5, 6], [5, 6, 8]) == (2, 8)  # all right: the bonus token
    assert accept_greedy([4], [5, 6]) == (0, 5)
    target = tiny_target()
    with pytest.raises(ValueError, match="one prompt"):
        speculative_generate(target, small_draft(), torch.tensor([[1, 2], [3, 4]]), 5)
    with pytest.raises(ValueError, match="k"):
        speculative_generate(target, small_draft(), torch.tensor([[1, 2]]), 5, k=0)
    with pytest.raises(ValueError, match="context"):
        speculative_generate(target, small_draft(), torch.tensor([[1] * 100]), 30)


def test_prompt_lookup_finds_the_continuation_and_equals_greedy():
    assert prompt_lookup_candidates([1, 2, 3, 9, 9, 1, 2, 3], 2) == [9, 9]
    assert prompt_lookup_candidates([1, 2, 3, 4], 2) == []
    assert prompt_lookup_candidates([7, 8, 5, 7], 3, max_ngram=2) == [8, 5, 7]  # falls back to a 1-gram
    target = tiny_target()
    stats = SpeculativeStats()
    for p in prompts(3, hi=12):
        idx = torch.tensor([p * 4])  # a repetitive prompt: lookup has something to copy
        assert torch.equal(prompt_lookup_generate(target, idx, 25, stats=stats), _greedy(target, idx[0].tolist(), 25))
    assert stats.target_forwards < 3 * 25


def test_left_pad():
    ids, mask = left_pad([[5, 6, 7], [8, 9], [4]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 8, 9], [0, 0, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    with pytest.raises(ValueError):
        left_pad([[1], []])


def test_batched_and_static_generation_equal_one_prompt_at_a_time():
    target = tiny_target()
    ps = prompts(6)
    want = [_greedy(target, p, 20)[0, len(p):].tolist() for p in ps]
    assert generate_batched(target, ps, 20) == want
    assert generate_static(target, ps[:1], 20) == want[:1]


def test_batched_equals_hf_generate_with_left_padding():
    hf = tiny_target().to_hf()
    ps = prompts(4, seed=2)
    ids, mask = left_pad(ps, pad_id=0)
    out = hf.generate(ids, attention_mask=mask, max_new_tokens=15, min_new_tokens=15, do_sample=False, pad_token_id=0)
    assert generate_batched(tiny_target(), ps, 15) == out[:, ids.shape[1]:].tolist()


def test_static_generation_with_eos_and_sampling():
    target = tiny_target()
    p = prompts(1, seed=8)[0]
    free = _greedy(target, p, 15)[0, len(p):].tolist()
    assert generate_static(target, [p], 15, eos_token_id=free[3]) == [free[: free.index(free[3]) + 1]]
    s = SamplingParams(temperature=0.7, top_k=10, seed=3)
    want = generate_cached(target, torch.tensor([p]), 12, temperature=0.7, top_k=10, seed=3)[0, len(p):].tolist()
    assert generate_static(target, [p], 12, sampling=s) == [want]


@pytest.mark.slow
def test_compiled_static_generation_equals_eager():
    from llmcourse.inference import generate_compiled

    target = tiny_target()
    ps = prompts(3)
    assert generate_compiled(target, ps, 10) == generate_batched(target, ps, 10)


def test_distilled_draft_is_small_and_learns_the_target():
    from llmcourse.inference.draft import distill_draft

    target = tiny_target()
    draft = distill_draft(target, tiny_tokenizer(), steps=40, text_chars=8000, batch=8, seq_len=32, lr=1e-2,
                          progress=False)
    assert draft.config.n_layer == 1 and draft.num_params() < target.num_params() / 3
    untrained = distill_draft(target, tiny_tokenizer(), steps=1, text_chars=8000, progress=False, lr=1e-9)
    x = torch.tensor([tiny_tokenizer().encode_ordinary("To be, or not to be, that is the question. Selamat pagi!")])

    def kl(d):  # how far the draft's next-token distributions are from the target's
        return torch.nn.functional.kl_div(d(x)[0].log_softmax(-1), target(x)[0].log_softmax(-1), log_target=True,
                                          reduction="batchmean").item()

    assert kl(draft) < 0.8 * kl(untrained)


def test_target_fingerprint_names_the_weights():
    """A cached draft is reused only for the target it was distilled from."""
    import copy

    from llmcourse.inference.draft import target_fingerprint

    a = tiny_target()
    b = copy.deepcopy(a)  # (tiny_target is shared by the other tests: change a copy)
    assert target_fingerprint(a) == target_fingerprint(b)
    with torch.no_grad():
        b.lm_head.weight[0, 0] += 1e-3
    assert target_fingerprint(a) != target_fingerprint(b)


@pytest.mark.slow
def test_vllm_greedy_equals_hf_on_gemma_when_available(gemma):
    from llmcourse.assets.models import gemma_dir
    from llmcourse.inference.vllm import vllm_generate, vllm_status

    ok, why = vllm_status()
    if not ok:
        pytest.skip(why)
    model, tok = gemma
    ps = [tok("The capital of Indonesia is").input_ids, tok("Once upon a time").input_ids]
    want = [model.generate(torch.tensor([p]), max_new_tokens=8, do_sample=False)[0, len(p):].tolist() for p in ps]
    res = vllm_generate(gemma_dir(), ps, 8, max_model_len=256)
    assert res["outputs"] == want
