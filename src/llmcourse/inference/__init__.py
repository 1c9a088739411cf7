"""Inference: the one sampler, decoding strategies, the KV cache, llama.cpp (weeks 1, 3, 6).

    sampling        temperature / top-k / top-p / min-p / repetition penalty / EOS, SamplingParams
    decoding        greedy, sampling and beam search on any Hugging Face causal LM
    kv_cache        the course GPT's preallocated KV cache and cached generation
    batch_generate  several prompts at once: left padding, an attention mask, one cache
    generation_speed  timing generation token by token, with and without a cache
    llamacpp        the same GGUF in llama.cpp: in-process, OpenAI-compatible server, Ollama
    translation     NLLB-200, the reference translator of notebook 3.3 (online)
"""

from llmcourse.inference.batch_generate import generate_batch, left_pad
from llmcourse.inference.decoding import (
    beam_search, eos_token_ids, generate_with, greedy, sample, sequence_logprob, softmax,
)
from llmcourse.inference.generation_speed import (
    gpt_step_times, hf_cache, hf_step_times, step_latencies, tokens_per_second,
)
from llmcourse.inference.kv_cache import (
    KVCache, attention_step, bytes_per_element, forward_cached, generate_cached, kv_cache_bytes, kv_cache_bytes_for,
    measured_cache_bytes, write_kv,
)
from llmcourse.inference.sampling import (
    GREEDY, SamplingParams, apply_repetition_penalty, check_generation_args, check_logits, finish_eos, min_p_filter,
    process_logits, sample_next, sample_with, top_k_filter, top_p_filter,
)
from llmcourse.inference.translation import load_nllb, nllb_translate

__all__ = [
    "GREEDY", "KVCache", "SamplingParams", "apply_repetition_penalty", "attention_step", "beam_search",
    "bytes_per_element", "check_generation_args", "check_logits", "eos_token_ids", "finish_eos", "forward_cached",
    "generate_batch", "generate_cached", "generate_with", "gpt_step_times", "greedy", "hf_cache", "hf_step_times",
    "kv_cache_bytes", "kv_cache_bytes_for", "left_pad", "load_nllb", "measured_cache_bytes", "min_p_filter",
    "nllb_translate", "process_logits", "sample", "sample_next", "sample_with", "sequence_logprob", "softmax",
    "step_latencies", "tokens_per_second", "top_k_filter", "top_p_filter", "write_kv",
]
