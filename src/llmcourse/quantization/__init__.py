"""Quantisation: store weights in fewer bits (weeks 5-6).

nf4: QLoRA's 4-bit NormalFloat, bit-exact with bitsandbytes, and a frozen NF4 linear layer.
"""

from llmcourse.quantization.nf4 import (NF4_CODE, NF4Linear, NF4Tensor, dequantize_nf4, double_quantize_absmax,
                                        dynamic_code, nf4_bits_per_weight, normal_float_code, quantize_blockwise,
                                        quantize_model_nf4, quantize_nf4)

__all__ = ["NF4_CODE", "NF4Linear", "NF4Tensor", "dequantize_nf4", "double_quantize_absmax", "dynamic_code",
           "nf4_bits_per_weight", "normal_float_code", "quantize_blockwise", "quantize_model_nf4", "quantize_nf4"]
