"""Building blocks of transformers, written from scratch: attention, multi-head attention,
positional encodings, feed-forward layers and norms. Week 2 starts with `attention`;
week 3 adds the rest, and `llmcourse.models.gpt` assembles them."""

from llmcourse.nn.attention import (
    attention_mask_from_padding,
    attention_scores,
    attention_weights,
    causal_mask,
    check_mask,
    scaled_dot_product_attention,
    self_attention,
    tiled_attention,
)
from llmcourse.nn.feedforward import ACTIVATIONS, FeedForward, matched_hidden_size, swiglu
from llmcourse.nn.functional import BLOCK_WEIGHTS, llama_block, multi_head_attention
from llmcourse.nn.mha import KVCacheLike, MultiHeadAttention, causal_self_attention, repeat_kv
from llmcourse.nn.norms import LayerNorm, RMSNorm, make_norm, rms_norm
from llmcourse.nn.positions import (
    LearnedPositions,
    RotaryEmbedding,
    alibi_bias,
    alibi_slopes,
    apply_rotary,
    llama3_inv_freq,
    rope,
    rope_inv_freq,
    rotate_half,
    sinusoidal_positions,
)

__all__ = [
    "ACTIVATIONS", "FeedForward", "KVCacheLike", "LayerNorm", "LearnedPositions", "MultiHeadAttention",
    "RMSNorm", "RotaryEmbedding", "alibi_bias", "alibi_slopes", "apply_rotary", "attention_mask_from_padding",
    "attention_scores", "attention_weights", "causal_mask", "causal_self_attention", "check_mask", "make_norm",
    "matched_hidden_size", "repeat_kv", "rotate_half", "scaled_dot_product_attention", "self_attention",
    "sinusoidal_positions", "tiled_attention",
    "BLOCK_WEIGHTS", "llama3_inv_freq", "llama_block", "multi_head_attention", "rms_norm", "rope", "rope_inv_freq",
    "swiglu",
]
