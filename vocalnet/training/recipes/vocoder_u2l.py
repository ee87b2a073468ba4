"""Vocoder training: units -> piper z_p latent, L1 loss, on the corpus' answer audio.

`vocoder_target: answer_latent_clean` regresses the noise-free prior mean m_p instead of z_p
(`vocalnet data clean-latents`): the same speech without the sampling noise the units cannot predict.

Each dialogue's answer was rendered by piper with its latent saved (`answer_latent`), and the
speech tokenizer turned the same audio into units; random crops of `crop_units` units and their
latent frames make the batches. The piper voice's own flow + HiFi-GAN stay frozen (they are not
differentiable here: ONNX), so the loss is on the latent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ...data.manifest import entry_file, read_entries
from ...vocoder.unit_to_latent import UnitToLatent, UnitToLatentConfig
from ..config import TrainConfig
from ..trainer import LossModule


@dataclass
class LatentPair:
    units: Path
    latent: Path


def load_pairs(manifest: str | Path, limit: int | None = None, target: str = "answer_latent") -> list[LatentPair]:
    return [LatentPair(entry_file(manifest, e, "units"), entry_file(manifest, e, target))
            for e in read_entries(manifest, limit, require=("units", target))]


class CropDataset(Dataset):
    """Random unit-aligned crops (a fixed crop per index and epoch seed, so resumes are exact)."""

    def __init__(self, pairs: list[LatentPair], model: UnitToLatent, crop_units: int, seed: int) -> None:
        self.pairs, self.m, self.crop, self.seed = pairs, model, crop_units, seed

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        p = self.pairs[i]
        units = np.load(p.units).astype(np.int64)
        latent = np.load(p.latent).astype(np.float32)
        n = min(len(units), int(latent.shape[1] / self.m.config.frames_per_unit) + 1)
        rng = np.random.default_rng((self.seed, i))
        k = int(rng.integers(0, max(1, n - self.crop + 1)))
        end = min(n, k + self.crop)
        f0 = self.m.frames_for(k)
        f1 = min(latent.shape[1], self.m.frames_for(end))
        return {"units": units[k:end], "latent": latent[:, f0:f1], "f0": f0, "u0": k}


class VocoderRecipe:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.crop = int((cfg.model or {}).get("crop_units", 50))

    def build(self) -> LossModule:
        params = {k: v for k, v in (self.cfg.model or {}).items() if k != "crop_units"}
        self.model = UnitToLatent(UnitToLatentConfig(**params))
        return LossModule(self.model, self.loss_terms)

    def datasets(self, module: LossModule) -> tuple[Dataset, Dataset | None]:
        pairs = [p for m in self.cfg.train_manifests for p in load_pairs(m, target=self.cfg.vocoder_target)]
        train = CropDataset(pairs[: self.cfg.max_train_samples], self.model, self.crop, self.cfg.seed)
        dev = None
        if self.cfg.dev_manifest:
            dev = CropDataset(load_pairs(self.cfg.dev_manifest, self.cfg.max_dev_samples, self.cfg.vocoder_target), self.model, self.crop, self.cfg.seed + 1)
        return train, dev

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        B = len(items)
        N = max(len(it["units"]) for it in items)
        T = max(it["latent"].shape[1] for it in items)
        C = items[0]["latent"].shape[0]
        units = torch.zeros(B, N, dtype=torch.long)
        latent = torch.zeros(B, C, T)
        for i, it in enumerate(items):
            units[i, : len(it["units"])] = torch.from_numpy(it["units"])
            latent[i, :, : it["latent"].shape[1]] = torch.from_numpy(it["latent"])
        return {"units": units, "unit_lens": torch.tensor([len(it["units"]) for it in items]),
                "latent": latent, "frame_lens": torch.tensor([it["latent"].shape[1] for it in items]),
                "f0": torch.tensor([it["f0"] for it in items]), "u0": torch.tensor([it["u0"] for it in items])}

    def loss_terms(self, model: UnitToLatent, batch: dict[str, Any]) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
        pred = model(batch["units"], batch["unit_lens"], batch["frame_lens"], batch["f0"], batch["u0"])
        mask = (torch.arange(pred.shape[2], device=pred.device)[None] < batch["frame_lens"][:, None]).float()[:, None]
        total = ((pred - batch["latent"]).abs() * mask).sum()
        return [(1.0, total, mask.sum() * pred.shape[1])]

    def export(self, module: LossModule, out_dir: Path) -> None:
        module.model.save(out_dir)
