"""MTEB, the Massive Text Embedding Benchmark, on tasks built in memory (offline) or from the Hub.

MTEB scores a sentence encoder on many task *types*, each with its own recipe:

| type | data | what the encoder must do | main score |
| --- | --- | --- | --- |
| STS | sentence pairs with a similarity rating | cosine follows the ratings | Spearman |
| BitextMining | the same sentences in two languages | each sentence's nearest neighbour is its translation | F1 |
| Retrieval | queries, documents, relevance | relevant documents rank first | nDCG@10 |
| Classification | labelled texts | a logistic regression on the embeddings works | accuracy |
| Clustering | labelled texts | k-means on the embeddings finds the labels | V-measure |

The `mteb` package runs these recipes; a task only has to say what it is (`TaskMetadata`)
and fill `self.dataset` in `load_data()`. Here `load_data()` builds the data from offline
assets instead of downloading it, so the *real* evaluator runs with no network:

* `LeeDocumentSTS` (English): Lee's 50 news stories, 1,225 pairs rated by people.
* `SeaFactSTS`: an English (territory, month, weekday) fact against a fact in language L
  that shares 0-3 of its slots; the score is the number of shared slots.
* `SeaBitextMining`: the same facts in English and in L.
* `SeaCountryRetrieval`: the name of a country in L must find its English fact card.
* `SeaNameClassification` / `SeaNameClustering`: is a name in L a country, a language or a
  currency?

All non-English text comes from the Unicode CLDR (see `llmcourse.assets.embedding_data`),
in Indonesian, Malay, Thai, Vietnamese, Tagalog and Tamil, and all labels are computed.
`hub_tasks()` returns real MTEB tasks for the same languages (Tatoeba, SIB-200,
STSBenchmark) for when the Hugging Face Hub answers.
"""

from __future__ import annotations

import contextlib
import math
import random
import warnings
from typing import Any, Iterable, Sequence

from llmcourse.assets import embedding_data as data
from llmcourse.assets.registry import require
from llmcourse.languages import LANGUAGES, language

_mteb = require("mteb", "mteb")
from datasets import Dataset  # noqa: E402
from mteb.abstasks.classification import AbsTaskClassification  # noqa: E402
from mteb.abstasks.clustering import AbsTaskClustering  # noqa: E402
from mteb.abstasks.retrieval import AbsTaskRetrieval  # noqa: E402
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData  # noqa: E402
from mteb.abstasks.sts import AbsTaskSTS  # noqa: E402
from mteb.abstasks.task_metadata import TaskMetadata  # noqa: E402
from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining  # noqa: E402

LANGS = LANGUAGES  # the course's languages: ("en", "id", "ms", "th", "vi", "tl", "ta")


def iso3(lang: str) -> str:
    """"th" -> "tha" (the language part of the MTEB code)."""
    return language(lang).iso639_3


def _check_langs(langs: Iterable[str]) -> list[str]:
    langs = list(langs)
    bad = [l for l in langs if l not in LANGS]
    if bad or not langs:
        raise ValueError(f"languages {bad or '(none)'}: choose from {', '.join(LANGS)}")
    return langs


def _metadata(name: str, type_: str, main_score: str, description: str, eval_langs: Any,
              reference: str = "https://cldr.unicode.org", domains: list[str] | None = None) -> TaskMetadata:
    return TaskMetadata(
        name=name, type=type_, main_score=main_score, description=description, reference=reference,
        dataset={"path": "llmcourse/in-memory", "revision": "1"}, category="t2t", modalities=["text"],
        eval_splits=["test"], eval_langs=eval_langs, date=("2024-01-01", "2024-12-31"), dialect=[],
        domains=domains or ["Written"], task_subtypes=[], license="cc-by-4.0", annotations_creators="derived",
        sample_creation="created", bibtex_citation="",
    )


def _all_pairs() -> dict[str, list[str]]:
    return {f"eng-{iso3(l)}": ["eng-Latn", language(l).mteb] for l in LANGS}


