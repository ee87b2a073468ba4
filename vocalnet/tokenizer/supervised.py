"""Supervised speech tokens: an FSQ bottleneck inside a frozen Whisper, trained so Whisper can still read.

The tokenizer's 25 Hz features (pooled Whisper layer-L outputs) go through finite scalar
quantisation (FSQ, from vector-quantize-pytorch); the codes are the tokens. For training, the codes
are turned back into 50 Hz frames, Whisper's positions are added again, and the rest of the frozen
Whisper (encoder layers after L, its decoder) must transcribe the audio from them: the loss is
the decoder's cross-entropy on the transcript. Only the bottleneck learns, so the token partition is
chosen for what is said, as in CosyVoice's supervised tokens; unlike k-means on the same features,
which spends its clusters on whatever varies most (the ASR test of a vocoder on k-means units lost
twice the words of the original audio).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from vector_quantize_pytorch import FSQ


class FSQBottleneck(nn.Module):
    """Pooled features (B, T, D) -> codes (B, T) in [0, prod(levels)) and frames (B, T * pool, D)."""

    def __init__(self, dim: int, levels: list[int], pool: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)  # unit-scale inputs spread over the levels (raw ones sit near the centre code)
        self.fsq = FSQ(levels=list(levels), dim=dim)
        self.up = nn.Linear(dim, dim * pool)
        self.pool = pool

    @property
    def vocab_size(self) -> int:
        return self.fsq.codebook_size

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fsq(self.norm(feats))[1].long()

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        quantized, codes = self.fsq(self.norm(feats))
        B, T, D = quantized.shape
        return self.up(quantized).view(B, T * self.pool, D), codes.long()


class WhisperReader(nn.Module):
    """The frozen rest of Whisper after layer L: 50 Hz frames + transcript ids -> summed CE and count."""

    def __init__(self, whisper_dir: str | Path, layer: int) -> None:
        super().__init__()
        from transformers import WhisperForConditionalGeneration

        model = WhisperForConditionalGeneration.from_pretrained(whisper_dir, attn_implementation="sdpa").eval()
        model.requires_grad_(False)
        encoder = model.model.encoder
        self.layers = encoder.layers[layer + 1:]
        self.layer_norm = encoder.layer_norm
        self.positions = encoder.embed_positions
        self.decoder = model.model.decoder
        self.proj_out = model.proj_out

    def train(self, mode: bool = True) -> "WhisperReader":
        return super().train(False)  # frozen: never dropout

    def forward(self, frames: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = frames + self.positions.weight[: frames.shape[1]]
        for layer in self.layers:
            x = layer(x, None)
        hidden = self.decoder(input_ids=ids, encoder_hidden_states=self.layer_norm(x)).last_hidden_state
        keep = labels != -100
        ce = F.cross_entropy(self.proj_out(hidden[keep]), labels[keep], reduction="sum")
        return ce, keep.sum()
