"""Model architectures built from `llmcourse.nn`: the GPT of weeks 2-8, the course GPT's profile
sizes and reference builds, and the encoder-only / encoder-decoder models of week 3."""

from llmcourse.models.course import (
    COURSE_SIZES, course_gpt_config, course_text, course_tokenizer_vocab, reference_course_gpt,
    reference_course_tokenizer, reference_pretrained_gpt,
)
from llmcourse.models.gpt import GPT, GPTConfig, next_token_loss

__all__ = ["COURSE_SIZES", "GPT", "GPTConfig", "course_gpt_config", "course_text", "course_tokenizer_vocab",
           "next_token_loss", "reference_course_gpt", "reference_course_tokenizer", "reference_pretrained_gpt"]
