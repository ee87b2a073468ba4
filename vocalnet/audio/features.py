"""Whisper log-mel front end at the audio's real length (no padding to 30 s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from .io import SAMPLE_RATE


class LogMel:
    """16 kHz mono float32 -> Whisper log-mel (n_mels, len // 160), identical to the padded features."""

    def __init__(self, whisper_dir: str | Path | None = None, num_mel_bins: int = 80) -> None:
        """From a Whisper folder's preprocessor config, or Whisper's standard front end (n_fft 400, hop 160)."""
        if whisper_dir is not None and (Path(whisper_dir) / "preprocessor_config.json").is_file():
            self.extractor = WhisperFeatureExtractor.from_pretrained(Path(whisper_dir))
        else:
            self.extractor = WhisperFeatureExtractor(feature_size=num_mel_bins)

    @property
    def num_mel_bins(self) -> int:
        return self.extractor.feature_size

    @property
    def hop(self) -> int:
        return self.extractor.hop_length

    def frames(self, num_samples: int) -> int:
        """Mel frames of `num_samples` of audio."""
        return num_samples // self.hop

    def __call__(self, wav: np.ndarray) -> torch.Tensor:
        out = self.extractor(wav, sampling_rate=SAMPLE_RATE, padding="longest", return_tensors="np")
        return torch.from_numpy(out.input_features[0])

    def batch(self, wavs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded (B, n_mels, T) log-mels and their lengths."""
        mels = [self(w) for w in wavs]
        lens = torch.tensor([m.shape[-1] for m in mels])
        out = torch.zeros(len(mels), mels[0].shape[0], int(lens.max()))
        for i, m in enumerate(mels):
            out[i, :, : m.shape[-1]] = m
        return out, lens
