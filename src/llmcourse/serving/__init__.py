"""Serving: the paged KV cache, continuous batching and an OpenAI-compatible server (week 6).

    adapters         the engine's view of a model, layer by layer (course GPT, Gemma 3, Llama)
    paged_cache      blocks, the block allocator with its free list, prefix sharing
    paged_attention  attention that reads keys and values through block tables
    engine           continuous batching: admit, step, retire, preempt
    server           `llmcourse serve`: /v1/completions and /v1/chat/completions, streaming
    load             a bounded load generator: throughput, TTFT, inter-token latency
"""

from llmcourse.serving.adapters import GPTAdapter, Gemma3Adapter, LlamaAdapter, ModelAdapter, adapt, run_model
from llmcourse.serving.engine import Engine, EngineStats, Request, StepOutput
from llmcourse.serving.paged_attention import AttentionGroup, attention_mask, paged_attention
from llmcourse.serving.paged_cache import BlockAllocator, NoFreeBlocks, PagedKVCache, prefix_hashes

__all__ = [
    "AttentionGroup", "BlockAllocator", "Engine", "EngineStats", "GPTAdapter", "Gemma3Adapter", "LlamaAdapter",
    "ModelAdapter", "NoFreeBlocks", "PagedKVCache", "Request", "StepOutput", "adapt", "attention_mask",
    "paged_attention", "prefix_hashes", "run_model",
]
