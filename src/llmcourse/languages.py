"""The course's languages, in one table: codes, names, scripts, and each library's code for them.

English and six languages of Southeast Asia. Every library spells them its own way: Babel
(the Unicode CLDR) files Tagalog under Filipino ("fil"), wordfreq has no Thai, MTEB and
NLLB use ISO 639-3 plus the script ("tgl-Latn", "tgl_Latn"), Malay in ISO 639-3 is "zsm"
(Standard Malay). Everything that needs a language (the multilingual sample, the names of
makemore, the tokenizer comparison, the embedding tasks, translation) looks it up here:

    >>> from llmcourse.languages import LANGUAGES, language
    >>> language("th").script, language("th").spaced, language("tl").cldr
    ('Thai', False, 'fil')

`language()` also accepts the other libraries' codes ("fil", "tgl", "tha_Thai"...) and
returns the course's entry, so a code read from a data set finds its language.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LANGUAGES", "Language", "TABLE", "language", "language_names", "script_block"]


@dataclass(frozen=True)
class Language:
    """One language and its codes in each library the course uses."""

    code: str  # the course's code: ISO 639-1 ("tl" for Tagalog)
    name: str  # English name
    script: str  # ISO 15924 script code: Latn, Thai, Taml
    spaced: bool  # are words separated by spaces? (Thai: no)
    cldr: str  # Babel / Unicode CLDR locale
    wordfreq: str | None  # wordfreq language code (None: wordfreq has no list; Thai uses PyThaiNLP's corpus)
    faker: tuple[str, ...]  # Faker locales, the first one for running text
    mteb: str  # MTEB language code, ISO 639-3 + script
    nllb: str  # NLLB / FLORES-200 code

    @property
    def iso639_3(self) -> str:
        return self.mteb.split("-")[0]


TABLE: dict[str, Language] = {lang.code: lang for lang in (
    Language("en", "English", "Latn", True, "en", "en", ("en_US", "en", "en_GB"), "eng-Latn", "eng_Latn"),
    Language("id", "Indonesian", "Latn", True, "id", "id", ("id_ID",), "ind-Latn", "ind_Latn"),
    Language("ms", "Malay", "Latn", True, "ms", "ms", ("en_MS",), "zsm-Latn", "zsm_Latn"),
    Language("th", "Thai", "Thai", False, "th", None, ("th_TH",), "tha-Thai", "tha_Thai"),
    Language("vi", "Vietnamese", "Latn", True, "vi", "vi", ("vi_VN",), "vie-Latn", "vie_Latn"),
    Language("tl", "Tagalog", "Latn", True, "fil", "fil", ("fil_PH",), "tgl-Latn", "tgl_Latn"),
    Language("ta", "Tamil", "Taml", True, "ta", "ta", ("ta_IN",), "tam-Taml", "tam_Taml"),
)}

LANGUAGES: tuple[str, ...] = tuple(TABLE)  # course order: English first, then the region

# Unicode blocks of the non-Latin scripts (inclusive code point ranges)
_BLOCKS: dict[str, tuple[int, int]] = {"Thai": (0x0E00, 0x0E7F), "Taml": (0x0B80, 0x0BFF)}

# every other spelling of a course language -> its course code
_ALIASES: dict[str, str] = {}
for _lang in TABLE.values():
    for _other in (_lang.cldr, _lang.wordfreq, _lang.mteb, _lang.nllb, _lang.iso639_3, *_lang.faker):
        if _other and _other not in TABLE:
            _ALIASES.setdefault(_other, _lang.code)


def language(code: str) -> Language:
    """The course's entry for `code` (a course code, or any library's code for the same language)."""
    if isinstance(code, Language):
        return code
    if code in TABLE:
        return TABLE[code]
    if isinstance(code, str) and code in _ALIASES:
        return TABLE[_ALIASES[code]]
    raise ValueError(f"unknown language {code!r}; the course's languages are "
                     + ", ".join(f"{c} ({lang.name})" for c, lang in TABLE.items()))


def language_names(codes=LANGUAGES) -> dict[str, str]:
    """{code: English name} for `codes`."""
    return {language(c).code: language(c).name for c in codes}


def script_block(code: str) -> tuple[int, int] | None:
    """The Unicode block of the language's script (None for Latin, which spans several blocks)."""
    return _BLOCKS.get(language(code).script)
