"""Exercises of notebook 2.2 (Simple transformer): the pieces of a GPT, then the GPT itself.

Oracles: torch's cross-entropy and multi-head attention, a GPT-2 forward pass written with
torch's functional ops only (layer_norm, multi_head_attention_forward, gelu, linear), and
brute-force per-token log-probabilities. The learner's Block and GPT are loaded with the
same weights as the oracle, by parameter name:

    tok_emb, pos_emb (nn.Embedding(block_size, n_embd)), blocks.{i}.norm1, .attn.qkv, .attn.proj,
    .norm2, .mlp.up, .mlp.down, norm_f, lm_head (tied to tok_emb)

(the library's GPT names its position table `pos_emb.table`; the loader maps that one name).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.exercises.registry import Case, exercise

# ----------------------------------------------------------------------------- get_batch


def _batch_unshifted(data, block_size, batch_size, generator=None):
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[s:s + block_size] for s in starts])
    return x, x.clone()


def _batch_global_rng(data, block_size, batch_size, generator=None):
    starts = torch.randint(len(data) - block_size, (batch_size,))  # ignores the generator
    x = torch.stack([data[s:s + block_size] for s in starts])
    y = torch.stack([data[s + 1:s + 1 + block_size] for s in starts])
    return x, y


def _batch_misses_last(data, block_size, batch_size, generator=None):
    starts = torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)  # off by one
    x = torch.stack([data[s:s + block_size] for s in starts])
    y = torch.stack([data[s + 1:s + 1 + block_size] for s in starts])
    return x, y


@exercise("gpt.get_batch", difficulty=1, minutes=10,
          reference="llmcourse.training.batches:get_batch",
          wrong={"targets not shifted (y = x)": _batch_unshifted, "ignores the generator": _batch_global_rng,
                 "the last window is never drawn": _batch_misses_last},
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


# ----------------------------------------------------------------------------- the loss


def _loss_wrong_axis(logits, targets):
    return -logits.log_softmax(dim=0).gather(-1, targets.unsqueeze(-1)).mean()


def _loss_no_log(logits, targets):
    return -logits.softmax(dim=-1).gather(-1, targets.unsqueeze(-1)).mean()


def _loss_naive_exp(logits, targets):
    e = logits.exp()  # overflows for large logits
    return -(e / e.sum(-1, keepdim=True)).log().gather(-1, targets.unsqueeze(-1)).mean()


def _loss_sum(logits, targets):
    return -logits.log_softmax(dim=-1).gather(-1, targets.unsqueeze(-1)).sum()


@exercise("gpt.lm_loss", difficulty=1, minutes=10,
          reference="llmcourse.models.gpt:next_token_loss",
          wrong={"log_softmax over the batch axis": _loss_wrong_axis, "probabilities, not log-probabilities": _loss_no_log,
                 "exp without subtracting the max": _loss_naive_exp, "sum, not mean": _loss_sum},
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


# ----------------------------------------------------------------------------- causal self-attention


def _csa(x, w_qkv, b_qkv, w_proj, b_proj, n_head, *, split_heads="ok", causal=True, proj=True, merge="ok"):
    """A hand-written causal self-attention whose parts can be got wrong one at a time."""
    from llmcourse.nn.attention import scaled_dot_product_attention

    B, T, C = x.shape
    q, k, v = (x @ w_qkv.T + b_qkv).split(C, dim=-1)
    if split_heads == "ok":
        heads = lambda t: t.view(B, T, n_head, C // n_head).transpose(1, 2)  # noqa: E731
    else:  # view straight to (B, H, T, hd): mixes tokens and heads
        heads = lambda t: t.view(B, n_head, T, C // n_head)  # noqa: E731
    y = scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=causal)  # (B, H, T, hd)
    y = y.transpose(1, 2).reshape(B, T, C) if merge == "ok" else y.reshape(B, T, C)
    return y @ w_proj.T + b_proj if proj else y


@exercise("gpt.causal_self_attention", difficulty=2, minutes=20,
          reference="llmcourse.nn.mha:causal_self_attention",
          wrong={"heads split with view(B, H, T, hd), no transpose": functools.partial(_csa, split_heads="bad"),
                 "heads merged without transposing back": functools.partial(_csa, merge="bad"),
                 "forgets the causal mask": functools.partial(_csa, causal=False),
                 "no output projection": functools.partial(_csa, proj=False)},
          hint="qkv = x @ w_qkv.T + b_qkv, split into q, k, v (each C wide); view as (B, T, n_head, C // n_head) and "
               "transpose to (B, n_head, T, hd); causal attention per head; transpose back, reshape to (B, T, C); "
               "then @ w_proj.T + b_proj")
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


# ----------------------------------------------------------------------------- the oracle GPT (torch functional)


def _config(n_layer: int = 2, **kw):
    from llmcourse.models.gpt import GPTConfig

    return GPTConfig(vocab_size=kw.pop("vocab_size", 13), block_size=kw.pop("block_size", 16), n_layer=n_layer,
                     n_head=kw.pop("n_head", 4), n_embd=kw.pop("n_embd", 32), **kw)


def _random_weights(config, seed: int) -> dict[str, torch.Tensor]:
    """GPT-2-style weights in the exercise's naming, random enough that every part matters."""
    g = torch.Generator().manual_seed(seed)
    C, V, T = config.n_embd, config.vocab_size, config.block_size
    r = lambda *shape, s=0.3: torch.randn(*shape, generator=g) * s  # noqa: E731
    sd = {"tok_emb.weight": r(V, C, s=1.0), "pos_emb.weight": r(T, C, s=1.0),
          "norm_f.weight": 1 + r(C, s=0.2), "norm_f.bias": r(C, s=0.2)}
    for i in range(config.n_layer):
        p = f"blocks.{i}."
        sd.update({p + "norm1.weight": 1 + r(C, s=0.2), p + "norm1.bias": r(C, s=0.2),
                   p + "attn.qkv.weight": r(3 * C, C, s=C**-0.5), p + "attn.qkv.bias": r(3 * C, s=0.1),
                   p + "attn.proj.weight": r(C, C, s=C**-0.5), p + "attn.proj.bias": r(C, s=0.1),
                   p + "norm2.weight": 1 + r(C, s=0.2), p + "norm2.bias": r(C, s=0.2),
                   p + "mlp.up.weight": r(4 * C, C, s=C**-0.5), p + "mlp.up.bias": r(4 * C, s=0.1),
                   p + "mlp.down.weight": r(C, 4 * C, s=(4 * C)**-0.5), p + "mlp.down.bias": r(C, s=0.1)})
    sd["lm_head.weight"] = sd["tok_emb.weight"]
    return sd


