"""Alignment: preference data, reward models, DPO (week 5); PPO with GAE and KL control, GRPO/RLOO (week 8).

    preferences    verified preference pairs (correct vs wrong answer, right vs wrong language)
    reward         the Bradley-Terry reward model: a scalar head on the LM, trained on pairs
    dpo            dpo_loss and DPO training, the verifier's win rate, KL to the reference
    gae            compute_gae: advantages and returns from per-token rewards and values
    kl             k1/k2/k3 KL estimators, the adaptive KL coefficient
    ppo            PPO for a causal LM: rollouts, value head, clipped surrogate, minibatch epochs
    language_task  8.2's task: answer in the requested language (langid reward)
    trl_runs       the same task with trl's GRPO and RLOO
"""

from llmcourse.alignment.dpo import (
    dpo_loss, dpo_loss_fn, encode_dpo_pairs, sequence_kl, sequence_logps, train_dpo, verifier_win_rate,
)
from llmcourse.alignment.gae import compute_gae
from llmcourse.alignment.kl import AdaptiveKLController, kl_k1, kl_k2, kl_k3
from llmcourse.alignment.language_task import (
    TASK_LANGS, TaskRewardModel, distinct_ratio, language_preference_pairs, language_prompts, language_reward,
    pairwise_accuracy, train_task_reward_model, true_quality,
)
from llmcourse.alignment.ppo import (
    PPOConfig, PPOTrainer, PolicyWithValue, clipped_surrogate, response_logprobs, value_loss,
)
from llmcourse.alignment.preferences import PreferencePair, preference_pairs
from llmcourse.alignment.reward import (
    RewardModel, bradley_terry_loss, encode_pairs, preference_accuracy, reference_reward_model, reward_batches,
    train_reward_model,
)
from llmcourse.alignment.trl_runs import course_tokenizer_to_hf, run_trl

__all__ = [
    "AdaptiveKLController", "PPOConfig", "PPOTrainer", "PolicyWithValue", "PreferencePair", "RewardModel",
    "TASK_LANGS", "TaskRewardModel", "bradley_terry_loss", "clipped_surrogate", "compute_gae",
    "course_tokenizer_to_hf", "distinct_ratio", "dpo_loss", "dpo_loss_fn", "encode_dpo_pairs", "encode_pairs",
    "kl_k1", "kl_k2", "kl_k3", "language_preference_pairs", "language_prompts", "language_reward",
    "pairwise_accuracy", "preference_accuracy", "preference_pairs", "reference_reward_model", "response_logprobs",
    "reward_batches", "run_trl", "sequence_kl", "sequence_logps", "train_dpo", "train_reward_model",
    "true_quality", "value_loss", "verifier_win_rate",
]
