"""The RAG corpus (CLDR facts through Babel), prompts with citations, answer and citation scoring,
and the course tokenizer converted for Hugging Face (equal ids)."""

import pytest

from llmcourse.assets.rag_corpus import country_cards, country_facts, edited_cards, rag_questions, wiki_documents
from llmcourse.retrieval import (
    build_prompt, chunk_corpus, citation_precision, exact_match, normalize_answer, parse_answer, token_f1,
)


def test_cards_hold_cldr_facts_in_each_language():
    from babel.numbers import get_currency_name

    cards = country_cards(("TH", "ID"), ("en", "id", "th", "vi"))
    assert len(cards) == 8
    assert get_currency_name("THB", locale="en") in cards["TH-en"] and "THB" in cards["TH-th"]
    assert country_facts("ID", "id")["name"] in cards["ID-id"]
    assert country_facts("VN")["currency_code"] == "VND" and country_facts("FR")["day"] == "Monday"


def test_questions_have_two_phrasings_and_findable_answers():
    qs = rag_questions(("LA",), langs=("en",))
    assert len(qs) == 6 and sum(q.heldout for q in qs) == 3
    cards = country_cards(("LA",), ("en",))
    for q in qs:
        assert q.answer in cards[q.doc_id]


def test_edited_cards_change_the_fact():
    new_cards, facts = edited_cards(["TH"], ("en",))
    assert facts["TH"]["currency_code"] != "THB" and facts["TH"]["currency_code"] in new_cards["TH-en"]
    q = [q for q in rag_questions(["TH"], ("en",), facts=facts) if q.kind == "code"][0]
    assert q.answer == facts["TH"]["currency_code"]


def test_wiki_documents_are_plain_text():
    docs = wiki_documents(2, max_chars=2000)
    assert len(docs) == 2 and all(len(t) <= 2000 and "'''" not in t and "[[" not in t for t in docs.values())
    assert chunk_corpus(docs, "sentence", 300)


def test_prompt_and_answer_parsing():
    prompt = build_prompt("What is the currency of Laos?", ["Laos. The currency is the Laotian Kip (LAK).", "Peru."])
    assert "[1] Laos." in prompt and "[2] Peru." in prompt and prompt.endswith("Answer:")
    parsed = parse_answer(" Laotian Kip [1][3].\nQuestion: more")
    assert parsed.text == "Laotian Kip" and parsed.citations == [1, 3]
    with pytest.raises(ValueError, match="empty"):
        build_prompt("  ", [])


def test_answer_metrics_follow_squad():
    assert normalize_answer("The Thai  Baht!") == "thai baht"
    assert exact_match("the Thai baht", ["Thai Baht"]) == 1.0
    assert token_f1("Thai Baht coin", ["Thai Baht"]) == pytest.approx(0.8)
    assert token_f1("Rupiah", ["Thai Baht", "THB"]) == 0.0
    chunks = ["The currency of Laos is the Laotian Kip.", "Peru uses the sol."]
    assert citation_precision([1, 2], chunks, ["Laotian Kip"]) == 0.5
    assert citation_precision([], chunks, ["x"]) is None
    assert citation_precision([7], chunks, ["Laotian Kip"]) == 0.0  # a source that does not exist


def test_course_tokenizer_converts_to_hugging_face_with_equal_ids():
    from llmcourse.alignment import course_tokenizer_to_hf
    from llmcourse.tokenization.course_tokenizer import train_course_tokenizer

    tok = train_course_tokenizer(300, chars_per_language=3000)
    hf = course_tokenizer_to_hf(tok)
    for text in ["Hello, world!  ok", "สวัสดีครับ ภาษาไทย", "Xin chào 123\n\tend", "tujuh<|endoftext|>"]:
        ids = hf(text, add_special_tokens=False)["input_ids"]
        assert ids == tok.encode(text, allowed_special="all"), text
        assert hf.decode(ids) == text
    assert hf.eos_token_id == tok.special_tokens["<|endoftext|>"]