def _per_lang() -> dict[str, list[str]]:
    return {iso3(l): [language(l).mteb] for l in LANGS}


class _InMemory:
    """Common constructor: which languages, how many items, which seed."""

    def __init__(self, langs: Sequence[str] = LANGS, n: int = 64, seed: int = 0, **kwargs: Any):
        super().__init__(seed=seed, **kwargs)  # type: ignore[call-arg]
        self.langs = _check_langs(langs)
        if n < 4:
            raise ValueError(f"n={n}: a task needs at least 4 items")
        self.n = n
        self.data_seed = seed
        subsets = self._subsets()
        self.hf_subsets = [s for s in self.metadata.hf_subsets if s in subsets]
        if not self.hf_subsets:
            raise ValueError(f"{self.metadata.name} has no subset for languages {self.langs}")

    def _subsets(self) -> set[str]:
        return {iso3(l) for l in self.langs} | {f"eng-{iso3(l)}" for l in self.langs}


class LeeDocumentSTS(_InMemory, AbsTaskSTS):
    """English STS with human ratings: Lee's news stories (n = number of stories, at most 50)."""

    metadata = _metadata("LeeDocumentSTS", "STS", "cosine_spearman",
                         "Pairs of 50 short news stories rated for similarity by people (Lee et al., 2005).",
                         ["eng-Latn"], reference="https://github.com/piskvorky/gensim", domains=["News", "Written"])
    min_score, max_score = 0, 1

    def _subsets(self) -> set[str]:
        return {"default"}

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        lee = data.lee_sts()
        keep = [p for p in lee.pairs if p[0] < self.n and p[1] < self.n]
        self.dataset = {"test": Dataset.from_dict({
            "sentence1": [lee.documents[i] for i, _, _ in keep],
            "sentence2": [lee.documents[j] for _, j, _ in keep],
            "score": [s for _, _, s in keep]})}
        self.data_loaded = True


class SeaFactSTS(_InMemory, AbsTaskSTS):
    """Cross-lingual STS: an English fact vs. a fact in L sharing 0-3 slots (score = shared slots)."""

    metadata = _metadata("SeaFactSTS", "STS", "cosine_spearman",
                         "English (territory, month, weekday) facts paired with facts in a SEA language that "
                         "share 0 to 3 of the slots; the gold score is the number of shared slots.", _all_pairs())
    min_score, max_score = 0, 3

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        facts = data.sample_facts(self.n, seed=self.data_seed)
        rng = random.Random(self.data_seed + 1)
        others = [data.perturb_fact(f, i % 4, rng) for i, f in enumerate(facts)]
        self.dataset = {}
        for lang in self.langs:
            self.dataset[f"eng-{iso3(lang)}"] = {"test": Dataset.from_dict({
                "sentence1": [data.fact_text(f, "en") for f in facts],
                "sentence2": [data.fact_text(o, lang) for o in others],
                "score": [i % 4 for i in range(len(facts))]})}
        self.data_loaded = True


class SeaBitextMining(_InMemory, AbsTaskBitextMining):
    """The same facts in English and in language L: find each one's translation."""

    metadata = _metadata("SeaBitextMining", "BitextMining", "f1",
                         "Parallel (territory, month, weekday) facts written from CLDR names in English and a SEA "
                         "language.", {k: v for k, v in _all_pairs().items() if k != "eng-eng"})

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        facts = data.sample_facts(self.n, seed=self.data_seed)
        self.dataset = {f"eng-{iso3(l)}": {"test": Dataset.from_dict({
            "sentence1": [data.fact_text(f, "en") for f in facts],
            "sentence2": [data.fact_text(f, l) for f in facts]})} for l in self.langs if l != "en"}
        self.data_loaded = True


