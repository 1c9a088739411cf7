"""Exercises of notebook 6.1 (inference engines). Oracles: torch's `pad_sequence`
(padding_side="left"), the target model's own greedy generation (what speculative decoding
must reproduce), and transformers' `PromptLookupCandidateGenerator`."""

from __future__ import annotations

import functools

import torch

from llmcourse.exercises.registry import Case, exercise


# ----------------------------------------------------------------------------- left padding
def _right_pad(prompts, pad_id=0):
    T = max(len(p) for p in prompts)
    ids = torch.tensor([p + [pad_id] * (T - len(p)) for p in prompts])
    mask = torch.tensor([[1] * len(p) + [0] * (T - len(p)) for p in prompts])
    return ids, mask


def _mask_inverted(prompts, pad_id=0):
    T = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (T - len(p)) + p for p in prompts])
    mask = torch.tensor([[1] * (T - len(p)) + [0] * len(p) for p in prompts])  # 1 marks the padding
    return ids, mask


def _pad_with_zero(prompts, pad_id=0):
    T = max(len(p) for p in prompts)
    ids = torch.tensor([[0] * (T - len(p)) + p for p in prompts])  # ignores pad_id
    mask = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


@exercise("inference.left_pad", difficulty=1, minutes=10, reference="llmcourse.inference.batch_generate:left_pad",
          wrong={"pads on the right": _right_pad, "mask marks the padding": _mask_inverted,
                 "pads with 0, not pad_id": _pad_with_zero},
          hint="T = longest prompt; row b = [pad_id] * (T - len(p)) + p; mask = 0 on the padding, 1 on the tokens "
               "(both torch.long)")
def _left_pad():
    from torch.nn.utils.rnn import pad_sequence

    for label, prompts, pad in (("three lengths", [[5, 6, 7], [8, 9], [4]], 0),
                                ("pad id 99", [[1, 2], [3, 4, 5, 6]], 99),
                                ("equal lengths", [[1, 2], [3, 4]], 0), ("one prompt", [[7, 7, 7]], 1)):
        rows = [torch.tensor(p) for p in prompts]
        ids = pad_sequence(rows, batch_first=True, padding_value=pad, padding_side="left")  # the oracle
        mask = pad_sequence([torch.ones(len(p), dtype=torch.long) for p in prompts], batch_first=True,
                            padding_value=0, padding_side="left")
        yield Case(label, args=(prompts, pad), expected=(ids, mask))


# ----------------------------------------------------------------------------- greedy acceptance
def _accept_all(proposed, target_choice):
    return len(proposed), target_choice[len(proposed)]


def _next_is_guess(proposed, target_choice):
    n = 0
    while n < len(proposed) and proposed[n] == target_choice[n]:
        n += 1
    return n, proposed[n] if n < len(proposed) else target_choice[n]  # keeps the draft's wrong guess


def _off_by_one(proposed, target_choice):
    n = 0
    while n < len(proposed) and proposed[n] == target_choice[n + 1 if n + 1 < len(target_choice) else n]:
        n += 1
    return n, target_choice[n]


@functools.lru_cache(maxsize=1)
def _toy_target():
    from llmcourse.models import GPT, GPTConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GPT(GPTConfig.llama_style(vocab_size=40, block_size=64, n_layer=2, n_head=2, n_embd=32)).eval()
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.dim() > 1 and "tok_emb" not in name:
                    p.mul_(6)
    return model


@exercise("inference.accept_greedy", difficulty=2, minutes=15,
          reference="llmcourse.inference.speculative:accept_greedy",
          wrong={"accepts every guess": _accept_all, "appends the draft's wrong guess": _next_is_guess,
                 "compares with the wrong position": _off_by_one},
          hint="walk the guesses while proposed[i] == target_choice[i]; n = how many matched; the next token is "
               "target_choice[n] (the target's fix at the first mismatch, or its bonus token after all k)")
