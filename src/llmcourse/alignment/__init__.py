"""Alignment: preference data, reward models, DPO (week 5); PPO and RLHF loops (week 8)."""

from llmcourse.alignment.dpo import (dpo_loss, dpo_loss_fn, encode_dpo_pairs, sequence_kl, sequence_logps, train_dpo,
                                     verifier_win_rate)
from llmcourse.alignment.preferences import PreferencePair, preference_pairs
from llmcourse.alignment.reward import (RewardModel, bradley_terry_loss, encode_pairs, preference_accuracy,
                                        reference_reward_model, reward_batches, train_reward_model)

__all__ = ["PreferencePair", "RewardModel", "bradley_terry_loss", "dpo_loss", "dpo_loss_fn", "encode_dpo_pairs",
           "encode_pairs", "preference_accuracy", "preference_pairs", "reference_reward_model", "reward_batches",
           "sequence_kl", "sequence_logps", "train_dpo", "train_reward_model", "verifier_win_rate"]
