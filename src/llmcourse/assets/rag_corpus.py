"""The RAG corpus of 8.3, offline: Wikipedia articles (gensim's test data) and CLDR country cards.

* **Wikipedia**: the shortened English dump in gensim's test data (about 100 real
  articles: Anarchism, Autism, Albedo, ...), markup stripped with gensim's `filter_wiki`,
  kept as plain text with case and punctuation (sentences matter for chunking).
* **Country cards**: one short document per country and language (English, Indonesian,
  Thai, Vietnamese), written from the Unicode CLDR through Babel: the country's name, its
  currency (name, ISO code), official languages, and the first day of its week, each in the
  card's language. Facts come from CLDR's data, never typed by hand; the sentence
  templates around them are the course's.
* **Questions** with verifiable answers: "What is the currency of Laos?" -> "Laotian Kip"
  (or "LAK"), with the id of the card that holds the answer. Two phrasings per fact: one
  for fine-tuning, one held out.
* **Changed facts**: `edited_cards()` rewrites some cards with a different currency (a
  counterfactual edit, labelled as such) to test which system follows a document that
  changed after training.
"""

from __future__ import annotations

import bz2
import re
from dataclasses import dataclass, field

import numpy as np

from llmcourse.assets.registry import Asset, register, require

__all__ = ["CARD_LANGS", "COUNTRIES", "QA", "country_cards", "country_facts", "edited_cards", "rag_questions",
           "wiki_documents"]

CARD_LANGS = ("en", "id", "th", "vi")
COUNTRIES = ("TH", "ID", "VN", "MY", "PH", "SG", "KH", "LA", "MM", "BN", "TL", "JP", "KR", "CN", "IN", "AU", "NZ",
             "FR", "DE", "GB", "US", "BR", "MX", "EG", "KE", "ZA", "AE", "TR", "RU", "CA")
TEMPLATES = {
    "en": "{name}. The currency of {name} is the {currency} ({code}). Official languages of {name}: {langs}. "
          "In {name} the week starts on {day}.",
    "id": "{name}. Mata uang {name} adalah {currency} ({code}). Bahasa resmi {name}: {langs}. "
          "Di {name} minggu dimulai pada hari {day}.",
    "th": "{name} สกุลเงินของ{name}คือ{currency} ({code}) ภาษาราชการของ{name}: {langs} "
          "ใน{name}สัปดาห์เริ่มต้น{day}",
    "vi": "{name}. Đơn vị tiền tệ của {name} là {currency} ({code}). Ngôn ngữ chính thức của {name}: {langs}. "
          "Ở {name}, tuần bắt đầu vào {day}.",
}
QUESTION_TEMPLATES = {  # (fine-tuning phrasing, held-out phrasing)
    "currency": {"en": ("What is the currency of {name}?", "Which money do people pay with in {name}?"),
                 "id": ("Apa mata uang {name}?", "Uang apa yang dipakai di {name}?")},
    "code": {"en": ("What is the ISO code of the currency of {name}?", "Which three-letter code does {name}'s money have?"),
             "id": ("Apa kode ISO mata uang {name}?", "Kode tiga huruf uang {name} apa?")},
    "day": {"en": ("On which day does the week start in {name}?", "What is the first day of the week in {name}?"),
            "id": ("Pada hari apa minggu dimulai di {name}?", "Hari pertama dalam seminggu di {name} apa?")},
}


def country_facts(code: str, lang: str = "en") -> dict:
    """CLDR facts of a country in `lang`: name, currency name and ISO code, official languages, first weekday."""
    babel = require("babel", "babel")
    from babel.languages import get_official_languages
    from babel.numbers import get_currency_name, get_territory_currencies

    loc = babel.Locale.parse(lang)
    currency = get_territory_currencies(code, tender=True)[0]
    langs = [loc.languages.get(l.split("_")[0], l) for l in get_official_languages(code)] or \
            [loc.languages.get(str(babel.Locale.parse(f"und_{code}").language), "?")]
    first = babel.Locale.parse(f"und_{code}").first_week_day
    return {"code": code, "name": loc.territories[code], "currency": get_currency_name(currency, locale=lang),
            "currency_code": currency, "langs": ", ".join(dict.fromkeys(langs)),
            "day": loc.days["format"]["wide"][first]}


