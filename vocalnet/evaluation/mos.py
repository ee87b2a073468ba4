"""Quality judge (spec section 8): DNSMOS P.835 (speechmos' ONNX models, onnxruntime) on 16 kHz audio.

Clips shorter than DNSMOS' 9.01 s window are tiled to fill it, as speechmos does; longer clips are scored
on 1 s hops and averaged. Report figures are means over utterances.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

import numpy as np
from tqdm import tqdm

from vocalnet.audio.io import SAMPLE_RATE
from vocalnet.evaluation import AudioInput, Failure, default_ids, load_items, wav16k

KEYS = ("ovrl", "sig", "bak")


@dataclass(frozen=True)
class MosScore:
    """DNSMOS of one clip (1-5 scale)."""

    id: str
    ovrl: float
    sig: float
    bak: float
    audio_seconds: float
    seconds: float  # scoring wall time

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **{k: round(getattr(self, k), 4) for k in KEYS},
                "audio_seconds": round(self.audio_seconds, 3), "seconds": round(self.seconds, 3)}


@dataclass
class MosReport:
    """Per-clip DNSMOS, their means, and the failures."""

    scores: list[MosScore] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    def mean(self, key: str) -> float | None:
        """Mean of ``ovrl``, ``sig`` or ``bak`` over the scored clips (None when none was scored)."""
        return fmean(getattr(s, key) for s in self.scores) if self.scores else None

    def to_dict(self) -> dict[str, Any]:
        return {"scored": len(self.scores), "failed": len(self.failures), **{k: self.mean(k) for k in KEYS},
                "clips": [s.to_dict() for s in self.scores],
                "failures": [{"id": f.id, "error": f.error} for f in self.failures]}

    def summary(self) -> str:
        """Readable report: mean OVRL/SIG/BAK, counts, then every failure."""
        lines = [f"MOS judge (DNSMOS P.835): {len(self.scores)} scored, {len(self.failures)} failed"]
        if self.scores:
            lines.append("mean " + "  ".join(f"{k.upper()} {self.mean(k):.3f}" for k in KEYS))
        lines += [f"  FAILED {f.id}: {f.error}" for f in self.failures]
        return "\n".join(lines)


class MosJudge:
    """DNSMOS P.835 scorer; the ONNX sessions are created once, on first use."""

    def __init__(self) -> None:
        self._dnsmos = None

    @property
    def dnsmos(self) -> Any:
        if self._dnsmos is None:
            import speechmos.dnsmos as sm

            models = Path(sm.__file__).parent / "dnsmos_models"
            self._dnsmos = sm.DNSMOS(str(models / "sig_bak_ovr.onnx"), str(models / "model_v8.onnx"))
        return self._dnsmos

    def score(self, wav: np.ndarray) -> dict[str, float]:
        """DNSMOS of float audio at 16 kHz: ``{"ovrl", "sig", "bak"}``."""
        audio = np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0)
        result = self.dnsmos(audio, SAMPLE_RATE, False)
        return {k: float(result[f"{k}_mos"]) for k in KEYS}

    def _score_one(self, item_id: str, audio: AudioInput) -> MosScore:
        wav = wav16k(audio, item_id)
        start = time.perf_counter()
        mos = self.score(wav)
        return MosScore(item_id, **mos, audio_seconds=wav.size / SAMPLE_RATE, seconds=time.perf_counter() - start)

    def score_many(
        self, audios: Iterable[AudioInput], ids: Sequence[str] | None = None, progress: bool = False
    ) -> MosReport:
        """Score each clip (array at 16 kHz or file); unusable audio becomes a failure."""
        clips = list(audios)
        ids = list(ids) if ids is not None else default_ids(clips)
        report = MosReport()
        for item_id, audio in tqdm(zip(ids, clips, strict=True), total=len(clips), desc="DNSMOS", unit="clip",
                                   disable=not progress):
            try:
                report.scores.append(self._score_one(item_id, audio))
            except (ValueError, RuntimeError, OSError) as e:
                report.failures.append(Failure(item_id, str(e)))
        return report

    def score_path(self, path: str | Path, audio_field: str = "speech", progress: bool = False) -> MosReport:
        """Score a folder of audio files or the ``audio_field`` files of a manifest (see ``load_items``)."""
        items, failures = load_items(path, audio_field)
        report = self.score_many([i.audio for i in items], [i.id for i in items], progress)
        report.failures[:0] = failures
        return report
