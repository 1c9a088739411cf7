"""What the week-3 notebooks must report in the smoke profile (tests/test_notebooks.py reads EXPECT).

Equalities the notebooks assert are reported as flags and must be true; losses must lie in
sane ranges: below uniform guessing (ln 74 = 4.3 nats for 3.1's characters, ln 512 = 6.24 for
the smoke course tokenizer, ln 800 = 6.7 for 3.3's phrase tokenizer) and above zero.
"""


def _positive(x):
    return isinstance(x, (int, float)) and x > 0


EXPECT = {
    "3.1": {
        "mha_equals_torch": True,
        "your_forward_equals_library": True,
        "to_hf_equal": True,
        "rope_relative_max_diff": (0.0, 1e-3),
        "course_gpt_val_loss": (1.0, 6.3),
        "course_gpt_steps": _positive,
        "seeds": (1, 1),
        "loss_rope_1x": (1.0, 4.4),
        "loss_alibi_4x": (1.0, 5.0),
        "loss_learned_1x": (1.0, 4.4),
        "rope_4x_scaled": (1.0, 6.0),
        "val_swiglu": (1.0, 4.4),
        "val_relu": (1.0, 4.4),
    },
    "3.2": {
        "keys_unchanged": True,
        "attention_step_equal": True,
        "cached_equals_uncached": True,
        "library_cached_equals_uncached": True,
        "same_tokens_timed": True,
        "formula_equals_measured": True,
        "hf_same_tokens": True,
        "batch_equals_alone": True,
        "speedup_64": _positive,
        "tok_per_s_cache_64": _positive,
        "hf_cache_measured_bytes": lambda b: isinstance(b, int) and b > 0,
        "gpt_params_M": (0.01, 5.0),
    },
    "3.3": {
        "your_scores_equal_sacrebleu": True,
        "seeds": (1, 1),
        "gpt_dev_loss": (0.1, 6.7),
        "t5_dev_loss": (0.1, 6.7),
        "bert_dev_mlm_loss": (0.1, 6.7),
        "bert_cloze_acc": (0.0, 1.0),
        "t5_chrf": (0.0, 100.0),
        "gpt_chrf": (0.0, 100.0),
        "nllb_bleu": "offline",
    },
}
