"""Released VocalNet checkpoints (spec section 6): read, convert and write the official layout.

An official folder holds one config.json (the LLM's own keys plus VocalNet's speech keys) and
safetensors shards named `model.*` (LLM, encoder, projector), `lm_head.*` and `speech_generator.*`.
The Whisper encoder's architecture is not in the config, so it is read off the tensor shapes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from ..config import OFFICIAL_SYSTEM_PROMPT, VocalNetConfig
from ..generator.config import ConfigError, SpeechGeneratorConfig
from .io import CheckpointError, atomic_dir, load_state_dict, save_state_dict, WEIGHTS_NAME

OFFICIAL_MODEL_TYPES = {"omni_speech2s_llama": "llama", "omni_speech2s_qwen2": "qwen2"}
# End-of-turn ids of the released backbones (Llama-3 <|eot_id|>, Qwen2.5 <|im_end|>).
OFFICIAL_EOT = {"llama": 128009, "qwen2": 151645}
SPEECH_KEYS = {
    "speech_encoder", "speech_encoder_type", "speech_encoder_ds_rate", "speech_encoder_hidden_size",
    "speech_projector_type", "speech_generator_type", "llm_hidden_size", "decoder_num_layers",
    "encoder_num_layers", "decoder_num_heads", "decoder_ffn_dim", "decoder_dropout", "unit_vocab_size",
    "special_tokens", "speech_bos_token_id", "speech_sos_token_id", "speech_eos_token_id",
    "speech_padding_token_id", "mtp_num", "txt_token_num", "speech_token_num", "max_speech_tokens",
    "speech_max_position_embeddings", "decoder_hidden_size", "max_seq_length", "group_size",
    "tune_speech_generator_only", "speech_normalize", "mm_tunable_parts", "tokenizer_model_max_length",
    "tokenizer_padding_side", "freeze_speech_projector", "tune_speech_projector",
}
# ours <-> official state-dict prefixes, most specific first.
_PREFIXES = [
    ("speech_encoder.whisper.", "model.speech_encoder."),
    ("speech_projector.", "model.speech_projector."),
    ("speech_generator.", "speech_generator."),
    ("llm.lm_head.", "lm_head."),
    ("llm.model.", "model."),
]


def to_official_key(key: str) -> str:
    for ours, theirs in _PREFIXES:
        if key.startswith(ours):
            return theirs + key[len(ours):]
    raise CheckpointError(f"no official name for tensor {key}")


def from_official_key(key: str) -> str:
    for ours, theirs in _PREFIXES:
        if key.startswith(theirs):
            return ours + key[len(theirs):]
    raise CheckpointError(f"unexpected tensor {key} in an official checkpoint")


def is_official_checkpoint(folder: Path) -> bool:
    cfg = Path(folder) / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("model_type") in OFFICIAL_MODEL_TYPES
    except json.JSONDecodeError:
        return False


def whisper_config_from_weights(state: dict[str, torch.Tensor], prefix: str = "model.speech_encoder.") -> dict[str, Any]:
    """Whisper encoder architecture from its tensors (head size is 64 in every Whisper)."""
    try:
        conv1 = state[prefix + "conv1.weight"]
        pos = state[prefix + "embed_positions.weight"]
        fc1 = state[prefix + "layers.0.fc1.weight"]
    except KeyError as e:
        raise CheckpointError(f"official checkpoint lacks the speech encoder tensor {e}") from None
    layers = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"layers\.(\d+)\.", k))}
    d_model = conv1.shape[0]
    return dict(
        d_model=d_model, num_mel_bins=conv1.shape[1], encoder_layers=len(layers), encoder_attention_heads=d_model // 64,
        encoder_ffn_dim=fc1.shape[0], max_source_positions=pos.shape[0],
        decoder_layers=1, decoder_attention_heads=d_model // 64, decoder_ffn_dim=fc1.shape[0],
    )


def config_from_official(raw: dict[str, Any], state: dict[str, torch.Tensor]) -> VocalNetConfig:
    """Map an official config.json (and the encoder shapes) onto a VocalNetConfig."""
    try:
        family = OFFICIAL_MODEL_TYPES[raw["model_type"]]
        unit_vocab = int(raw["unit_vocab_size"])
        if raw.get("speech_generator_type", "ar_mtp") != "ar_mtp":
            raise ConfigError(f"speech_generator_type {raw['speech_generator_type']!r} is not supported (ar_mtp only)")
        gen = SpeechGeneratorConfig(
            hidden_size=int(raw["llm_hidden_size"]), llm_hidden_size=int(raw["llm_hidden_size"]),
            ffn_dim=int(raw["decoder_ffn_dim"]), num_heads=int(raw["decoder_num_heads"]),
            encoder_num_layers=int(raw["encoder_num_layers"]), decoder_num_layers=int(raw["decoder_num_layers"]),
            dropout=float(raw.get("decoder_dropout", 0.1)), unit_vocab_size=unit_vocab,
            special_tokens=int(raw.get("special_tokens", 4)), mtp_num=int(raw.get("mtp_num", 0)),
            txt_token_num=int(raw.get("txt_token_num", 5)), speech_token_num=int(raw.get("speech_token_num", 15)),
            max_speech_tokens=int(raw.get("max_speech_tokens", 2048)),
            max_position_embeddings=int(raw.get("speech_max_position_embeddings", 2048)),
            variant="mtp", position_layout="concat",
        )
    except KeyError as e:
        raise ConfigError(f"official config.json lacks the key {e}") from None
    for name, expect in (("speech_bos_token_id", gen.bos_id), ("speech_sos_token_id", gen.sos_id),
                         ("speech_eos_token_id", gen.eos_id), ("speech_padding_token_id", gen.pad_id)):
        if name in raw and int(raw[name]) != expect:
            raise ConfigError(f"{name}={raw[name]} but VocalNet expects unit_vocab_size + offset = {expect}")
    llm_cfg = {k: v for k, v in raw.items() if k not in SPEECH_KEYS and not k.startswith("_")}
    llm_cfg.pop("architectures", None)
    llm_cfg["model_type"] = family
    return VocalNetConfig(
        llm_config=llm_cfg, encoder_config=whisper_config_from_weights(state),
        encoder_ds_rate=int(raw.get("speech_encoder_ds_rate", 5)),
        adaptor_hidden_size=int(state["model.speech_projector.linear1.weight"].shape[0]),
        encoder_pad_to_30s=True, system_prompt=OFFICIAL_SYSTEM_PROMPT,
        eot_token_id=OFFICIAL_EOT[family], generator=gen,
    )


def load_official(folder: Path):
    """Build a VocalNetModel from an official release folder (all weights inside)."""
    from ..modeling import VocalNetModel

    folder = Path(folder)
    raw = json.loads((folder / "config.json").read_text())
    official = load_state_dict(folder)
    config = config_from_official(raw, official)
    model = VocalNetModel.from_config(config, base_dir=folder)
    model.load_weights({from_official_key(k): v for k, v in official.items()}, partial=False)
    return model


def official_config(model) -> dict[str, Any]:
    """The official config.json of a model (LLM keys + VocalNet speech keys)."""
    g = model.config.generator
    if model.config.lora is not None:
        raise ConfigError("the official layout has no LoRA adapters: call model.merge_lora() first")
    if g.variant != "mtp" or g.hidden_size != g.llm_hidden_size or g.text_embed_size or g.phoneme_slots:
        raise ConfigError("only VocalNet-MTP generators as wide as the LLM, reading hidden states alone, "
                          "have an official layout")
    llm = {k: v for k, v in model.llm.config.to_dict().items() if not k.startswith("_")}
    family = llm.get("model_type")
    kind = {v: k for k, v in OFFICIAL_MODEL_TYPES.items()}.get(family)
    if kind is None:
        raise ConfigError(f"no official layout for LLM family {family!r}")
    enc = model.speech_encoder.whisper.config
    return {
        **llm, "model_type": kind, "speech_encoder": "whisper", "speech_encoder_type": "whisper",
        "speech_encoder_ds_rate": model.config.encoder_ds_rate, "speech_encoder_hidden_size": enc.d_model,
        "speech_projector_type": "linear", "speech_generator_type": "ar_mtp", "llm_hidden_size": g.hidden_size,
        "decoder_num_layers": g.decoder_num_layers, "encoder_num_layers": g.encoder_num_layers,
        "decoder_num_heads": g.num_heads, "decoder_ffn_dim": g.ffn_dim, "decoder_dropout": g.dropout,
        "unit_vocab_size": g.unit_vocab_size, "special_tokens": g.special_tokens,
        "speech_bos_token_id": g.bos_id, "speech_sos_token_id": g.sos_id, "speech_eos_token_id": g.eos_id,
        "speech_padding_token_id": g.pad_id, "mtp_num": g.mtp_num, "txt_token_num": g.txt_token_num,
        "speech_token_num": g.speech_token_num, "max_speech_tokens": g.max_speech_tokens,
        "speech_max_position_embeddings": g.max_position_embeddings,
    }


def save_official(model, folder: Path) -> None:
    """Write a model in the released layout (config.json + model.safetensors with official names)."""
    cfg = official_config(model)
    state = {to_official_key(k): v for k, v in model.state_dict().items()}
    with atomic_dir(Path(folder)) as tmp:
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        save_state_dict(state, tmp / WEIGHTS_NAME, metadata={"format": "pt"})


def convert_official(src: Path, dst: Path) -> Path:
    """`vocalnet convert`: official release folder -> self-contained vocalnet checkpoint folder."""
    if not is_official_checkpoint(src):
        raise CheckpointError(f"{src} is not an official VocalNet checkpoint (config.json model_type)")
    load_official(src).save_pretrained(dst, include_backbones=True)
    return Path(dst)
