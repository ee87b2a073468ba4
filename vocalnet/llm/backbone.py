"""The LLM backbone: any local HF causal LM, its chat template, and the <speech> placeholder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

SPEECH_PLACEHOLDER = "<speech>"
# End-of-turn markers of common chat templates, tried in order before falling back to eos.
_EOT_TOKENS = ("<|eot_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>")


def load_llm(path: str | Path, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"no HF causal LM at {path} (config.json missing)")
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="sdpa")


def llm_from_config(config: dict[str, Any]) -> PreTrainedModel:
    """Build an (uninitialised) causal LM from a config dict holding `model_type`."""
    cfg = dict(config)
    model_type = cfg.pop("model_type", None)
    if model_type is None:
        raise ValueError("llm_config needs a model_type (e.g. 'llama' or 'qwen2')")
    hf_config = AutoConfig.for_model(model_type, **cfg)
    return AutoModelForCausalLM.from_config(hf_config, attn_implementation="sdpa")


def add_lora(llm: PreTrainedModel, lora: dict[str, Any]) -> PreTrainedModel:
    """Wrap the LLM with peft LoRA adapters (r, alpha, dropout, target_modules); base weights frozen."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora.get("dropout", 0.0),
                     target_modules=list(lora["target_modules"]), bias="none", task_type="CAUSAL_LM")
    return get_peft_model(llm, cfg)


def has_tokenizer(path: str | Path) -> bool:
    return any((Path(path) / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(Path(path))


def end_of_turn_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The token that closes an assistant turn in this tokenizer's chat template."""
    vocab = tokenizer.get_vocab()
    for tok in _EOT_TOKENS:
        if tok in vocab:
            return vocab[tok]
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer has neither a known end-of-turn token nor an eos token")
    return tokenizer.eos_token_id


@dataclass
class Prompt:
    """Token ids around the speech frames: [before] + speech + [after], then the answer follows."""

    before: list[int]
    after: list[int]


def build_prompt(tokenizer: PreTrainedTokenizerBase, system_prompt: str | None, user: str = SPEECH_PLACEHOLDER) -> Prompt:
    """Chat-template prompt for one user turn, split at the <speech> placeholder.

    With a typed question (no placeholder in `user`) everything lands in `before`.
    """
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": user})
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "
    head, sep, tail = text.partition(SPEECH_PLACEHOLDER)
    before = tokenizer(head, add_special_tokens=False)["input_ids"]
    after = tokenizer(tail, add_special_tokens=False)["input_ids"] if sep else []
    return Prompt(before, after)
