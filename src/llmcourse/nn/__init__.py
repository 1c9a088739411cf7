"""Building blocks of transformers, written from scratch: attention, multi-head attention,
positional encodings, feed-forward layers and norms. Week 2 starts with `attention`;
week 3 adds the rest, and `llmcourse.models.gpt` assembles them."""

from llmcourse.nn.attention import (
    attention_mask_from_padding,
    attention_scores,
    attention_weights,
    causal_mask,
    scaled_dot_product_attention,
)

__all__ = [
    "attention_mask_from_padding", "attention_scores", "attention_weights", "causal_mask",
    "scaled_dot_product_attention",
]
