"""LoRA, prompt tuning, QLoRA, adapters, checkpointing and memory: against peft, bitsandbytes and torch."""

import copy

import pytest
import torch

from llmcourse.finetuning import (LoRALinear, PeakMemory, PromptTunedGPT, SoftPrompt, adamw_memory_formula,
                                  apply_adapters, apply_lora, apply_qlora, enable_gradient_checkpointing, gpt_logits,
                                  lora_bundle, lora_state_dict, measure_step, merge_lora, model_from_lora_bundle,
                                  prompt_tuned_forward, tensor_bytes, trainable_parameters)
from llmcourse.models.gpt import GPT, GPTConfig

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


def _llama(seed=0):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                   tie_word_embeddings=False, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return transformers.LlamaForCausalLM(cfg).eval()


def _gpt(seed=0, **kw):
    torch.manual_seed(seed)
    return GPT(GPTConfig.llama_style(vocab_size=61, block_size=48, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, **kw))


def _peft_twin(model, ours, targets, r, alpha):
    """peft's LoRA on a copy of `model`, with A and B copied from our LoRALinear layers."""
    cfg = peft.LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0)
    pm = peft.get_peft_model(copy.deepcopy(model), cfg)
    for name, mod in ours.named_modules():
        if isinstance(mod, LoRALinear):
            layer = pm.base_model.model.get_submodule(name)
            layer.lora_A["default"].weight.data.copy_(mod.lora_A.data)
            layer.lora_B["default"].weight.data.copy_(mod.lora_B.data)
    return pm


def test_lora_equals_peft_outputs_gradients_and_merge():
    base = _llama()
    ours = apply_lora(copy.deepcopy(base), ["q_proj", "v_proj", "down_proj"], r=4, alpha=8)
    for mod in ours.modules():  # B is zero at init: make it non-zero so the update shows
        if isinstance(mod, LoRALinear):
            torch.nn.init.normal_(mod.lora_B, std=0.1)
    theirs = _peft_twin(base, ours, ["q_proj", "v_proj", "down_proj"], 4, 8)
    ids = torch.randint(3, 97, (2, 11))
    out_o = ours(ids, labels=ids)
    out_t = theirs(input_ids=ids, labels=ids)
    assert torch.allclose(out_o.logits, out_t.logits, atol=1e-5)
    out_o.loss.backward()
    out_t.loss.backward()
    for name, mod in ours.named_modules():
        if isinstance(mod, LoRALinear):
            layer = theirs.base_model.model.get_submodule(name)
            assert torch.allclose(mod.lora_A.grad, layer.lora_A["default"].weight.grad, atol=1e-6)
            assert torch.allclose(mod.lora_B.grad, layer.lora_B["default"].weight.grad, atol=1e-6)
    merged_t = theirs.merge_and_unload()
    merged_o = merge_lora(ours)
    for (n1, p1), (n2, p2) in zip(merged_o.state_dict().items(), merged_t.state_dict().items()):
        assert n1 == n2 and torch.allclose(p1, p2, atol=1e-6), n1
    assert not any(isinstance(m, LoRALinear) for m in merged_o.modules())


def test_lora_starts_at_the_base_model_and_trains_only_a_and_b():
    base = _gpt()
    model = apply_lora(copy.deepcopy(base), ["qkv", "proj"], r=2, alpha=4)
    ids = torch.randint(61, (2, 9))
    assert torch.equal(model(ids)[0], base(ids)[0])
    trainable, total = trainable_parameters(model)
    c = base.config
    qkv_out = c.n_embd + 2 * c.n_kv_head * c.head_dim
    assert trainable == c.n_layer * (2 * (c.n_embd + qkv_out) + 2 * (c.n_embd + c.n_embd))
    assert total == trainable + sum(p.numel() for p in base.parameters())
    assert all(("lora_" in n) == p.requires_grad for n, p in model.named_parameters())


def test_lora_bad_input():
    with pytest.raises(ValueError, match=r"match no linear layer.*\['down', 'gate', 'lm_head', 'proj', 'qkv', 'up'\]"):
        apply_lora(_gpt(), ["q_proj"], r=2, alpha=4)
    with pytest.raises(ValueError, match="larger than the layer"):
        LoRALinear(torch.nn.Linear(8, 4), r=5, alpha=1)
    with pytest.raises(ValueError, match="positive integer"):
        LoRALinear(torch.nn.Linear(8, 4), r=0, alpha=1)


def test_lora_bundle_round_trip():
    base = _gpt()
    model = apply_lora(copy.deepcopy(base), ["qkv"], r=2, alpha=2)
    for m in model.modules():
        if isinstance(m, LoRALinear):
            torch.nn.init.normal_(m.lora_B)
    bundle = lora_bundle(base, model, None, 2, 2, ["qkv"])
    assert set(bundle["adapter"]) == set(lora_state_dict(model))
    ids = torch.randint(61, (1, 7))
    rebuilt = model_from_lora_bundle(bundle)
    assert torch.allclose(rebuilt(ids)[0], model(ids)[0], atol=1e-6)
    merged = model_from_lora_bundle(bundle, merge=True)
    assert torch.allclose(merged(ids)[0], model(ids)[0], atol=1e-5)


