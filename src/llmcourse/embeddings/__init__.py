"""Embeddings: static word vectors, contextual token vectors, sentence encoders and MTEB.

* `vectors`     WordVectors: cosine neighbours, 3CosAdd analogies, 2-D projections
* `word2vec`    skip-gram with negative sampling from scratch (and gensim on the same settings)
* `evaluation`  WordSim-353 Spearman and analogy accuracy (gensim's rules, vectorised)
* `glove`       GloVe 6B 50d, offline
* `contextual`  hidden states of a word in context (MiniLM, Gemma), sense separation
* `encoders`    MiniLM, multilingual E5 and averaged word vectors behind mteb's encoder interface
* `mteb_tasks`  MTEB tasks built in memory (STS, bitext, retrieval, classification, clustering)

`encoders` and `mteb_tasks` import mteb (a few seconds), so they are not imported here.
"""

from llmcourse.embeddings.vectors import (
    UnknownWordError, WordVectors, analogy_index, cosine_topk, project_2d, top_k_cosine,
)
from llmcourse.embeddings.word2vec import (
    SkipGram, Vocab, Word2VecConfig, keep_probabilities, negative_table, sgns_grads, sgns_loss, skipgram_pairs,
    train_gensim, train_word2vec,
)

__all__ = [
    "SkipGram", "UnknownWordError", "Vocab", "Word2VecConfig", "WordVectors", "analogy_index", "cosine_topk",
    "keep_probabilities", "negative_table", "project_2d", "sgns_grads", "sgns_loss", "skipgram_pairs",
    "top_k_cosine", "train_gensim", "train_word2vec",
]
