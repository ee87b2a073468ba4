"""ASR judge (spec section 8): Whisper tiny.en through faster-whisper, CPU int8, greedy, English, no VAD.

WER/CER compare the transcript with the reference after the shared normaliser (``text_norm``) on both
sides; corpus figures are the sum of edits over the sum of reference words (characters).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vocalnet.audio.io import SAMPLE_RATE
from vocalnet.evaluation import AudioInput, Failure, default_ids, load_items, wav16k
from vocalnet.evaluation.text_norm import ErrorCounts, char_errors, word_errors


@dataclass(frozen=True)
class AsrScore:
    """One transcribed utterance; error counts are None when it has no reference."""

    id: str
    hypothesis: str
    reference: str | None
    words: ErrorCounts | None
    chars: ErrorCounts | None
    audio_seconds: float
    seconds: float  # transcription wall time

    @property
    def wer(self) -> float | None:
        return None if self.words is None else self.words.rate

    @property
    def cer(self) -> float | None:
        return None if self.chars is None else self.chars.rate

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "hypothesis": self.hypothesis, "reference": self.reference, "wer": self.wer,
                "cer": self.cer, "audio_seconds": round(self.audio_seconds, 3), "seconds": round(self.seconds, 3)}


def _total(counts: Iterable[ErrorCounts | None]) -> ErrorCounts | None:
    present = [c for c in counts if c is not None]
    return sum(present, ErrorCounts(0, 0)) if present else None


@dataclass
class AsrReport:
    """Per-utterance scores, corpus WER/CER over the utterances with a reference, and the failures."""

    scores: list[AsrScore] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def words(self) -> ErrorCounts | None:
        return _total(s.words for s in self.scores)

    @property
    def chars(self) -> ErrorCounts | None:
        return _total(s.chars for s in self.scores)

    @property
    def corpus_wer(self) -> float | None:
        return None if self.words is None else self.words.rate

    @property
    def corpus_cer(self) -> float | None:
        return None if self.chars is None else self.chars.rate

    def to_dict(self) -> dict[str, Any]:
        return {"scored": len(self.scores), "failed": len(self.failures), "corpus_wer": self.corpus_wer,
                "corpus_cer": self.corpus_cer, "utterances": [s.to_dict() for s in self.scores],
                "failures": [{"id": f.id, "error": f.error} for f in self.failures]}

    def summary(self, max_rows: int = 20) -> str:
        """Readable report: corpus figures, the worst utterances (or transcripts), then every failure."""
        lines = [f"ASR judge (Whisper tiny.en, greedy): {len(self.scores)} scored, {len(self.failures)} failed"]
        if self.words is not None and self.chars is not None:
            lines.append(f"corpus WER {100 * self.words.rate:.2f} % ({self.words.edits}/{self.words.ref_len} words)"
                         f", CER {100 * self.chars.rate:.2f} % ({self.chars.edits}/{self.chars.ref_len} chars)")
            wrong = [s for s in self.scores if s.words is not None and s.words.edits]
            worst = sorted(wrong, key=lambda s: -s.words.rate)[:max_rows]
            lines += [f"  {s.id}: WER {100 * s.wer:.1f} %  hyp: {s.hypothesis!r}" for s in worst]
        lines += [f"  {s.id}: {s.hypothesis}" for s in self.scores if s.reference is None][:max_rows]
        lines += [f"  FAILED {f.id}: {f.error}" for f in self.failures]
        return "\n".join(lines)


class AsrJudge:
    """Transcribes speech with the bundled Whisper tiny.en CTranslate2 model (loaded once, on first use).

    CTranslate2 shares the process's OpenMP runtime with torch. With two threads it left torch's
    parallel ops several times slower afterwards (a 64x64 matmul: 9 -> 75 us on 2 cores); with one it
    sets torch's thread count to 1. So it runs one thread, and `transcribe` restores torch's count.
    """

    def __init__(self, model_dir: str | Path | None = None, threads: int = 1, compute_type: str = "int8") -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.compute_type = compute_type
        self._model = None

    @property
    def model(self) -> Any:
        if self._model is None:
            from faster_whisper import WhisperModel

            from vocalnet.assets.whisper_ct2 import find_bundled_whisper_ct2

            folder = self.model_dir if self.model_dir is not None else find_bundled_whisper_ct2()
            self._model = WhisperModel(str(folder), device="cpu", compute_type=self.compute_type,
                                       cpu_threads=self.threads, local_files_only=True)
        return self._model

    def transcribe(self, audio: AudioInput) -> str:
        """Transcript of 16 kHz float audio or of an audio file (greedy, temperature 0, no fallback)."""
        import torch

        threads = torch.get_num_threads()
        try:
            segments, _ = self.model.transcribe(
                wav16k(audio), language="en", beam_size=1, temperature=0.0, vad_filter=False
            )
            return " ".join(s.text.strip() for s in segments).strip()  # segments are decoded lazily, here
        finally:
            torch.set_num_threads(threads)

    def _score_one(self, item_id: str, audio: AudioInput, reference: str | None) -> AsrScore:
        wav = wav16k(audio, item_id)
        start = time.perf_counter()
        hypothesis = self.transcribe(wav)
        seconds = time.perf_counter() - start
        if reference is None:
            return AsrScore(item_id, hypothesis, None, None, None, wav.size / SAMPLE_RATE, seconds)
        return AsrScore(item_id, hypothesis, reference, word_errors(reference, hypothesis),
                        char_errors(reference, hypothesis), wav.size / SAMPLE_RATE, seconds)

    def score(
        self, pairs: Iterable[tuple[AudioInput, str | None]], ids: Sequence[str] | None = None, progress: bool = False
    ) -> AsrReport:
        """Transcribe each (audio, reference) pair and score it; unusable audio becomes a failure."""
        rows = list(pairs)
        ids = list(ids) if ids is not None else default_ids([audio for audio, _ in rows])
        report = AsrReport()
        for item_id, (audio, reference) in tqdm(zip(ids, rows, strict=True), total=len(rows), desc="ASR",
                                                unit="utt", disable=not progress):
            try:
                report.scores.append(self._score_one(item_id, audio, reference))
            except (ValueError, RuntimeError, OSError) as e:
                report.failures.append(Failure(item_id, str(e)))
        return report

    def score_path(
        self, path: str | Path, audio_field: str = "speech", ref_field: str | None = None, progress: bool = False
    ) -> AsrReport:
        """Score a folder of audio files (sibling ``.txt`` references) or a manifest (see ``load_items``)."""
        items, failures = load_items(path, audio_field, ref_field)
        report = self.score([(i.audio, i.reference) for i in items], [i.id for i in items], progress)
        report.failures[:0] = failures
        return report