def _torch_block(x: torch.Tensor, sd: dict[str, torch.Tensor], p: str, n_head: int) -> torch.Tensor:
    """A pre-norm GPT-2 block with torch's functional ops: the oracle."""
    B, T, C = x.shape
    h = F.layer_norm(x, (C,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-5)
    blocked = torch.ones(T, T, dtype=torch.bool).triu(1)
    ht = h.transpose(0, 1)  # (T, B, C): the functional's layout
    a, _ = F.multi_head_attention_forward(ht, ht, ht, C, n_head, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"],
                                          None, None, False, 0.0, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"],
                                          training=False, need_weights=False, attn_mask=blocked)
    x = x + a.transpose(0, 1)
    h = F.layer_norm(x, (C,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-5)
    h = F.linear(F.gelu(F.linear(h, sd[p + "mlp.up.weight"], sd[p + "mlp.up.bias"])),
                 sd[p + "mlp.down.weight"], sd[p + "mlp.down.bias"])
    return x + h


def _torch_gpt(idx: torch.Tensor, sd: dict[str, torch.Tensor], config) -> torch.Tensor:
    T = idx.shape[1]
    x = F.embedding(idx, sd["tok_emb.weight"]) + sd["pos_emb.weight"][:T]
    for i in range(config.n_layer):
        x = _torch_block(x, sd, f"blocks.{i}.", config.n_head)
    x = F.layer_norm(x, (config.n_embd,), sd["norm_f.weight"], sd["norm_f.bias"], eps=1e-5)
    return x @ sd["tok_emb.weight"].T  # tied head


def _load(model: nn.Module, sd: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Load oracle weights by name into the learner's module (the library's GPT names one differently)."""
    sd = {k[len(prefix):]: v.clone() for k, v in sd.items() if k.startswith(prefix)}
    keys = set(model.state_dict())
    if "pos_emb.table.weight" in keys and "pos_emb.weight" in sd:
        sd["pos_emb.table.weight"] = sd.pop("pos_emb.weight")
    missing, unexpected = sorted(set(sd) - keys), sorted(keys - set(sd))
    if missing or unexpected:
        raise AssertionError(f"parameter names differ from the ones the notebook gives: your module lacks "
                             f"{missing[:4]} and has {unexpected[:4]} in their place")
    model.load_state_dict(sd, strict=True)


# ----------------------------------------------------------------------------- Block


def _library_block():
    from llmcourse.models.gpt import Block

    return Block


class _PostNormBlock(nn.Module):
    """x = norm(x + attn(x)): the original Transformer's order, not GPT-2's."""

    def __init__(self, config):
        super().__init__()
        base = _library_block()(config)
        self.norm1, self.attn, self.norm2, self.mlp = base.norm1, base.attn, base.norm2, base.mlp

    def forward(self, x):
        x = self.norm1(x + self.attn(x, is_causal=True))
        return self.norm2(x + self.mlp(x))


class _NoResidualBlock(_PostNormBlock):
    """Forgets the residual around attention: x = attn(norm1(x))."""

    def forward(self, x):
        x = self.attn(self.norm1(x), is_causal=True)
        return x + self.mlp(self.norm2(x))


class _MlpReadsInputBlock(_PostNormBlock):
    """Both sublayers read the block's input (in parallel) instead of one after the other."""

    def forward(self, x):
        return x + self.attn(self.norm1(x), is_causal=True) + self.mlp(self.norm2(x))


def _block_case(seed: int, B: int, T: int, n_head: int, n_embd: int):
    def test(cls):
        config = _config(1, n_head=n_head, n_embd=n_embd)
        sd = _random_weights(config, seed)
        block = cls(config)
        _load(block, sd, prefix="blocks.0.")
        block.eval()
        x = torch.randn(B, T, n_embd, generator=torch.Generator().manual_seed(seed + 100))
        with torch.no_grad():
            got, want = block(x), _torch_block(x, sd, "blocks.0.", n_head)
        assert tuple(got.shape) == (B, T, n_embd), f"output shape {tuple(got.shape)}, expected {(B, T, n_embd)}"
        diff = (got - want).abs().max().item()
        assert diff < 1e-4, f"output differs from the GPT-2 block computed with torch's ops (max difference {diff:.3g})"
    return test


@exercise("gpt.block", difficulty=2, minutes=15,
          reference="llmcourse.models.gpt:Block",
          wrong={"post-norm: norm after the residual add": _PostNormBlock,
                 "no residual around attention": _NoResidualBlock,
                 "MLP reads the block's input, not the attention's output": _MlpReadsInputBlock},
          hint="x = x + self.attn(self.norm1(x)); x = x + self.mlp(self.norm2(x)); return x "
               "(norms before each sublayer, each sublayer added to the residual stream)")
def _block():
    yield Case("B=2 T=5 C=32, 4 heads", test=_block_case(0, 2, 5, 4, 32))
    yield Case("B=1 T=9 C=24, 3 heads", test=_block_case(1, 1, 9, 3, 24))


# ----------------------------------------------------------------------------- the model


class _MiniGPT(nn.Module):
    """A GPT-2-style model in the exercise's naming, with switches for the usual mistakes."""

    def __init__(self, config, positions: bool = True, final_norm: bool = True, tie: bool = True):
        super().__init__()
        self.config, self.positions, self.final_norm = config, positions, final_norm
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(_library_block()(config) for _ in range(config.n_layer))
        self.norm_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if tie:
            self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx, targets=None):
        x = self.tok_emb(idx)
        if self.positions:
            x = x + self.pos_emb(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.norm_f(x) if self.final_norm else x)
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


def _model_case(seed: int, B: int, T: int, n_layer: int):
    def test(cls):
        config = _config(n_layer)
        sd = _random_weights(config, seed)
        model = cls(config)
        _load(model, sd)
        model.eval()
        g = torch.Generator().manual_seed(seed + 100)
        idx = torch.randint(config.vocab_size, (B, T), generator=g)
        targets = torch.randint(config.vocab_size, (B, T), generator=g)
        want = _torch_gpt(idx, sd, config)
        with torch.no_grad():
            out = model(idx, targets)
            assert isinstance(out, tuple) and len(out) == 2, "forward(idx, targets) must return (logits, loss)"
            logits, loss = out
            assert tuple(logits.shape) == (B, T, config.vocab_size), (
                f"logits shape {tuple(logits.shape)}, expected {(B, T, config.vocab_size)}")
            diff = (logits - want).abs().max().item()
            assert diff < 1e-4, f"logits differ from GPT-2's forward pass computed with torch's ops (max {diff:.3g})"
            want_loss = F.cross_entropy(want.flatten(0, 1), targets.flatten()).item()
            assert loss is not None and abs(float(loss) - want_loss) < 1e-4, (
                f"loss {None if loss is None else float(loss):.6g}, F.cross_entropy says {want_loss:.6g}")
            assert model(idx)[1] is None, "without targets the loss must be None"
        n_params = sum(p.numel() for p in model.parameters())
        expected = sum(v.numel() for k, v in sd.items() if k != "lm_head.weight")
        assert n_params == expected, (f"{n_params:,} parameters, expected {expected:,}: tie lm_head.weight to "
                                      "tok_emb.weight (self.lm_head.weight = self.tok_emb.weight)")
    return test


@exercise("gpt.model", difficulty=2, minutes=20,
          reference="llmcourse.models.gpt:GPT",
          wrong={"no position embeddings": functools.partial(_MiniGPT, positions=False),
                 "no final LayerNorm": functools.partial(_MiniGPT, final_norm=False),
                 "lm_head not tied to the embedding": functools.partial(_MiniGPT, tie=False)},
          hint="x = tok_emb(idx) + pos_emb(arange(T)); every block; norm_f; logits = lm_head(x) with "
               "lm_head.weight = tok_emb.weight; loss = lm_loss(logits, targets) when targets are given")
def _model():
    yield Case("2 layers, B=2 T=7", test=_model_case(0, 2, 7, 2))
    yield Case("1 layer, B=3 T=16 (the full context)", test=_model_case(1, 3, 16, 1))


# ----------------------------------------------------------------------------- sampling


def _sample_times_t(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits * temperature  # multiplies instead of dividing
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)


def _sample_top_k_drops_kth(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits <= kth, float("-inf"))  # <= drops the k-th as well
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)


