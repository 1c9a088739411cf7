"""Character-level language models on names (makemore): counts, an MLP, and backprop by hand.

* `vocab`   -- CharVocab: the alphabet with "." as the start/end token
* `counts`  -- NGramModel: bigram/trigram tables, add-k smoothing, sampling, average NLL
* `mlp`     -- a Bengio-style MLP language model and its training loop
* `manual_backprop` -- every gradient of that MLP by hand, and `cmp()` against autograd
* `diagnostics` -- activation/gradient statistics per layer, initialisations, learning-rate sweeps

The names themselves come from `llmcourse.assets.names` (English, Indonesian, Tamil, Thai).
"""

from llmcourse.assets.names import load_names, read_names
from llmcourse.ngram.counts import NGramModel, average_nll, bigram_counts, ngram_windows
from llmcourse.ngram.diagnostics import (
    DeepMLP, LayerStats, TrainStats, init_default, init_kaiming, init_randn, layer_stats, lr_sweep, train_with_stats,
)
from llmcourse.ngram.manual_backprop import CmpResult, cmp, compare_with_autograd
from llmcourse.ngram.mlp import MLPLanguageModel, TrainHistory, build_dataset, evaluate_nll, sample_mlp, train_mlp
from llmcourse.ngram.vocab import BOUNDARY, CharVocab, UnknownCharacterError

__all__ = [
    "BOUNDARY", "CharVocab", "CmpResult", "DeepMLP", "LayerStats", "MLPLanguageModel", "NGramModel", "TrainHistory",
    "TrainStats", "UnknownCharacterError", "average_nll", "bigram_counts", "build_dataset", "cmp",
    "compare_with_autograd", "evaluate_nll", "init_default", "init_kaiming", "init_randn", "layer_stats",
    "load_names", "lr_sweep", "ngram_windows", "read_names", "sample_mlp", "train_mlp", "train_with_stats",
]
