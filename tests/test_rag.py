"""The RAG corpus (CLDR facts through Babel), prompts with citations, answer and citation scoring,
and the course tokenizer converted for Hugging Face (equal ids)."""

import pytest

from llmcourse.assets.rag_corpus import country_cards, country_facts, edited_cards, rag_questions, wiki_documents
from llmcourse.retrieval import (
    answer_in, build_prompt, chunk_corpus, citation_precision, exact_match, normalize_answer, parse_answer, token_f1,
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


def test_answer_in_takes_whole_words_of_a_sentence():
    assert answer_in("The three-letter code of Germany's currency is EUR.", ["EUR"]) == 1.0
    assert answer_in("Brunei Dolar (BND)", ["Brunei Dollar", "BND"]) == 1.0  # an alias counts
    assert answer_in("The first day of the week in Brazil is Monday.", ["Sunday"]) == 0.0
    assert answer_in("EURO", ["EUR"]) == 0.0  # whole words, not a prefix
    assert answer_in("the sol", ["Peruvian Sol"]) == 0.0  # all of the answer, not part of it
    assert answer_in("", ["x"]) == 0.0 and answer_in("anything", [""]) == 0.0


def test_the_worked_example_names_no_country_of_the_corpus():
    from llmcourse.assets.rag_corpus import COUNTRIES, country_facts
    from llmcourse.retrieval.rag import FEW_SHOT

    for code in COUNTRIES:
        facts = country_facts(code, "en")
        assert facts["name"] not in FEW_SHOT and facts["currency"] not in FEW_SHOT, code


def test_evaluate_answers_scores_a_sentence_reply_as_found_not_exact():
    from llmcourse.assets.rag_corpus import QA
    from llmcourse.retrieval.compare import evaluate_answers

    qs = [QA("What is the currency of Laos?", "Laotian Kip", "LA-en", "currency", "en", True, ["LAK"]),
          QA("What is the currency of Peru?", "Peruvian Sol", "PE-en", "currency", "en", True)]
    replies = {qs[0].question: ("It is the Laotian Kip [1]\nQuestion: next", ["Laos uses the Laotian Kip (LAK).", "Peru."]),
               qs[1].question: ("Sol", [])}
    out = evaluate_answers(lambda q: replies[q], qs)
    assert out["em"] == 0.0 and out["found"] == 0.5
    assert out["citation_precision"] == 1.0 and out["cited_share"] == 0.5
    assert [r["citations"] for r in out["rows"]] == [[1], []]
