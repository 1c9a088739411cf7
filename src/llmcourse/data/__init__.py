"""Data pipeline (week 4): cleaning OCR-ed text, quality filters, language ID, deduplication,
language sampling, token shards and a memory-mapped DataLoader."""

from llmcourse.data.cleaning import (CLEANING_STEPS, clean_ocr, dehyphenate, fix_whitespace, is_page_number,
                                     normalize_unicode, strip_page_furniture, unwrap_lines)
from llmcourse.data.dedup import (MinHash, exact_duplicates, fmix32, jaccard, jaccard_estimate, lsh_buckets,
                                  lsh_params, minhash_of_mixed, near_duplicates, permutations, shingle_hashes, shingles)
from llmcourse.data.io import DocumentError, decode_bytes, read_document
from llmcourse.data.langid import CharNgramLangID, char_ngrams, detect_language, nb_fit
from llmcourse.data.loader import ShardBatchSampler, datasets_loader, loader_throughput, make_loader
from llmcourse.data.mixing import mixture_table, sample_by_language, temperature_weights
from llmcourse.data.pipeline import PipelineReport, filter_documents
from llmcourse.data.quality import c4_filter, gopher_filter, gopher_quality, gopher_repetition
from llmcourse.data.shards import (ShardError, ShardSet, TokenShardDataset, read_manifest, tokenizer_fingerprint,
                                   write_shards)

__all__ = [
    "CLEANING_STEPS", "CharNgramLangID", "DocumentError", "MinHash", "PipelineReport", "ShardBatchSampler",
    "ShardError", "ShardSet", "TokenShardDataset", "c4_filter", "char_ngrams", "clean_ocr", "datasets_loader",
    "decode_bytes", "dehyphenate", "detect_language", "exact_duplicates", "filter_documents", "fix_whitespace",
    "fmix32", "gopher_filter", "gopher_quality", "gopher_repetition", "is_page_number", "jaccard",
    "jaccard_estimate", "loader_throughput", "lsh_buckets", "lsh_params", "make_loader", "minhash_of_mixed",
    "mixture_table", "nb_fit", "near_duplicates", "normalize_unicode", "permutations", "read_document",
    "read_manifest", "sample_by_language", "shingle_hashes", "shingles", "strip_page_furniture",
    "temperature_weights", "tokenizer_fingerprint", "unwrap_lines", "write_shards",
]
