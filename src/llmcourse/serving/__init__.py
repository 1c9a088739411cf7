"""Serving: the paged KV cache, continuous batching and an OpenAI-compatible server (week 6).

    adapters         the engine's view of a model, layer by layer (course GPT, Gemma 3, Llama)
    paged_cache      blocks, the block allocator with its free list, prefix sharing
    paged_attention  attention that reads keys and values through block tables
    engine           continuous batching: admit, step, retire, preempt
    server           `llmcourse serve`: /v1/completions and /v1/chat/completions, streaming
    loading          what a server serves: an artifact or a Hugging Face model, with its tokenizer
    load             a bounded load generator: throughput, TTFT, inter-token latency
    compare          one workload through HF generate (static batches) and the engine
"""

from llmcourse.serving.adapters import GPTAdapter, Gemma3Adapter, LlamaAdapter, ModelAdapter, adapt, run_model
from llmcourse.serving.engine import Engine, EngineStats, Request, StepOutput
from llmcourse.serving.load import LoadResult, llamacpp_server, mixed_workload, run_load, sweep
from llmcourse.serving.loading import learner_gpt, served_from, served_model
from llmcourse.serving.paged_attention import (
    AttentionGroup, attention_mask, paged_attention, paged_attention_decode,
)
from llmcourse.serving.paged_cache import BlockAllocator, NoFreeBlocks, PagedKVCache, prefix_hashes, slot_mapping
from llmcourse.serving.server import ServedModel, ServerThread, build_app, chat_prompt

__all__ = [
    "AttentionGroup", "BlockAllocator", "Engine", "EngineStats", "GPTAdapter", "Gemma3Adapter", "LlamaAdapter",
    "LoadResult", "ModelAdapter", "NoFreeBlocks", "PagedKVCache", "Request", "ServedModel", "ServerThread",
    "StepOutput", "adapt", "attention_mask", "build_app", "chat_prompt", "learner_gpt", "llamacpp_server", "mixed_workload",
    "paged_attention", "paged_attention_decode", "prefix_hashes", "run_load", "run_model", "served_from",
    "served_model", "slot_mapping", "sweep",
]
