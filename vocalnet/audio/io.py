"""Audio input/output with clear errors: any rate, mono or multi-channel in; float32 mono out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000


class AudioError(ValueError):
    """The audio cannot be used: missing, unreadable, empty, silent or too long."""


def resample(wav: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return wav.astype(np.float32, copy=False)
    import librosa

    return librosa.resample(wav.astype(np.float32), orig_sr=sr, target_sr=target, res_type="soxr_hq").astype(np.float32)


def to_mono(wav: np.ndarray) -> np.ndarray:
    """(T,) or (T, C) -> (T,) by averaging channels."""
    return wav if wav.ndim == 1 else wav.mean(axis=1)


def load_audio(
    path: str | Path,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    min_seconds: float = 0.1,
    allow_silent: bool = False,
) -> np.ndarray:
    """Read any soundfile-readable file as float32 mono at `sample_rate`.

    Raises AudioError for a missing or unreadable file, empty or too short audio, digital silence
    (unless allow_silent) and audio longer than max_seconds.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"{path} is not a readable audio file: {e}") from None
    return prepare_audio(to_mono(np.asarray(wav)), sr, sample_rate, max_seconds, min_seconds, allow_silent, str(path))


def prepare_audio(
    wav: np.ndarray,
    sr: int,
    sample_rate: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    min_seconds: float = 0.1,
    allow_silent: bool = False,
    name: str = "audio",
) -> np.ndarray:
    """Validate an in-memory waveform and bring it to mono float32 at `sample_rate`."""
    wav = to_mono(np.asarray(wav, dtype=np.float32))
    if wav.size == 0:
        raise AudioError(f"{name} is empty")
    if not np.isfinite(wav).all():
        raise AudioError(f"{name} contains NaN or infinite samples")
    seconds = wav.size / sr
    if seconds < min_seconds:
        raise AudioError(f"{name} is too short ({seconds:.3f} s < {min_seconds} s)")
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(f"{name} is too long ({seconds:.1f} s > {max_seconds} s)")
    if not allow_silent and float(np.abs(wav).max()) < 1e-4:
        raise AudioError(f"{name} is silent")
    return resample(wav, sr, sample_rate)


def write_audio(path: str | Path, wav: np.ndarray, sample_rate: int) -> None:
    """Write float32 mono audio as 16-bit PCM WAV (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(wav, -1.0, 1.0), sample_rate, subtype="PCM_16")
