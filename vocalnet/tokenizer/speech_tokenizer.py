"""25 Hz semantic speech tokens: k-means over Whisper-encoder features, or over phone posteriors.

Why this method: like CosyVoice's supervised tokens, the features come from an ASR encoder, so the
tokens keep what is said (phonetic content) and drop most of who says it and how; that makes them
easy for the speech generator to predict from text, and the vocoder (one fixed voice) supplies the
timbre back. Whisper's encoder runs at 50 Hz; two frames are averaged to reach 25 Hz (VocalNet's
token rate). The vocabulary defaults to 1024: enough to separate phones in context at 25 Hz, small
enough for a CPU-sized generator (its heads are hidden x vocab) and for a corpus of ~10 hours.
The clustered layer defaults to Whisper tiny.en's third layer (index 2): in a resynthesis test
(units -> vocoder -> ASR, 583 training answers) its units gave 17% WER, against 28% for index 1
and 85% for the final layer, whose features are too contextual for k-means to keep the phones.
A supervised variant (features of +-4 tokens of layer 3, projected by ridge regression onto the
voice latent, k-means there) resynthesised worse: 12.4% against 9.1% WER on 40 test answers.

The "phone" method (`phone_quantizer`) supervises the features first: a small classifier over the
token's two frames (concatenated) predicts the answer voice's phonemes, and k-means clusters its
posteriors. The quantiser is a module with `encode(features) -> ids` saved as
`quantizer.safetensors`, so both methods share the features, the file layout and `encode`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..audio.features import LogMel
from ..checkpoint.io import atomic_dir
from ..encoder.speech_encoder import SpeechEncoder
from .phone_quantizer import (PhonePosteriorQuantizer, fit_centroids, nearest_centroid, phone_targets,
                              train_phone_quantizer)

CONFIG_NAME = "tokenizer.json"
WEIGHTS_NAME = "quantizer.safetensors"
METHODS = ("kmeans", "phone")
POOL_MODES = ("mean", "concat")
MEL_FRAMES_PER_ENCODER_FRAME = 2  # Whisper's second conv has stride 2


@dataclass
class TokenizerConfig:
    vocab_size: int = 1024
    layer: int = 2  # Whisper encoder layer whose output is clustered (-1: final, after layer norm)
    pool: int = 2  # 50 Hz encoder frames averaged per token
    seed: int = 0
    edge_pad_tokens: int = 12  # silence added at both ends while encoding (then cut): normal context at the edges
    method: str = "kmeans"
    pool_mode: str = "mean"  # how `pool` frames make one token: averaged, or concatenated (keeps their order)
    phone_classes: int = 0  # "phone": size of the phoneme label set (the answer voice's phoneme ids)
    phone_channels: int = 256  # "phone": width of the phone classifier

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"tokenizer method must be one of {METHODS}, got {self.method!r}")
        if self.pool_mode not in POOL_MODES:
            raise ValueError(f"tokenizer pool_mode must be one of {POOL_MODES}, got {self.pool_mode!r}")
        if self.method == "phone" and (self.pool_mode != "concat" or self.phone_classes < 2):
            raise ValueError("the phone method needs pool_mode 'concat' (a posterior per frame) and phone_classes >= 2")


class KMeansQuantizer(nn.Module):
    """Nearest centroid: features (B, T, D) -> ids (B, T)."""

    def __init__(self, centroids: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("centroids", centroids.float())

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        return nearest_centroid(self.centroids, feats)


def build_quantizer(config: TokenizerConfig, dim: int) -> nn.Module:
    if config.method == "phone":
        return PhonePosteriorQuantizer(dim, config.pool, config.phone_classes, config.phone_channels, config.vocab_size)
    return KMeansQuantizer(torch.zeros(config.vocab_size, dim))


class WhisperFeatures:
    """16 kHz audio -> pooled Whisper encoder features (T_tokens, D)."""

    def __init__(self, whisper_dir: str | Path, layer: int = -1, pool: int = 2, edge_pad_tokens: int = 0,
                 pool_mode: str = "mean") -> None:
        self.logmel = LogMel(whisper_dir)
        self.encoder = SpeechEncoder.from_pretrained(whisper_dir).eval()
        n_layers = len(self.encoder.whisper.layers)
        if not -1 <= layer < n_layers:
            raise ValueError(f"layer must be -1 or in [0, {n_layers}), got {layer}")
        self.layer, self.pool, self.edge_pad, self.pool_mode = layer, pool, edge_pad_tokens, pool_mode

    @property
    def dim(self) -> int:
        return self.encoder.hidden_size * (self.pool if self.pool_mode == "concat" else 1)

    @torch.inference_mode()
    def __call__(self, wav16k: np.ndarray) -> torch.Tensor:
        """Without padding the encoder sees an abrupt start and end, and the edge tokens come out
        atypical (a spurious onset, a lost last word after resynthesis): `edge_pad` tokens' worth of
        silence on both sides gives the edges ordinary context; the padded tokens are cut off again."""
        if not self.edge_pad:
            return self._pooled(wav16k)
        encoder_frames = math.ceil(self.logmel.frames(len(wav16k)) / MEL_FRAMES_PER_ENCODER_FRAME)
        n_tokens = math.ceil(encoder_frames / self.pool)
        pad = np.zeros(self.edge_pad * self.pool * MEL_FRAMES_PER_ENCODER_FRAME * self.logmel.hop, dtype=np.float32)
        return self._pooled(np.concatenate([pad, wav16k.astype(np.float32), pad]))[self.edge_pad : self.edge_pad + n_tokens]

    def _pooled(self, wav16k: np.ndarray) -> torch.Tensor:
        mel = self.logmel(wav16k)[None]
        if self.layer == -1:
            h, _ = self.encoder(mel)
        else:
            h = self._hidden_at(mel, self.layer)
        h = h[0]
        if self.pool_mode == "concat":  # a trailing partial group is filled by repeating its last frame
            short = -h.shape[0] % self.pool
            h = torch.cat([h, h[-1:].expand(short, -1)]) if short else h
            return h.reshape(-1, self.pool * h.shape[-1])
        n = h.shape[0] // self.pool * self.pool
        pooled = h[:n].view(-1, self.pool, h.shape[-1]).mean(1)
        if n < h.shape[0]:  # a trailing partial group still makes a token (covers the audio's end)
            pooled = torch.cat([pooled, h[n:].mean(0, keepdim=True)])
        return pooled

    def _hidden_at(self, mel: torch.Tensor, layer: int) -> torch.Tensor:
        w = self.encoder.whisper
        x = torch.nn.functional.gelu(w.conv1(mel))
        x = torch.nn.functional.gelu(w.conv2(x)).permute(0, 2, 1)
        x = x + w.embed_positions.weight[: x.shape[1]]
        for lyr in w.layers[: layer + 1]:
            x = lyr(x, None)
        return x


class SpeechTokenizer:
    """Audio -> unit ids in [0, vocab_size) at 25 Hz."""

    def __init__(self, quantizer: nn.Module, config: TokenizerConfig, features: WhisperFeatures) -> None:
        self.quantizer = quantizer.eval()
        self.config = config
        self.features = features

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @torch.inference_mode()
    def encode(self, wav16k: np.ndarray) -> np.ndarray:
        return self.quantizer.encode(self.features(wav16k)[None])[0].numpy().astype(np.int64)

    @classmethod
    def train(
        cls, wavs: Iterable[np.ndarray], whisper_dir: str | Path, config: TokenizerConfig | None = None,
        max_frames: int = 400_000, progress: bool = True, phones: Iterable[np.ndarray] | None = None,
        phone_rate: float = 22050 / 256, phone_steps: int = 2000,
    ) -> "SpeechTokenizer":
        """Fit the quantiser on the features of up to max_frames tokens. k-means: `fit_centroids` on
        the features. phone: ``phones`` gives each wav's frame phoneme ids at
        ``phone_rate`` Hz (`vocalnet data phones`); the classifier trains ``phone_steps`` steps."""
        from tqdm import tqdm

        config = config or TokenizerConfig()
        if config.method == "phone" and phones is None:
            raise ValueError("the phone method needs each wav's phone labels (`vocalnet data phones`)")
        feats = WhisperFeatures(whisper_dir, config.layer, config.pool, config.edge_pad_tokens, config.pool_mode)
        chunks, targets, total = [], [], 0
        labels = iter(phones) if config.method == "phone" else None
        for wav in tqdm(wavs, desc="tokenizer features", disable=not progress, unit="utt"):
            f = feats(wav)
            chunks.append(f)
            if labels is not None:
                targets.append(phone_targets(next(labels), phone_rate, len(f), config.pool, config.phone_classes))
            total += len(f)
            if total >= max_frames:
                break
        if config.method == "phone":
            quantizer = train_phone_quantizer(chunks, targets, config.vocab_size, config.phone_channels, phone_steps,
                                              seed=config.seed, progress=progress)
            return cls(quantizer, config, feats)
        centroids = fit_centroids(torch.cat(chunks).numpy()[:max_frames], config.vocab_size, config.seed)
        return cls(KMeansQuantizer(centroids), config, feats)

    def save(self, path: str | Path) -> None:
        with atomic_dir(Path(path)) as tmp:
            (tmp / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
            state = {k: v.detach().half().contiguous() for k, v in self.quantizer.state_dict().items()}
            save_file(state, str(tmp / WEIGHTS_NAME))

    @classmethod
    def load(cls, path: str | Path, whisper_dir: str | Path | None = None) -> "SpeechTokenizer":
        path = Path(path)
        if not (path / CONFIG_NAME).is_file() or not (path / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"no speech tokenizer at {path} (need {CONFIG_NAME} and {WEIGHTS_NAME})")
        config = TokenizerConfig(**json.loads((path / CONFIG_NAME).read_text()))
        if whisper_dir is None:
            from ..assets import default_asset_paths

            whisper_dir = default_asset_paths().whisper
        feats = WhisperFeatures(whisper_dir, config.layer, config.pool, config.edge_pad_tokens, config.pool_mode)
        quantizer = build_quantizer(config, feats.dim)
        state = {k: v.float() for k, v in load_file(str(path / WEIGHTS_NAME)).items()}
        try:
            quantizer.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"{path / WEIGHTS_NAME} does not match {path / CONFIG_NAME}: {e}") from None
        return cls(quantizer, config, feats)
