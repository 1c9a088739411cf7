"""Multilingual sample text, offline: English and six Southeast Asian languages.

There is no big multilingual corpus on PyPI, but there are good ingredients:

* word frequencies: `wordfreq` (en, id, ms, vi, fil, ta) and PyThaiNLP's Thai National
  Corpus counts (Thai, which wordfreq lacks);
* names and places for each locale: `Faker` (id_ID, th_TH, vi_VN, fil_PH, ta_IN, en_MS);
* real phrases in each language from the Unicode CLDR through `Babel`: full dates
  ("Selasa, 05 Maret 2024"), numbers with the local separators, country names.

`multilingual_sample(lang, n_chars)` strings these together into sentences: words drawn
with their corpus frequency (so "yang" and "dan" are as common as in Indonesian text), a
name, place or CLDR phrase now and then, capitals and punctuation where the script has
them. Thai is written the Thai way: no spaces between words, a space between sentences.
The text is not grammatical, but its word distribution is that of the language, which is
what tokenizer statistics (tokens per word, bytes per token) depend on.

Everything is deterministic: the same (lang, n_chars, seed) gives the same string on every
machine with the same package versions. Different seeds give different text, so you can
train on seed 0 and measure on seed 1.

    >>> from llmcourse.assets.multilingual import LANGUAGES, multilingual_sample, count_words
    >>> text = multilingual_sample("id", 2_000)          # about 2,000 characters of Indonesian
    >>> count_words(text, "id")                         # words (Thai: PyThaiNLP's segmenter)
"""

from __future__ import annotations

import datetime
import random
import re
import unicodedata
from functools import lru_cache

from llmcourse.assets.registry import Asset, AssetError, register, require
from llmcourse.languages import LANGUAGES, language, language_names

WORDS_PER_LANGUAGE = 20_000  # the most frequent words kept per language
# which language, and where each ingredient comes from: the course's one table (llmcourse.languages)
LANGUAGE_NAMES: dict[str, str] = language_names(LANGUAGES)


def _check_lang(lang: str) -> str:
    """The course code of `lang` (ValueError naming the languages when it is not one)."""
    return language(lang).code


def _is_word(w: str) -> bool:
    """Letters and combining marks only (Thai and Tamil vowel signs are marks, not letters)."""
    return bool(w) and all(unicodedata.category(c)[0] in "LM" for c in w)


def _is_thai(w: str) -> bool:
    return bool(w) and all("\u0e00" <= c <= "\u0e7f" for c in w)


