"""What the week-2 notebooks must report in the smoke profile (read by tests/test_notebooks.py).

Equalities with an oracle are maximum differences within float rounding; losses sit in
ranges a correct run reaches and a broken one (no training, a wrong loss) does not.
"""

import math

EXPECT = {
    "2.1": {
        "max_diff_fp32": (0.0, 1e-5),  # your sdpa vs torch's, float32
        "max_diff_bf16": (0.0, 5e-2),  # the library's vs torch's, bfloat16 (8-bit mantissa)
        "minilm_layer0_diff": (0.0, 1e-4),  # MiniLM's attention weights recomputed
        "minilm_context_diff": (0.0, 1e-4),  # and its attention output
        "tiled_max_diff": (0.0, 1e-4),  # tiled (online-softmax) attention vs torch
        "peak_weight_unscaled": (0.5, 1.0),  # d_k = 1024 without 1/sqrt(d_k): near one-hot
        "peak_weight_scaled": (1 / 32, 0.5),  # with it: spread out
    },
    "2.2": {
        "initial_loss": (4.0, 4.6),  # close to ln V = ln 74 = 4.30 for the character vocabulary
        "val_loss": (1.5, 3.9),  # 40 smoke steps already move it well below ln V
        "library_logits_diff": (0.0, 1e-4),  # your GPT == llmcourse.models.GPT with the same weights
        "impl_max_diff": (0.0, 1e-4),  # attn_impl "ours" == "sdpa"
        "from_hf_max_diff": (0.0, 1e-3),  # GPT.from_hf == transformers' GPT-2
        "bits_per_char_char": (1.0, 6.0),  # below log2(74) = 6.2, the uniform guess
        "bits_per_char_bpe": (1.0, 6.0),
        "bits_per_char_yours": (1.0, 6.0),
        "seeds": 1,
    },
}
