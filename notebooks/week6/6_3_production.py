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
# # 6.3 Production optimisations
#
# A server answers many people at once. Two things limit how many: **memory** for the KV
# cache (every running sequence keeps its keys and values) and **scheduling** (who gets
# computed at each step). This notebook builds what vLLM made standard:
#
# 1. a **paged KV cache**: fixed-size blocks, a block allocator, per-sequence block tables,
#    and attention that reads keys through them;
# 2. **prefix sharing**: requests with the same system prompt share its blocks
#    (reference counts, copy-on-write), and **eviction**: a sliding window, and preemption
#    when memory runs out;
# 3. **continuous batching**: the engine admits and retires sequences at every step;
# 4. an **OpenAI-compatible server** (`llmcourse serve`) and a load test of it against
#    llama.cpp's server (and vLLM's in the laptop profile): throughput, time to first token and
#    inter-token latency as the number of concurrent users grows.

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("6.3")

# %% [markdown]
# ## Knobs

# %%
import time

import matplotlib.pyplot as plt
import torch
from tqdm.auto import tqdm

N_REQUESTS = cfg.pick(smoke=12, laptop=48)
NEW_TOKENS = cfg.pick(smoke=(4, 24), laptop=(8, 96))
CONCURRENCY = cfg.pick(smoke=[1, 4], laptop=[1, 2, 4, 8, 16])
LOAD_REQUESTS = cfg.pick(smoke=8, laptop=32)  # per concurrency level, per server
MAX_BATCHES = cfg.pick(smoke=[1, 4, 12], laptop=[1, 4, 16, 48])
RUN_VLLM = cfg.pick(smoke=False, laptop=True)
SERVE_GEMMA = cfg.pick(smoke=False, laptop=True)
if cfg.device == "cpu":
    torch.set_num_threads(cfg.threads)
reliable, why = cfg.timing_is_reliable()
print("timings are reliable" if reliable else f"NOTE: {why}")

# %%
from llmcourse.assets.artifacts import last_source, load_artifact
from llmcourse.models.course import course_text

from llmcourse.serving import learner_gpt

which = "course-gpt-sft"
model, tok = learner_gpt(which)  # eval mode, SDPA attention
c = model.config
cfg.say(f"Serving **{which}** ({last_source(which)}): {c.n_layer} layers, {c.n_kv_head} key/value heads of "
        f"{c.head_dim} dimensions, context {c.block_size}.")

# %% [markdown]
# ## 1. Why pages: the memory a plain cache wastes
#
# Week 3's cache reserves room for the longest possible sequence for every request. Most
# requests end long before: the reserved memory sits empty, and it is memory, not compute,
# that caps how many requests run at once. A **paged** cache stores keys and values in blocks
# of `block_size` positions taken from a shared pool as a sequence grows, reached through a
# per-sequence **block table**:
#
#     block table of sequence A: [7, 2, 9]       positions 0-15 in block 7, 16-31 in block 2, ...
#     physical blocks:           key_cache[layer] (num_blocks, block_size, H_kv, hd)
#
# A sequence wastes at most one partly filled block.

# %%
from llmcourse.inference.kv_cache import kv_cache_bytes_for
from llmcourse.serving.compare import mixed_lengths

g = torch.Generator().manual_seed(0)
text_ids = tok.encode_ordinary(" ".join(course_text(4000).values()))
prompts = []
for _ in range(N_REQUESTS):
    n = int(torch.randint(4, 32, (1,), generator=g))
    s = int(torch.randint(0, len(text_ids) - n, (1,), generator=g))
    prompts.append(text_ids[s:s + n])
