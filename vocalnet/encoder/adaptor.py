"""Downsample adaptor: concatenate k consecutive encoder frames, then Linear-ReLU-Linear (50 -> 10 Hz)."""

from __future__ import annotations

import torch
from torch import nn


class SpeechAdaptor(nn.Module):
    """(B, T, D_enc) -> (B, T // k, H_llm); official names `linear1`, `linear2`."""

    def __init__(self, encoder_dim: int, llm_dim: int, ds_rate: int = 5, hidden: int = 2048) -> None:
        super().__init__()
        if ds_rate < 1:
            raise ValueError(f"downsample rate must be >= 1, got {ds_rate}")
        self.k = ds_rate
        self.linear1 = nn.Linear(encoder_dim * ds_rate, hidden)
        self.relu = nn.ReLU()
        self.linear2 = nn.Linear(hidden, llm_dim)

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames beyond the last full group of k are dropped (as officially)."""
        B, T, D = x.shape
        n = T // self.k
        if n == 0:
            raise ValueError(f"speech too short: {T} encoder frames < downsample rate {self.k}")
        x = x[:, : n * self.k].reshape(B, n, D * self.k)
        return self.linear2(self.relu(self.linear1(x))), torch.div(lens, self.k, rounding_mode="floor")