def _card(facts: dict, lang: str) -> str:
    return TEMPLATES[lang].format(name=facts["name"], currency=facts["currency"], code=facts["currency_code"],
                                  langs=facts["langs"], day=facts["day"])


def country_cards(countries=COUNTRIES, langs=CARD_LANGS) -> dict[str, str]:
    """{"TH-en": card text, ...}: one card per country and language."""
    return {f"{c}-{l}": _card(country_facts(c, l), l) for c in countries for l in langs}


def edited_cards(countries, langs=CARD_LANGS, seed: int = 0) -> tuple[dict[str, str], dict[str, dict]]:
    """Counterfactual edits: each country gets another country's currency. Returns (cards, new facts by country)."""
    rng = np.random.default_rng(seed)
    countries = list(countries)
    donors = [c for c in COUNTRIES if c not in countries]
    cards, new = {}, {}
    for c in countries:
        donor = donors[rng.integers(len(donors))]
        for l in langs:
            facts = country_facts(c, l)
            other = country_facts(donor, l)
            facts.update(currency=other["currency"], currency_code=other["currency_code"])
            cards[f"{c}-{l}"] = _card(facts, l)
            if l == "en":
                new[c] = facts
    return cards, new


@dataclass
class QA:
    """A question, its answer (and accepted aliases) and the document that holds it."""

    question: str
    answer: str
    doc_id: str
    kind: str
    lang: str
    heldout: bool
    aliases: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> list[str]:
        return [self.answer, *self.aliases]


def rag_questions(countries=COUNTRIES, langs=("en", "id"), facts: dict | None = None) -> list[QA]:
    """Two phrasings per (country, fact, language): the first for fine-tuning, the second held out.

    `facts` ({country: facts}) overrides CLDR's (for edited cards).
    """
    out = []
    for c in countries:
        for lang in langs:
            f = country_facts(c, lang)
            if facts and c in facts and lang == "en":
                f = facts[c]
            for kind, per_lang in QUESTION_TEMPLATES.items():
                answer = {"currency": f["currency"], "code": f["currency_code"], "day": f["day"]}[kind]
                aliases = [f["currency_code"]] if kind == "currency" else []
                for heldout, template in enumerate(per_lang[lang]):
                    out.append(QA(template.format(name=f["name"]), answer, f"{c}-{lang}", kind, lang,
                                  bool(heldout), aliases))
    return out


_BLANKS = re.compile(r"\n{3,}")


def wiki_documents(max_articles: int | None = None, min_chars: int = 500, max_chars: int | None = None) -> dict[str, str]:
    """{title: plain text} of the articles in gensim's shortened English Wikipedia dump.

    `max_chars` keeps only the beginning of long articles (cut at a paragraph break).
    """
    from llmcourse.assets.embedding_data import gensim_file

    wikicorpus = require("gensim.corpora.wikicorpus", "gensim")
    docs: dict[str, str] = {}
    with bz2.open(gensim_file("wiki")) as fh:
        for title, text, _ in wikicorpus.extract_pages(fh):
            if text.lstrip().lower().startswith("#redirect"):
                continue
            plain = wikicorpus.filter_wiki(text).replace("'''", "").replace("''", "")  # bold, italics
            plain = _BLANKS.sub("\n\n", "\n".join(line.strip() for line in plain.splitlines())).strip()
            if len(plain) < min_chars:
                continue
            if max_chars is not None and len(plain) > max_chars:
                cut = plain.rfind("\n\n", 0, max_chars)
                plain = plain[: cut if cut > max_chars // 2 else max_chars]
            docs[title] = plain
            if max_articles is not None and len(docs) >= max_articles:
                break
    return docs


register(Asset("rag-corpus", "text", "-", "gensim (enwiki sample) + babel (CLDR country cards)",
               prepare=lambda: len(country_cards()) and "built", note="8.3's documents and questions"))
