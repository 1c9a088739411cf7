"""Chat formatting, loss masking, packing and the SFT loss: against trl's SFTTrainer on the same conversations."""

import copy
import tempfile

import pytest
import torch

from llmcourse.assets.domain_corpus import DomainCorpus, DomainOverlapError, cloze_items, domain_corpus
from llmcourse.assets.instructions import composition, instruction_data, to_messages, verify
from llmcourse.finetuning import (COURSE_CHAT_TEMPLATE, IGNORE_INDEX, ChatExample, decontaminate, gemma_chat_template,
                                  gpt_logits, pack_examples, packed_attention_mask, pad_examples, render_chat,
                                  sft_loss, tokenize_chat)
from llmcourse.models.gpt import GPT, GPTConfig

CONVERSATIONS = [
    [{"role": "user", "content": "What is 2 plus 3?"}, {"role": "assistant", "content": "5"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tulis 57 dengan kata-kata."},
     {"role": "assistant", "content": "lima puluh tujuh"}, {"role": "user", "content": "Dan 58?"},
     {"role": "assistant", "content": "lima puluh delapan"}],
    [{"role": "user", "content": "เขียน 12 เป็นตัวหนังสือ"}, {"role": "assistant", "content": "สิบสอง"}],
]


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


def test_labels_and_sft_loss_equal_trl_assistant_only(gemma_tok, tiny_lm):
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    model = copy.deepcopy(tiny_lm[0])  # trl may adjust the model it is given: keep the shared one intact
    with tempfile.TemporaryDirectory() as out:
        args = trl.SFTConfig(output_dir=out, assistant_only_loss=True, report_to=[], max_length=256, use_cpu=True,
                             bf16=False, per_device_train_batch_size=len(CONVERSATIONS))
        trainer = trl.SFTTrainer(model=model, args=args, processing_class=gemma_tok,
                                 train_dataset=Dataset.from_list([{"messages": c} for c in CONVERSATIONS]))
        rows = [trainer.train_dataset[i] for i in range(len(CONVERSATIONS))]
        for conv, row in zip(CONVERSATIONS, rows):
            ours = tokenize_chat(conv, gemma_tok)
            assert ours.input_ids == row["input_ids"]
            assert ours.labels == row["labels"], "assistant-only labels differ from trl's"
        batch = trainer.data_collator(rows)
        model.train()
        theirs = trainer.compute_loss(model, dict(batch))
    ids, labels, mask = pad_examples([tokenize_chat(c, gemma_tok) for c in CONVERSATIONS], gemma_tok.pad_token_id)
    assert torch.equal(ids, batch["input_ids"]) and torch.equal(labels, batch["labels"])
    logits = model(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(sft_loss(logits, labels), theirs, atol=1e-5)
    model.eval()


def test_course_template_masks_assistant_turns_only():
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.models.course import reference_course_tokenizer

    tok = load_artifact("course-tokenizer", fallback=reference_course_tokenizer)
    ex = tokenize_chat(CONVERSATIONS[1], tok)
    kept = tok.decode([t for t in ex.labels if t != IGNORE_INDEX])
    assert kept == " lima puluh tujuh<|endoftext|>\n lima puluh delapan<|endoftext|>\n"
    text = render_chat(CONVERSATIONS[0], tok, add_generation_prompt=False)
    assert text.startswith("User: What is 2 plus 3?\nAssistant: 5<|endoftext|>")
    assert "Assistant:" in COURSE_CHAT_TEMPLATE


def test_chat_without_assistant_turn_is_refused(gemma_tok):
    with pytest.raises(ValueError, match="no assistant turn"):
        tokenize_chat([{"role": "user", "content": "hello"}], gemma_tok)
    with pytest.raises(ValueError, match="role"):
        tokenize_chat([{"role": "bot", "content": "hi"}], gemma_tok)
    with pytest.raises(ValueError, match="all -100"):
        sft_loss(torch.zeros(1, 3, 5), torch.full((1, 3), -100))


def test_packed_rows_give_each_example_its_own_logits():
    torch.manual_seed(0)
    model = GPT(GPTConfig.llama_style(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=16)).eval()
    g = torch.Generator().manual_seed(1)
    examples = [ChatExample(torch.randint(1, 50, (n,), generator=g).tolist(), [1] * n) for n in (9, 7, 12, 5, 20)]
    ids, labels, docs = pack_examples(examples, 32, pad_id=0)
    assert ids.shape[1] == 32 and (docs >= 0).sum() == sum(len(e.input_ids) for e in examples)
    logits = gpt_logits(model, ids, mask=packed_attention_mask(docs))
    for r in range(ids.shape[0]):
        for k in docs[r].unique().tolist():
            if k < 0:
                continue
            where = (docs[r] == k).nonzero().flatten()
            alone = model(torch.tensor([examples[k].input_ids]))[0][0]
            assert torch.allclose(logits[r, where], alone, atol=1e-5), f"example {k} sees another example"
    # without the block-diagonal mask the later examples do change
    leaky = gpt_logits(model, ids)
    assert not torch.allclose(leaky, logits, atol=1e-3)


def test_domain_corpus_is_split_by_document_and_refuses_overlap():
    corpus = domain_corpus(400_000)
    assert not set(corpus.train) & set(corpus.test) and corpus.test
    name, text = next(iter(corpus.test.items()))
    with pytest.raises(DomainOverlapError, match="both the train and the test"):
        DomainCorpus({**corpus.train, name: text}, corpus.val, corpus.test)
    with pytest.raises(DomainOverlapError, match="same text"):
        DomainCorpus({**corpus.train, "copy_of_" + name: text}, corpus.val, corpus.test)
    items = cloze_items(corpus.test, 10)
    assert all(it.answer in it.filled(it.answer) for it in items)


def test_instruction_data_is_verifiable_and_decontaminated():
    train = instruction_data("train", per_kind=20)
    test = instruction_data("test", per_kind=20)
    assert not {(i.kind, i.prompt) for i in train} & {(i.kind, i.prompt) for i in test}
    kinds = {k for k, _ in composition(train)}
    assert {"number", "arithmetic", "units", "country", "dialogue", "definition"} <= kinds
    langs = {lang for _, lang in composition(train)}
    assert {"en", "id", "th", "vi"} <= langs
    for it in test:
        if it.kind in ("arithmetic", "units", "number", "country"):
            assert verify(it, it.answer)
    arith = next(i for i in test if i.kind == "arithmetic")
    assert not verify(arith, str(int(arith.answer) + 1))
    texts = [" ".join(m["content"] for m in to_messages(i)) for i in train]
    eval_sets = {"planted": [texts[3] + " and more words", "completely unrelated words that appear nowhere else at all"]}
    keep, dropped = decontaminate(texts, eval_sets, n=4)
    assert 3 not in keep and dropped.get("planted", 0) >= 1 and len(keep) >= len(texts) - 20