lengths = mixed_lengths(N_REQUESTS, *NEW_TOKENS)
BS = 16
reserved = N_REQUESTS * kv_cache_bytes_for(c, c.block_size)
used = sum(kv_cache_bytes_for(c, len(p) + n) for p, n in zip(prompts, lengths))
paged = sum(-(-(len(p) + n) // BS) * BS for p, n in zip(prompts, lengths)) * kv_cache_bytes_for(c, 1)
cfg.say(f"For {N_REQUESTS} requests: reserving the full context for each takes {reserved / 1e6:.2f} MB of KV cache; "
        f"they fill {used / 1e6:.3f} MB; in blocks of {BS} they take {paged / 1e6:.3f} MB "
        f"({1 - paged / reserved:.0%} less than reserving).")

# %% [markdown]
# **Exercise `serving.slot_mapping`** · difficulty 1 · ~10 min. The engine writes each new key
# into the flat pool of slots (num_blocks · block_size). `slot_mapping(block_table, positions,
# block_size)` returns the slot of each position: the block that the table gives for
# `p // block_size`, at offset `p % block_size`. The check writes keys through your mapping
# and reads them back through the table, against the contiguous keys.

# %%
def slot_mapping(block_table, positions, block_size):
    ### BEGIN SOLUTION
    table = torch.as_tensor(block_table, dtype=torch.long)
    pos = torch.as_tensor(positions, dtype=torch.long)
    return table[pos // block_size] * block_size + pos % block_size
    ### END SOLUTION


# %%
slot_mapping = check("serving.slot_mapping", slot_mapping)

# %% [markdown]
# Your mapping on the real cache: run a prompt through the model, store every layer's keys in a
# `PagedKVCache` at the slots you compute (blocks taken in a scrambled order), read them back
# through the block table, and compare with week 3's contiguous cache.

# %%
from llmcourse.inference.kv_cache import KVCache, forward_cached
from llmcourse.serving import PagedKVCache

p0 = prompts[0] + prompts[1]
dense = KVCache.for_model(model, max_len=len(p0))
forward_cached(model, torch.tensor([p0]), dense)
pool = PagedKVCache(c.n_layer, num_blocks=16, block_size=4, n_kv_head=c.n_kv_head, head_dim=c.head_dim)
table = [pool.allocator.allocate() for _ in range(-(-len(p0) // 4))][::-1]  # any blocks, any order
slots = slot_mapping(table, list(range(len(p0))), 4)
for layer in range(c.n_layer):
    pool.write(layer, slots, dense.keys[layer][0, :, :len(p0)].transpose(0, 1),
               dense.values[layer][0, :, :len(p0)].transpose(0, 1))
k_back, _ = pool.gather(0, torch.tensor([table]))
paged_equal = torch.equal(k_back[0, :len(p0)], dense.keys[0][0, :, :len(p0)].transpose(0, 1))
assert paged_equal
print(f"{len(p0)} positions in blocks {table}: keys read through the table == week 3's cache: {paged_equal}")

# %% [markdown]
# ## 2. The block allocator
#
# Blocks come from a free list. With prefix sharing one block can belong to several
# sequences, so each block carries a **reference count**: it returns to the free list only
# when its last user frees it.
#
# **Exercise `serving.block_allocator`** · difficulty 2 · ~20 min. A class `Allocator(num_blocks)`
# with `allocate()` (a free block, reference count 1; raise when none is left), `share(block)`
# (one more user), `free(block)` (one user fewer; at zero the block is free again) and the
# property `num_free`. The engine below then runs on **your** allocator.

# %%
class Allocator:
    def __init__(self, num_blocks):
        ### BEGIN SOLUTION
        self.free_list = list(range(num_blocks))
        self.ref = [0] * num_blocks
        ### END SOLUTION

    @property
    def num_free(self):
        ### BEGIN SOLUTION
        return len(self.free_list)
        ### END SOLUTION

    def allocate(self):
        ### BEGIN SOLUTION
        if not self.free_list:
            raise RuntimeError("no free KV-cache block")
        block = self.free_list.pop(0)
        self.ref[block] = 1
        return block
        ### END SOLUTION

    def share(self, block):
        ### BEGIN SOLUTION
        self.ref[block] += 1
        return block
        ### END SOLUTION

    def free(self, block):
        ### BEGIN SOLUTION
        self.ref[block] -= 1
        if self.ref[block] == 0:
            self.free_list.append(block)
        ### END SOLUTION


# %%
Allocator = check("serving.block_allocator", Allocator)

# %% [markdown]
# ## 3. Continuous batching
#
# `Engine(model, block_size, num_blocks, max_batch)` decides again at **every step**: make
# room for each running sequence's next token (a new block when it crosses a block boundary),
# admit waiting requests while blocks and batch slots are free, run one forward pass over all
# the new tokens, sample, retire finished sequences and free their blocks. If the cache runs
# out, the newest sequence is **preempted**: its blocks are freed and it goes back to the queue,
# to be recomputed later.
#
# Each prompt's greedy tokens must be exactly its own greedy `generate`, whatever it is
# batched with. Here the engine runs on your allocator, with a cache too small for all
# requests at once, so it must queue and preempt.

# %%
from llmcourse.inference.kv_cache import generate_cached
from llmcourse.serving import Engine

reference = [generate_cached(model, torch.tensor([p]), n, temperature=0)[0, len(p):].tolist()
             for p, n in zip(prompts, lengths)]
small = Engine(model, block_size=BS, num_blocks=cfg.pick(smoke=10, laptop=24), max_batch=max(MAX_BATCHES),
               prefix_sharing=False)
small.cache.allocator = Allocator(small.cache.num_blocks)
engine_equal = small.generate(prompts, lengths, ignore_eos=True) == reference
assert engine_equal, "the engine changed a prompt's greedy tokens"
cfg.say(f"On your allocator, with only {small.cache.num_blocks} blocks: every prompt got its own greedy tokens "
        f"({engine_equal}); the engine preempted {small.stats.preemptions} times and peaked at "
        f"{small.stats.peak_blocks} blocks.")

# %% [markdown]
# Throughput against the batch limit (the same workload, a cache large enough for all):
# more sequences per step means more tokens per forward pass.

# %%
from llmcourse.serving.compare import engine_run

tput = {}
for mb in tqdm(MAX_BATCHES, desc="max_batch"):
    r = engine_run(Engine(model, block_size=BS, max_batch=mb), prompts, lengths)
    assert r.outputs == reference
    tput[mb] = r.tokens_per_s
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(MAX_BATCHES, [tput[m] for m in MAX_BATCHES], "o-")
ax.set(xscale="log", xlabel="max_batch (sequences per step)", ylabel="tokens / s", title="Continuous batching")
ax.set_xticks(MAX_BATCHES, [str(m) for m in MAX_BATCHES])
plt.tight_layout()
plt.show()
cfg.say(f"From 1 to {max(MAX_BATCHES)} sequences per step, throughput goes from {tput[1]:.0f} to "
        f"{tput[max(MAX_BATCHES)]:.0f} tokens/s ({tput[max(MAX_BATCHES)] / tput[1]:.1f}x).")

# %% [markdown]
# ## 4. Prefix sharing and eviction
#
# Chat requests start with the same system prompt. With prefix sharing, each **full** block
# of a prompt is registered under a hash of all the tokens up to its end; a later request with
# the same prefix finds those blocks, takes a reference, and computes only the rest of its
# prompt. A block is written only by a sequence that owns it alone — writing into a shared
# block copies it first (**copy-on-write**).

# %%
system = text_ids[:cfg.pick(smoke=48, laptop=96)]
questions = [prompts[i][:8] for i in range(min(8, N_REQUESTS))]
chat = [system + q for q in questions]
chat_ref = [generate_cached(model, torch.tensor([p]), 8, temperature=0)[0, len(p):].tolist() for p in chat]
share = {}
for on in (True, False):
    e = Engine(model, block_size=BS, max_batch=len(chat), prefix_sharing=on)
    first = e.add_request(chat[0], 8, ignore_eos=True)
    e.step()  # the first conversation is running when the others arrive
    ids = [first] + [e.add_request(p, 8, ignore_eos=True) for p in chat[1:]]
    while e.has_work():
        e.step()
    assert [e.requests[i].output for i in ids] == chat_ref
    share[on] = e.stats
saved_blocks = share[False].peak_blocks - share[True].peak_blocks
prefix_saving = saved_blocks / share[False].peak_blocks
cfg.say(f"{len(chat)} chats sharing a {len(system)}-token system prompt: peak KV memory {share[True].peak_blocks} "
        f"blocks with sharing against {share[False].peak_blocks} without (**{prefix_saving:.0%} less**); "
        f"{share[True].prefix_hit_tokens} prompt tokens were found in the cache instead of computed "
        f"({share[True].prefill_tokens} computed, against {share[False].prefill_tokens}).")

# %% [markdown]
# **Eviction.** A *sliding window* keeps only the last W positions of every sequence (Mistral,
# and Gemma 3's local layers): the engine frees blocks that fall entirely out of the window,
# so a long generation holds a bounded number of blocks. The oracle here is Hugging Face's
# Mistral, a Llama with a sliding window, loaded with the course GPT's weights.

# %%
import transformers

hf = model.to_hf()
fields = transformers.MistralConfig().to_dict()
mcfg = transformers.MistralConfig(**{k: v for k, v in hf.config.to_dict().items() if k in fields})
mcfg.sliding_window = 24
mistral = transformers.MistralForCausalLM(mcfg).eval()
mistral.load_state_dict(hf.state_dict())
long_p = prompts[:2]
n_long = min(60, c.block_size - max(map(len, long_p)) - 1)
want = [mistral.generate(torch.tensor([p]), max_new_tokens=n_long, min_new_tokens=n_long, do_sample=False)[0, len(p):]
        .tolist() for p in long_p]
windowed = Engine(model, block_size=8, sliding_window=24)
window_equal = windowed.generate(long_p, n_long, ignore_eos=True) == want
assert window_equal
cfg.say(f"With a 24-token window the engine matches HF Mistral token for token ({window_equal}) and freed "
        f"{windowed.stats.evicted_blocks} blocks as the sequences moved on.")

# %% [markdown]
# ## 5. Attention through the block table
#
# **Exercise `serving.paged_attention`** · difficulty 3 · ~30 min · stretch. One decoding step
# for B sequences: `paged_attention(q, key_cache, value_cache, block_tables, ctx_lens, scale)`
# with q (B, H, hd), caches (num_blocks, block_size, H_kv, hd), block_tables (B, max_blocks)
# and ctx_lens (B,). Gather each sequence's keys through its table, let each group of
# H / H_kv query heads share its key/value head, mask positions >= ctx_len, return (B, H, hd).
# The check compares with SDPA over each sequence's contiguous keys; then the engine decodes
# with **your** function. (Open question: how much of a decoding step is this gather?)

# %%
import torch.nn.functional as F


def paged_attention(q, key_cache, value_cache, block_tables, ctx_lens, scale=None):
    ### BEGIN SOLUTION
    B, H, hd = q.shape
    Hkv = key_cache.shape[2]
    k = key_cache[block_tables].reshape(B, -1, Hkv, hd).transpose(1, 2).repeat_interleave(H // Hkv, dim=1)
    v = value_cache[block_tables].reshape(B, -1, Hkv, hd).transpose(1, 2).repeat_interleave(H // Hkv, dim=1)
    mask = torch.arange(k.shape[2])[None, :] < ctx_lens[:, None]  # (B, S)
    return F.scaled_dot_product_attention(q[:, :, None], k, v, attn_mask=mask[:, None, None, :], scale=scale)[:, :, 0]
    ### END SOLUTION


# %%
paged_attention = check("serving.paged_attention", paged_attention)

# %%
yours = Engine(model, block_size=BS, decode_attention=paged_attention)
your_attention_equal = yours.generate(prompts, lengths, ignore_eos=True) == reference
assert your_attention_equal
print(f"the engine decoding with your paged attention: same tokens as plain greedy: {your_attention_equal}")

# %% [markdown]
# ## 6. Serving: an OpenAI-compatible API
#
# `llmcourse serve --model ARTIFACT --port N` puts the engine behind `/v1/completions` and
# `/v1/chat/completions` (streaming too) on 127.0.0.1. Here the same server runs in this
# notebook's process (`ServerThread`) and any OpenAI client talks to it.

# %%
import httpx
import openai

from llmcourse.serving import ServerThread, served_from

served = served_from(model, tok, which, block_size=BS, max_batch=32)
server = ServerThread(served).start()
client = openai.OpenAI(base_url=server.base_url, api_key="not-needed")
text_prompt = tok.decode(prompts[0])
r = client.completions.create(model=which, prompt=text_prompt, max_tokens=12, temperature=0,
                              extra_body={"ignore_eos": True})
served_equal = r.choices[0].text == tok.decode(generate_cached(model, torch.tensor([tok.encode_ordinary(text_prompt)]),
                                                               12, temperature=0)[0, -12:].tolist())
stream = client.chat.completions.create(model=which, messages=[{"role": "user", "content": "Apa kabar?"}],
                                        max_tokens=12, temperature=0, stream=True)
print(repr(r.choices[0].text), "— equals greedy generate:", served_equal)
print("streamed chat:", repr("".join(ch.choices[0].delta.content or "" for ch in stream)))
assert served_equal

# %% [markdown]
# Bad requests get an HTTP 4xx with a message, and a client that hangs up mid-stream has its
# request aborted and its blocks freed — while the server keeps serving everyone else.

# %%
url = server.base_url + "/completions"
for label, kw in (("malformed JSON", {"content": b"{oops", "headers": {"content-type": "application/json"}}),
                  ("unknown model", {"json": {"model": "gpt-4", "prompt": "hi"}}),
                  ("prompt longer than the context", {"json": {"model": which, "prompt": "ha " * 2000}}),
                  ("max_tokens that will not fit", {"json": {"model": which, "prompt": "hi", "max_tokens": 10_000}})):
    resp = httpx.post(url, **kw)
    print(f"{label:32} HTTP {resp.status_code}: {resp.json()['error']['message'][:90]}")
with httpx.stream("POST", url, json={"model": which, "prompt": text_prompt, "max_tokens": 60, "stream": True,
                                     "ignore_eos": True}) as resp:
    for i, _ in enumerate(resp.iter_lines()):
        if i >= 3:
            break  # hang up
time.sleep(0.5)
health = httpx.get(server.base_url.removesuffix("/v1") + "/health").json()
blocks_freed = health["free_blocks"] == health["num_blocks"]
print(f"after the hang-up: {health['running']} running, {health['free_blocks']}/{health['num_blocks']} blocks free")
assert blocks_freed

# %% [markdown]
# ## 7. Load test: our server, llama.cpp's, vLLM's
#
# N clients at once, each streaming one request after another from a bounded workload of mixed
# lengths (loopback only). Per concurrency level: throughput (tokens/s), **time to first
# token** (queueing plus prefill: what a user waits for) and **inter-token latency** (the pace
# of the stream), p50 and p99. llama.cpp serves the GGUF of notebook 6.2 (the same model,
# Q8_0); its Python server computes one request at a time and queues the others.

# %%
from llmcourse.serving import llamacpp_server, mixed_workload, sweep

texts = [tok.decode(p) for p in prompts]
workload = mixed_workload(texts, LOAD_REQUESTS, *NEW_TOKENS, seed=1)
curves = {"course engine": sweep(server.base_url, which, workload, CONCURRENCY, extra={"ignore_eos": True})}
server.stop()


def export_now():
    """6.2 did not run: export the Q8_0 GGUF here."""
    from llmcourse.quantization import export_gguf

    return export_gguf(model, tok, cfg.scratch("gguf") / "course-gpt-Q8_0.gguf", "Q8_0")


gguf_path = load_artifact("course-gpt-gguf", fallback=export_now)
with llamacpp_server(gguf_path, n_ctx=c.block_size) as lserver:
    curves["llama.cpp server"] = sweep(lserver.base_url, lserver.model_name, workload, CONCURRENCY,
                                       extra={"min_tokens": NEW_TOKENS[0]})

# %%
from llmcourse.inference.vllm import VLLMServer, VLLMUnavailable, vllm_status

gemma_curves = {}
if SERVE_GEMMA:  # Gemma 3 270M: our engine (through its Gemma adapter) against vLLM
    from llmcourse.assets.models import gemma_dir
    from llmcourse.serving import served_model

    g_texts = [t[:160] for t in course_text(2000).values()]
    g_work = mixed_workload(g_texts, LOAD_REQUESTS, *NEW_TOKENS, seed=2)
    with ServerThread(served_model("gemma-3-270m", max_batch=16)) as gserver:
        gemma_curves["course engine (Gemma)"] = sweep(gserver.base_url, "gemma-3-270m", g_work, CONCURRENCY,
                                                      extra={"ignore_eos": True})
    ok, why = vllm_status()
    if RUN_VLLM and ok:
        try:
            with VLLMServer(gemma_dir(), max_model_len=512, served_name="gemma-3-270m") as vserver:
                gemma_curves["vLLM (Gemma)"] = sweep(vserver.base_url, "gemma-3-270m", g_work, CONCURRENCY,
                                                     extra={"ignore_eos": True})
        except VLLMUnavailable as err:
            print(f"vLLM did not run: {err}")
    else:
        print(f"vLLM skipped: {why}")
else:
    print("Gemma 3 270M and vLLM are served in the laptop profile (vLLM takes minutes to start on a CPU)")

# %%
all_curves = {**curves, **gemma_curves}
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for i, (name, rows) in enumerate(all_curves.items()):
    conc = [r["concurrency"] for r in rows]
    axes[0].plot(conc, [r["tokens_per_s"] for r in rows], "o-", color=f"C{i}", label=name)
    axes[1].plot(conc, [r["ttft_p50_ms"] for r in rows], "o-", color=f"C{i}", label=f"{name} p50")
    axes[1].plot(conc, [r["ttft_p99_ms"] for r in rows], "x--", color=f"C{i}", label=f"{name} p99")
    axes[2].plot(conc, [r["itl_p50_ms"] for r in rows], "o-", color=f"C{i}", label=f"{name} p50")
    axes[2].plot(conc, [r["itl_p99_ms"] for r in rows], "x--", color=f"C{i}", label=f"{name} p99")
for ax, title, ylabel in ((axes[0], "Throughput", "tokens / s"), (axes[1], "Time to first token", "ms"),
                          (axes[2], "Inter-token latency", "ms")):
    ax.set(xscale="log", xlabel="concurrent clients", ylabel=ylabel, title=title)
    ax.set_xticks(CONCURRENCY, [str(x) for x in CONCURRENCY])
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()
print(f"{'server':24} {'clients':>7} {'tok/s':>7} {'TTFT p50':>9} {'p99':>7} {'ITL p50':>8} {'p99':>7} {'errors':>6}")
for name, rows in all_curves.items():
    for r in rows:
        print(f"{name:24} {r['concurrency']:7} {r['tokens_per_s']:7.0f} {r['ttft_p50_ms']:9.0f} {r['ttft_p99_ms']:7.0f} "
              f"{r['itl_p50_ms']:8.1f} {r['itl_p99_ms']:7.1f} {r['errors']:6}")
ours, theirs = curves["course engine"], curves["llama.cpp server"]
top = max(CONCURRENCY)
gain = ours[-1]["tokens_per_s"] / ours[0]["tokens_per_s"]
cfg.say(f"From 1 to {top} clients our server's throughput changes {gain:.1f}x while its p50 time to first token goes from "
        f"{ours[0]['ttft_p50_ms']:.0f} to {ours[-1]['ttft_p50_ms']:.0f} ms; llama.cpp's server, one request at a time, "
        f"goes from {theirs[0]['tokens_per_s']:.0f} to {theirs[-1]['tokens_per_s']:.0f} tokens/s and its p50 TTFT from "
        f"{theirs[0]['ttft_p50_ms']:.0f} to {theirs[-1]['ttft_p50_ms']:.0f} ms (queueing)."
        + ("" if reliable else " (The machine was busy: rerun alone for steady numbers.)"))

# %% [markdown]
# On a GPU (`make gpu-check`), `benchmarks/bench_gpu_serving.py` draws the same curves for the
# GPU configuration, with vLLM's GPU build — the "different hardware" half of the story.

# %% [markdown]
# ## What we measured
# Every engine variant above (your allocator, a cache too small, a sliding window, your paged
# attention, the HTTP server) returned the tokens of plain greedy decoding; the asserts
# would have stopped the notebook otherwise. In numbers:

# %%
peak = {name: max(rows, key=lambda r: r["tokens_per_s"]) for name, rows in all_curves.items()}
cfg.say(f"- paged blocks of {BS}: {1 - paged / reserved:.0%} less KV memory than reserving the context per request\n"
        f"- prefix sharing: {prefix_saving:.0%} less peak KV memory for {len(chat)} chats with one system prompt\n"
        f"- a cache of {small.cache.num_blocks} blocks: {small.stats.preemptions} preemptions, no request lost\n"
        + "\n".join(f"- {name}: at most {r['tokens_per_s']:.0f} tokens/s ({r['concurrency']} "
                     f"client{'s' * (r['concurrency'] > 1)}, TTFT p50 {r['ttft_p50_ms']:.0f} ms, "
                     f"ITL p50 {r['itl_p50_ms']:.1f} ms)" for name, r in peak.items()))

# %%
cfg.report(paged_equal=paged_equal, engine_equal=engine_equal, window_equal=window_equal,
           your_attention_equal=your_attention_equal, served_equal=served_equal, blocks_freed=blocks_freed,
           prefix_saving=round(prefix_saving, 3), preemptions=small.stats.preemptions,
           load_errors=sum(r["errors"] for rows in all_curves.values() for r in rows),
           engine_tokens_per_s_top=round(ours[-1]["tokens_per_s"], 1),
           llamacpp_tokens_per_s_top=round(theirs[-1]["tokens_per_s"], 1))