def test_prompt_tuning_equals_peft():
    base = _llama(1)
    pm = peft.get_peft_model(copy.deepcopy(base), peft.PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=5))
    prompt = SoftPrompt(5, 32, init=torch.randn(5, 32))
    pm.prompt_encoder["default"].embedding.weight.data.copy_(prompt.weight.data)
    ids = torch.randint(3, 97, (2, 8))
    mask = torch.ones_like(ids)
    mask[1, -2:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    ours = prompt_tuned_forward(base, prompt, ids, mask, labels)
    theirs = pm(input_ids=ids, attention_mask=mask, labels=labels)
    assert torch.allclose(ours.logits, theirs.logits, atol=1e-5)
    assert torch.allclose(ours.loss, theirs.loss, atol=1e-6)


def test_prompt_tuned_gpt_trains_only_the_prompt():
    model = PromptTunedGPT(_gpt(), n_virtual=4)
    ids = torch.randint(61, (2, 10))
    logits, loss = model(ids, ids)
    assert logits.shape == (2, 10, 61)
    loss.backward()
    assert model.prompt.weight.grad is not None
    assert trainable_parameters(model)[0] == 4 * 32
    with pytest.raises(ValueError, match="virtual tokens exceed block_size"):
        model(torch.zeros(1, 46, dtype=torch.long))


def test_adapters_start_as_identity_and_train_alone():
    base = _gpt()
    model = apply_adapters(copy.deepcopy(base), bottleneck=4)
    ids = torch.randint(61, (2, 9))
    assert torch.allclose(model(ids)[0], base(ids)[0], atol=1e-6)
    assert trainable_parameters(model)[0] == 2 * 2 * (2 * 4 * 32 + 4 + 32)


def test_qlora_matches_peft_with_bitsandbytes_linear4bit():
    bnb = pytest.importorskip("bitsandbytes")
    base = _llama(2)
    targets = ["q_proj", "v_proj"]
    ours = apply_qlora(copy.deepcopy(base), targets, r=4, alpha=8, compute_dtype=torch.float32,
                       skip=("lm_head",))
    assert trainable_parameters(ours)[0] == sum(p.numel() for n, p in ours.named_parameters() if "lora_" in n)
    # peft + bitsandbytes: the same layers as Linear4bit (NF4, double quantisation), the same A/B
    theirs = copy.deepcopy(base)
    for name, mod in list(theirs.named_modules()):
        if isinstance(mod, torch.nn.Linear) and "lm_head" not in name:
            q = bnb.nn.Linear4bit(mod.in_features, mod.out_features, bias=False, compute_dtype=torch.float32,
                                  quant_type="nf4", compress_statistics=True)
            q.weight = bnb.nn.Params4bit(mod.weight.data.clone(), requires_grad=False, quant_type="nf4",
                                         compress_statistics=True, blocksize=64)
            parent, _, child = name.rpartition(".")
            setattr(theirs.get_submodule(parent), child, q.to("cpu"))
    for mod in ours.modules():
        if isinstance(mod, LoRALinear):
            torch.nn.init.normal_(mod.lora_B, std=0.05)
    theirs = _peft_twin(theirs, ours, targets, 4, 8)
    ids = torch.randint(3, 97, (2, 12))
    opt_o = torch.optim.SGD([p for p in ours.parameters() if p.requires_grad], lr=0.5)
    opt_t = torch.optim.SGD([p for p in theirs.parameters() if p.requires_grad], lr=0.5)
    for _ in range(3):  # a few steps: the loss curves agree
        lo, lt = ours(ids, labels=ids).loss, theirs(input_ids=ids, labels=ids).loss
        assert abs(lo.item() - lt.item()) < 1e-4
        for opt, loss in ((opt_o, lo), (opt_t, lt)):
            opt.zero_grad()
            loss.backward()
            opt.step()


def test_gradient_checkpointing_gives_the_same_gradients():
    a = _gpt(3)
    b = enable_gradient_checkpointing(copy.deepcopy(a))
    ids = torch.randint(61, (2, 16))
    a(ids, ids)[1].backward()
    b(ids, ids)[1].backward()
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), n
    assert set(a.state_dict()) == set(b.state_dict())


def test_peak_memory_counts_allocations_and_frees():
    with PeakMemory() as pm:
        x = torch.empty(1000, dtype=torch.float32)
        y = torch.empty(500, dtype=torch.float32)
        del x
        z = torch.empty(250, dtype=torch.float32)
    assert pm.peak == 6000
    assert pm.current == 3000
    del y, z


def test_adam_state_measured_equals_the_formula():
    model = _gpt(4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(61, (2, 8))

    def step():
        opt.zero_grad(set_to_none=True)
        model(ids, ids)[1].backward()
        opt.step()
    cost = measure_step(model, step, opt, timed_steps=1)
    n = sum(p.numel() for p in model.parameters())
    formula = adamw_memory_formula(n, n)
    assert tensor_bytes(model.parameters()) == formula["weights"]
    assert cost.weights == formula["weights"] + tensor_bytes(model.buffers())  # + the rotary table
    assert cost.optimizer == formula["adam"]
    assert cost.step_peak >= formula["gradients"] + formula["adam"]


def test_gpt_logits_with_embeds_equals_forward():
    model = _gpt(5)
    ids = torch.randint(61, (2, 7))
    assert torch.allclose(gpt_logits(model, embeds=model.tok_emb(ids)), model(ids)[0], atol=1e-6)
