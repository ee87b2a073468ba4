"""`VocalNetConfig`: everything needed to rebuild a VocalNet model, stored as config.json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .generator.config import ConfigError, SpeechGeneratorConfig

OFFICIAL_SYSTEM_PROMPT = (
    "You are a helpful language and speech assistant. You are able to understand the speech content that "
    "the user provides, and assist the user with a variety of tasks using natural language and speech."
)
MODEL_TYPE = "vocalnet"


@dataclass
class VocalNetConfig:
    """Speech encoder + adaptor + LLM backbone + speech generator.

    llm / speech_encoder: local HF folders (absolute, or relative to the checkpoint folder); None means
    the embedded defaults prepared by `vocalnet assets prepare`. When `llm_config` / `encoder_config`
    are set instead, the architecture is built from them and the weights come from the checkpoint
    itself (official checkpoints, converted models, tests).
    """

    llm: str | None = None
    speech_encoder: str | None = None
    llm_config: dict[str, Any] | None = None
    encoder_config: dict[str, Any] | None = None
    encoder_ds_rate: int = 5
    adaptor_hidden_size: int = 2048
    encoder_pad_to_30s: bool = False
    freeze_encoder: bool = True
    system_prompt: str = OFFICIAL_SYSTEM_PROMPT
    eot_token_id: int | None = None
    replace_last_hidden_with_eot: bool = True
    generator: SpeechGeneratorConfig = field(default_factory=SpeechGeneratorConfig)
    lora: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.generator, dict):
            self.generator = SpeechGeneratorConfig.from_dict(self.generator)
        if self.encoder_ds_rate < 1:
            raise ConfigError(f"encoder_ds_rate must be >= 1, got {self.encoder_ds_rate}")
        if self.adaptor_hidden_size < 1:
            raise ConfigError(f"adaptor_hidden_size must be >= 1, got {self.adaptor_hidden_size}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["generator"] = self.generator.to_dict()
        return {"model_type": MODEL_TYPE, **d}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VocalNetConfig":
        data = dict(data)
        model_type = data.pop("model_type", MODEL_TYPE)
        if model_type != MODEL_TYPE:
            raise ConfigError(f"model_type {model_type!r} is not a vocalnet config")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown vocalnet config keys: {unknown}")
        return cls(**data)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "VocalNetConfig":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no config.json at {path}") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a JSON object")
        return cls.from_dict(data)
