"""Configuration of the speech generator (spec section 3), serialisable to and from plain dicts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

VARIANTS = ("mtp", "group", "parallel_linear", "deepseek_mtp")
POSITION_LAYOUTS = ("concat", "separate")


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or inconsistent."""


@dataclass
class SpeechGeneratorConfig:
    """Shape and behaviour of the speech generator.

    variant:
      - "mtp": VocalNet's sequential MTP modules (the released model; mtp_num=0 is plain NTP).
      - "group": group modeling, one head predicts `group_size` tokens from one hidden state.
      - "parallel_linear": `mtp_num` extra independent linear heads on the main hidden state.
      - "deepseek_mtp": sequential modules fed with the next ground-truth token's embedding.
    position_layout:
      - "concat": speech positions follow the text (text 0..L, speech L+1..), as officially trained.
      - "separate": text and speech each count from 0, so speech positions never depend on text that
        has not arrived yet; streaming decoding is then exactly the teacher-forced streaming forward.
    default_mtp: extra speech tokens per decoding step when the caller does not choose (the setting
      measured best, written by `vocalnet package --default-mtp`); None means mtp_num.
    text_embed_size: 0 (official) feeds the pre-net the LLM's final hidden states alone. Above 0, each
      text position also carries the LLM's input embedding of its token (that many values, after the
      hidden state); `embed_proj` maps it to the hidden size and adds it, as LLaMA-Omni 2 fuses text
      embeddings with hidden states. A final hidden state is shaped for predicting the next token;
      the embedding says which word this position speaks.
    phoneme_slots: 0 (official) reads no phonemes. Above 0, each text position also carries the
      espeak-ng phoneme ids of the words its token completes (`vocalnet.generator.phonemes`), in that
      many places after the token embedding; `phoneme_embed` embeds each id (`phoneme_embed_size`
      values), `phoneme_proj` maps the concatenated places to the hidden size and adds them.
    phoneme_rows: with phoneme_slots, each phoneme id also gets a text position of its own, right
      after its token's (`phoneme_row_proj` of its embedding), so that speech rows find the sound
      they speak by attention instead of reading it out of one packed vector per word. The streaming
      schedule still counts tokens: a token's phoneme positions become visible with it.
    dropout: attention-probability dropout while training (the official decoder's only dropout).
    hidden_dropout: dropout on each layer's attention and MLP outputs before they join the residual
      stream, while training (0: none, as officially). A small corpus needs it: without it the smol
      generator's main-head CE was 1.04 on training answers against 1.53 on dev answers.
      `phoneme_voice` is the espeak-ng voice (language) that pronounces the words.
    unit_noise: while training, the chance that an input speech unit (never a target) is replaced by a
      random unit, so that the next unit is read more from the text than from the units before it (the
      decoder meets its own mistakes when it runs free). 0: off, as officially.
    text_dropout: while training, the chance that a text position's hidden state and token embedding
      are zeroed, leaving only its phonemes, so that the generator learns how spelt-out sounds are
      spoken rather than how each known token is (unseen words carry phonemes too). 0: off.
    """

    hidden_size: int = 576
    llm_hidden_size: int = 576
    ffn_dim: int = 2304
    num_heads: int = 9
    num_kv_heads: int | None = None
    encoder_num_layers: int = 2
    decoder_num_layers: int = 4
    dropout: float = 0.1
    hidden_dropout: float = 0.0
    unit_vocab_size: int = 6561
    special_tokens: int = 4
    mtp_num: int = 5
    mtp_loss_decay: float = 0.8
    txt_token_num: int = 5
    speech_token_num: int = 15
    max_speech_tokens: int = 2048
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    variant: str = "mtp"
    group_size: int = 3
    position_layout: str = "concat"
    default_mtp: int | None = None
    text_embed_size: int = 0
    phoneme_slots: int = 0
    phoneme_embed_size: int = 32
    phoneme_vocab: int = 256
    phoneme_voice: str = "en-us"
    phoneme_rows: bool = False
    unit_noise: float = 0.0
    text_dropout: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    # --- special tokens -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.unit_vocab_size + self.special_tokens

    @property
    def text_input_size(self) -> int:
        """Width of one text position fed to the generator: hidden state, token embedding, phoneme ids."""
        return self.llm_hidden_size + self.text_embed_size + self.phoneme_slots

    @property
    def bos_id(self) -> int:
        return self.unit_vocab_size

    @property
    def sos_id(self) -> int:
        return self.unit_vocab_size + 1

    @property
    def eos_id(self) -> int:
        return self.unit_vocab_size + 2

    @property
    def pad_id(self) -> int:
        return self.unit_vocab_size + 3

    # --- validation and (de)serialisation ------------------------------------------------------
    def validate(self) -> None:
        positive = (
            "hidden_size", "llm_hidden_size", "ffn_dim", "num_heads", "decoder_num_layers",
            "unit_vocab_size", "txt_token_num", "speech_token_num", "max_speech_tokens",
            "max_position_embeddings", "group_size", "phoneme_embed_size", "phoneme_vocab",
        )
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("encoder_num_layers", "mtp_num", "text_embed_size", "phoneme_slots"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        if self.default_mtp is not None and not (
            isinstance(self.default_mtp, int) and 0 <= self.default_mtp <= self.mtp_num
        ):
            raise ConfigError(f"default_mtp must be an integer in [0, mtp_num={self.mtp_num}], got {self.default_mtp!r}")
        if self.special_tokens != 4:
            raise ConfigError(f"special_tokens must be 4 (BOS, SOS, EOS, PAD), got {self.special_tokens}")
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"hidden_size {self.hidden_size} not divisible by num_heads {self.num_heads}")
        if (self.hidden_size // self.num_heads) % 2:
            raise ConfigError("head dimension must be even for rotary positions")
        kv = self.num_kv_heads or self.num_heads
        if self.num_heads % kv:
            raise ConfigError(f"num_heads {self.num_heads} not divisible by num_kv_heads {kv}")
        for name in ("dropout", "hidden_dropout", "unit_noise", "text_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 < self.mtp_loss_decay <= 1.0:
            raise ConfigError(f"mtp_loss_decay must be in (0, 1], got {self.mtp_loss_decay}")
        if self.variant not in VARIANTS:
            raise ConfigError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.position_layout not in POSITION_LAYOUTS:
            raise ConfigError(f"position_layout must be one of {POSITION_LAYOUTS}, got {self.position_layout!r}")
        if not isinstance(self.phoneme_rows, bool):
            raise ConfigError(f"phoneme_rows must be true or false, got {self.phoneme_rows!r}")
        if self.phoneme_rows and not self.phoneme_slots:
            raise ConfigError("phoneme_rows needs phoneme_slots > 0 (the ids its rows are made of)")
        if self.variant == "group" and self.speech_token_num % self.group_size:
            raise ConfigError(
                f"speech_token_num {self.speech_token_num} must be a multiple of group_size {self.group_size}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SpeechGeneratorConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown speech generator config keys: {unknown}")
        return cls(**data)


# Named generator shapes: the released VocalNet-1B generator and our CPU-sized default (vocalnet-smol).
GENERATOR_SHAPES: dict[str, dict[str, Any]] = {
    "vocalnet-1b": dict(
        hidden_size=2048, llm_hidden_size=2048, ffn_dim=8192, num_heads=32, encoder_num_layers=2,
        decoder_num_layers=4, mtp_num=5, unit_vocab_size=6561,
    ),
    "smol": dict(
        hidden_size=256, llm_hidden_size=576, ffn_dim=640, num_heads=4, encoder_num_layers=2,
        decoder_num_layers=4, mtp_num=5, unit_vocab_size=1024, position_layout="separate",
    ),
}


def shape_config(name: str, **overrides: Any) -> SpeechGeneratorConfig:
    """A generator config for a named shape (see GENERATOR_SHAPES)."""
    if name not in GENERATOR_SHAPES:
        raise ConfigError(f"unknown generator shape {name!r}; known: {sorted(GENERATOR_SHAPES)}")
    return SpeechGeneratorConfig(**{**GENERATOR_SHAPES[name], **overrides})
