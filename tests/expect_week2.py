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
    "2.3": {
        "en_bigram_dev": (2.3, 2.6),  # counted and smoothed: deterministic
        "en_trigram_dev": (2.0, 2.4),
        "th_trigram_dev": (2.0, 2.6),
        "en_mlp_dev": (2.0, 3.3),  # a few hundred smoke steps: below log V = 3.30, not yet below the trigram
        "manual_backprop_max_diff": (0.0, 1e-10),  # your gradients == autograd's (float64)
        "fast_backward_diff": (0.0, 1e-10),  # the fused backward == the step-by-step one
        "manual_train_loss_first": (3.0, 3.6),  # about log 27 = 3.30 at the start
        "manual_train_loss": (1.5, 3.1),  # and lower after training with hand-made gradients
        "kaiming_layer4_std": (0.5, 0.9),  # the signal keeps its size through 4 tanh layers
        "default_layer4_std": (0.0, 0.3),  # nn.Linear's default shrinks it
        "randn_layer4_saturated": (0.5, 1.0),  # unit-Gaussian weights saturate tanh
        "init_dev_kaiming": (2.0, 3.0),
        "init_dev_yours": (2.0, 3.0),
        "init_dev_randn": (3.0, 100.0),  # saturated from the start: far behind after the same steps
        "best_lr": (0.01, 3.0),
        "emb2d_dev_nll": (2.0, 3.3),
    },
    "2.4": {
        "train_accuracy": 1.0,  # your MLP separates the two moons
        "final_loss": (0.0, 0.2),
        "max_grad_diff_vs_torch": (0.0, 1e-9),  # every gradient == torch's (float64)
        "spiral_loss_first": (0.9, 1.3),  # near log 3 = 1.10 at the start
        "spiral_loss_last": (0.0, 0.95),  # and lower after a few steps with your cross-entropy
        "spiral_accuracy": (0.4, 1.0),  # above chance (1/3) already in smoke
    },
}
