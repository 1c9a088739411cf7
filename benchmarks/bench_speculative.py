"""Speculative decoding on the course GPT pair: acceptance rate and speed-up against k.

Goal of the issue: faster than plain greedy at its best k. Target: the pre-trained course
GPT of this profile when the learner has made it, else the course GPT of this profile
trained here for TARGET_STEPS steps on the course text (the full reference pre-training
takes too long for a benchmark); draft: a 1-layer,
half-width course GPT distilled from it (`llmcourse.inference.draft`). Each k decodes the
same prompts; every output is checked equal to the target's greedy output. Also prompt
lookup (no draft) on prompts that repeat themselves.
"""

from __future__ import annotations

import time

import torch

from llmcourse.bench import Bench, benchmark

KS = (1, 2, 3, 4, 6, 8)
TARGET_STEPS = 400
NEW = 64
N_PROMPTS = 6


def _quick_target():
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.models import GPT
    from llmcourse.models.course import course_gpt_config, course_text, reference_course_tokenizer
    from llmcourse.training import get_batch, train

    tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer)
    ids = torch.tensor([t for text in course_text(100_000).values() for t in tok.encode_ordinary(text)])
    torch.manual_seed(0)
    model = GPT(course_gpt_config(tok.vocab_size, attn_impl="sdpa"))
    g = torch.Generator().manual_seed(1)
    train(model, lambda: get_batch(ids, 128, 16, g), steps=TARGET_STEPS, lr=3e-3, warmup=TARGET_STEPS // 10,
          progress=False, eval_every=TARGET_STEPS, eval_batches=1)
    return model.eval(), tok


@benchmark("speculative")
def run(b: Bench) -> None:
    torch.set_num_threads(1)
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.inference import SpeculativeStats, prompt_lookup_generate, speculative_generate
    from llmcourse.inference.draft import distill_draft
    from llmcourse.inference.kv_cache import generate_cached
    from llmcourse.models.course import course_text

    from llmcourse.assets.artifacts import ArtifactError

    try:
        art = load_artifact("course-gpt-pretrained")
        target, tok, made = art["model"].eval(), art["tokenizer"], "the learner's pre-trained course GPT"
    except ArtifactError:
        target, tok = _quick_target()
        made = f"the course GPT trained here for {TARGET_STEPS} steps"
    target.set_attn_impl("sdpa")
    draft = distill_draft(target, tok, steps=400, progress=False)
    text = tok.encode_ordinary(" ".join(t[-3000:] for t in course_text(30_000).values()))
    prompts = [torch.tensor([text[i * 97: i * 97 + 24]]) for i in range(N_PROMPTS)]
    new = min(NEW, target.config.block_size - 24 - max(KS))

    def timed(fn):
        fn()  # warm-up
        t0 = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t0

    want, plain_s = timed(lambda: [generate_cached(target, p, new, temperature=0) for p in prompts])
    b.record("plain greedy (KV cache)", N_PROMPTS * new / plain_s, "tok/s", "speed", True)
    for k in KS:
        stats = SpeculativeStats()
        out, secs = timed(lambda: [speculative_generate(target, draft, p, new, k=k, stats=stats) for p in prompts])
        b.record(f"speculative k={k}", N_PROMPTS * new / secs, "tok/s", "speed", True)
        b.record(f"acceptance k={k}", stats.acceptance_rate, "frac", "acceptance", True)
        b.record(f"same tokens k={k}", float(all(torch.equal(x, y) for x, y in zip(out, want))), "bool", "check")
        b.ratio(f"speculative k={k} / greedy", f"speculative k={k}", "plain greedy (KV cache)")
    best = max(KS, key=lambda k: b.ratios[f"speculative k={k} / greedy"])
    b.ratios["best k"] = float(best)
    b.note(f"target: {made}; {len(set(want[0][0, 24:].tolist()))} distinct tokens in its first greedy answer")
    b.note(f"target {target.num_params() / 1e6:.2f} M parameters, draft {draft.num_params() / 1e6:.2f} M (distilled "
           f"400 steps); {N_PROMPTS} prompts x {new} tokens; best k = {best}")
    quoting = [torch.tensor([p[0].tolist() + p[0, :8].tolist()]) for p in prompts]
    want, plain_s = timed(lambda: [generate_cached(target, p, new, temperature=0) for p in quoting])
    stats = SpeculativeStats()
    out, secs = timed(lambda: [prompt_lookup_generate(target, p, new, k=4, stats=stats) for p in quoting])
    b.record("prompt lookup k=4 (quoting prompts)", N_PROMPTS * new / secs, "tok/s", "speed", True)
    b.record("plain greedy (quoting prompts)", N_PROMPTS * new / plain_s, "tok/s", "speed", True)
    b.record("prompt lookup same tokens", float(all(torch.equal(x, y) for x, y in zip(out, want))), "bool", "check")
    b.ratio("prompt lookup / greedy", "prompt lookup k=4 (quoting prompts)", "plain greedy (quoting prompts)")
