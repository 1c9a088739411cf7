"""The fine-tuning table on a GPU (`make gpu-check`): peak memory (torch.cuda.max_memory_allocated)
and step time of full fine-tuning, LoRA and QLoRA on Gemma 3 270M (or a tiny Gemma when its
weights are not in the cache), and ours against peft + bitsandbytes `Linear4bit` for QLoRA.
Returns at once, with a note, without CUDA. About a minute on one GPU."""

from __future__ import annotations

import copy

import torch

from llmcourse.bench import Bench, benchmark

MB = 2**20
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


@benchmark("gpu_finetuning")
def run(b: Bench) -> None:
    if not torch.cuda.is_available():
        b.note("no CUDA device: the GPU fine-tuning benchmark was skipped (it runs in make gpu-check on a GPU)")
        return
    from llmcourse.assets import get_asset, load_lm
    from llmcourse.finetuning import apply_lora, apply_qlora, measure_step, peft_bnb_twin

    name = "gemma-3-270m" if get_asset("gemma-3-270m").cached() else "tiny"
    base, _ = load_lm(name, device="cuda")
    vocab = base.config.vocab_size
    group = f"{name} on {torch.cuda.get_device_name()}, batch 8 x 256"
    x = torch.randint(vocab, (8, 256), device="cuda")
    methods = {"full FT": lambda: copy.deepcopy(base),
               "LoRA fp32 r=8": lambda: apply_lora(copy.deepcopy(base), TARGETS, 8, 16),
               "QLoRA ours r=8": lambda: apply_qlora(copy.deepcopy(base), TARGETS, 8, 16)}
    ours = None
    for label, build in list(methods.items()) + [("QLoRA peft+bitsandbytes r=8", None)]:
        torch.manual_seed(0)
        model = build() if build else peft_bnb_twin(base, ours, TARGETS, 8, 16)
        if label == "QLoRA ours r=8":
            ours = model
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

        def step():
            opt.zero_grad(set_to_none=True)
            model(input_ids=x, labels=x).loss.backward()
            opt.step()
        cost = measure_step(model, step, opt, timed_steps=5, device="cuda")
        b.record(f"{label}: peak memory", cost.peak / MB, unit="MB", group=group)
        b.record(f"{label}: step time", cost.seconds, unit="s", group=group)
        if label != "QLoRA ours r=8":
            del model
        del opt
        torch.cuda.empty_cache()
    b.ratio("QLoRA ours / LoRA fp32 peak memory", "QLoRA ours r=8: peak memory", "LoRA fp32 r=8: peak memory")
    b.ratio("LoRA fp32 / full FT peak memory", "LoRA fp32 r=8: peak memory", "full FT: peak memory")
    b.ratio("QLoRA ours / peft+bitsandbytes step time", "QLoRA ours r=8: step time",
            "QLoRA peft+bitsandbytes r=8: step time")
