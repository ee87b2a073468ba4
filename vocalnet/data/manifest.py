"""The corpus manifest: the official VocalNet JSON list plus our extra fields, paths relative to its folder.

Entry::

    {"id": "train-00000",
     "speech": "wavs/query/train-00000.wav",                 16 kHz mono query
     "conversations": [{"from": "human", "value": "<speech>"}, {"from": "gpt", "value": "<answer text>"}],
     "units": "units/train-00000.npy",                        answer speech tokens (written later by the tokenizer)
     "question": "...", "reference": "Paris" | null, "category": "capitals", "split": "train",
     "query_voice": {...voice spec...},
     "answer_audio": "wavs/answer/train-00000.wav",          22.05 kHz assistant voice
     "answer_latent": "latents/train-00000.npy",             float16 (C, T) piper latent of that same run
     "query_seconds": 2.1, "answer_seconds": 5.3}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPLITS = ("train", "dev", "test")
SPEECH_PLACEHOLDER = "<speech>"
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str, "speech": str, "conversations": list, "units": str, "question": str, "reference": (str, type(None)),
    "category": str, "split": str, "query_voice": dict, "answer_audio": str, "answer_latent": str,
    "query_seconds": (int, float), "answer_seconds": (int, float),
}


class ManifestError(ValueError):
    """The manifest file cannot be read as a JSON list of entries."""


def manifest_path(folder: str | Path, split: str) -> Path:
    return Path(folder) / f"{split}.json"


def item_paths(item_id: str) -> dict[str, str]:
    """The relative file paths of one item."""
    return {"speech": f"wavs/query/{item_id}.wav", "answer_audio": f"wavs/answer/{item_id}.wav",
            "answer_latent": f"latents/{item_id}.npy", "units": f"units/{item_id}.npy"}


def make_entry(item: dict[str, Any], query_seconds: float, answer_seconds: float) -> dict[str, Any]:
    """A manifest entry from a planned item (id, split, question, category, reference, answer, query_voice)."""
    paths = item_paths(item["id"])
    return {
        "id": item["id"],
        "speech": paths["speech"],
        "conversations": [{"from": "human", "value": SPEECH_PLACEHOLDER}, {"from": "gpt", "value": item["answer"]}],
        "units": paths["units"],
        "question": item["question"],
        "reference": item["reference"],
        "category": item["category"],
        "split": item["split"],
        "query_voice": item["query_voice"],
        "answer_audio": paths["answer_audio"],
        "answer_latent": paths["answer_latent"],
        "query_seconds": round(query_seconds, 3),
        "answer_seconds": round(answer_seconds, 3),
    }


def load_manifest(path: str | Path) -> list[Any]:
    """The raw entries of a manifest file (not validated; `vocalnet data check` reports per-entry problems)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path}: not a readable JSON file: {e}") from None
    if not isinstance(data, list):
        raise ManifestError(f"{path}: expected a JSON list of entries, got {type(data).__name__}")
    return data


def read_entries(path: str | Path, limit: int | None = None, require: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The first `limit` entries of a manifest; each must be an object holding the `require`d fields."""
    entries = load_manifest(path)[:limit] if limit else load_manifest(path)
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ManifestError(f"{path}: entry {i} is a {type(entry).__name__}, not an object")
        missing = [k for k in require if not entry.get(k)]
        if missing:
            raise ManifestError(f"{path}: entry {i} ({entry.get('id', '?')}) lacks {', '.join(missing)}")
    return entries


def entry_file(manifest: str | Path, entry: dict[str, Any], field: str) -> Path:
    """The file an entry's `field` names, resolved against the manifest's folder."""
    return Path(manifest).parent / entry[field]


def gpt_answer(entry: dict[str, Any]) -> str | None:
    """The value of the last ``gpt`` turn of an entry's conversation."""
    turns = [t for t in entry.get("conversations") or [] if isinstance(t, dict) and t.get("from") == "gpt"]
    return str(turns[-1].get("value", "")) if turns else None


def schema_problems(entry: Any) -> list[str]:
    """What is wrong with one entry's structure (empty list when it is valid)."""
    if not isinstance(entry, dict):
        return [f"entry is a {type(entry).__name__}, not an object"]
    problems = [f"missing field {k!r}" for k in FIELD_TYPES if k not in entry]
    problems += [f"field {k!r} has type {type(entry[k]).__name__}" for k, t in FIELD_TYPES.items()
                 if k in entry and not isinstance(entry[k], t)]
    conv = entry.get("conversations")
    if isinstance(conv, list):
        ok = (len(conv) == 2 and all(isinstance(t, dict) for t in conv)
              and conv[0].get("from") == "human" and conv[0].get("value") == SPEECH_PLACEHOLDER
              and conv[1].get("from") == "gpt" and isinstance(conv[1].get("value"), str) and conv[1]["value"].strip())
        if not ok:
            problems.append('conversations must be [{"from": "human", "value": "<speech>"}, '
                            '{"from": "gpt", "value": <non-empty answer>}]')
    if entry.get("split") is not None and entry.get("split") not in SPLITS:
        problems.append(f"split {entry.get('split')!r} is not one of {SPLITS}")
    return problems
