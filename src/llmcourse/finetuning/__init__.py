"""Fine-tuning (week 5): full fine-tuning helpers, LoRA, QLoRA, adapters, prompt tuning, chat data and SFT."""

from llmcourse.finetuning.adapters import (Adapter, AdaptedSublayer, PromptTunedGPT, SoftPrompt, apply_adapters,
                                           prompt_tuned_forward)
from llmcourse.finetuning.bundle import lora_bundle, model_from_lora_bundle
from llmcourse.finetuning.chat import (COURSE_CHAT_TEMPLATE, IGNORE_INDEX, ChatExample, gemma_chat_template,
                                       pack_examples, packed_attention_mask, pad_examples, render_chat, tokenize_chat,
                                       validate_chat)
from llmcourse.finetuning.decontaminate import decontaminate, evaluation_sets
from llmcourse.finetuning.forgetting import l2sp_loss_fn, l2sp_penalty, snapshot
from llmcourse.finetuning.gpt_forward import (disable_gradient_checkpointing, enable_gradient_checkpointing, gpt_hidden,
                                              gpt_logits)
from llmcourse.finetuning.lora import (LoRALinear, apply_lora, linear_module_names, load_lora_state_dict,
                                       lora_state_dict, mark_only_lora_trainable, merge_lora, trainable_parameters)
from llmcourse.finetuning.memory import (PeakMemory, StepCost, adamw_memory_formula, gpt_activation_bytes, measure_step,
                                         tensor_bytes)
from llmcourse.finetuning.metrics import (cloze_accuracy, continuation_logprobs, encode_text, generate_answers,
                                          lm_logits, perplexity)
from llmcourse.finetuning.qlora import apply_qlora, peft_bnb_twin
from llmcourse.finetuning.sft import (SFT_STEPS, reference_sft_gpt, sft_batches, sft_conversations, sft_loss,
                                      sft_loss_fn, train_sft)

__all__ = [
    "Adapter", "AdaptedSublayer", "COURSE_CHAT_TEMPLATE", "ChatExample", "IGNORE_INDEX", "LoRALinear",
    "PeakMemory", "PromptTunedGPT", "SFT_STEPS", "SoftPrompt", "StepCost", "adamw_memory_formula", "apply_adapters",
    "apply_lora", "apply_qlora", "cloze_accuracy", "continuation_logprobs", "decontaminate",
    "disable_gradient_checkpointing", "enable_gradient_checkpointing", "encode_text", "evaluation_sets",
    "gemma_chat_template", "generate_answers", "l2sp_loss_fn", "l2sp_penalty", "snapshot", "gpt_activation_bytes", "gpt_hidden", "gpt_logits",
    "linear_module_names", "lm_logits", "load_lora_state_dict", "lora_bundle", "lora_state_dict",
    "mark_only_lora_trainable", "measure_step", "merge_lora", "model_from_lora_bundle", "pack_examples",
    "packed_attention_mask", "pad_examples", "peft_bnb_twin", "perplexity", "prompt_tuned_forward", "reference_sft_gpt",
    "render_chat", "sft_batches", "sft_conversations", "sft_loss", "sft_loss_fn", "tensor_bytes", "tokenize_chat",
    "train_sft", "trainable_parameters", "validate_chat",
]
