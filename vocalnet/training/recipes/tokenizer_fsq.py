"""Speech tokenizer training (stage "tokenizer"): the FSQ bottleneck of `tokenizer.supervised`.

Data: the corpus' answer audio (the assistant voice, whose tokens the generator will predict) with
its text. The tokenizer features (pooled Whisper layer-L outputs, edge-padded as when encoding) are
frozen, so they are cached per utterance. Batches are padded with the features of silence, which
is what Whisper sees after speech. Export: a speech tokenizer folder (`SpeechTokenizer.load`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ...audio.io import load_audio
from ...data.manifest import entry_file, gpt_answer, read_entries
from ...tokenizer.speech_tokenizer import SpeechTokenizer, TokenizerConfig, WhisperFeatures
from ...tokenizer.supervised import FSQBottleneck, WhisperReader
from ..config import TrainConfig
from ..data import DialogueDataset, TensorCache
from ..trainer import LossModule


@dataclass(frozen=True)
class Transcribed:
    id: str
    audio: Path
    text: str


def load_transcribed(manifest: str | Path, limit: int | None = None) -> list[Transcribed]:
    return [Transcribed(str(e["id"]), entry_file(manifest, e, "answer_audio"), gpt_answer(e) or "")
            for e in read_entries(manifest, limit, require=("id", "answer_audio"))]


class TokenizerRecipe:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        m = dict(cfg.model or {})
        self.whisper = m.pop("whisper", None)
        self.tok_config = TokenizerConfig(method="fsq", seed=cfg.seed, **m)
        if self.tok_config.levels is None:
            raise ValueError("the tokenizer recipe needs model.levels (the FSQ levels, e.g. [8, 5, 5, 5])")

    def build(self) -> LossModule:
        from transformers import AutoTokenizer

        from ...assets import default_asset_paths

        c = self.tok_config
        self.whisper = self.whisper or str(default_asset_paths().whisper)
        self.features = WhisperFeatures(self.whisper, c.layer, c.pool, c.edge_pad_tokens)
        self.text_tokenizer = AutoTokenizer.from_pretrained(self.whisper)
        self.silence = self.features(np.zeros(16000 * 4, dtype=np.float32)).mean(0)
        model = nn.ModuleDict({"bottleneck": FSQBottleneck(self.features.dim, c.levels, c.pool),
                               "reader": WhisperReader(self.whisper, c.layer)})
        return LossModule(model, self.loss_terms)

    def datasets(self, module: LossModule) -> tuple[Dataset, Dataset | None]:
        c = self.tok_config
        cache = TensorCache(self.cfg.cache_dir or Path(self.cfg.output_dir) / "cache", "tokenizer-features")
        fp = f"{self.whisper}:layer{c.layer}:pool{c.pool}:pad{c.edge_pad_tokens}"
        sets = []
        for manifest, limit in ((self.cfg.train_manifest, self.cfg.max_train_samples),
                                (self.cfg.dev_manifest, self.cfg.max_dev_samples)):
            if manifest is None:
                sets.append(None)
                continue
            ds = DialogueDataset(load_transcribed(manifest, limit), cache, lambda t: self.features(load_audio(t.audio)),
                                 fp, source=lambda t: t.audio)
            ds.precompute("tokenizer features")
            sets.append(ds)
        return sets[0], sets[1]

    def collate(self, items: list[tuple[Transcribed, torch.Tensor]]) -> dict[str, Any]:
        T = max(f.shape[0] for _, f in items)
        feats = self.silence.expand(len(items), T, -1).clone()
        for i, (_, f) in enumerate(items):
            feats[i, : f.shape[0]] = f
        seqs = [self.text_tokenizer(" " + t.text.strip()).input_ids for t, _ in items]  # sot, notimestamps, text, eot
        L = max(len(s) for s in seqs) - 1
        ids = torch.full((len(items), L), self.text_tokenizer.eos_token_id, dtype=torch.long)
        labels = torch.full((len(items), L), -100, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s) - 1] = torch.tensor(s[:-1])
            labels[i, 1 : len(s) - 1] = torch.tensor(s[2:])  # position 0 (sot -> notimestamps) is the prompt
        return {"feats": feats, "ids": ids, "labels": labels}

    def loss_terms(self, model: nn.ModuleDict, batch: dict[str, Any]) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
        frames, _ = model["bottleneck"](batch["feats"])
        ce, n = model["reader"](frames, batch["ids"], batch["labels"])
        return [(1.0, ce, n)]

    def export(self, module: LossModule, out_dir: Path) -> None:
        bottleneck = module.model["bottleneck"]
        SpeechTokenizer(bottleneck, self.tok_config, self.features).save(out_dir)
