"""Alignment: reward models, DPO (week 5), PPO with GAE and KL control, GRPO/RLOO through trl (week 8).

    gae            compute_gae: advantages and returns from per-token rewards and values
    kl             k1/k2/k3 KL estimators, the adaptive KL coefficient
    ppo            PPO for a causal LM: rollouts, value head, clipped surrogate, minibatch epochs
    language_task  8.2's task: answer in the requested language (langid reward), a Bradley-Terry reward model
    trl_runs       the same task with trl's GRPO and RLOO; the course tokenizer as a HF fast tokenizer
"""

from llmcourse.alignment.gae import compute_gae
from llmcourse.alignment.kl import AdaptiveKLController, kl_k1, kl_k2, kl_k3
from llmcourse.alignment.language_task import (
    TASK_LANGS, TaskRewardModel, bradley_terry_loss, distinct_ratio, language_prompts, language_reward,
    pairwise_accuracy, preference_pairs, train_task_reward_model, true_quality,
)
from llmcourse.alignment.ppo import (
    PPOConfig, PPOTrainer, PolicyWithValue, clipped_surrogate, response_logprobs, value_loss,
)
from llmcourse.alignment.trl_runs import course_tokenizer_to_hf, run_trl

__all__ = [
    "AdaptiveKLController", "PPOConfig", "PPOTrainer", "PolicyWithValue", "TASK_LANGS", "TaskRewardModel",
    "bradley_terry_loss", "clipped_surrogate", "compute_gae", "course_tokenizer_to_hf", "distinct_ratio", "kl_k1",
    "kl_k2", "kl_k3", "language_prompts", "language_reward", "pairwise_accuracy", "preference_pairs",
    "response_logprobs", "run_trl", "train_task_reward_model", "true_quality", "value_loss",
]
