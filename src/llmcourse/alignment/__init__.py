"""Alignment: reward models, DPO (week 5), PPO with GAE and KL control (week 8)."""
