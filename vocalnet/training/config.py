"""Training configuration (YAML): one file per recipe run, validated on load."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..generator.config import ConfigError

STAGES = ("align", "s2t", "s2s", "vocoder")


@dataclass
class OptimConfig:
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 8  # per process
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    # per-parameter learning rates: parameters whose name contains KEY train at lr VALUE
    # (e.g. {speech_projector: 1.0e-3} for a freshly initialised adaptor beside LoRA at `lr`)
    param_lr: dict[str, float] = field(default_factory=dict)


@dataclass
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


@dataclass
class TrainConfig:
    """stage "align" (adaptor only, CTC to the question's tokens), "s2t" (stage 1: speech -> text, adaptor +
    LoRA), "s2s" (stage 2: speech generator only) or "vocoder".

    model: a VocalNetConfig dict (stage 1 starts from it; for "vocoder", a UnitToLatentConfig dict) —
    or `init_from`, a vocalnet checkpoint folder (stage 2 starts from the stage-1 model; stage 1
    continues its adaptor and LoRA). Relative paths are taken from the current working directory.
    """

    stage: str
    output_dir: str
    train_manifest: str | list[str]  # one manifest, or several whose entries are trained on together
    dev_manifest: str | None = None
    model: dict[str, Any] | None = None
    init_from: str | None = None
    generator: dict[str, Any] | None = None  # stage 2: re-initialise the generator with these settings
    optim: OptimConfig = field(default_factory=OptimConfig)
    lora: LoraConfig | None = None  # stage 1: the LoRA shape (default LoraConfig()); with init_from, the checkpoint's
    mask_mode: str = "random"
    # stage 1: fraction of training dialogues also used as "repeat the question" items, a dense
    # speech-to-text alignment task beside answering (the adaptor must carry the words, not the gist)
    repeat_question: float = 0.0
    repeat_prompt: str = "Repeat the user's question word for word."
    # stage 1: self-distillation. On every item the LLM without LoRA reading the typed `question`
    # (teacher) gives a next-token distribution at each target position; the model hearing it (student)
    # is pulled to it by KL, with this weight beside the answer CE
    distill_weight: float = 0.0
    # stage 1: manifests trained through distillation alone, no answer CE (read speech, e.g. `vocalnet data
    # readings`: the transcript is the typed question and the probe text the teacher and student read on)
    distill_only: list[str] = field(default_factory=list)
    # stage 1: manifests trained through the "repeat" task alone (read speech transcribed under
    # `repeat_prompt`): the words of many more sentences, without answer CE on them
    repeat_only: list[str] = field(default_factory=list)
    align_on_answers: bool = False  # align stage: also spell each answer from its audio (more, and more varied, words)
    align_readings: list[str] = field(default_factory=list)  # align stage: extra read-speech manifests (`vocalnet data readings`)
    feature_dropout: float = 0.0  # align stage: dropout on the Whisper features while training (a small corpus overfits)
    adaptor_norm_weight: float = 0.0  # align / stage 1: pull speech-frame norms to the LLM's mean token-embedding norm
    adaptor_from: str | None = None  # stage 1: start the adaptor from this model folder (the align stage's export)
    generator_from: str | None = None  # stage 2: start the speech generator from this model folder's (warm start)
    vocoder_target: str = "answer_latent"  # vocoder: manifest field of the latent to regress (answer_latent_clean: noise-free)
    max_train_samples: int | None = None
    max_dev_samples: int | None = 64
    max_query_seconds: float = 30.0
    cache_dir: str | None = None  # frozen-feature cache (default: <output_dir>/cache)
    log_every: int = 10
    eval_every: int = 200
    save_every: int = 100
    keep_checkpoints: int = 2
    num_workers: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.optim, dict):
            self.optim = OptimConfig(**self.optim)
        if isinstance(self.lora, dict):
            self.lora = LoraConfig(**self.lora)
        if not self.train_manifests or not all(isinstance(m, str) and m for m in self.train_manifests):
            raise ConfigError(f"train_manifest must be a path or a non-empty list of paths, got {self.train_manifest!r}")
        if self.stage not in STAGES:
            raise ConfigError(f"stage must be one of {STAGES}, got {self.stage!r}")
        if (self.model is None) == (self.init_from is None):
            raise ConfigError("give exactly one of `model` (a VocalNetConfig) or `init_from` (a checkpoint folder)")
        if self.optim.batch_size < 1 or self.optim.grad_accum < 1:
            raise ConfigError("batch_size and grad_accum must be >= 1")
        if self.optim.lr <= 0 or any(v <= 0 for v in self.optim.param_lr.values()):
            raise ConfigError(f"learning rates must be > 0, got lr={self.optim.lr}, param_lr={self.optim.param_lr}")
        if (self.distill_weight or self.distill_only) and self.stage != "s2t":
            raise ConfigError(f"distill_weight / distill_only are stage-1 (s2t) options, not for stage {self.stage!r}")
        if self.distill_weight < 0 or (self.distill_only and not self.distill_weight):
            raise ConfigError(f"distill_weight must be >= 0, and > 0 when distill_only is given; got {self.distill_weight}")
        if self.repeat_only and self.stage != "s2t":
            raise ConfigError(f"repeat_only is a stage-1 (s2t) option, not for stage {self.stage!r}")
        if not 0.0 <= self.repeat_question <= 1.0:
            raise ConfigError(f"repeat_question is a fraction in [0, 1], got {self.repeat_question}")

    @classmethod
    def load(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> "TrainConfig":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"training config {path} not found")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must hold a mapping")
        data.update(overrides or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training config keys in {path}: {unknown}")
        for key in ("output_dir", "dev_manifest", "init_from", "cache_dir", "adaptor_from", "generator_from"):
            if data.get(key) is not None:
                data[key] = _resolve(data[key])
        for key in ("align_readings", "distill_only", "repeat_only"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
        for key in ("train_manifest", "align_readings", "distill_only", "repeat_only"):
            if isinstance(data.get(key), list):
                data[key] = [_resolve(m) for m in data[key]]
            elif data.get(key) is not None:
                data[key] = _resolve(data[key])
        try:
            return cls(**data)
        except TypeError as e:
            raise ConfigError(f"bad training config {path}: {e}") from None

    @property
    def train_manifests(self) -> list[str]:
        return [self.train_manifest] if isinstance(self.train_manifest, str) else list(self.train_manifest)


def _resolve(path: str) -> str:
    return str(Path(path).expanduser().resolve())
