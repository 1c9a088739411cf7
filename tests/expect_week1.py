"""What the smoke runs of week 1's notebooks must report (read by tests/test_notebooks.py).

Equality flags must be true; numbers must sit in ranges that a broken notebook would leave.
Speeds are only required to be positive: the smoke run shares its cores (see 1.1's
`timing_reliable`), so no speed ratio is asserted here (benchmarks/bench_runtimes.py does that).
"""


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and x > 0


def _is_bool(x) -> bool:
    return isinstance(x, bool)


EXPECT = {
    "1.1": {
        "decoding_matches_generate": True,  # greedy, beam and three samplers == generate(), token for token
        "llamacpp_min_logit_cosine": (0.99, 1.0),  # the same GGUF in two runtimes: the same function
        "weight_bytes_ratio": (3.0, 10.0),  # float32 copy vs the Q4_K_M file
        "hf_tokens_per_s": _positive,
        "llamacpp_tokens_per_s": _positive,
        "server_tokens_per_s": _positive,
        "timing_reliable": _is_bool,
    },
    "1.2": {
        "learner_merges_equal_fast": True,  # your naive training loop == the incremental trainer, merge for merge
        "learner_encode_equals_tiktoken": True,  # your encode with your merges == tiktoken's BPE with them
        "round_trip_all_languages": True,
        "tiktoken_parity": True,  # RegexTokenizer.from_tiktoken encodes exactly as tiktoken
        "course_tokenizer_vocab": 512,  # the smoke profile's course GPT vocabulary
        "course_tokenizer_reloaded_equal": True,
        "fertility_th_gpt2": (3.0, 40.0),  # GPT-2 shreds Thai
        "fertility_en_ours": (1.0, 5.0),
        "fast_vs_naive_speedup": (1.0, 10_000.0),
        "logit_change_old_tokens": (0.0, 1e-4),
    },
    "1.3": {
        "learner_topk_equals_library": True,
        "minilm_reproduced": True,  # our pooling of MiniLM's hidden states == sentence-transformers' embedding
        "w2v_ours_wordsim": (-0.5, 1.0),
        "w2v_gensim_wordsim": (-0.5, 1.0),
        "glove_wordsim": (0.3, 0.8),  # GloVe 6B 50d on WordSim-353 (about 0.5)
        "glove_analogy": (0.2, 0.9),
        "clip_chance": (0.08, 0.09),  # 1/12
        "clip_final_loss": (0.0, 6.0),
        "bitext_th_e5": (0.0, 1.0),
    },
}
