"""PPO from scratch against trl's GRPO and RLOO: steps per second on the same model and task.

The model is a course GPT of the laptop profile's shape (4 layers, 128 wide; random weights:
speed depends on shapes only) with a course tokenizer; the task is 8.2's (write in the
requested language, langid reward). Every method sees 16 responses of 16 tokens per step.
PPO does 4 epochs of 2 minibatches per step (and keeps a value head); GRPO and RLOO one
gradient step, no value head. Figures are steps/s and responses/s.
"""

from __future__ import annotations

import copy

import torch

from llmcourse.bench import Bench, benchmark

STEPS, BATCH, LENGTH = 8, 16, 16


@benchmark("rlhf")
def run(b: Bench) -> None:
    from llmcourse.alignment import PPOConfig, PPOTrainer, course_tokenizer_to_hf, language_prompts, language_reward, run_trl
    from llmcourse.models.course import course_gpt_config
    from llmcourse.models.gpt import GPT
    from llmcourse.tokenization.course_tokenizer import train_course_tokenizer

    torch.set_num_threads(1)
    tok = train_course_tokenizer(1024, chars_per_language=20_000)
    torch.manual_seed(0)
    gpt = GPT(course_gpt_config(tok.vocab_size, "laptop", attn_impl="sdpa")).eval()
    prompts = language_prompts()
    b.note(f"model: course GPT laptop shape, {sum(p.numel() for p in gpt.parameters()):,} parameters; "
           f"{BATCH} responses x {LENGTH} tokens per step, {STEPS} steps, one thread")
    trainer = PPOTrainer(copy.deepcopy(gpt), tok, language_reward, prompts,
                         PPOConfig(batch_size=BATCH, response_len=LENGTH, minibatch_size=BATCH // 2))
    trainer.step()  # warm-up
    trainer.history.rows.clear()
    trainer.train(STEPS, progress=False)
    secs = [r["seconds"] for r in trainer.history.rows]
    b.record("PPO (ours) steps/s", [1 / s for s in secs], unit="steps/s", higher_is_better=True)
    hf_tok = course_tokenizer_to_hf(tok)
    texts, langs = [p for p, _ in prompts] * 8, [l for _, l in prompts] * 8
    for method in ("grpo", "rloo"):
        res = run_trl(method, copy.deepcopy(gpt).to_hf(), hf_tok, texts, langs, language_reward, STEPS + 1,
                      batch_size=BATCH, num_generations=4, max_completion_length=LENGTH, beta=0.02)
        times = [float(r["step_time"]) for r in res["trainer"].state.log_history if "step_time" in r][1:]  # no warm-up
        b.record(f"{method.upper()} (trl) steps/s", [1 / t for t in times], unit="steps/s", higher_is_better=True)
    b.ratio("PPO / GRPO steps per second", "PPO (ours) steps/s", "GRPO (trl) steps/s")
    b.ratio("PPO / RLOO steps per second", "PPO (ours) steps/s", "RLOO (trl) steps/s")
