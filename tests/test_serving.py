"""The continuous-batching engine against plain generation: the course GPT's own cached
`generate`, Hugging Face `generate` for Llama and Gemma 3, and HF Mistral for the sliding
window; the block allocator, prefix sharing, copy-on-write, preemption and bad input."""

import pytest
import torch

from llmcourse.inference.kv_cache import generate_cached
from llmcourse.inference.sampling import SamplingParams
from llmcourse.serving import BlockAllocator, Engine, NoFreeBlocks, prefix_hashes
from week6_models import prompts, tiny_target


def _greedy(model, prompt, n):
    return generate_cached(model, torch.tensor([prompt]), n, temperature=0)[0, len(prompt):].tolist()


LENGTHS = [5, 30, 12, 50, 8, 20, 40, 3, 25, 60, 10, 33]


@pytest.fixture(scope="module")
def reference():
    model = tiny_target()
    ps = prompts(len(LENGTHS))
    return ps, [_greedy(model, p, n) for p, n in zip(ps, LENGTHS)]


@pytest.mark.parametrize("block_size,num_blocks,max_batch", [(16, None, 32), (4, 40, 4), (8, 12, 8), (1, 90, 3)])
def test_every_prompt_gets_its_own_greedy_tokens_whatever_the_batch(reference, block_size, num_blocks, max_batch):
    ps, want = reference
    engine = Engine(tiny_target(), block_size=block_size, num_blocks=num_blocks, max_batch=max_batch)
    assert engine.generate(ps, LENGTHS) == want
    assert engine.cache.allocator.num_free == engine.cache.num_blocks  # every block came back
    assert max(engine.stats.batch_sizes) <= max_batch


def test_a_full_cache_preempts_and_recomputes_without_changing_tokens(reference):
    ps, want = reference
    engine = Engine(tiny_target(), block_size=4, num_blocks=30, max_batch=12)
    assert engine.generate(ps, LENGTHS) == want
    assert engine.stats.preemptions > 0 and engine.stats.peak_blocks <= 30


def test_more_requests_than_blocks_are_queued_not_dropped(reference):
    ps, want = reference
    engine = Engine(tiny_target(), block_size=16, num_blocks=8, max_batch=32)
    ids = [engine.add_request(p, n) for p, n in zip(ps, LENGTHS)]
    engine.step()
    assert len(engine.waiting) > 0 and len(engine.running) < len(ps)
    while engine.has_work():
        engine.step()
    assert [engine.requests[i].output for i in ids] == want


def test_prefix_sharing_reuses_system_prompt_blocks_and_saves_memory():
    model = tiny_target()
    system = prompts(1, seed=5, lo=48, hi=48)[0]
    ps = [system + p for p in prompts(6, seed=3, hi=10)]
    want = [_greedy(model, p, 10) for p in ps]
    peaks = {}
    for share in (True, False):
        engine = Engine(model, block_size=8, max_batch=6, prefix_sharing=share)
        first = engine.add_request(ps[0], 10)
        engine.step()  # the first request's prompt is in the cache before the others arrive
        ids = [first] + [engine.add_request(p, 10) for p in ps[1:]]
        while engine.has_work():
            engine.step()
        assert [engine.requests[i].output for i in ids] == want
        peaks[share] = engine.stats.peak_blocks
        if share:
            assert engine.stats.prefix_hit_tokens == 5 * 48  # six blocks of the system prompt, five times
    assert peaks[True] <= peaks[False] - 5 * 6 + 1


def test_copy_on_write_when_a_shared_block_is_written():
    model = tiny_target()
    p = prompts(1, seed=9, lo=16, hi=16)[0]
    engine = Engine(model, block_size=8, max_batch=4)
    a = engine.add_request(p, 6)
    engine.step()
    b = engine.add_request(p, 6)  # same prompt: both blocks cached; its last token is recomputed
    while engine.has_work():
        engine.step()
    assert engine.stats.copy_on_write == 1
    assert engine.requests[a].output == engine.requests[b].output == _greedy(model, p, 6)


def test_sliding_window_equals_hf_mistral_and_frees_blocks():
    transformers = pytest.importorskip("transformers")
    model = tiny_target()
    hf = model.to_hf()
    fields = transformers.MistralConfig().to_dict()
    cfg = transformers.MistralConfig(**{k: v for k, v in hf.config.to_dict().items() if k in fields})
    cfg.sliding_window = 12
    mistral = transformers.MistralForCausalLM(cfg).eval()
    mistral.load_state_dict(hf.state_dict())
    ps = prompts(4)
    want = [mistral.generate(torch.tensor([p]), max_new_tokens=30, min_new_tokens=30, do_sample=False)[0, len(p):]
            .tolist() for p in ps]
    engine = Engine(model, block_size=4, sliding_window=12)
    assert engine.generate(ps, 30) == want
    assert engine.stats.evicted_blocks > 0


