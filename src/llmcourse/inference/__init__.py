"""Inference: the one sampler, decoding strategies, the KV cache, llama.cpp (weeks 1, 3, 6).

    sampling        temperature / top-k / top-p / min-p / repetition penalty / EOS, SamplingParams
    decoding        greedy, sampling and beam search on any Hugging Face causal LM
    kv_cache        the course GPT's preallocated KV cache and cached generation
    llamacpp        the same GGUF in llama.cpp: in-process, OpenAI-compatible server, Ollama
    batched         many prompts in one batch: left padding and attention masks
    static_cache    fixed-shape decoding steps (ready for torch.compile / CUDA graphs)
    compile         torch.compile of the decoding step
    speculative     speculative decoding with a draft, prompt-lookup decoding
    draft           a small draft distilled from the target
    vllm            vLLM in its own environment: offline generation and its server
"""

from llmcourse.inference.batched import generate_batched, left_pad
from llmcourse.inference.compile import generate_compiled
from llmcourse.inference.decoding import beam_search, eos_token_ids, greedy, sample, sequence_logprob
from llmcourse.inference.kv_cache import (
    KVCache, bytes_per_element, forward_cached, generate_cached, kv_cache_bytes, kv_cache_bytes_for,
    measured_cache_bytes,
)
from llmcourse.inference.speculative import (
    SpeculativeStats, accept_greedy, prompt_lookup_candidates, prompt_lookup_generate, speculative_generate,
)
from llmcourse.inference.static_cache import StaticKVCache, generate_static
from llmcourse.inference.sampling import (
    GREEDY, SamplingParams, apply_repetition_penalty, check_generation_args, check_logits, finish_eos, min_p_filter,
    process_logits, sample_next, sample_with, top_k_filter, top_p_filter,
)

__all__ = [
    "GREEDY", "KVCache", "SamplingParams", "SpeculativeStats", "StaticKVCache", "accept_greedy", "generate_batched",
    "generate_compiled", "generate_static", "left_pad", "prompt_lookup_candidates", "prompt_lookup_generate",
    "speculative_generate", "apply_repetition_penalty", "beam_search", "bytes_per_element",
    "check_generation_args", "check_logits", "eos_token_ids", "finish_eos", "forward_cached", "generate_cached",
    "greedy", "kv_cache_bytes", "kv_cache_bytes_for", "measured_cache_bytes", "min_p_filter", "process_logits",
    "sample", "sample_next", "sample_with", "sequence_logprob", "top_k_filter", "top_p_filter",
]
