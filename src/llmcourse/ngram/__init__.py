"""Character-level language models on names (makemore): counts, an MLP, and backprop by hand.

* `vocab`   -- CharVocab: the alphabet with "." as the start/end token
* `counts`  -- NGramModel: bigram/trigram tables, add-k smoothing, sampling, average NLL
* `mlp`     -- a Bengio-style MLP language model and its training loop
* `manual_backprop` -- every gradient of that MLP by hand, and `cmp()` against autograd

The names themselves come from `llmcourse.assets.names` (English, Indonesian, Tamil, Thai).
"""

from llmcourse.assets.names import load_names, read_names
from llmcourse.ngram.counts import NGramModel, ngram_windows
from llmcourse.ngram.manual_backprop import CmpResult, cmp, compare_with_autograd
from llmcourse.ngram.mlp import MLPLanguageModel, TrainHistory, build_dataset, evaluate_nll, sample_mlp, train_mlp
from llmcourse.ngram.vocab import BOUNDARY, CharVocab, UnknownCharacterError

__all__ = [
    "BOUNDARY", "CharVocab", "CmpResult", "MLPLanguageModel", "NGramModel", "UnknownCharacterError",
    "build_dataset", "cmp", "compare_with_autograd", "evaluate_nll", "load_names", "ngram_windows",
    "read_names", "sample_mlp", "train_mlp", "TrainHistory",
]