def _accept_greedy():
    from llmcourse.inference.kv_cache import generate_cached

    model = _toy_target()
    g = torch.Generator().manual_seed(1)
    for case in range(6):
        prompt = torch.randint(0, 40, (1, 6), generator=g)
        greedy = generate_cached(model, prompt, 6, temperature=0)[0, 6:].tolist()  # the oracle: plain greedy
        k = 4
        proposed = greedy[:case % 5] + [(t + 1) % 40 for t in greedy[case % 5:k]]  # right for a while, then wrong
        with torch.no_grad():
            logits = model(torch.cat([prompt, torch.tensor([proposed])], dim=1))[0][0, 5:]
        choice = logits.argmax(-1).tolist()  # the target's choice after each prefix: k + 1 values

        def test(fn, proposed=proposed, choice=choice, greedy=greedy):
            n, nxt = fn(list(proposed), list(choice))
            kept = proposed[:n] + [nxt]
            assert kept == greedy[: n + 1], (f"kept {kept} but the target's own greedy tokens start {greedy[:n + 1]}: "
                                             "speculative decoding must return exactly what the target would")
            right = next((i for i, (a, b) in enumerate(zip(proposed, greedy)) if a != b), len(proposed))
            assert n == right, f"{right} guesses match the target, you kept {n}"
        yield Case(f"{case % 5} of 4 guesses right", test=test)


# ----------------------------------------------------------------------------- prompt lookup
def _latest_match(tokens, k, max_ngram=3):
    for n in range(min(max_ngram, len(tokens) - 1), 0, -1):
        tail = tokens[-n:]
        for start in range(len(tokens) - n - 1, -1, -1):
            if tokens[start:start + n] == tail and tokens[start + n: start + n + k]:
                return tokens[start + n: start + n + k]
    return []


def _longest_only(tokens, k, max_ngram=3):
    n = min(max_ngram, len(tokens) - 1)
    tail = tokens[-n:]
    for start in range(len(tokens) - n):
        if tokens[start:start + n] == tail and tokens[start + n: start + n + k]:
            return tokens[start + n: start + n + k]
    return []  # never falls back to shorter n-grams


def _includes_tail(tokens, k, max_ngram=3):
    for n in range(min(max_ngram, len(tokens) - 1), 0, -1):
        tail = tokens[-n:]
        for start in range(len(tokens) - n + 1):  # reaches the tail itself, which has nothing after it
            if tokens[start:start + n] == tail:
                return tokens[start + n: start + n + k]  # an empty continuation stops the search
    return []


@exercise("inference.prompt_lookup", difficulty=3, minutes=25, stretch=True,
          reference="llmcourse.inference.speculative:prompt_lookup_candidates",
          wrong={"latest occurrence instead of the earliest": _latest_match,
                 "no fallback to shorter n-grams": _longest_only,
                 "stops at a match with nothing after it": _includes_tail},
          hint="for n from max_ngram down to 1: tail = tokens[-n:]; scan start = 0, 1, ...: if tokens[start:start+n] "
               "== tail and something follows, return tokens[start+n : start+n+k]; nothing found: []")
def _prompt_lookup():
    from transformers.generation.candidate_generator import PromptLookupCandidateGenerator

    g = torch.Generator().manual_seed(2)
    cases = [("copy from the prompt", [1, 2, 3, 9, 8, 1, 2, 3], 3, 3), ("two earlier matches", [5, 6, 1, 5, 6, 2, 5, 6],
             2, 2), ("only a 1-gram matches", [7, 8, 5, 7], 3, 3), ("no match", [1, 2, 3, 4], 4, 2),
             ("repeated text", [4, 4, 4, 4, 4], 2, 2)]
    for i in range(4):
        base = torch.randint(0, 6, (12,), generator=g).tolist()
        cases.append((f"random {i}", base + base[2:5], 4, 3))
    for label, tokens, k, n in cases:
        gen = PromptLookupCandidateGenerator(num_output_tokens=k, max_matching_ngram_size=n, max_length=1000)
        cand, _ = gen.get_candidates(torch.tensor([tokens]))  # the oracle: transformers' prompt lookup
        expected = cand[0, len(tokens):].tolist()
        yield Case(label, args=(tokens, k, n), expected=expected if expected else [],
                   compare=lambda got, want: None if list(got) == want else f"got {list(got)}, expected {want}")
