"""What the week-5 notebooks must report in the smoke profile (read by tests/test_notebooks.py)."""


def _probability(x):
    return isinstance(x, (int, float)) and 0.0 <= x <= 1.0


EXPECT = {
    "5.1": {
        "domain_improved": True,  # fine-tuning lowers held-out domain perplexity
        "domain_ppl_before": (2.0, 2000.0),
        "domain_ppl_after": (2.0, 2000.0),
        "general_ppl_before": (2.0, 2000.0),
        "cloze_before": _probability,
        "cloze_after": _probability,
        "memory_peak_over_formula": (0.5, 2.0),  # measured step peak vs weights + grads + Adam + activations
        "checkpointing_memory_ratio": (0.05, 1.0),  # checkpointing never needs more memory
    },
    "5.2": {
        "lora_vs_peft": True,
        "merged_vs_peft": True,
        "nf4_equal_bnb": True,
        "double_quant_equal_bnb": True,
        "prompt_tuning_vs_peft": True,
        "qlora_loss_gap": (0.0, 0.05),  # ours vs peft + bitsandbytes Linear4bit, same batches
        "qlora_memory_ratio": (0.05, 1.0),  # QLoRA's step peak below LoRA-on-float32's
        "lora_test_ppl": (2.0, 2000.0),
        "full_ft_test_ppl": (2.0, 2000.0),
        "lora_trainable_share": (0.0, 0.5),
    },
    "5.3": {
        "sft_loss_equal_transformers": True,
        "packed_equals_alone": True,
        "sft_val_loss_first": (0.5, 10.0),
        "sft_val_loss_last": (0.1, 10.0),
        "plain_ppl_before": (1.0, 1e5),  # a perplexity, below a large vocabulary's uniform guess
        "plain_ppl_after": (1.0, 1e5),
        "task_accuracy_before": _probability,
        "task_accuracy_after": _probability,
        "reward_accuracy": _probability,
        "dpo_win_rate": _probability,
        "dpo_kl": (-1.0, 50.0),  # a Monte Carlo estimate: near 0 after a few steps, can dip below 0
        "dpo_implicit_accuracy": _probability,
    },
}
