"""Gemma 3 270M, one GGUF, three ways: transformers, llama.cpp in-process, llama.cpp's server.
Also our cached greedy decoder against transformers' generate() on the same model."""

from __future__ import annotations

from llmcourse.bench import Bench, benchmark

PROMPT = "The three largest cities in Southeast Asia are"
NEW_TOKENS = 64
REPEATS = 5


@benchmark("runtimes")
def run(b: Bench) -> None:
    import torch

    from llmcourse.assets import gemma_gguf_path, load_lm
    from llmcourse.inference import decoding as D
    from llmcourse.inference.llamacpp import (LlamaServer, hf_generate_timed, llamacpp_generate_timed, load_llama,
                                              openai_generate_timed)

    model, tok = load_lm("gemma-3-270m", device="cpu")
    gguf = gemma_gguf_path()
    llm = load_llama(gguf, n_ctx=512, n_threads=torch.get_num_threads())  # the same threads as torch

    def timed(label: str, fn) -> None:
        fn()  # warm-up
        runs = [fn() for _ in range(REPEATS)]
        b.record(f"{label} decode", [t.tokens_per_s for t in runs], "tok/s", group="decode", higher_is_better=True)
        b.record(f"{label} TTFT", [t.ttft_s * 1000 for t in runs], "ms", group="ttft")

    timed("transformers", lambda: hf_generate_timed(model, tok, PROMPT, NEW_TOKENS))
    timed("llama.cpp in-process", lambda: llamacpp_generate_timed(llm, PROMPT, NEW_TOKENS))
    with LlamaServer(gguf, n_ctx=512, n_threads=torch.get_num_threads()) as server:
        timed("llama.cpp server", lambda: openai_generate_timed(server.base_url, server.model_name, PROMPT,
                                                                NEW_TOKENS))
    b.ratio("llama.cpp / transformers decode", "llama.cpp in-process decode", "transformers decode")
    b.ratio("transformers / llama.cpp TTFT", "transformers TTFT", "llama.cpp in-process TTFT")

    ids = tok(PROMPT, return_tensors="pt").input_ids
    n_ours = D.greedy(model, ids, NEW_TOKENS).size(1) - ids.size(1)  # fewer if EOS came first
    b.measure("ours greedy (KV cache)", lambda: D.greedy(model, ids, NEW_TOKENS), repeats=REPEATS,
              work=n_ours, unit="tok/s", group="greedy")
    b.measure("transformers generate greedy",
              lambda: model.generate(ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False),
              repeats=REPEATS, work=NEW_TOKENS, unit="tok/s", group="greedy")
    b.ratio("ours / generate greedy", "ours greedy (KV cache)", "transformers generate greedy")
    b.note(f"{NEW_TOKENS} new tokens after a {ids.size(1)}-token prompt, torch threads {torch.get_num_threads()}; "
           f"median of {REPEATS} runs after one warm-up")
