"""Exercises of notebook 2.2 (Simple transformer). Oracles: torch's cross-entropy, torch's
multi-head attention, and properties checked directly on the outputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


@exercise("gpt.get_batch",
          hint="starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator); "
               "x = data[s : s + block_size], y = data[s + 1 : s + 1 + block_size]")
def _get_batch():
    data = torch.arange(1000, 1100)  # token i is 1000 + i, so a window's start is visible in it

    def shapes_and_shift(fn):
        x, y = fn(data, 8, 5, torch.Generator().manual_seed(0))
        assert tuple(x.shape) == (5, 8) and tuple(y.shape) == (5, 8), f"x, y should be (5, 8), got {tuple(x.shape)}, {tuple(y.shape)}"
        assert x.dtype == torch.long and y.dtype == torch.long, "token ids should stay torch.long"
        assert torch.equal(x[:, 1:], y[:, :-1]), "y must be x shifted left by one position"
        assert torch.equal(y[:, -1] - x[:, -1], torch.ones(5, dtype=torch.long)), "y's last token follows x's last"

    def windows_are_contiguous(fn):
        x, _ = fn(data, 8, 64, torch.Generator().manual_seed(1))
        assert torch.equal(x - x[:, :1], torch.arange(8).expand(64, 8)), "each row must be a contiguous slice of data"
        assert int(x.min()) >= 1000 and int(x.max()) <= 1098, "windows must stay inside data (leave room for y)"

    def covers_the_data(fn):
        x, _ = fn(data, 8, 2000, torch.Generator().manual_seed(2))
        starts = set((x[:, 0] - 1000).tolist())
        assert starts == set(range(100 - 8)), (
            f"every start 0..{100 - 8 - 1} should be possible; got {len(starts)} distinct starts "
            f"(min {min(starts)}, max {max(starts)})"
        )

    def reproducible(fn):
        a = fn(data, 8, 4, torch.Generator().manual_seed(3))
        b = fn(data, 8, 4, torch.Generator().manual_seed(3))
        assert torch.equal(a[0], b[0]), "the same generator seed must give the same batch (pass generator= to torch.randint)"

    yield Case("shapes and shift", test=shapes_and_shift)
    yield Case("contiguous windows", test=windows_are_contiguous)
    yield Case("every start possible", test=covers_the_data)
    yield Case("reproducible", test=reproducible)


@exercise("gpt.lm_loss",
          hint="log_probs = logits.log_softmax(-1); pick log_probs at the target ids with gather; "
               "the loss is minus their mean over all B*T positions")
def _lm_loss():
    g = torch.Generator().manual_seed(0)
    for B, T, V in ((1, 1, 5), (2, 7, 11), (4, 16, 65)):
        logits = torch.randn(B, T, V, generator=g) * 3
        targets = torch.randint(V, (B, T), generator=g)
        expected = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))
        yield Case(f"B={B} T={T} V={V}", args=(logits, targets), expected=expected)
    big = torch.tensor([[[1000.0, 0.0, -1000.0]]])
    yield Case("large logits stay finite", args=(big, torch.tensor([[2]])),
               expected=F.cross_entropy(big.reshape(1, 3), torch.tensor([2])))


@exercise("gpt.causal_self_attention",
          hint="qkv = x @ w_qkv.T + b_qkv, split into q, k, v (each C wide); reshape to (B, n_head, T, C // n_head); "
               "causal attention per head; merge heads back to (B, T, C); then @ w_proj.T + b_proj")
def _causal_self_attention():
    g = torch.Generator().manual_seed(0)
    for B, T, C, H in ((1, 5, 8, 1), (2, 6, 16, 4), (3, 4, 24, 3)):
        x = torch.randn(B, T, C, generator=g)
        w_qkv, b_qkv = torch.randn(3 * C, C, generator=g) / C**0.5, torch.randn(3 * C, generator=g) * 0.1
        w_proj, b_proj = torch.randn(C, C, generator=g) / C**0.5, torch.randn(C, generator=g) * 0.1
        blocked = torch.ones(T, T, dtype=torch.bool).triu(1)  # torch's module: True = may NOT attend
        expected, _ = F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), C, H, w_qkv, b_qkv, None, None, False, 0.0,
            w_proj, b_proj, training=False, need_weights=False, attn_mask=blocked)
        yield Case(f"B={B} T={T} C={C} heads={H}", args=(x, w_qkv, b_qkv, w_proj, b_proj, H),
                   expected=expected.transpose(0, 1))


@exercise("gpt.sample_next",
          hint="temperature 0: argmax. Otherwise divide logits by temperature, keep the top_k largest (others -inf), "
               "softmax, then torch.multinomial(probs, 1, generator=generator)")
def _sample_next():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 10, generator=g) * 2

    def greedy(fn):
        out = fn(logits, 0.0, None, torch.Generator().manual_seed(0))
        assert tuple(out.shape) == (3, 1), f"return (batch, 1) token ids, got shape {tuple(out.shape)}"
        assert torch.equal(out[:, 0], logits.argmax(-1)), "temperature 0 must pick the argmax"

    def top1_is_greedy(fn):
        out = fn(logits, 1.0, 1, torch.Generator().manual_seed(1))
        assert torch.equal(out[:, 0], logits.argmax(-1)), "top_k=1 leaves only the most likely token"

    def reproducible(fn):
        a = fn(logits, 1.0, None, torch.Generator().manual_seed(5))
        b = fn(logits, 1.0, None, torch.Generator().manual_seed(5))
        assert torch.equal(a, b), "the same generator seed must give the same tokens"

    def top_k_support(fn):
        row = logits[:1].expand(2000, 10)
        out = fn(row, 1.0, 3, torch.Generator().manual_seed(2))[:, 0]
        allowed = set(logits[0].topk(3).indices.tolist())
        assert set(out.tolist()) <= allowed, f"top_k=3 sampled tokens outside the 3 most likely: {set(out.tolist()) - allowed}"

    def frequencies(fn):
        row = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
        for temperature in (1.0, 0.5, 2.0):
            out = fn(row.expand(20000, 4), temperature, None, torch.Generator().manual_seed(3))[:, 0]
            freq = torch.bincount(out, minlength=4).float() / len(out)
            want = F.softmax(row[0] / temperature, dim=-1)
            assert (freq - want).abs().max() < 0.02, (
                f"temperature {temperature}: sampled frequencies {freq.numpy().round(3)} but softmax(logits / T) "
                f"is {want.numpy().round(3)}"
            )

    yield Case("greedy", test=greedy)
    yield Case("top_k=1", test=top1_is_greedy)
    yield Case("reproducible", test=reproducible)
    yield Case("top_k support", test=top_k_support)
    yield Case("frequencies follow softmax(logits / T)", test=frequencies)
