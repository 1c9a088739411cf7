"""Exercises of notebooks 5.1-5.3 (fine-tuning). Oracles: a real AdamW step's tensors, torch's
cross-entropy, peft's LoRA layer, transformers' causal-LM loss, torch SDPA on separate documents."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise


# ----------------------------------------------------------------------------- 5.1 memory
def _measured_adamw(n_params: int, n_trainable: int) -> dict:
    """The oracle: build parameters of those sizes, take one AdamW step, count the bytes of each kind."""
    frozen = torch.nn.Parameter(torch.zeros(n_params - n_trainable), requires_grad=False)
    trained = torch.nn.Parameter(torch.zeros(n_trainable))
    opt = torch.optim.AdamW([trained], lr=1e-3)
    trained.sum().backward()
    opt.step()
    state = [t for s in opt.state.values() for k, t in s.items() if k != "step"]  # m and v (step is a counter)
    weights = frozen.nbytes + trained.nbytes
    grads = trained.grad.nbytes
    adam = sum(t.nbytes for t in state)
    return {"weights": float(weights), "gradients": float(grads), "adam": float(adam),
            "total": float(weights + grads + adam)}


def _mem_one_state(n_params, n_trainable):
    return {"weights": 4.0 * n_params, "gradients": 4.0 * n_trainable, "adam": 4.0 * n_trainable,
            "total": 4.0 * n_params + 8.0 * n_trainable}


def _mem_grads_for_all(n_params, n_trainable):
    return {"weights": 4.0 * n_params, "gradients": 4.0 * n_params, "adam": 8.0 * n_trainable,
            "total": 8.0 * n_params + 8.0 * n_trainable}


@exercise("finetuning.memory_formula", difficulty=1, minutes=10,
          reference="llmcourse.finetuning.memory:adamw_memory_formula",
          wrong={"Adam keeps one number per parameter": _mem_one_state,
                 "gradients for frozen parameters too": _mem_grads_for_all},
          hint="float32 = 4 bytes. weights: every parameter; gradients: trained ones only; AdamW keeps two "
               "running averages (m and v) per trained parameter; total is the sum")
def _memory_formula():
    for n, t in ((1000, 1000), (5000, 120), (2048, 0 + 1), (30_000, 7_000)):
        yield Case(f"{n} parameters, {t} trained", args=(n, t), expected=_measured_adamw(n, t))


# ----------------------------------------------------------------------------- 5.1 perplexity
def _toy_model(seed: int):
    from llmcourse.models.gpt import GPT, GPTConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT(GPTConfig.llama_style(vocab_size=37, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()


def _ppl_oracle(model, ids, block_size):
    n = (len(ids) - 1) // block_size
    x = ids[: n * block_size].view(n, block_size)
    y = ids[1: n * block_size + 1].view(n, block_size)
    with torch.no_grad():
        logits = model(x)[0]
    return math.exp(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item())


def _ppl_mean_of_windows(model, ids, block_size, batch_size=8):
    ids = torch.as_tensor(ids)
    n = (len(ids) - 1) // block_size
    out = []
    with torch.no_grad():
        for r in range(n):
            x, y = ids[r * block_size:(r + 1) * block_size], ids[r * block_size + 1:(r + 1) * block_size + 1]
            out.append(math.exp(F.cross_entropy(model(x[None])[0][0], y).item()))
    return sum(out) / len(out)


def _ppl_no_exp(model, ids, block_size, batch_size=8):
    return math.log(_ppl_oracle(model, torch.as_tensor(ids), block_size))


@exercise("finetuning.perplexity", difficulty=1, minutes=10, reference="llmcourse.finetuning.metrics:perplexity",
          wrong={"mean of per-window perplexities": _ppl_mean_of_windows, "the loss, not exp(loss)": _ppl_no_exp},
          hint="cut ids into (len - 1) // block_size windows; x = window, y = window shifted by one; mean "
               "cross-entropy over ALL tokens of all windows, then math.exp")
def _perplexity():
    g = torch.Generator().manual_seed(3)
    for seed, n, T in ((0, 200, 16), (1, 97, 8), (2, 65, 16)):
        model = _toy_model(seed)
        ids = torch.randint(37, (n,), generator=g)
        yield Case(f"{n} tokens, windows of {T}", args=(model, ids, T), expected=_ppl_oracle(model, ids, T),
                   rtol=1e-4)


# ----------------------------------------------------------------------------- 5.1 stretch: L2-SP
def _l2sp_oracle(model, reference, alpha):
    diffs = [(p - reference[n]).flatten() for n, p in model.named_parameters() if p.requires_grad]
    return 0.5 * alpha * torch.linalg.vector_norm(torch.cat(diffs)) ** 2


def _l2sp_no_half(model, reference, alpha):
    return 2 * _l2sp_oracle(model, reference, alpha)


def _l2sp_norm_not_squared(model, reference, alpha):
    diffs = [(p - reference[n]).flatten() for n, p in model.named_parameters() if p.requires_grad]
    return 0.5 * alpha * torch.linalg.vector_norm(torch.cat(diffs))


def _l2sp_to_zero(model, reference, alpha):  # plain weight decay: pulls towards 0, not towards θ0
    return 0.5 * alpha * sum(p.pow(2).sum() for p in model.parameters() if p.requires_grad)


@exercise("finetuning.l2sp_penalty", difficulty=3, minutes=25, stretch=True,
          reference="llmcourse.finetuning.forgetting:l2sp_penalty",
          wrong={"no 1/2": _l2sp_no_half, "norm, not squared norm": _l2sp_norm_not_squared,
                 "towards zero (weight decay)": _l2sp_to_zero},
          hint="sum over named_parameters with requires_grad of (p - reference[name]).pow(2).sum(), times alpha / 2; "
               "keep it a tensor so gradients flow")
def _l2sp():
    def case(seed, frozen_first):
        def test(fn):
            model = _toy_model(seed)
            ref = {n: p.detach().clone() for n, p in model.named_parameters()}
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 0.1)
            if frozen_first:
                model.tok_emb.weight.requires_grad_(False)
            got = fn(model, ref, 0.3)
            want = _l2sp_oracle(model, ref, 0.3)
            assert isinstance(got, torch.Tensor) and got.requires_grad, "return a tensor that carries gradients"
            assert torch.allclose(got, want, rtol=1e-5), f"penalty {float(got):.6g}, expected {float(want):.6g}"
            got.backward()
            p = model.blocks[0].mlp.up.weight
            assert torch.allclose(p.grad, 0.3 * (p - ref["blocks.0.mlp.up.weight"]), atol=1e-6), \
                "the gradient should be alpha * (θ - θ0)"
        return test

    yield Case("all parameters trained", test=case(0, False))
    yield Case("frozen embedding does not count", test=case(1, True))
    yield Case("at θ0 the penalty is zero", test=lambda fn: _at_zero(fn))


def _at_zero(fn):
    model = _toy_model(4)
    ref = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert float(fn(model, ref, 1.0).detach()) == 0.0, "at the pre-trained weights the penalty must be 0"


# ----------------------------------------------------------------------------- 5.2 LoRA layer
def _peft_layer(base, r, alpha, A, B):
    import peft
    from peft.tuners.lora import Linear as PeftLoraLinear

    layer = PeftLoraLinear(base, adapter_name="default", config=peft.LoraConfig(r=r, lora_alpha=alpha), r=r,
                           lora_alpha=alpha)
    layer.lora_A["default"].weight.data.copy_(A)
    layer.lora_B["default"].weight.data.copy_(B)
    return layer


def _lora_cases():
    import copy

    def test(in_f, out_f, r, alpha, bias):
        def run(cls):
            torch.manual_seed(in_f + out_f + r)
            base = torch.nn.Linear(in_f, out_f, bias=bias)
            layer = cls(copy.deepcopy(base), r, alpha)
            x = torch.randn(3, 5, in_f)
            assert torch.allclose(layer(x), base(x), atol=1e-6), "a fresh LoRA layer must equal the base layer (B = 0)"
            trainable = {n for n, p in layer.named_parameters() if p.requires_grad}
            assert trainable == {"lora_A", "lora_B"}, f"only lora_A and lora_B should train, got {sorted(trainable)}"
            assert tuple(layer.lora_A.shape) == (r, in_f) and tuple(layer.lora_B.shape) == (out_f, r), \
                "lora_A is (r, in_features), lora_B is (out_features, r)"
            with torch.no_grad():
                layer.lora_B.normal_()
            theirs = _peft_layer(copy.deepcopy(base), r, alpha, layer.lora_A.data, layer.lora_B.data)
            x.requires_grad_(True)
            y = layer(x)
            y2 = theirs(x)
            assert torch.allclose(y, y2, atol=1e-5), f"output differs from peft's LoRA by {(y - y2).abs().max():.3g}"
            y.square().sum().backward()
            gA = layer.lora_A.grad.clone()
            x.grad = None
            y2.square().sum().backward()
            assert torch.allclose(gA, theirs.lora_A["default"].weight.grad, atol=1e-4), "gradient of A differs from peft"
            merged = layer.merge()
            theirs.merge()
            assert isinstance(merged, torch.nn.Linear), "merge() returns a plain nn.Linear"
            assert torch.allclose(merged.weight, theirs.base_layer.weight, atol=1e-5), "merged weight differs from peft"
        return run

    yield Case("640 -> 640, r=8, alpha=16", test=test(64, 64, 8, 16, False))
    yield Case("32 -> 96, r=4, alpha=4, bias", test=test(32, 96, 4, 4, True))
    yield Case("rank 1", test=test(16, 8, 1, 2, True))


class _LoRANoRScale(torch.nn.Module):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = torch.nn.Parameter(torch.randn(r, base.in_features) * 0.1)
        self.lora_B = torch.nn.Parameter(torch.zeros(base.out_features, r))
        self.scaling = alpha  # forgot the / r

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merge(self):
        out = torch.nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


class _LoRARandomB(_LoRANoRScale):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__(base, r, alpha)
        self.scaling = alpha / r
        with torch.no_grad():
            self.lora_B.normal_(std=0.02)  # B random: the model no longer starts at the pre-trained one


class _LoRAMergeNoScale(_LoRANoRScale):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__(base, r, alpha)
        self.scaling = alpha / r

    def merge(self):
        out = super().merge()
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.lora_B @ self.lora_A)  # scaling forgotten when merging
        return out


@exercise("finetuning.lora_linear", difficulty=2, minutes=25, reference="llmcourse.finetuning.lora:LoRALinear",
          wrong={"scaling alpha, not alpha / r": _LoRANoRScale, "B initialised randomly": _LoRARandomB,
                 "merge without the scaling": _LoRAMergeNoScale},
          hint="freeze base; lora_A = (r, in) random (kaiming_uniform_(a=sqrt(5))), lora_B = (out, r) zeros; "
               "forward = base(x) + (x @ A.T @ B.T) * alpha / r; merge: W + (alpha / r) * B @ A into a new nn.Linear")
def _lora_linear():
    yield from _lora_cases()


# ----------------------------------------------------------------------------- 5.3 SFT loss
def _hf_causal_loss(logits, labels):
    from transformers.loss.loss_utils import ForCausalLMLoss

    return ForCausalLMLoss(logits, labels, vocab_size=logits.shape[-1])


def _sft_no_shift(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def _sft_ignored_as_zero(logits, labels):
    shift = labels[:, 1:].clamp(min=0)  # -100 turned into token 0: the prompt counts again
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), shift.reshape(-1))


def _sft_shift_wrong_way(logits, labels):
    return F.cross_entropy(logits[:, 1:].reshape(-1, logits.shape[-1]), labels[:, :-1].reshape(-1), ignore_index=-100)


@exercise("finetuning.sft_loss", difficulty=1, minutes=10, reference="llmcourse.finetuning.sft:sft_loss",
          wrong={"no shift": _sft_no_shift, "-100 counted as token 0": _sft_ignored_as_zero,
                 "shifted the wrong way": _sft_shift_wrong_way},
          hint="logits[:, :-1] predict labels[:, 1:]; F.cross_entropy(..., ignore_index=-100) over the flattened "
               "positions")
def _sft():
    g = torch.Generator().manual_seed(5)
    for B, T, V, masked in ((2, 9, 13, 3), (3, 16, 50, 10), (1, 5, 7, 0)):
        logits = torch.randn(B, T, V, generator=g)
        labels = torch.randint(V, (B, T), generator=g)
        labels[:, :masked] = -100  # the prompt
        labels[-1, -2:] = -100  # padding
        yield Case(f"B={B} T={T}, first {masked} masked", args=(logits, labels), expected=_hf_causal_loss(logits, labels))


# ----------------------------------------------------------------------------- 5.3 stretch: packing mask
def _mask_oracle_test(make_mask):
    """Attention with the learner's mask over a packed row equals attention over each document alone."""
    g = torch.Generator().manual_seed(7)
    for lengths in ((3, 5, 4), (8,), (2, 2, 2, 2, 1)):
        T = sum(lengths) + 2  # two padding positions at the end
        docs = torch.cat([torch.full((n,), k) for k, n in enumerate(lengths)] + [torch.full((2,), -1)])[None]
        q, k, v = (torch.randn(1, 2, T, 4, generator=g) for _ in range(3))
        mask = make_mask(docs)
        assert mask.dtype == torch.bool and tuple(mask.shape) == (1, 1, T, T), \
            f"the mask must be bool (R, 1, T, T) = {(1, 1, T, T)}, got {mask.dtype} {tuple(mask.shape)}"
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        start = 0
        for n in lengths:
            s = slice(start, start + n)
            alone = F.scaled_dot_product_attention(q[:, :, s], k[:, :, s], v[:, :, s], is_causal=True)
            assert torch.allclose(out[:, :, s], alone, atol=1e-5), \
                f"a document of {n} tokens at {start} sees tokens outside itself (or its future)"
            start += n
        assert not torch.isnan(out).any(), "a padding row has nothing to attend to (NaN): let it attend to itself"


def _mask_no_causal(docs):
    return (docs[:, :, None] == docs[:, None, :])[:, None]


def _mask_causal_only(docs):
    T = docs.shape[1]
    return torch.ones(T, T, dtype=torch.bool).tril()[None, None].expand(docs.shape[0], 1, T, T)


def _mask_float(docs):
    from llmcourse.finetuning.chat import packed_attention_mask

    return packed_attention_mask(docs).float()


@exercise("finetuning.packed_mask", difficulty=3, minutes=25, stretch=True,
          reference="llmcourse.finetuning.chat:packed_attention_mask",
          wrong={"same document, but not causal": _mask_no_causal, "causal across documents": _mask_causal_only,
                 "a float 0/1 mask": _mask_float},
          hint="same = docs[:, :, None] == docs[:, None, :]; causal = ones(T, T).tril(); mask = same & causal; "
               "OR the diagonal so padding rows attend to themselves; add the head axis: mask[:, None]")
def _packed():
    yield Case("packed rows attend within their documents only", test=lambda fn: _mask_oracle_test(fn))
