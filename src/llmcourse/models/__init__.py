"""Model architectures built from `llmcourse.nn`: the GPT of weeks 2-6 (`llmcourse.models.gpt`)
and the encoder-only / encoder-decoder models of week 3 (imported from their own modules)."""
