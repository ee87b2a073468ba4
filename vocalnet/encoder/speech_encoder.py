"""Speech encoder: a HF `WhisperEncoder` that encodes the real length of the audio by default.

Whisper was trained on 30 s windows and HF's `WhisperEncoder.forward` insists on 3000 mel frames.
We drive its submodules ourselves so that a 3 s question costs 3 s of compute; `pad_to_30s=True`
restores the official behaviour (the released VocalNet checkpoints were trained with it). Batches
of different lengths are right-padded and masked, so each sample encodes as if it were alone.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder


class SpeechEncoder(nn.Module):
    """Log-mel (B, n_mels, T) -> encoder states (B, ceil(T/2), D) at 50 Hz, with their lengths."""

    def __init__(self, whisper: WhisperEncoder, pad_to_30s: bool = False, frozen: bool = True) -> None:
        super().__init__()
        self.whisper = whisper
        self.pad_to_30s = pad_to_30s
        self.frozen = frozen
        if frozen:
            self.whisper.requires_grad_(False)

    @classmethod
    def from_config(cls, config: WhisperConfig, **kwargs) -> "SpeechEncoder":
        config._attn_implementation = "sdpa"
        return cls(WhisperEncoder(config), **kwargs)

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs) -> "SpeechEncoder":
        """Load the encoder half of a local HF Whisper checkpoint folder."""
        from transformers import WhisperModel

        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no Whisper checkpoint at {path} (config.json missing)")
        model = WhisperModel.from_pretrained(path, attn_implementation="sdpa")
        return cls(model.get_encoder(), **kwargs)

    @property
    def hidden_size(self) -> int:
        return self.whisper.config.d_model

    @property
    def num_mel_bins(self) -> int:
        return self.whisper.config.num_mel_bins

    def train(self, mode: bool = True) -> "SpeechEncoder":
        super().train(mode)
        if self.frozen:
            self.whisper.eval()  # no dropout in a frozen encoder
        return self

    def forward(self, mel: torch.Tensor, mel_lens: torch.Tensor | list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if mel.dim() != 3 or mel.shape[1] != self.num_mel_bins:
            raise ValueError(f"expected log-mel of shape (B, {self.num_mel_bins}, T), got {tuple(mel.shape)}")
        B, _, T = mel.shape
        lens = torch.full((B,), T) if mel_lens is None else torch.as_tensor(mel_lens).cpu()
        max_frames = self.whisper.config.max_source_positions * 2
        if int(lens.max()) > max_frames:
            raise ValueError(f"audio too long for the encoder: {int(lens.max())} mel frames > {max_frames} (30 s)")
        if mel_lens is not None:  # frames past each length act like the conv's zero padding of a lone sample
            mel = mel * (torch.arange(T)[None, :] < lens[:, None]).to(mel)[:, None, :]
        if self.pad_to_30s:
            mel = F.pad(mel[..., :max_frames], (0, max_frames - min(T, max_frames)))
        out_lens = (lens - 1) // 2 + 1
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            h = self._encode(mel, None if self.pad_to_30s else out_lens)
        return h, out_lens.to(h.device)

    def _encode(self, mel: torch.Tensor, out_lens: torch.Tensor | None) -> torch.Tensor:
        w = self.whisper
        x = F.gelu(w.conv1(mel))
        x = F.gelu(w.conv2(x)).permute(0, 2, 1)
        x = x + w.embed_positions.weight[: x.shape[1]]
        x = F.dropout(x, p=w.dropout, training=w.training)
        mask = None
        if out_lens is not None and int(out_lens.min()) < x.shape[1]:
            keys = torch.arange(x.shape[1])[None, :] < out_lens[:, None]
            mask = torch.zeros(keys.shape, dtype=x.dtype).masked_fill(~keys, torch.finfo(x.dtype).min)
            mask = mask[:, None, None, :].to(x.device)
        for layer in w.layers:
            x = layer(x, mask)
        return w.layer_norm(x)
