# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5.3 Domain adaptation: instructions and preferences
#
# A pre-trained model continues text; an assistant answers. This notebook turns the course
# GPT into a (very small) assistant in the two steps every chat model goes through:
#
# 1. **Supervised fine-tuning (SFT)** on instruction data: conversations rendered with a
#    chat template, with the loss on the assistant's tokens only (loss masking), packed into
#    full rows without letting examples see each other.
# 2. **Preference tuning**: pairs of a better and a worse answer, built from tasks a program
#    can verify; a **reward model** (Bradley–Terry) that scores answers, and **DPO**, which
#    learns from the pairs directly, measured by a verifier's win rate and the KL divergence
#    to the starting model.
#
# Every loss is checked against the library people use for it (transformers, trl).

# %%
# On Colab, install the course package the first time (on your machine `make setup` did it).
import importlib.util, subprocess, sys
if importlib.util.find_spec("llmcourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "llmcourse[course] @ git+https://github.com/llmcourse/llmcourse"], check=True)

from llmcourse import check, setup

cfg = setup("5.3")

# %% [markdown]
# ## Knobs

# %%
import copy
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

PER_KIND = cfg.pick(smoke=40, laptop=150, colab=300)  # generated examples per kind and language
SFT_STEPS = cfg.pick(smoke=40, laptop=600, colab=1500)
SFT_BATCH = cfg.pick(smoke=8, laptop=16, colab=32)
SFT_LR = cfg.pick(smoke=1e-3, laptop=3e-4)  # laptop: 1e-3 for 600 steps erased plain-text modelling (perplexity 79 -> 4,895)
RM_STEPS = cfg.pick(smoke=20, laptop=300, colab=800)
DPO_STEPS = cfg.pick(smoke=10, laptop=150, colab=400)
BETA = 0.1
PLAIN_CHARS = cfg.pick(smoke=8_000, laptop=40_000)  # plain course text for the forgetting check
TEST_ITEMS = cfg.pick(smoke=24, laptop=200, colab=400)  # held-out verifiable questions for the task metric
KL_PROMPTS = cfg.pick(smoke=8, laptop=64)
TRL_CHECKS = cfg.pick(smoke=False, laptop=True)  # trl's trainers take a while to build: laptop and Colab
if cfg.device == "cpu":
    torch.set_num_threads(cfg.threads)
device = cfg.device

# %% [markdown]
# ## 1. Instruction data, built offline in four languages
#
# No instruction set in Indonesian, Thai and Vietnamese ships on PyPI, so we build one from
# packages that ship real language data, computing every answer:
# numbers in words (num2words), arithmetic and unit word problems (answers computed, unit
# names from CLDR), country names across languages (CLDR), small-talk dialogues
# (chatterbot-corpus) and definitions of Python's built-ins (their docstrings).

# %%
from llmcourse.assets.instructions import VERIFIABLE, composition, instruction_data, to_messages, verify

train_items = instruction_data("train", per_kind=PER_KIND)
val_items = instruction_data("val", per_kind=PER_KIND)
test_items = [it for it in instruction_data("test", per_kind=PER_KIND) if it.kind in VERIFIABLE][:TEST_ITEMS]
counts = composition(train_items)
kinds = sorted({k for k, _ in counts})
langs = sorted({lang for _, lang in counts})
print(f"{'kind':12}" + "".join(f"{lang:>6}" for lang in langs) + f"{'total':>7}")
for k in kinds:
    row = [counts.get((k, lang), 0) for lang in langs]
    print(f"{k:12}" + "".join(f"{n:>6}" for n in row) + f"{sum(row):>7}")
print(f"train {len(train_items)}, val {len(val_items)}, test (verifiable) {len(test_items)}")
for it in train_items[::max(1, len(train_items) // 5)][:5]:
    print(f"  [{it.kind}/{it.lang}] {it.prompt!r} -> {it.response!r}")

fig, ax = plt.subplots(figsize=(8, 3))
bottom = torch.zeros(len(kinds))
for lang in langs:
    vals = torch.tensor([counts.get((k, lang), 0) for k in kinds], dtype=torch.float)
    ax.bar(kinds, vals, bottom=bottom, label=lang)
    bottom += vals
ax.set_ylabel("training examples")
ax.legend(title="language")
ax.set_title("composition of the instruction data")
plt.show()

# %% [markdown]
# ### Decontamination against the evaluation sets
#
# Week 7 evaluates the models of this course. If a test question is in the training data,
# the evaluation measures memory. We drop every training example that shares an 8-word
# sequence with any evaluation text available here (HumanEval's prompts, and every set week 7
# exposes through `llmcourse.evaluation.evaluation_texts()`).

# %%
from llmcourse.finetuning import decontaminate, evaluation_sets

eval_sets = evaluation_sets()
texts = [" ".join(m["content"] for m in to_messages(it)) for it in train_items]
keep, dropped = decontaminate(texts, eval_sets, n=8)
print(f"evaluation sets checked: {', '.join(f'{k} ({len(v)} texts)' for k, v in eval_sets.items()) or 'none found'}")
cfg.say(f"{len(train_items) - len(keep)} of {len(train_items)} training examples share an 8-word sequence with an "
        f"evaluation text and are dropped ({dropped or 'none'}).")
train_items = [train_items[i] for i in keep]

# %% [markdown]
# ## 2. Chat template and loss masking
#
# A conversation becomes text through a **chat template**. The course tokenizer has no
# chat tokens, so the course GPT's template uses plain role markers and ends each assistant
# turn with `<|endoftext|>` (the model learns when to stop). The labels keep only the
# assistant's tokens; everything else is -100, which the loss ignores.

# %%
from llmcourse.assets.artifacts import last_source, load_artifact, save_artifact
from llmcourse.finetuning import IGNORE_INDEX, render_chat, tokenize_chat
from llmcourse.models import reference_pretrained_gpt

art = load_artifact("course-gpt-pretrained", fallback=reference_pretrained_gpt)
base, tok = art["model"].to(device).eval(), art["tokenizer"]
base.set_attn_impl("sdpa")
example = to_messages(next(it for it in train_items if it.kind == "arithmetic"))
print(render_chat(example, tok))
ex = tokenize_chat(example, tok)
shown = "".join(f"[{tok.decode([t])}]" if lab != IGNORE_INDEX else tok.decode([t])
                for t, lab in zip(ex.input_ids, ex.labels))
print("trained tokens in [brackets]:\n" + shown)

# %% [markdown]
# The model's output at position t predicts token t + 1, so the loss compares `logits[:, :-1]`
# with `labels[:, 1:]`, skipping -100.
#
# **Exercise `finetuning.sft_loss`** · difficulty 1 · ~10 min. Write `sft_loss(logits,
# labels)` for logits (B, T, V) and labels (B, T) aligned with the input. Checked against
# transformers' own causal-LM loss.

# %%
def sft_loss(logits, labels):
    ### BEGIN SOLUTION
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=-100)
    ### END SOLUTION


# %%
sft_loss = check("finetuning.sft_loss", sft_loss)

# %%
from transformers.loss.loss_utils import ForCausalLMLoss

from llmcourse.finetuning import pad_examples

batch_ex = [tokenize_chat(to_messages(it), tok) for it in train_items[:6]]
ids_b, labels_b, mask_b = pad_examples(batch_ex, tok.special_tokens["<|pad|>"])
with torch.no_grad():
    logits_b = base(ids_b.to(device))[0].cpu()
ours_loss = sft_loss(logits_b, labels_b).item()
hf_loss = ForCausalLMLoss(logits_b, labels_b, vocab_size=logits_b.shape[-1]).item()
assert abs(ours_loss - hf_loss) < 1e-5
print(f"SFT loss on a batch: ours {ours_loss:.6f}, transformers {hf_loss:.6f}")

# %% [markdown]
# ### Packing, with walls between examples
#
# Instruction examples are short: padded to the longest in a batch, most of a row is
# padding. **Packing** concatenates examples into full rows. The attention mask must then
# be *block-diagonal*: a token may attend to earlier tokens of its own example only. With
# rotary positions (which depend only on distances) a packed example then gets exactly the
# logits it gets alone.
#
# **Exercise `finetuning.packed_mask`** · difficulty 3 · ~25 min (stretch). Write
# `packed_mask(doc_ids)`: from (R, T) document ids (-1 = padding) to a bool (R, 1, T, T) mask,
# True where query i may attend key j. Checked by running attention over a packed row and
# over each document alone. Then measure what packing saves.

# %%
def packed_mask(doc_ids):
    ### BEGIN SOLUTION
    T = doc_ids.shape[1]
    same = doc_ids[:, :, None] == doc_ids[:, None, :]  # (R, T, T) same document
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    mask = same & causal
    mask |= torch.eye(T, dtype=torch.bool, device=doc_ids.device)  # padding rows attend to themselves
    return mask[:, None]
    ### END SOLUTION


# %%
packed_mask = check("finetuning.packed_mask", packed_mask)

# %%
from llmcourse.finetuning import gpt_logits, pack_examples

BLOCK = base.config.block_size
all_ex = [tokenize_chat(to_messages(it), tok, max_length=BLOCK) for it in train_items]
pad_id = tok.special_tokens["<|pad|>"]
p_ids, p_labels, p_docs = pack_examples(all_ex, BLOCK, pad_id)
padded_tokens = len(all_ex) * max(len(e.input_ids) for e in all_ex)
real = sum(len(e.input_ids) for e in all_ex)
with torch.no_grad():
    packed_logits = gpt_logits(base, p_ids[:1].to(device), mask=packed_mask(p_docs[:1].to(device)))
    k = int(p_docs[0, 0])
    where = (p_docs[0] == k).nonzero().flatten()
    alone = base(torch.tensor([all_ex[k].input_ids], device=device))[0][0]
    pack_diff = (packed_logits[0, where] - alone).abs().max().item()
assert pack_diff < 1e-4
cfg.say(f"{len(all_ex)} examples ({real:,} tokens) fill {len(p_ids)} packed rows of {BLOCK} tokens "
        f"({real / p_ids.numel():.0%} real tokens); padded to the longest example they would take "
        f"{padded_tokens:,} positions ({real / padded_tokens:.0%} real). A packed example's logits equal its "
        f"logits alone to {pack_diff:.1e}.")

# %% [markdown]
# ## 3. SFT: before and after
#
# Before training, what does the pre-trained model answer? It continues text; it has never
# seen the template. The task metric is the share of held-out verifiable questions (numbers
# in words, arithmetic, units, country names) answered correctly, judged by a verifier, and
# how often an arithmetic or unit answer is a number at all.

# %%
from llmcourse.finetuning import generate_answers, train_sft


def task_metric(model, items, label):
    answers = generate_answers(model, tok, [it.prompt for it in items], max_new_tokens=16)
    right = [verify(it, a) for it, a in zip(items, answers)]
    numeric = [any(ch.isdigit() for ch in a) for it, a in zip(items, answers) if it.kind in ("arithmetic", "units")]
    by_kind = {k: sum(r for it, r in zip(items, right) if it.kind == k) / max(1, sum(it.kind == k for it in items))
               for k in VERIFIABLE}
    return {"model": label, "accuracy": sum(right) / len(items), "numeric": sum(numeric) / max(1, len(numeric)),
            "by_kind": by_kind, "answers": answers}


before = task_metric(base, test_items, "pre-trained")
sft_model = copy.deepcopy(base)
history = train_sft(sft_model, tok, [to_messages(it) for it in train_items], steps=SFT_STEPS, lr=SFT_LR,
                    batch_size=SFT_BATCH, val_conversations=[to_messages(it) for it in val_items], pack_to=BLOCK,
                    loss=sft_loss, mask_fn=packed_mask, device=device)
sft_model.eval()
history.plot(label="SFT")
plt.title("SFT loss (assistant tokens only)")
plt.show()
after = task_metric(sft_model, test_items, "after SFT")

# %%
print(f"{'':12}{'accuracy':>9}{'numeric':>9}" + "".join(f"{k:>11}" for k in VERIFIABLE))
for row in (before, after):
    print(f"{row['model']:12}{row['accuracy']:>9.2f}{row['numeric']:>9.2f}"
          + "".join(f"{row['by_kind'][k]:>11.2f}" for k in VERIFIABLE))
print("\nsome held-out questions:")
for it, a, b in list(zip(test_items, before["answers"], after["answers"]))[:6]:
    print(f"  {it.prompt!r}\n     expected {it.answer!r} | before {a[:40]!r} | after SFT {b[:40]!r}")
cfg.say(f"After {SFT_STEPS} SFT steps the verifier accepts {after['accuracy']:.0%} of the held-out answers "
        f"(before: {before['accuracy']:.0%}); {after['numeric']:.0%} of arithmetic and unit answers are numbers "
        f"(before: {before['numeric']:.0%}).")

# %% [markdown]
# What did SFT cost? The same question as 5.1's forgetting: the perplexity of plain course
# text (held out from pre-training's end of each language) before and after. A large rise means
# the learning rate or the number of steps was too much for what the model knew.

# %%
from llmcourse.finetuning import perplexity
from llmcourse.models.course import course_text

plain = tok.encode_ordinary(" ".join(t[-PLAIN_CHARS // 8:] for t in course_text(PLAIN_CHARS).values()))
plain_before, plain_after = (perplexity(m, plain, BLOCK) for m in (base, sft_model))
cfg.say(f"Plain-text perplexity: {plain_before:.1f} before SFT, {plain_after:.1f} after "
        f"({plain_after / plain_before:.1f}x) — the price of {SFT_STEPS} steps at learning rate {SFT_LR:g}.")

# %% [markdown]
# ### The same masking and loss as trl
#
# trl's `SFTTrainer` with `assistant_only_loss=True` marks the assistant's tokens with
# `{% generation %}` tags in its training chat templates. On Gemma 3's tokenizer and
# template, our labels and loss must be the same as trl's on the same conversations (laptop
# profile; `tests/test_chat_sft.py` checks it in every test run).

# %%
trl_flags = {}
if TRL_CHECKS:
    import tempfile

    import trl
    from datasets import Dataset

    from llmcourse.assets import load_lm
    from llmcourse.finetuning import gemma_chat_template

    tiny, gtok = load_lm("tiny", device="cpu")
    gtok = copy.deepcopy(gtok)
    gtok.chat_template = gemma_chat_template()
    convs = [to_messages(it) for it in train_items[:4]]
    with tempfile.TemporaryDirectory() as out:
        trainer = trl.SFTTrainer(model=copy.deepcopy(tiny), processing_class=gtok,
                                 args=trl.SFTConfig(output_dir=out, assistant_only_loss=True, report_to=[],
                                                    use_cpu=True, bf16=False, per_device_train_batch_size=4),
                                 train_dataset=Dataset.from_list([{"messages": c} for c in convs]))
        rows = [trainer.train_dataset[i] for i in range(len(convs))]
        labels_equal = all(tokenize_chat(c, gtok).labels == r["labels"] for c, r in zip(convs, rows))
        tb = trainer.data_collator(rows)
        trl_loss = trainer.compute_loss(trainer.model, dict(tb)).item()
        our = sft_loss(trainer.model(input_ids=tb["input_ids"], attention_mask=tb["attention_mask"]).logits,
                       tb["labels"]).item()
    assert labels_equal and abs(trl_loss - our) < 1e-4
    trl_flags.update(sft_labels_equal_trl=labels_equal, sft_loss_equal_trl=abs(trl_loss - our) < 1e-4)
    print(f"labels equal trl's: {labels_equal}; loss ours {our:.6f}, trl {trl_loss:.6f}")
else:
    print("smoke profile: the trl comparisons run in the laptop profile (and in tests/test_chat_sft.py)")

# %% [markdown]
# ## 4. Preference pairs from verifiable tasks
#
# A preference pair is a prompt with a better (chosen) and a worse (rejected) answer. People
# usually judge them; our tasks have computed answers, so a verifier does: the right number
# against a nearby wrong one, the right words against another number's words or the right
# number in the wrong language, a country's name in the asked language against its name in
# another. A pair with two identical answers teaches nothing and is refused.

# %%
from llmcourse.alignment import PreferencePair, preference_pairs

pairs = preference_pairs("train", per_kind=PER_KIND)
val_pairs = preference_pairs("val", per_kind=PER_KIND)
print(f"{len(pairs)} training pairs, {len(val_pairs)} held out")
for p in pairs[:: max(1, len(pairs) // 4)][:4]:
    print(f"  [{p.kind}/{p.lang}] {p.prompt!r}: chosen {p.chosen!r}, rejected {p.rejected!r}")
try:
    PreferencePair("What is 2 plus 3?", "5", "5")
except ValueError as err:
    print(f"\nrefused: {err}")

# %% [markdown]
# ## 5. A reward model (Bradley–Terry)
#
# The reward model is the SFT model with a scalar head on the last token. Bradley–Terry says
# P(chosen beats rejected) = sigmoid(r_chosen - r_rejected); training maximises the log of it.
#
# **Exercise `alignment.bradley_terry`** · difficulty 1 · ~10 min. Write
# `bradley_terry(r_chosen, r_rejected)`, the mean negative log-likelihood. Checked against
# torch's binary cross-entropy with logits (a preference is a binary label).

# %%
def bradley_terry(r_chosen, r_rejected):
    ### BEGIN SOLUTION
    return -F.logsigmoid(r_chosen - r_rejected).mean()
    ### END SOLUTION


# %%
bradley_terry = check("alignment.bradley_terry", bradley_terry)

# %%
from llmcourse.alignment import RewardModel, encode_pairs, reward_accuracy, reward_batches, train_reward_model

reward_model = RewardModel(copy.deepcopy(sft_model)).to(device)
rm_before = reward_accuracy(reward_model, tok, val_pairs)
rm_history, rm_acc = train_reward_model(reward_model, tok, pairs, RM_STEPS, lr=3e-4, val_pairs=val_pairs,
                                        loss=bradley_terry)
reward_model.eval()
cfg.say(f"Held-out preference accuracy of the reward model: {rm_acc:.0%} after {RM_STEPS} steps "
        f"({rm_before:.0%} with the untrained head; chance is 50%).")

# %% [markdown]
# In the laptop profile, the same Bradley–Terry loss as trl's `RewardTrainer` on one batch
# (a Hugging Face sequence-classification model with the same weights and head).

# %%
if TRL_CHECKS:
    import transformers

    from llmcourse.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    small = RewardModel(GPT(GPTConfig.llama_style(vocab_size=len(gtok), block_size=64, n_layer=2, n_head=2,
                                                  n_kv_head=1, n_embd=16)))
    hf_lm = small.backbone.to_hf()
    rcfg = copy.deepcopy(hf_lm.config)
    rcfg.num_labels, rcfg.pad_token_id = 1, gtok.pad_token_id
    hf_rm = transformers.LlamaForSequenceClassification(rcfg)
    hf_rm.model.load_state_dict(hf_lm.model.state_dict())
    hf_rm.score.weight.data.copy_(small.score.weight.data)
    few = val_pairs[:4]
    with tempfile.TemporaryDirectory() as out:
        rtrainer = trl.RewardTrainer(model=hf_rm, processing_class=gtok,
                                     args=trl.RewardConfig(output_dir=out, report_to=[], use_cpu=True, bf16=False,
                                                           per_device_train_batch_size=4, max_length=64),
                                     train_dataset=Dataset.from_list([{"chosen": p.messages("chosen"),
                                                                       "rejected": p.messages("rejected")} for p in few]))
        rb = rtrainer.data_collator([rtrainer.train_dataset[i] for i in range(len(few))])
        trl_rm_loss = rtrainer.compute_loss(hf_rm, dict(rb)).item()
    b = reward_batches(encode_pairs(few, gtok, 64), len(few), gtok.pad_token_id)[0]
    our_rm_loss = bradley_terry(small(b[0], b[1]), small(b[2], b[3])).item()
    assert abs(trl_rm_loss - our_rm_loss) < 1e-5
    trl_flags["reward_loss_equal_trl"] = True
    print(f"Bradley-Terry loss: ours {our_rm_loss:.6f}, trl RewardTrainer {trl_rm_loss:.6f}")

# %% [markdown]
# ## 6. DPO: learning from the pairs directly
#
# DPO skips the reward model: the policy's own log-probabilities, relative to a frozen
# reference (the SFT model), define an implicit reward β·(log π(y|x) - log π_ref(y|x)), and
# the Bradley–Terry loss on those rewards trains the policy.
#
# **Exercise `alignment.dpo_loss`** · difficulty 2 · ~15 min. Write `dpo_loss(policy_chosen_logps,
# policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1)` returning
# `(loss, chosen_rewards, rejected_rewards)` (rewards per pair, detached). Checked against
# the paper's formula through torch's binary cross-entropy; `tests/test_alignment_dpo.py`
# proves the library's version equal to trl's `DPOTrainer`.

# %%
def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta=0.1):
    ### BEGIN SOLUTION
    chosen = policy_chosen_logps - ref_chosen_logps
    rejected = policy_rejected_logps - ref_rejected_logps
    loss = -F.logsigmoid(beta * (chosen - rejected)).mean()
    return loss, beta * chosen.detach(), beta * rejected.detach()
    ### END SOLUTION


# %%
dpo_loss = check("alignment.dpo_loss", dpo_loss)

# %%
from llmcourse.alignment import sequence_kl, train_dpo, verifier_win_rate
from llmcourse.alignment.dpo import dpo_batches, encode_dpo_pairs, sequence_logps

policy = copy.deepcopy(sft_model).to(device)
reference = copy.deepcopy(sft_model).to(device)
dpo_history, dpo_log = train_dpo(policy, reference, tok, pairs, DPO_STEPS, beta=BETA, lr=1e-4, batch_size=8,
                                 loss=dpo_loss)
policy.eval()


@torch.no_grad()
def implicit_reward_accuracy(model):
    enc = encode_dpo_pairs(val_pairs, tok, BLOCK)
    make = dpo_batches(enc, len(enc), pad_id, torch.Generator().manual_seed(0), device=device)
    ids_v, labels_v = make()
    n = len(enc)
    lp, rp = sequence_logps(model, ids_v, labels_v), sequence_logps(reference, ids_v, labels_v)
    _, rc, rr = dpo_loss(lp[:n], lp[n:], rp[:n], rp[n:], BETA)
    return (rc > rr).float().mean().item()


dpo_answers = generate_answers(policy, tok, [it.prompt for it in test_items], max_new_tokens=16)
win = verifier_win_rate(test_items, dpo_answers, after["answers"])
kl = sequence_kl(policy, reference, tok, [it.prompt for it in test_items[:KL_PROMPTS]], max_new_tokens=12)
pref_acc = implicit_reward_accuracy(policy)
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
ax[0].plot(dpo_history.step_loss)
ax[0].set_title("DPO loss")
ax[0].set_xlabel("step")
ax[1].plot(dpo_log["reward_margin"])
ax[1].set_title("mean reward margin (chosen - rejected)")
ax[1].set_xlabel("step")
plt.show()
cfg.say(f"Against the SFT model, the DPO policy wins {win['wins']}, loses {win['losses']} and ties {win['ties']} "
        f"of {len(test_items)} held-out questions by the verifier (win rate {win['win_rate']:.2f}; accuracy "
        f"{win['reference_accuracy']:.0%} → {win['policy_accuracy']:.0%}). Its implicit reward orders "
        f"{pref_acc:.0%} of held-out pairs correctly, and its KL divergence to the reference is {kl:.3f} nats per "
        f"answer (β = {BETA}).")

# %% [markdown]
# In the laptop profile: the same DPO loss and rewards as trl's `DPOTrainer` on one batch.

# %%
if TRL_CHECKS:
    from llmcourse.alignment import dpo_loss as library_dpo_loss

    ref_lm, pol_lm = copy.deepcopy(tiny), copy.deepcopy(tiny)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in pol_lm.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    few = pairs[:3]
    data = [{"prompt": [{"role": "user", "content": p.prompt}], "chosen": [{"role": "assistant", "content": p.chosen}],
             "rejected": [{"role": "assistant", "content": p.rejected}]} for p in few]
    with tempfile.TemporaryDirectory() as out:
        dtrainer = trl.DPOTrainer(model=pol_lm, ref_model=ref_lm, processing_class=gtok,
                                  args=trl.DPOConfig(output_dir=out, beta=BETA, report_to=[], use_cpu=True, bf16=False,
                                                     per_device_train_batch_size=3, max_length=128),
                                  train_dataset=Dataset.from_list(data))
        db = dtrainer.data_collator([dtrainer.train_dataset[i] for i in range(len(few))])
        trl_dpo = dtrainer.compute_loss(pol_lm, dict(db)).item()
    rows = [tokenize_chat(p.messages(w), gtok) for w in ("chosen", "rejected") for p in few]
    d_ids, d_labels, _ = pad_examples(rows, gtok.pad_token_id)
    with torch.no_grad():
        lp, rp = sequence_logps(pol_lm, d_ids, d_labels), sequence_logps(ref_lm, d_ids, d_labels)
    ours_dpo = library_dpo_loss(lp[:3], lp[3:], rp[:3], rp[3:], BETA)[0].item()
    assert abs(ours_dpo - trl_dpo) < 1e-4
    trl_flags["dpo_loss_equal_trl"] = True
    print(f"DPO loss: ours {ours_dpo:.6f}, trl DPOTrainer {trl_dpo:.6f}")

# %% [markdown]
# ## 7. Save what weeks 6-8 use
#
# `course-gpt-sft` (the instruction-tuned model weeks 6-8 serve, evaluate and align),
# `reward-model` (week 8's PPO asks it for rewards) and `course-gpt-dpo`.

# %%
save_artifact("course-gpt-sft", {"model": sft_model.cpu(), "tokenizer": tok,
                                 "metrics": {"task_accuracy": after["accuracy"], "steps": SFT_STEPS,
                                             "sft_val_loss": history.val_loss[-1]}},
              notebook="5.3", about="course GPT instruction-tuned (SFT) on the course's multilingual instructions")
save_artifact("reward-model", {"model": reward_model.cpu(), "tokenizer": tok,
                               "metrics": {"val_preference_accuracy": rm_acc, "steps": RM_STEPS}},
              notebook="5.3", about="Bradley-Terry reward model on the SFT course GPT")
save_artifact("course-gpt-dpo", {"model": policy.cpu(), "tokenizer": tok,
                                 "metrics": {"win_rate": win["win_rate"], "kl": kl, "beta": BETA,
                                             "steps": DPO_STEPS}},
              notebook="5.3", about="SFT course GPT after DPO on verifiable preference pairs")
cfg.report(sft_loss_equal_transformers=abs(ours_loss - hf_loss) < 1e-5, packed_equals_alone=pack_diff < 1e-4,
           sft_val_loss_first=history.val_loss[0], sft_val_loss_last=history.val_loss[-1],
           plain_ppl_before=plain_before, plain_ppl_after=plain_after,
           task_accuracy_before=before["accuracy"], task_accuracy_after=after["accuracy"],
           numeric_before=before["numeric"], numeric_after=after["numeric"], reward_accuracy=rm_acc,
           dpo_win_rate=win["win_rate"], dpo_kl=kl, dpo_implicit_accuracy=pref_acc,
           base_model=last_source("course-gpt-pretrained"), **trl_flags)

# %% [markdown]
# ## What to take away
#
# * SFT is next-token training with a mask: the template decides what the model sees, the
#   labels decide what it learns; packing with block-diagonal attention wastes little (see the real-token share above).
# * Preferences need no people when answers can be verified; a Bradley–Terry reward model
#   learns to score them, and DPO turns the same pairs into a classification loss on the
#   policy itself. Win rate says whether it helped; the KL to the reference says how far it
#   moved to get there.