def test_hf_llama_through_its_adapter_equals_hf_generate():
    hf = tiny_target().to_hf()
    ps = prompts(4, seed=1)
    want = [hf.generate(torch.tensor([p]), max_new_tokens=20, min_new_tokens=20, do_sample=False)[0, len(p):]
            .tolist() for p in ps]
    assert Engine(hf, block_size=8).generate(ps, 20) == want


def test_gemma3_through_its_adapter_equals_hf_generate(tiny_lm):
    model, _ = tiny_lm  # random-init Gemma 3: sliding-window layers (window 64), q/k norms
    g = torch.Generator().manual_seed(0)
    ps = [torch.randint(3, 1000, (n,), generator=g).tolist() for n in (5, 70, 90)]
    want = [model.generate(torch.tensor([p]), max_new_tokens=30, min_new_tokens=30, do_sample=False)[0, len(p):]
            .tolist() for p in ps]
    assert Engine(model, block_size=16).generate(ps, 30, ignore_eos=True) == want


def test_sampling_with_a_seed_is_reproducible_and_independent_of_the_batch():
    model = tiny_target()
    ps = prompts(5, seed=4)
    params = SamplingParams(temperature=0.8, top_k=20, seed=11)
    alone = [Engine(model).generate([p], 15, sampling=params)[0] for p in ps]
    together = Engine(model, max_batch=5).generate(ps, 15, sampling=params)
    assert alone == together
    want = generate_cached(model, torch.tensor([ps[0]]), 15, temperature=0.8, top_k=20, seed=11)[0, len(ps[0]):]
    assert alone[0] == want.tolist()  # the same draws as the course's cached generate


def test_eos_stops_a_request_and_frees_its_blocks():
    model = tiny_target()
    p = prompts(1, seed=2)[0]
    free_run = _greedy(model, p, 12)
    eos = free_run[4]
    engine = Engine(model, eos_token_id=eos)
    out = engine.generate([p], 12)[0]
    assert out == free_run[: free_run.index(eos) + 1]
    assert engine.cache.allocator.num_free == engine.cache.num_blocks


def test_abort_frees_blocks_and_others_keep_going():
    model = tiny_target()
    ps = prompts(3, seed=6)
    engine = Engine(model, block_size=4)
    ids = [engine.add_request(p, 20) for p in ps]
    engine.step()
    used = engine.cache.allocator.num_used
    assert engine.abort(ids[1]) and engine.cache.allocator.num_used < used
    assert not engine.abort(ids[1])
    while engine.has_work():
        engine.step()
    assert engine.requests[ids[1]].finish_reason == "abort"
    assert engine.requests[ids[0]].output == _greedy(model, ps[0], 20)
    assert engine.cache.allocator.num_free == engine.cache.num_blocks


def test_bad_requests_get_clear_errors():
    model = tiny_target()
    engine = Engine(model, block_size=16, num_blocks=4)
    ctx = model.config.block_size
    with pytest.raises(ValueError, match="longer|context"):
        engine.add_request([1] * ctx, 1)
    with pytest.raises(ValueError, match="at most"):
        engine.add_request([1] * 10, ctx)
    with pytest.raises(ValueError, match="num_blocks"):
        engine.add_request([1] * 10, 80)  # fits the context, not this small cache
    with pytest.raises(ValueError, match="token ids"):
        engine.add_request([model.config.vocab_size], 1)
    with pytest.raises(ValueError, match="non-empty"):
        engine.add_request([], 1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        engine.add_request([1, 2], 0)
    with pytest.raises(ValueError, match="list of token-id lists"):
        engine.generate([1, 2, 3], 4)


def test_block_allocator_free_list_refcounts_and_prefix_table():
    alloc = BlockAllocator(3)
    a, b = alloc.allocate(), alloc.allocate()
    assert alloc.num_free == 1 and a != b
    alloc.register(a, 123)
    assert alloc.lookup(123) == a and alloc.ref[a] == 2 and alloc.lookup(999) is None
    alloc.free(a)
    alloc.free(a)
    assert alloc.num_free == 2 and alloc.lookup(123) == a  # freed but still findable: revived
    alloc.allocate()
    with pytest.raises(NoFreeBlocks):
        alloc.allocate()
    with pytest.raises(RuntimeError, match="freed more often"):
        BlockAllocator(1).free(0)
    assert prefix_hashes([1, 2, 3, 4, 5], 2) == prefix_hashes([1, 2, 3, 4, 6], 2)  # only full blocks count
    assert prefix_hashes([1, 2, 3, 4], 2)[1] != prefix_hashes([9, 2, 3, 4], 2)[1]  # a hash covers the whole prefix