def _sample_global_rng(logits, temperature=1.0, top_k=None, generator=None):
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    if top_k is not None:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1)  # ignores the generator


@exercise("gpt.sample_next", difficulty=1, minutes=15,
          reference="llmcourse.inference.sampling:sample_next",
          wrong={"multiplies by the temperature": _sample_times_t, "top-k drops the k-th largest too": _sample_top_k_drops_kth,
                 "ignores the generator": _sample_global_rng},
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
        rows = logits.repeat(100, 1)  # 300 draws: the global RNG cannot repeat them all by chance
        a = fn(rows, 1.0, None, torch.Generator().manual_seed(5))
        b = fn(rows, 1.0, None, torch.Generator().manual_seed(5))
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


# ----------------------------------------------------------------------------- stretch: bits per character


def _brute_force_bits(model, ids: torch.Tensor, n_chars: int, block_size: int) -> float:
    """Each token i >= 1 scored by its own forward pass over its last min(i, block_size) tokens."""
    total = 0.0
    with torch.no_grad():
        for i in range(1, len(ids)):
            context = ids[max(0, i - block_size):i][None]  # (1, <= block_size)
            logp = F.log_softmax(model(context)[0][0, -1].double(), dim=-1)
            total -= float(logp[ids[i]]) / math.log(2)
    return total / n_chars


def _bits_per_token(model, ids, n_chars, block_size):
    from llmcourse.training.loop import bits_per_char

    return bits_per_char(model, ids, len(ids) - 1, block_size)


def _nats_per_char(model, ids, n_chars, block_size):
    from llmcourse.training.loop import bits_per_char

    return bits_per_char(model, ids, n_chars, block_size) * math.log(2)


def _chunked(model, ids, n_chars, block_size):
    """Non-overlapping chunks: the first tokens of every chunk lose their context."""
    total = 0.0
    with torch.no_grad():
        for s in range(0, len(ids) - 1, block_size):
            x, y = ids[s:s + block_size], ids[s + 1:s + 1 + block_size]
            x = x[:len(y)]
            logp = F.log_softmax(model(x[None])[0][0].double(), dim=-1)
            total -= float(logp.gather(-1, y[:, None]).sum()) / math.log(2)
    return total / n_chars


def _bits_case(seed: int, n_tokens: int, n_chars: int, block_size: int, vocab: int):
    def test(fn):
        from llmcourse.models.gpt import GPT

        torch.manual_seed(seed)
        model = GPT(_config(2, vocab_size=vocab, block_size=block_size, n_embd=16, n_head=2)).eval()
        with torch.no_grad():  # sharper than an untrained init, so that context matters
            for p in model.parameters():
                p.mul_(15.0)
        ids = torch.randint(vocab, (n_tokens,), generator=torch.Generator().manual_seed(seed))
        want = _brute_force_bits(model, ids, n_chars, block_size)
        got = fn(model, ids, n_chars, block_size)
        got = float(got.item() if hasattr(got, "item") else got)
        assert math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5), (
            f"{got:.6f} bits per character, but scoring every token with its full context gives {want:.6f}")
    return test


@exercise("gpt.bits_per_char", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.training.loop:bits_per_char",
          wrong={"bits per token, not per character": _bits_per_token, "nats, not bits": _nats_per_char,
                 "non-overlapping chunks (early tokens lose their context)": _chunked},
          hint="every token i >= 1 is predicted from ids[max(0, i - block_size) : i]: the first window scores "
               "tokens 1..block_size-1 at once, then one window per later token (batch them); sum -log2 p over all "
               "predicted tokens and divide by n_chars")
def _bits_per_char():
    yield Case("40 tokens, 60 characters, block 8", test=_bits_case(0, 40, 60, 8, 11))
    yield Case("text shorter than the block", test=_bits_case(1, 6, 6, 8, 7))
    yield Case("one token per character, block 5", test=_bits_case(2, 23, 23, 5, 13))
