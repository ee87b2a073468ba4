"""`vocalnet data check`: validate a corpus folder's manifests and every file they point to.

All problems are collected (never stopping at the first) and reported as counts per kind with the
first examples of each. Errors make the check fail; warnings (e.g. units not produced yet when
``allow_missing_units``) do not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from vocalnet.audio.io import AudioError, load_audio
from vocalnet.data.manifest import SPLITS, ManifestError, load_manifest, manifest_path, schema_problems
from vocalnet.data.questions import normalize
from vocalnet.data.voices import ANSWER_RATE, QUERY_RATE

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Problem:
    severity: str
    kind: str
    where: str  # manifest[index] id
    message: str


@dataclass
class CheckReport:
    entries: dict[str, int] = field(default_factory=dict)  # manifest name -> number of entries
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    def format(self, max_examples: int = 5) -> str:
        total = sum(self.entries.values())
        warnings = len(self.problems) - len(self.errors)
        lines = [f"checked {len(self.entries)} manifest(s), {total} entries: "
                 + f"{len(self.errors)} error(s), {warnings} warning(s)"]
        lines += [f"  {name}: {n} entries" for name, n in self.entries.items()]
        kinds = Counter((p.severity, p.kind) for p in self.problems)
        for (severity, kind), count in sorted(kinds.items()):
            lines.append(f"{severity.upper()} {kind}: {count}")
            examples = [p for p in self.problems if (p.severity, p.kind) == (severity, kind)][:max_examples]
            lines += [f"    {p.where}: {p.message}" for p in examples]
        return "\n".join(lines)


def _audio_problems(path: Path, rate: int) -> list[tuple[str, str]]:
    if not path.is_file():
        return [("missing_file", f"{path} does not exist")]
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        return [("unreadable_audio", f"{path}: {e}")]
    problems = []
    if info.samplerate != rate:
        problems.append(("wrong_sample_rate", f"{path} is {info.samplerate} Hz, expected {rate}"))
    if info.channels != 1:
        problems.append(("not_mono", f"{path} has {info.channels} channels"))
    try:
        load_audio(path, sample_rate=info.samplerate)
    except AudioError as e:
        problems.append(("bad_audio", str(e)))
    return problems


def _load_npy(path: Path) -> tuple[np.ndarray | None, list[tuple[str, str]]]:
    if not path.is_file():
        return None, [("missing_file", f"{path} does not exist")]
    try:
        return np.load(path, allow_pickle=False), []
    except (OSError, ValueError) as e:
        return None, [("unreadable_npy", f"{path}: {e}")]


def _latent_problems(path: Path) -> list[tuple[str, str]]:
    latent, problems = _load_npy(path)
    if latent is not None and (latent.ndim != 2 or latent.size == 0 or not np.isfinite(latent).all()):
        problems.append(("bad_latent", f"{path}: expected a finite 2-D array, got shape {latent.shape}"))
    return problems


def _unit_problems(path: Path, vocab: int | None) -> list[tuple[str, str]]:
    units, problems = _load_npy(path)
    if units is None:
        return [("missing_units", m) if k == "missing_file" else (k, m) for k, m in problems]
    if units.ndim != 1 or units.size == 0 or not np.issubdtype(units.dtype, np.integer):
        return [("bad_units", f"{path}: expected a non-empty 1-D integer array, got {units.dtype} {units.shape}")]
    if vocab is not None and (units.min() < 0 or units.max() >= vocab):
        return [("units_out_of_range", f"{path}: tokens span [{units.min()}, {units.max()}], vocab is {vocab}")]
    return []


def _entry_problems(entry: dict[str, Any], root: Path, vocab: int | None) -> list[tuple[str, str]]:
    checks = (("speech", lambda p: _audio_problems(p, QUERY_RATE)),
              ("answer_audio", lambda p: _audio_problems(p, ANSWER_RATE)),
              ("answer_latent", _latent_problems),
              ("units", lambda p: _unit_problems(p, vocab)))
    return [problem for key, check in checks if isinstance(entry.get(key), str) for problem in check(root / entry[key])]


class _Seen:
    """Ids and question texts seen so far, across manifests."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.question_split: dict[str, str] = {}

    def problems(self, entry: dict[str, Any], manifest: Path) -> list[tuple[str, str]]:
        out = []
        item_id, split, question = entry.get("id"), entry.get("split"), entry.get("question")
        if isinstance(item_id, str):
            if item_id in self.ids:
                out.append(("duplicate_id", f"{item_id} also in {self.ids[item_id]}"))
            self.ids.setdefault(item_id, manifest.name)
        if manifest.stem in SPLITS and split is not None and split != manifest.stem:
            out.append(("split_mismatch", f"entry has split {split!r} in {manifest.name}"))
        if isinstance(question, str) and isinstance(split, str):
            other = self.question_split.setdefault(normalize(question), split)
            if other != split:
                out.append(("split_leak", f"question {question!r} is in both {other} and {split}"))
        return out


def _check_manifest(path: Path, entries: list[Any], seen: _Seen, vocab: int | None, allow_missing_units: bool,
                    progress: bool) -> list[Problem]:
    problems = []
    for i, entry in enumerate(tqdm(entries, desc=path.name, disable=not progress)):
        where = f"{path.name}[{i}] {entry.get('id', '') if isinstance(entry, dict) else ''}".strip()
        found = [("schema", message) for message in schema_problems(entry)]
        if isinstance(entry, dict):
            found += seen.problems(entry, path) + _entry_problems(entry, path.parent, vocab)
        problems += [Problem(WARNING if kind == "missing_units" and allow_missing_units else ERROR, kind, where, msg)
                     for kind, msg in found]
    return problems


def check_corpus(folder: str | Path, vocab: int | None = None, allow_missing_units: bool = False,
                 manifests: Sequence[str | Path] | None = None, progress: bool = False) -> CheckReport:
    """Check the split manifests of `folder` (or the given manifest files) and the files they name."""
    if manifests:
        paths = [Path(m) for m in manifests]
    else:
        paths = [p for s in SPLITS if (p := manifest_path(folder, s)).is_file()]
    report = CheckReport()
    if not paths:
        report.problems.append(Problem(ERROR, "no_manifest", str(folder), f"no {'/'.join(SPLITS)}.json found"))
    seen = _Seen()
    for path in paths:
        try:
            entries = load_manifest(path)
        except ManifestError as e:
            report.problems.append(Problem(ERROR, "bad_manifest", path.name, str(e)))
            continue
        report.entries[path.name] = len(entries)
        report.problems += _check_manifest(path, entries, seen, vocab, allow_missing_units, progress)
    return report
