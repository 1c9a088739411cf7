"""What the smoke runs of week 8 must report (tests/test_notebooks.py checks them)."""


def _unit(x):
    return isinstance(x, (int, float)) and 0.0 <= x <= 1.0


EXPECT = {
    "8.1": {
        "logmel_equals_librosa": True,
        "fusion_params_ratio": (1.0, 1.05),  # parameter counts matched within 5 %
        "fusion_early_acc": _unit, "fusion_late_acc": _unit,
        "fusion_text_only_acc": (0.3, 0.7), "fusion_image_only_acc": (0.3, 0.7),  # a balanced task: chance
        "speech_text_match_acc": _unit,
        "whisper_counting_error": (0.0, 3.0),
        "vlm_stage1_loss_start": (0.5, 12.0), "vlm_stage2_loss_end": (0.0, 12.0),
        "vlm_qa_seen": _unit, "vlm_qa_heldout": _unit, "vlm_caption_attr_heldout": _unit,
    },
    "8.2": {
        "nan_step_skipped": True,
        "rm_heldout_accuracy": _unit, "rm_same_on_hf": True,
        "reward_before": _unit, "reward_after": _unit,
        "ppo_reward_start": _unit, "ppo_reward_final": _unit, "grpo_reward_final": _unit, "rloo_reward_final": _unit,
        "kl_k3_after": (0.0, 100.0),  # k3 is never negative
        "ppo_steps_per_s": (0.0, 1e4), "grpo_steps_per_s": (0.0, 1e4),
        "hacked_quality": _unit,
    },
    "8.3": {
        "bm25_equals_bm25s": True, "ndcg_equals_sklearn": True, "lance_rows_kept": True,
        "hnsw_max_recall": (0.9, 1.0), "ivf_all_probes_recall": (0.9, 1.0), "flat_qps_ratio": (0.0, 1e3),
        "chunk_recall5_fixed": _unit, "chunk_recall5_sentence": _unit, "chunk_recall5_recursive": _unit,
        "ndcg10_bm25": _unit, "ndcg10_dense": _unit, "ndcg10_hybrid": _unit,
        "rag_em": _unit, "ft_em": _unit, "both_em": _unit, "rag_changed_em": _unit, "ft_changed_em": _unit,
        "rag_found": _unit, "ft_found": _unit, "rag_changed_found": _unit, "ft_changed_found": _unit,
        "rag_prompt_tokens": (10, 5000),
    },
}
