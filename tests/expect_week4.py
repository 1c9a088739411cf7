"""What the smoke runs of week 4's notebooks must report (read by tests/test_notebooks.py)."""

EXPECT = {
    "4.1": {
        # OCR of the typeset pages: a few percent of characters wrong before cleaning, far fewer after
        **{f"cer_raw_{lang}": (0.01, 0.4) for lang in ("en", "id", "ms", "th")},
        **{f"cer_clean_{lang}": (0.0, 0.08) for lang in ("en", "id", "ms")},
        "cer_clean_th": (0.0, 0.15),
        "langid_ours_100": (0.6, 1.0), "langid_langid_100": (0.6, 1.0), "langid_lingua_100": (0.6, 1.0),
        "minhash_within_2se": (0.75, 1.0),
        "docs_kept": (20, 120), "near_duplicates_removed": (1, 60), "exact_duplicates_removed": (1, 60),
        "junk_left": (0, 2),
        "shard_train_tokens": (10_000, 200_000),
        "loader_deterministic": True, "loader_resumable": True, "loader_data_parallel": True,
    },
    "4.2": {
        "accumulation_equal": True, "accumulation_max_diff": (0.0, 1e-6),
        "ddp_equals_single": True, "fsdp_equals_single": True,
        "fsdp_state_ratio": (0.4, 0.65),
        "fp16_skipped_steps": (1, 1000),
        "final_loss_fp32": (2.0, 7.0), "final_loss_bf16": (2.0, 7.0),
        "fineweb_kept": (10, 80),
    },
    "4.3": {
        "resume_exact": True,
        "clm_val_loss": (2.0, 7.0), "mlm_val_loss": (2.0, 8.0),
        "pretrained_val_loss": (2.0, 6.5),
        "mfu": (0.0, 1.0), "tokens_per_s": (100, 1e7),
        "checkpoints_saved": (2, 100),
    },
}
