"""Evaluation judges (spec section 8) and the evaluation sets they run on.

- :mod:`vocalnet.evaluation.text_norm`: the one text normaliser, WER/CER (per utterance and corpus);
- :mod:`vocalnet.evaluation.asr`: ``AsrJudge`` (Whisper tiny.en via faster-whisper, greedy);
- :mod:`vocalnet.evaluation.mos`: ``MosJudge`` (DNSMOS P.835 via speechmos, 16 kHz).

This module holds what both judges share: ``load_items`` turns an audio file or a folder of them (each
with an optional sibling ``.txt`` reference) or a manifest JSON (the official format) into ``EvalItem`` rows,
plus ``Failure`` rows for entries that cannot be judged (judges record failures instead of stopping),
and ``wav16k`` brings any audio input to the judges' 16 kHz mono float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from vocalnet.audio.io import SAMPLE_RATE, load_audio, prepare_audio
from vocalnet.data.manifest import gpt_answer, read_entries

AudioInput = Union[np.ndarray, str, Path]  # an array is float mono at 16 kHz
AUDIO_SUFFIXES = (".wav", ".flac")


@dataclass(frozen=True)
class EvalItem:
    """One audio file to judge, with its reference text when there is one."""

    id: str
    audio: Path
    reference: str | None = None


@dataclass(frozen=True)
class Failure:
    """An entry that could not be judged, and why."""

    id: str
    error: str


def items_from_folder(folder: Path) -> list[EvalItem]:
    """The audio files directly in ``folder`` (sorted), each with its sibling ``.txt`` as reference."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    return [EvalItem(p.stem, p, _read_reference(p.with_suffix(".txt"))) for p in files]


def _read_reference(path: Path) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def items_from_manifest(
    manifest: Path, audio_field: str = "speech", ref_field: str | None = None
) -> tuple[list[EvalItem], list[Failure]]:
    """Entries of an official manifest: ``audio_field`` (relative to the manifest's folder) vs the text of
    ``ref_field`` (default: the gpt turn). Entries without the audio field are returned as failures."""
    entries = read_entries(manifest)
    items: list[EvalItem] = []
    failures: list[Failure] = []
    for index, entry in enumerate(entries):
        item_id = str(entry.get("id", index))
        audio = entry.get(audio_field)
        if not isinstance(audio, str) or not audio:
            failures.append(Failure(item_id, f"entry has no {audio_field!r} path"))
            continue
        reference = gpt_answer(entry) if ref_field is None else entry.get(ref_field)
        items.append(EvalItem(item_id, manifest.parent / audio, None if reference is None else str(reference)))
    return items, failures


def load_items(
    path: str | Path, audio_field: str = "speech", ref_field: str | None = None
) -> tuple[list[EvalItem], list[Failure]]:
    """Items of one audio file, a folder of audio files (each with an optional sibling ``.txt``
    reference) or a manifest JSON (fields are used for manifests only)."""
    path = Path(path)
    if path.is_dir():
        return items_from_folder(path), []
    if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
        return [EvalItem(path.stem, path, _read_reference(path.with_suffix(".txt")))], []
    if path.is_file():
        return items_from_manifest(path, audio_field, ref_field)
    raise FileNotFoundError(f"no such folder or manifest: {path}")


def wav16k(audio: AudioInput, name: str = "audio") -> np.ndarray:
    """Float32 mono 16 kHz audio from a file (any rate) or an array already at 16 kHz; silence is allowed
    (a silent answer must be judged, not skipped). Raises AudioError when it cannot be used."""
    if isinstance(audio, np.ndarray):
        return prepare_audio(audio, SAMPLE_RATE, SAMPLE_RATE, allow_silent=True, name=name)
    return load_audio(audio, SAMPLE_RATE, allow_silent=True)


def default_ids(audios: Sequence[AudioInput]) -> list[str]:
    """File stems for paths, positions for arrays."""
    return [str(i) if isinstance(a, np.ndarray) else Path(a).stem for i, a in enumerate(audios)]