@lru_cache(maxsize=None)
def word_frequencies(lang: str, n: int = WORDS_PER_LANGUAGE) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The `n` most frequent words of `lang` and their relative frequencies (summing to 1)."""
    lang = _check_lang(lang)
    if language(lang).wordfreq is None:  # Thai: PyThaiNLP's Thai National Corpus
        tnc = require("pythainlp.corpus.tnc", "pythainlp")
        counts = sorted(((w, c) for w, c in tnc.word_freqs() if _is_thai(w)), key=lambda wc: (-wc[1], wc[0]))
        pairs = [(w, float(c)) for w, c in counts[:n]]
    else:
        wordfreq = require("wordfreq")
        pairs = []
        # get_frequency_list: buckets of words, bucket i has frequency 10**(-i/100)
        for i, bucket in enumerate(wordfreq.get_frequency_list(language(lang).wordfreq)):
            pairs.extend((w, 10 ** (-i / 100)) for w in bucket if _is_word(w))
            if len(pairs) >= n:
                break
        pairs = pairs[:n]
    if not pairs:
        raise AssetError(f"no word list for {lang!r}; reinstall wordfreq / pythainlp (pip install -U wordfreq pythainlp)")
    total = sum(f for _, f in pairs)
    return tuple(w for w, _ in pairs), tuple(f / total for _, f in pairs)


@lru_cache(maxsize=None)
def _phrases(lang: str, seed: int) -> tuple[str, ...]:
    """Names, places, dates, numbers and country names in `lang` (Faker + CLDR via Babel)."""
    faker = require("faker", "Faker")
    babel_dates = require("babel.dates", "Babel")
    babel_numbers = require("babel.numbers", "Babel")
    babel = require("babel", "Babel")
    rng = random.Random(f"phrases:{lang}:{seed}")
    fake = faker.Faker(language(lang).faker[0])
    fake.seed_instance(seed)
    out: list[str] = []
    for _ in range(150):
        out.append(fake.name() if lang != "ms" else fake.city())
        out.append(fake.city())
    loc = language(lang).cldr
    countries = sorted(babel.Locale.parse(loc).territories.values())
    day0 = datetime.date(1990, 1, 1)
    for _ in range(150):
        day = day0 + datetime.timedelta(days=rng.randrange(20_000))
        out.append(babel_dates.format_date(day, format=rng.choice(["full", "long"]), locale=loc))
        out.append(babel_numbers.format_decimal(round(rng.lognormvariate(6, 3), rng.choice([0, 0, 2])), locale=loc))
        out.append(rng.choice(countries))
    return tuple(out)


def _sentence(rng: random.Random, lang: str, words, cum, phrases) -> str:
    n = rng.randint(4, 16)
    toks = rng.choices(words, cum_weights=cum, k=n)
    if rng.random() < 0.35:
        toks.insert(rng.randrange(len(toks) + 1), rng.choice(phrases))
    if not language(lang).spaced:
        return "".join(toks)
    for i in range(len(toks) - 1):
        if rng.random() < 0.07:
            toks[i] += ","
    s = " ".join(toks)
    end = rng.choices([".", "?", "!"], weights=[85, 10, 5])[0]
    return s[:1].upper() + s[1:] + end


@lru_cache(maxsize=64)
def multilingual_sample(lang: str, n_chars: int = 10_000, seed: int = 0) -> str:
    """About `n_chars` characters of text in `lang` (one of LANGUAGES), the same for the same seed.

    Sentences of 4 to 16 words drawn with their corpus frequency, with names, places,
    dates and numbers mixed in; a newline after every few sentences; cut at a space so
    no word is broken (so the result can be a little shorter than `n_chars`).
    """
    lang = _check_lang(lang)
    if n_chars <= 0:
        raise ValueError(f"n_chars must be positive, got {n_chars}")
    words, freqs = word_frequencies(lang)
    cum, acc = [], 0.0
    for f in freqs:
        acc += f
        cum.append(acc)
    phrases = _phrases(lang, seed)
    rng = random.Random(f"text:{lang}:{seed}")
    parts: list[str] = []
    size = 0
    while size < n_chars + 1:
        s = _sentence(rng, lang, words, cum, phrases)
        sep = "\n" if rng.random() < 0.2 else " "
        parts.append(s + sep)
        size += len(s) + 1
    text = "".join(parts)[: n_chars + 1]
    cut = max(text.rfind(" "), text.rfind("\n"))
    return text[:cut] if cut > 0 else text[:n_chars]


def multilingual_corpus(n_chars: int = 10_000, seed: int = 0,
                        languages: tuple[str, ...] | list[str] = LANGUAGES) -> dict[str, str]:
    """`{lang: multilingual_sample(lang, n_chars, seed)}` for every language."""
    return {lang: multilingual_sample(lang, n_chars, seed) for lang in languages}


_SPACES = re.compile(r"\s+")


def split_words(text: str, lang: str) -> list[str]:
    """Words of `text`: whitespace-separated, except Thai, segmented with PyThaiNLP (newmm).

    Punctuation stays attached to its word, so "tokens per word" counts it like a word part.
    """
    lang = _check_lang(lang)
    if not language(lang).spaced:
        pythainlp = require("pythainlp")
        return [w for w in pythainlp.word_tokenize(text, engine="newmm") if w.strip()]
    return [w for w in _SPACES.split(text) if w]


def count_words(text: str, lang: str) -> int:
    """How many words `text` has (see `split_words`); the denominator of fertility."""
    return len(split_words(text, lang))


register(Asset(
    name="multilingual-sample", kind="text", online="-",
    offline="wordfreq, pythainlp, Faker, Babel",
    cached=lambda: True,
    note=f"generated on demand: {', '.join(LANGUAGE_NAMES.values())}",
))
