"""What the smoke runs of week 6's notebooks must report (tests/test_notebooks.py reads EXPECT)."""


def _positive(x):
    return isinstance(x, (int, float)) and x > 0


EXPECT = {
    "6.1": {
        "greedy_equal_hf": True, "batched_equal": True, "engine_equal": True, "static_equal": True,
        "speculative_equal": True, "lookup_equal": True, "engine_vs_best_hf": _positive,
        "best_k": lambda k: k in (1, 2, 4), "speculative_speedup": _positive, "acceptance_at_best_k": (0.0, 1.0),
    },
    "6.2": {
        "q8_0_bytes_equal": True, "llamacpp_tokenizer_equal": True,
        "llamacpp_f16_rel_logit_error": (0.0, 0.01),  # F16 weights: llama.cpp computes our logits
        "llamacpp_q8_0_rel_logit_error": (0.0, 0.05),  # Q8_0: within the quantisation error
        "int8_perplexity_change": (-0.005, 0.005),  # INT8 per channel: perplexity within 0.5%
        "float32_perplexity": (1.0, 600.0), "outlier_error_ratio": (1.5, 1000.0),
        "nf4_vs_bnb_perplexity": (-0.01, 0.01),  # our NF4 (week 5) within 1% of bitsandbytes' NF4
    },
    "6.3": {
        "paged_equal": True, "engine_equal": True, "window_equal": True, "your_attention_equal": True,
        "served_equal": True, "blocks_freed": True, "prefix_saving": (0.2, 1.0), "load_errors": 0,
        "preemptions": lambda n: n >= 1,  # the small cache forces the engine to preempt
        "engine_tokens_per_s_top": _positive, "llamacpp_tokens_per_s_top": _positive,
    },
}