class SeaCountryRetrieval(_InMemory, AbsTaskRetrieval):
    """Query: a country's name in L. Corpus: English fact cards (name, currency, languages)."""

    metadata = _metadata("SeaCountryRetrieval", "Retrieval", "ndcg_at_10",
                         "Find the English fact card of a country from its name in a SEA language.", _per_lang())

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        names = data.parallel_names("territory")
        codes = random.Random(self.data_seed).sample(sorted(names), min(self.n, len(names)))
        corpus = Dataset.from_list([{"id": f"d-{c}", "title": "", "text": data.territory_card(c)} for c in codes])
        self.dataset = {}
        for lang in self.langs:
            queries = Dataset.from_list([{"id": f"q-{c}", "text": names[c][lang]} for c in codes])
            self.dataset[iso3(lang)] = {"test": RetrievalSplitData(
                corpus=corpus, queries=queries, relevant_docs={f"q-{c}": {f"d-{c}": 1} for c in codes},
                top_ranked=None)}
        self.data_loaded = True


KINDS = ("territory", "language", "currency")


class SeaNameClassification(_InMemory, AbsTaskClassification):
    """Is this name (in language L) a country, a language or a currency? n names of each kind."""

    metadata = _metadata("SeaNameClassification", "Classification", "accuracy",
                         "Classify CLDR names in a SEA language as a territory, a language or a currency name.",
                         _per_lang())
    n_experiments = 3

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        self.samples_per_label = self.n // 2  # use the whole training half in every experiment
        self.dataset = {}
        for lang in self.langs:
            items = data.name_catalogue(lang, self.n, seed=self.data_seed, kinds=KINDS)
            train = [(t, KINDS.index(k)) for i, (t, k) in enumerate(items) if i % 2 == 0]
            test = [(t, KINDS.index(k)) for i, (t, k) in enumerate(items) if i % 2 == 1]
            self.dataset[iso3(lang)] = {
                "train": Dataset.from_dict({"text": [t for t, _ in train], "label": [y for _, y in train]}),
                "test": Dataset.from_dict({"text": [t for t, _ in test], "label": [y for _, y in test]})}
        self.data_loaded = True


class SeaNameClustering(_InMemory, AbsTaskClustering):
    """Cluster names in language L into countries, languages and currencies (k-means, V-measure)."""

    metadata = _metadata("SeaNameClustering", "Clustering", "v_measure",
                         "Cluster CLDR names in a SEA language into territory, language and currency names.",
                         _per_lang())
    max_fraction_of_documents_to_embed = None
    max_document_to_embed = None
    n_clusters = 5  # k-means runs on resamples of the data; scores are averaged

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        self.max_documents_per_cluster = len(KINDS) * self.n
        self.dataset = {}
        for lang in self.langs:
            items = data.name_catalogue(lang, self.n, seed=self.data_seed + 7, kinds=KINDS)
            self.dataset[iso3(lang)] = {"test": Dataset.from_dict({
                "sentences": [t for t, _ in items], "labels": [KINDS.index(k) for _, k in items]})}
        self.data_loaded = True


def offline_tasks(langs: Sequence[str] = LANGS, n: int = 64, lee_docs: int = 50, seed: int = 0) -> list:
    """Every in-memory task for `langs`, with `n` items per language (per kind for names)."""
    langs = _check_langs(langs)
    tasks: list = [LeeDocumentSTS(langs=["en"], n=min(lee_docs, 50), seed=seed)]
    tasks += [cls(langs=langs, n=n, seed=seed) for cls in (SeaFactSTS, SeaCountryRetrieval,
                                                           SeaNameClassification, SeaNameClustering)]
    if [l for l in langs if l != "en"]:
        tasks.insert(2, SeaBitextMining(langs=langs, n=n, seed=seed))
    return tasks


