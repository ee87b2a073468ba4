"""`vocalnet train --config CONFIG.yaml`: pick the recipe for the config's stage and run it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import TrainConfig
from .recipes.align_ctc import AlignRecipe
from .recipes.stage1_s2t import Stage1Recipe
from .recipes.stage2_s2s import Stage2Recipe
from .recipes.vocoder_u2l import VocoderRecipe
from .trainer import Trainer

RECIPES = {"align": AlignRecipe, "s2t": Stage1Recipe, "s2s": Stage2Recipe, "vocoder": VocoderRecipe}


def train(config: str | Path, overrides: dict[str, Any] | None = None) -> Path:
    """Train (or resume) the run described by a YAML config; returns the exported model folder."""
    cfg = TrainConfig.load(config, overrides)
    return Trainer(cfg, RECIPES[cfg.stage](cfg)).fit()
