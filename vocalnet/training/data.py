"""Training data: official-format manifests, and caches of everything frozen.

Stage 1 never changes the Whisper encoder, so its outputs are computed once per query and cached.
Stage 2 never changes the encoder, adaptor or LLM, so the generator's text input (LLM hidden states
at the answer positions) is computed once per dialogue and cached; stage-2 epochs then cost only
the speech generator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from ..data.manifest import ManifestError, entry_file, gpt_answer, read_entries


@dataclass(frozen=True)
class Dialogue:
    """One training item. `target` is the text the LLM learns to produce: the gpt answer, or, for
    tasks "repeat" and "distill", the question itself (stage 1: dense speech-to-text alignment items;
    read speech trained through self-distillation alone, the transcript being the probe text)."""

    id: str
    query_wav: Path
    answer: str
    units: Path | None
    question: str | None = None
    task: str = "answer"
    answer_wav: Path | None = None

    @property
    def target(self) -> str:
        return self.question if self.task in ("repeat", "distill") else self.answer

    def as_task(self, task: str) -> "Dialogue":
        """The same item trained through another task ("repeat" or "distill": the question is the target)."""
        if not self.question:
            raise ManifestError(f"task {task!r} needs the typed `question` of every item; {self.id} has none")
        return dataclasses.replace(self, task=task)


def load_dialogues(manifest: str | Path, limit: int | None = None) -> list[Dialogue]:
    """Read an official-format manifest (relative paths resolve against its folder)."""
    dialogues = []
    for i, e in enumerate(read_entries(manifest, limit, require=("id", "speech"))):
        answer = gpt_answer(e)
        if not answer:
            raise ManifestError(f"{manifest}: entry {i} ({e['id']}) has no gpt answer")
        units = entry_file(manifest, e, "units") if e.get("units") else None
        answer_wav = entry_file(manifest, e, "answer_audio") if e.get("answer_audio") else None
        dialogues.append(Dialogue(str(e["id"]), entry_file(manifest, e, "speech"), answer, units, e.get("question"),
                                  answer_wav=answer_wav))
    return dialogues


class TensorCache:
    """One safetensors file per key under a folder; writes are atomic (temp file + rename)."""

    def __init__(self, folder: str | Path, namespace: str) -> None:
        self.folder = Path(folder) / namespace
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".safetensors")

    def get_or_compute(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        path = self._path(key)
        if path.is_file():
            return load_file(str(path))["x"].float()
        value = compute().detach().to(torch.float16).contiguous()
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({"x": value}, str(tmp))
        os.replace(tmp, path)
        return value.float()


def file_digest(path: Path) -> str:
    """SHA-1 of a file's bytes: a cache entry follows the audio, not the path (a corpus rebuilt in
    place gets new entries; one copied elsewhere keeps its own)."""
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


class DialogueDataset(Dataset):
    """Index -> (Dialogue, cached tensor). `featurize` computes the frozen features of a dialogue.

    An entry is keyed by `fingerprint` (what computes it), the dialogue's id, its query audio's bytes
    and, with `reads_text`, its target text (stage 2's hidden states depend on the answer too)."""

    def __init__(self, dialogues: list[Dialogue], cache: TensorCache, featurize: Callable[[Dialogue], torch.Tensor],
                 fingerprint: str, reads_text: bool = False) -> None:
        self.items, self.cache, self.featurize, self.fingerprint = dialogues, cache, featurize, fingerprint
        self.reads_text = reads_text
        self._keys: dict[int, str] = {}

    def key(self, i: int) -> str:
        if i not in self._keys:
            d = self.items[i]
            text = "|" + hashlib.sha1(d.target.encode()).hexdigest() if self.reads_text else ""
            self._keys[i] = f"{self.fingerprint}|{d.id}|{file_digest(d.query_wav)}{text}"
        return self._keys[i]

    def __len__(self) -> int:
        return len(self.items)

    def precompute(self, desc: str) -> None:
        """Fill the cache for every item up front (a progress bar; resumable, since entries persist)."""
        from tqdm import tqdm

        for i in tqdm(range(len(self)), desc=desc, unit="utt", leave=False):
            self[i]

    def __getitem__(self, i: int) -> tuple[Dialogue, torch.Tensor]:
        d = self.items[i]
        return d, self.cache.get_or_compute(self.key(i), lambda: self.featurize(d))


def load_units(path: Path, vocab: int) -> list[int]:
    if path is None or not path.is_file():
        raise FileNotFoundError(f"speech units {path} missing: run `vocalnet tokenizer encode` on the manifest")
    units = np.load(path)
    if units.ndim != 1 or (units.size and (units.min() < 0 or units.max() >= vocab)):
        raise ValueError(f"{path}: units must be a 1-D array of ids in [0, {vocab})")
    return units.astype(np.int64).tolist()


def cached_datasets(cfg, namespace: str, featurize: Callable[[Dialogue], torch.Tensor], fingerprint: str,
                    desc: str, reads_text: bool = False,
                    extra_train: list[Dialogue] = (),
                    check: Callable[[Dialogue], None] | None = None) -> tuple[DialogueDataset, DialogueDataset | None]:
    """Train / dev datasets of a TrainConfig with their frozen features computed up front
    (`reads_text`: the features depend on the target text, not only on the query audio).
    `extra_train` joins the training items after `max_train_samples` is applied; `check` runs on every
    item before any feature is computed (it raises on an item the recipe cannot train on)."""
    cache = TensorCache(cfg.cache_dir or Path(cfg.output_dir) / "cache", namespace)
    train = [d for m in cfg.train_manifests for d in load_dialogues(m)][: cfg.max_train_samples] + list(extra_train)
    dev = load_dialogues(cfg.dev_manifest, cfg.max_dev_samples) if cfg.dev_manifest else None
    for d in (train + (dev or [])) if check else []:
        check(d)
    sets = [DialogueDataset(ds, cache, featurize, fingerprint, reads_text) if ds else None for ds in (train, dev)]
    for ds in filter(None, sets):
        ds.precompute(desc)
    return sets[0], sets[1]