def hub_tasks(langs: Sequence[str] = LANGS) -> list:
    """Real MTEB tasks for the same languages (need the Hugging Face Hub to load their data).

    Tatoeba (bitext mining with English), SIB-200 (topic classification and clustering of
    Flores sentences) and, for English, STSBenchmark.
    """
    langs = _check_langs(langs)
    codes = [language(l).nllb for l in langs]  # "tha_Thai": SIB-200 uses FLORES-200 codes
    tasks = []
    if "en" in langs:
        tasks.append(_mteb.get_task("STSBenchmark"))
    tatoeba = [f"{iso3(l)}-eng" for l in langs if l != "en"]
    if tatoeba:
        tasks.append(_mteb.get_task("Tatoeba", hf_subsets=tatoeba))
    tasks.append(_mteb.get_task("SIB200Classification", hf_subsets=codes))
    tasks.append(_mteb.get_task("SIB200ClusteringS2S", hf_subsets=codes))
    return tasks


@contextlib.contextmanager
def _quiet_datasets():
    """Silence the datasets library's progress bars while mteb builds its loaders."""
    import datasets

    was = datasets.utils.logging.is_progress_bar_enabled()
    datasets.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            datasets.utils.logging.enable_progress_bar()


LANG_OF_ISO3 = {iso3(l): l for l in LANGS}


def _lang_of_subset(subset: str) -> str:
    """"eng-tha" / "tha" / "tha-eng" / "tha_Thai" -> "th"; anything else unchanged."""
    parts = [p.split("_")[0] for p in subset.replace("-", " ").split()]
    other = [p for p in parts if p != "eng"] or parts
    return LANG_OF_ISO3.get(other[0], subset) if other else subset


def run_mteb(encoders: Sequence, tasks: Sequence, batch_size: int = 64) -> list[dict[str, Any]]:
    """Run the real mteb evaluator: one row per (model, task, language) with the task's main score.

    Nothing is cached on disk (`cache=None`); failures raise.
    """
    if not encoders or not tasks:
        raise ValueError("give at least one encoder and one task")
    rows = []
    for enc in encoders:
        with _quiet_datasets(), warnings.catch_warnings():
            # tiny tasks trip sklearn/scipy warnings (a constant prediction, an empty class): the
            # scores are still defined (0 or nan), so keep the output readable
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            result = _mteb.evaluate(enc, list(tasks), cache=None, show_progress_bar=False,
                                    encode_kwargs={"batch_size": batch_size, "show_progress_bar": False})
        for tr in result.task_results:
            for split, scores in tr.scores.items():
                for s in scores:
                    value = s.get("main_score", float("nan"))
                    task = _task_named(tasks, tr.task_name)
                    subset = s["hf_subset"]
                    if subset == "default":  # a one-language task: its language
                        subset = str(task.metadata.eval_langs[0]).split("-")[0] if task is not None else subset
                    rows.append({"model": getattr(enc, "name", None) or str(enc.mteb_model_meta.name),
                                 "task": tr.task_name, "type": str(task.metadata.type) if task is not None else "?",
                                 "subset": s["hf_subset"], "lang": _lang_of_subset(subset),
                                 "split": split, "score": float(value) if value is not None else float("nan")})
    return rows


def _task_named(tasks: Sequence, name: str):
    return next((t for t in tasks if t.metadata.name == name), None)


def scores_table(rows: Sequence[dict[str, Any]], lang_order: Sequence[str] = LANGS):
    """A pandas table: one row per (task, model), one column per language, plus the mean."""
    pd = require("pandas")
    df = pd.DataFrame(list(rows))
    table = df.pivot_table(index=["task", "model"], columns="lang", values="score", aggfunc="mean")
    cols = [l for l in lang_order if l in table.columns] + [c for c in table.columns if c not in lang_order]
    table = table[cols]
    table["mean"] = table.mean(axis=1)
    return table


def chance_level(task_type: str, n: int, classes: int = len(KINDS)) -> float:
    """Score of a random encoder, roughly: what to compare a score with."""
    if task_type == "BitextMining":
        return 1 / n
    if task_type == "Retrieval":  # nDCG@10 of one relevant doc at a uniformly random rank
        return sum(1 / math.log2(r + 1) for r in range(1, min(10, n) + 1)) / n
    if task_type == "Classification":
        return 1 / classes
    return 0.0  # Spearman, V-measure
