"""Reward model and DPO against trl: the same Bradley–Terry loss as RewardTrainer and the same DPO loss
and rewards as DPOTrainer, on the same batches."""

import copy
import tempfile

import pytest
import torch

from llmcourse.alignment import (PreferencePair, RewardModel, bradley_terry_loss, dpo_loss, encode_pairs,
                                 preference_pairs, reward_batches, sequence_logps, verifier_win_rate)
from llmcourse.assets.instructions import verify
from llmcourse.finetuning import gemma_chat_template, pad_examples, tokenize_chat
from llmcourse.models.gpt import GPT, GPTConfig

trl = pytest.importorskip("trl")
PAIRS = [PreferencePair("What is 2 plus 3?", "5", "6"),
         PreferencePair("Tulis 57 dengan kata-kata.", "lima puluh tujuh", "fifty-seven"),
         PreferencePair("12 คูณ 3 เท่ากับเท่าไร", "36", "35")]


@pytest.fixture(autouse=True, scope="module")
def _fast_datasets_fingerprints():
    """trl prepares data with datasets.map, which hashes the 262k-entry tokenizer for a cache key every
    call (seconds each); these tests need no cache, so use random fingerprints."""
    import datasets.fingerprint as fp

    saved = fp.update_fingerprint
    fp.update_fingerprint = lambda *args, **kwargs: fp.generate_random_fingerprint()
    yield
    fp.update_fingerprint = saved


@pytest.fixture(scope="module")
def gemma_tok():
    from llmcourse.assets import load_tokenizer

    tok = copy.deepcopy(load_tokenizer("tiny"))
    tok.chat_template = gemma_chat_template()
    return tok


def test_dpo_loss_formula_by_hand():
    pc, pr, rc, rr = torch.tensor([-3.0, -1.0]), torch.tensor([-4.0, -0.5]), torch.tensor([-3.5, -1.0]), \
        torch.tensor([-3.0, -1.5])
    loss, cr, rj = dpo_loss(pc, pr, rc, rr, beta=0.5)
    z = 0.5 * ((pc - rc) - (pr - rr))
    assert torch.allclose(loss, torch.log1p(torch.exp(-z)).mean())
    assert torch.allclose(cr, 0.5 * (pc - rc)) and torch.allclose(rj, 0.5 * (pr - rr))
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(pc, pr, rc, rr, beta=0)


def test_dpo_loss_and_rewards_equal_trl(gemma_tok, tiny_lm):
    from datasets import Dataset

    ref = copy.deepcopy(tiny_lm[0])
    policy = copy.deepcopy(ref)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    data = [{"prompt": [{"role": "user", "content": p.prompt}], "chosen": [{"role": "assistant", "content": p.chosen}],
             "rejected": [{"role": "assistant", "content": p.rejected}]} for p in PAIRS]
    with tempfile.TemporaryDirectory() as out:
        args = trl.DPOConfig(output_dir=out, beta=0.1, report_to=[], use_cpu=True, bf16=False,
                             per_device_train_batch_size=len(PAIRS), max_length=128)
        trainer = trl.DPOTrainer(model=policy, ref_model=ref, args=args, processing_class=gemma_tok,
                                 train_dataset=Dataset.from_list(data))
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
        policy.train()
        theirs = trainer.compute_loss(policy, dict(batch))
        metrics = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    rows = [tokenize_chat(p.messages(w), gemma_tok) for w in ("chosen", "rejected") for p in PAIRS]
    ids, labels, _ = pad_examples(rows, gemma_tok.pad_token_id)
    logps = sequence_logps(policy, ids, labels)
    with torch.no_grad():
        ref_logps = sequence_logps(ref, ids, labels)
    n = len(PAIRS)
    loss, chosen_r, rejected_r = dpo_loss(logps[:n], logps[n:], ref_logps[:n], ref_logps[n:], beta=0.1)
    assert torch.allclose(loss, theirs, atol=1e-5)
    assert chosen_r.mean().item() == pytest.approx(metrics["rewards/chosen"], abs=1e-5)
    assert rejected_r.mean().item() == pytest.approx(metrics["rewards/rejected"], abs=1e-5)
    assert logps[:n].mean().item() == pytest.approx(metrics["logps/chosen"], abs=1e-3)
    policy.eval()


def test_reward_model_loss_equals_trl_reward_trainer(gemma_tok):
    import transformers
    from datasets import Dataset

    torch.manual_seed(0)
    gpt = GPT(GPTConfig.llama_style(vocab_size=len(gemma_tok), block_size=64, n_layer=2, n_head=2, n_kv_head=1,
                                    n_embd=16))
    rm = RewardModel(gpt)
    hf_lm = gpt.to_hf()
    cfg = copy.deepcopy(hf_lm.config)
    cfg.num_labels, cfg.pad_token_id = 1, gemma_tok.pad_token_id
    hf = transformers.LlamaForSequenceClassification(cfg)  # the same body and head, Hugging Face's pooling
    hf.model.load_state_dict(hf_lm.model.state_dict())
    hf.score.weight.data.copy_(rm.score.weight.data)
    data = [{"chosen": p.messages("chosen"), "rejected": p.messages("rejected")} for p in PAIRS]
    with tempfile.TemporaryDirectory() as out:
        args = trl.RewardConfig(output_dir=out, report_to=[], use_cpu=True, bf16=False,
                                per_device_train_batch_size=len(PAIRS), max_length=64)
        trainer = trl.RewardTrainer(model=hf, args=args, processing_class=gemma_tok, train_dataset=Dataset.from_list(data))
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
        theirs = trainer.compute_loss(hf, dict(batch))
        acc = trainer._metrics["train"]["accuracy"][-1]
    b = reward_batches(encode_pairs(PAIRS, gemma_tok, 64), len(PAIRS), gemma_tok.pad_token_id)[0]
    rc, rr = rm(b[0], b[1]), rm(b[2], b[3])
    assert torch.allclose(bradley_terry_loss(rc, rr), theirs, atol=1e-5)
    assert (rc > rr).float().mean().item() == pytest.approx(acc)


def test_reward_model_save_load(tmp_path):
    torch.manual_seed(0)
    rm = RewardModel(GPT(GPTConfig.llama_style(vocab_size=30, block_size=16, n_layer=1, n_head=2, n_embd=8)))
    rm.save(tmp_path)
    back = RewardModel.load(tmp_path)
    ids = torch.randint(30, (2, 5))
    assert torch.equal(back(ids), rm.eval()(ids))


def test_preference_pairs_are_verified_and_identical_answers_refused():
    pairs = preference_pairs("val", per_kind=30)
    assert len(pairs) > 20 and all(p.chosen != p.rejected for p in pairs)
    assert {p.kind for p in pairs} == {"number", "arithmetic", "units", "country"}
    with pytest.raises(ValueError, match="same answer"):
        PreferencePair("What is 2 plus 3?", "5", " 5 ")
    from llmcourse.assets.instructions import instruction_data

    items = [i for i in instruction_data("test", per_kind=30) if i.kind == "arithmetic"][:4]
    assert len(items) == 4
    right = [i.answer for i in items]
    wrong = [str(int(a) + 1) for a in right]
    res = verifier_win_rate(items, right, wrong)
    assert res["win_rate"] == 1.0 and res["policy_accuracy"] == 1.0 and res["reference_accuracy"] == 0.0
    assert all(verify(i, a) for i, a in zip(items, right))
