"""Inference: the one sampler, decoding strategies, the KV cache, llama.cpp (weeks 1, 3, 6).

    sampling        temperature / top-k / top-p / min-p / repetition penalty / EOS, SamplingParams
    decoding        greedy, sampling and beam search on any Hugging Face causal LM
    kv_cache        the course GPT's preallocated KV cache and cached generation
    llamacpp        the same GGUF in llama.cpp: in-process, OpenAI-compatible server, Ollama
"""

from llmcourse.inference.decoding import (
    beam_search, eos_token_ids, generate_with, greedy, sample, sequence_logprob, softmax,
)
from llmcourse.inference.kv_cache import (
    KVCache, bytes_per_element, forward_cached, generate_cached, kv_cache_bytes, kv_cache_bytes_for,
    measured_cache_bytes,
)
from llmcourse.inference.sampling import (
    GREEDY, SamplingParams, apply_repetition_penalty, check_generation_args, check_logits, finish_eos, min_p_filter,
    process_logits, sample_next, sample_with, top_k_filter, top_p_filter,
)

__all__ = [
    "GREEDY", "KVCache", "SamplingParams", "apply_repetition_penalty", "beam_search", "bytes_per_element",
    "check_generation_args", "check_logits", "eos_token_ids", "finish_eos", "forward_cached", "generate_cached",
    "generate_with",
    "greedy", "kv_cache_bytes", "kv_cache_bytes_for", "measured_cache_bytes", "min_p_filter", "process_logits",
    "sample", "sample_next", "sample_with", "sequence_logprob", "softmax", "top_k_filter", "top_p_filter",
]
