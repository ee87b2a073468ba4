"""Crash-safe files for resumable corpus building: atomic writes and an append-only JSON-lines log."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_TAG = ".tmp-"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a hidden temporary sibling of `path` (same suffix) to write; it replaces `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{TMP_TAG}{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_temporaries(folder: str | Path) -> None:
    """Delete the temporaries that killed writers left under `folder`."""
    for path in Path(folder).rglob(f".*{TMP_TAG}*"):
        path.unlink(missing_ok=True)


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def pin_settings(path: str | Path, settings: dict[str, Any], owner: str | Path, advice: str,
                 may_grow: tuple[str, ...] = ()) -> None:
    """Record the settings a resumable build started with at `path`, or check that a resumed run
    uses the same ones (ValueError naming every setting that differs, with its recorded value).
    A setting named in `may_grow` may be larger than recorded (the build extends what it made); the
    record then takes the new value."""
    path = Path(path)
    if not path.is_file():
        write_json(path, settings)
        return
    old = read_json(path)
    grown = {k for k in may_grow if k in old and isinstance(settings.get(k), int) and settings[k] > old[k]}
    diff = {k: old.get(k) for k in {**old, **settings} if old.get(k) != settings.get(k) and k not in grown}
    if diff:
        growable = f" ({', '.join(may_grow)} may only grow)" if set(diff) & set(may_grow) else ""
        raise ValueError(f"{owner} was started with other settings {diff}{growable}; {advice}")
    if grown:
        write_json(path, settings)


class JsonlLog:
    """Append-only log of JSON records, flushed and synced per record.

    A run killed mid-write leaves at most one torn last line; `load` drops it (and rewrites the
    file without it) so appending can continue cleanly.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        lines = self.path.read_text().splitlines()
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
        if len(records) < len(lines):
            with atomic_path(self.path) as tmp:
                tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        return records

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
