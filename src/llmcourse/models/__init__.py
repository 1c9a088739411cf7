"""Model architectures built from `llmcourse.nn`: the GPT of weeks 2-8, the course GPT's profile
sizes and reference builds, the encoder-only / encoder-decoder models of week 3, the helpers
they share, and Hugging Face interop."""

from llmcourse.models.bert import BERT, BertConfig, EncoderBlock, fill_mask, mask_tokens, pair_batch, pair_segments
from llmcourse.models.common import IGNORE, check_ids, init_weights, label_loss, pad_batch
from llmcourse.models.course import (
    COURSE_SIZES, course_gpt_config, course_text, course_tokenizer_vocab, course_tokens, reference_course_gpt,
    reference_course_tokenizer, reference_pretrained_gpt,
)
from llmcourse.models.gpt import GPT, GPTConfig, next_token_loss
from llmcourse.models.interop import gpt_from_hf, gpt_to_hf
from llmcourse.models.prefix_lm import prefix_lm_batch, prefix_lm_sequence, prefix_lm_translate
from llmcourse.models.t5 import T5, T5Config, cross_attention_mask, cross_attention_maps, seq2seq_batch

__all__ = [
    "BERT", "BertConfig", "COURSE_SIZES", "EncoderBlock", "GPT", "GPTConfig", "IGNORE", "T5", "T5Config",
    "check_ids", "course_gpt_config", "course_text", "course_tokenizer_vocab", "course_tokens", "cross_attention_mask",
    "cross_attention_maps", "fill_mask", "gpt_from_hf", "gpt_to_hf", "init_weights", "label_loss", "mask_tokens",
    "next_token_loss", "pad_batch", "pair_batch", "pair_segments", "prefix_lm_batch", "prefix_lm_sequence",
    "prefix_lm_translate", "reference_course_gpt", "reference_course_tokenizer", "reference_pretrained_gpt",
    "seq2seq_batch",
]
