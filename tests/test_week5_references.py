"""The reference builders later weeks fall back to (course-gpt-sft, reward-model) run in the smoke
profile, are deterministic, and round-trip through the artifact door."""

import torch

from llmcourse.alignment import RewardModel, reference_reward_model
from llmcourse.assets.artifacts import load_artifact, save_artifact
from llmcourse.finetuning import reference_sft_gpt
from llmcourse.models.gpt import GPT


def test_reference_sft_and_reward_model_round_trip(tmp_path, monkeypatch):
    sft = reference_sft_gpt()
    assert isinstance(sft["model"], GPT) and sft["metrics"]["trained_by"] == "reference"
    assert 0 < sft["metrics"]["sft_val_loss"] < 10
    again = reference_sft_gpt()
    ids = torch.randint(sft["model"].config.vocab_size, (1, 12))
    assert torch.equal(sft["model"](ids)[0], again["model"](ids)[0]), "the reference SFT model is not deterministic"

    monkeypatch.setenv("LLMCOURSE_ARTIFACTS", str(tmp_path))
    save_artifact("course-gpt-sft", sft, notebook="5.3")
    rm = reference_reward_model()
    assert isinstance(rm["model"], RewardModel) and 0.0 <= rm["metrics"]["val_preference_accuracy"] <= 1.0
    save_artifact("reward-model", rm, notebook="5.3")
    back = load_artifact("reward-model")
    assert isinstance(back["model"], RewardModel)
    assert torch.equal(back["model"](ids), rm["model"](ids))
