"""Safetensors state-dict I/O: atomic writes, sharded or single-file reads, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"


class CheckpointError(RuntimeError):
    """A checkpoint folder is missing files, is corrupt, or does not match the model."""


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder that replaces `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        _default_modes(tmp)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _default_modes(root: Path) -> None:
    """Give a finished folder the umask's usual modes: mkdtemp makes it owner-only and safetensors
    writes owner-only files, which would lock other users out of a shared model or cache folder."""
    probe = root / ".mode-probe"  # mkdir applies the umask; os.umask could only read it by changing it for all threads
    probe.mkdir()
    dir_mode = probe.stat().st_mode & 0o777
    probe.rmdir()
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(dir_mode if path.is_dir() else dir_mode & 0o666)


def save_state_dict(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Save tensors (contiguous copies; storage shared between names is written once per name)."""
    tensors = {k: v.detach().contiguous().clone() if _shares_storage(v, state) else v.detach().contiguous()
               for k, v in state.items()}
    save_file(tensors, str(path), metadata=metadata)


def _shares_storage(t: torch.Tensor, state: dict[str, torch.Tensor]) -> bool:
    ptr = t.untyped_storage().data_ptr()
    return sum(1 for v in state.values() if v.untyped_storage().data_ptr() == ptr) > 1


def load_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """Read `model.safetensors`, or the shards listed in `model.safetensors.index.json`."""
    folder = Path(folder)
    single, index = folder / WEIGHTS_NAME, folder / INDEX_NAME
    if single.is_file():
        files = [single]
    elif index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as e:
            raise CheckpointError(f"{index} is not a valid safetensors index: {e}") from None
        files = [folder / name for name in sorted(set(weight_map.values()))]
    else:
        raise CheckpointError(f"no weights in {folder}: expected {WEIGHTS_NAME} or {INDEX_NAME}")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        if not f.is_file():
            raise CheckpointError(f"missing weight shard {f}")
        try:
            state.update(load_file(str(f)))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"cannot read {f} (corrupt or not safetensors): {e}") from None
    return state


def submodule_state(folder: str | Path, prefix: str) -> dict[str, torch.Tensor]:
    """The fp32 tensors of one submodule (e.g. "speech_projector") of a vocalnet model folder."""
    head = prefix.rstrip(".") + "."
    state = {k[len(head):]: v.float() for k, v in load_state_dict(Path(folder)).items() if k.startswith(head)}
    if not state:
        raise CheckpointError(f"no {prefix} weights in {folder}")
    return state
