"""Quantisation: INT8, INT4, NF4, outliers, quantised linears, GGUF export (weeks 5-6).

    int8           absmax and zero-point INT8, per tensor or per channel
    int4           group-wise INT4, packed two codes per byte
    outliers       LLM.int8(): vector-wise INT8 matmul with the outlier columns in float
    linear         quantised nn.Linear replacements and quantize_model
    gguf_blocks    llama.cpp's Q8_0 / Q4_0 blocks, byte-equal to gguf-py
    gguf_export    the course GPT and its tokenizer as a GGUF file for llama.cpp
    evaluate       perplexity, a task metric, size and speed; bitsandbytes, torchao, llama.cpp peers
    nf4            (week 5) QLoRA's 4-bit NormalFloat, bit-exact with bitsandbytes, and a frozen NF4 linear
"""

from llmcourse.quantization.gguf_blocks import gguf_dequantize, gguf_quantize, quantize_q4_0, quantize_q8_0
from llmcourse.quantization.gguf_export import (
    byte_to_unicode, export_gguf, gguf_tokenizer_metadata, permute_rope_rows,
)
from llmcourse.quantization.int4 import (
    Int4Weight, dequantize_int4, int4_groupwise, pack_int4, quantize_int4, unpack_int4,
)
from llmcourse.quantization.int8 import (
    QTensor, absmax_int8, absmax_quantize, check_finite, dequantize, quantization_error, zeropoint_int8,
    zeropoint_quantize,
)
from llmcourse.quantization.linear import (
    SCHEMES, Int4Linear, Int8Linear, Int8OutlierLinear, model_nbytes, quantize_model,
)
from llmcourse.quantization.nf4 import (
    NF4_CODE, NF4Linear, NF4Tensor, dequantize_nf4, double_quantize_absmax, dynamic_code, nf4_bits_per_weight,
    normal_float_code, quantize_blockwise, quantize_model_nf4, quantize_nf4,
)
from llmcourse.quantization.outliers import find_outlier_columns, int8_outlier_matmul, vectorwise_quantize

__all__ = [
    "Int4Linear", "Int4Weight", "Int8Linear", "Int8OutlierLinear", "NF4Linear", "NF4Tensor", "NF4_CODE", "QTensor",
    "SCHEMES", "absmax_int8", "absmax_quantize", "byte_to_unicode", "check_finite", "dequantize", "dequantize_int4",
    "dequantize_nf4", "double_quantize_absmax", "dynamic_code", "export_gguf", "find_outlier_columns",
    "gguf_dequantize", "gguf_quantize", "gguf_tokenizer_metadata", "int4_groupwise", "int8_outlier_matmul",
    "model_nbytes", "nf4_bits_per_weight", "normal_float_code", "pack_int4", "permute_rope_rows",
    "quantization_error", "quantize_blockwise", "quantize_int4", "quantize_model", "quantize_model_nf4",
    "quantize_nf4", "quantize_q4_0", "quantize_q8_0", "unpack_int4", "vectorwise_quantize", "zeropoint_int8",
    "zeropoint_quantize",
]
