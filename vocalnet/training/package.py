"""Assemble a shippable VocalNet model folder: trained parts only, fp16, plus tokenizer and vocoder.

Layout: config.json + model.safetensors (adaptor, LoRA adapters, speech generator; the base LLM and
Whisper come from `vocalnet assets prepare`), tokenizer/ (its quantiser), vocoder/ (unit-to-latent).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..checkpoint.io import atomic_dir
from ..generator.config import SpeechGeneratorConfig
from ..modeling import VocalNetModel


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def package_model(trained: Path, tokenizer: Path, vocoder: Path, out: Path, max_mb: float = 40.0,
                  default_mtp: int | None = None) -> int:
    """Write the model folder atomically; returns its size in bytes (error if above max_mb).
    default_mtp: the tokens-per-step setting `chat` uses unless told (measured best), if given."""
    model = VocalNetModel.from_pretrained(trained)
    if default_mtp is not None:
        model.config.generator = SpeechGeneratorConfig.from_dict(
            {**model.config.generator.to_dict(), "default_mtp": default_mtp})
    if model.config.llm_config is not None or model.config.encoder_config is not None:
        raise ValueError("package a model whose LLM and Whisper are referenced, not embedded")
    with atomic_dir(Path(out)) as tmp:
        model.save_pretrained(tmp / "model", half=True)
        for f in (tmp / "model").iterdir():
            f.rename(tmp / f.name)
        (tmp / "model").rmdir()
        shutil.copytree(tokenizer, tmp / "tokenizer")
        shutil.copytree(vocoder, tmp / "vocoder")
        size = folder_size(tmp)
        if size > max_mb * 1e6:
            raise ValueError(f"packaged model is {size / 1e6:.1f} MB > {max_mb} MB")
    return size
