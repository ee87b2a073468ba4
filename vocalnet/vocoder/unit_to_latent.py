"""Speech units (25 Hz) -> the piper voice's z_p latent (hop 256 at 22.05 kHz, ~86 frames/s).

A small convolutional network: unit embeddings, residual conv blocks at the unit rate, a fixed
time mapping to latent frames (each frame takes the unit covering its start time, plus a learned
embedding of where inside that unit it falls), residual conv blocks at the frame rate, and a linear
projection to the latent. Every layer has a finite receptive field, so any window of frames can be
computed exactly from a window of units (`receptive_field`), which the streaming vocoder relies on.
The piper graph's own reverse flow + HiFi-GAN then renders the latent (see `piper_graph`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..checkpoint.io import atomic_dir

CONFIG_NAME = "unit_to_latent.json"
WEIGHTS_NAME = "unit_to_latent.safetensors"


@dataclass
class UnitToLatentConfig:
    unit_vocab_size: int = 1024
    latent_dim: int = 192
    channels: int = 256
    unit_blocks: int = 4
    unit_kernel: int = 3
    unit_dilations: list[int] | None = None  # per unit block (None: all 1); widens the context, and the lookahead
    frame_blocks: int = 4
    frame_kernel: int = 5
    phase_buckets: int = 4
    unit_rate: float = 25.0
    frame_rate: float = 22050 / 256

    def __post_init__(self) -> None:
        d = self.unit_dilations
        if d is not None and (len(d) != self.unit_blocks or any(x < 1 for x in d)):
            raise ValueError(f"unit_dilations needs one dilation >= 1 per unit block ({self.unit_blocks}), got {d}")

    @property
    def frames_per_unit(self) -> float:
        return self.frame_rate / self.unit_rate

    @property
    def dilations(self) -> list[int]:
        return list(self.unit_dilations) if self.unit_dilations is not None else [1] * self.unit_blocks


class ResBlock(nn.Module):
    """x + conv1x1(gelu(conv_k(norm(x)))), channels-first; the norm is per frame (local in time)."""

    def __init__(self, channels: int, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.norm = ChannelNorm(channels)
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.proj = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (x + self.proj(F.gelu(self.conv(self.norm(x) * mask)))) * mask


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over channels of a (B, C, T) tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class UnitToLatent(nn.Module):
    def __init__(self, config: UnitToLatentConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.unit_vocab_size, c.channels)
        self.unit_blocks = nn.ModuleList(ResBlock(c.channels, c.unit_kernel, d) for d in c.dilations)
        self.phase = nn.Embedding(c.phase_buckets, c.channels)
        self.frame_blocks = nn.ModuleList(ResBlock(c.channels, c.frame_kernel) for _ in range(c.frame_blocks))
        self.out = nn.Conv1d(c.channels, c.latent_dim, 1)

    # ---- time mapping ------------------------------------------------------------------------------------
    def frames_for(self, n_units: int) -> int:
        """Latent frames covering n units."""
        return math.ceil(n_units * self.config.frames_per_unit - 1e-6)

    def frame_to_unit(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit index covering each frame's start, and the frame's phase bucket inside that unit."""
        pos = frames.double() / self.config.frames_per_unit
        unit = torch.floor(pos + 1e-9).long()
        bucket = ((pos - unit) * self.config.phase_buckets).long().clamp(0, self.config.phase_buckets - 1)
        return unit, bucket

    @property
    def receptive_field(self) -> tuple[int, int]:
        """(units, frames) of context needed on each side for exact windowed computation."""
        c = self.config
        return sum(c.dilations) * (c.unit_kernel // 2), c.frame_blocks * (c.frame_kernel // 2)

    # ---- forward -------------------------------------------------------------------------------------------
    def forward(self, units: torch.Tensor, unit_lens: torch.Tensor, frame_lens: torch.Tensor,
                frame_offset: int | torch.Tensor = 0, unit_offset: int | torch.Tensor = 0) -> torch.Tensor:
        """units (B, N) -> latent (B, latent_dim, max(frame_lens)).

        frame_offset / unit_offset (ints or per-sample tensors) place windows: frame f of a sample
        is absolute frame frame_offset + f and reads the unit the time mapping gives, counted from
        unit_offset.
        """
        B, N = units.shape
        dev = units.device
        umask = (torch.arange(N, device=dev)[None] < unit_lens[:, None]).float()[:, None]
        x = self.embed(units).transpose(1, 2) * umask
        for block in self.unit_blocks:
            x = block(x, umask)
        T = int(frame_lens.max())
        f_off = torch.as_tensor(frame_offset, device=dev).reshape(-1, 1)
        u_off = torch.as_tensor(unit_offset, device=dev).reshape(-1, 1)
        unit, bucket = self.frame_to_unit(f_off + torch.arange(T, device=dev)[None])
        idx = torch.minimum((unit - u_off).clamp(min=0), (unit_lens - 1).clamp(min=0)[:, None]).expand(B, T)
        h = torch.gather(x, 2, idx[:, None].expand(B, x.shape[1], T)) + self.phase(bucket.expand(B, T)).transpose(1, 2)
        fmask = (torch.arange(T, device=dev)[None] < frame_lens[:, None]).float()[:, None]
        h = h * fmask
        for block in self.frame_blocks:
            h = block(h, fmask)
        return self.out(h) * fmask

    @torch.no_grad()
    def latent_window(self, units: torch.Tensor, start: int, end: int, total_frames: int | None = None) -> torch.Tensor:
        """Exact latent frames [start, end) of the whole sequence `units` (N,), from a local window."""
        n = units.shape[0]
        total = self.frames_for(n) if total_frames is None else total_frames
        ru, rf = self.receptive_field
        f0, f1 = max(0, start - rf), min(total, end + rf)
        u0 = max(0, int(self.frame_to_unit(torch.tensor([f0]))[0]) - ru)
        u1 = min(n, int(self.frame_to_unit(torch.tensor([f1 - 1]))[0]) + ru + 1)
        win = units[u0:u1][None]
        # Frames before f0 / after f1 are outside the sequence only at its true ends; inside, the
        # window carries rf frames of real context on each side.
        lat = self(win, torch.tensor([u1 - u0]), torch.tensor([f1 - f0]), frame_offset=f0, unit_offset=u0)
        return lat[0, :, start - f0 : end - f0]

    # ---- persistence ---------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        with atomic_dir(Path(path)) as tmp:
            (tmp / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
            save_file({k: v.half().contiguous() for k, v in self.state_dict().items()}, str(tmp / WEIGHTS_NAME))

    @classmethod
    def load(cls, path: str | Path) -> "UnitToLatent":
        path = Path(path)
        if not (path / CONFIG_NAME).is_file():
            raise FileNotFoundError(f"no unit-to-latent model at {path} ({CONFIG_NAME} missing)")
        model = cls(UnitToLatentConfig(**json.loads((path / CONFIG_NAME).read_text())))
        state = {k: v.float() for k, v in load_file(str(path / WEIGHTS_NAME)).items()}
        model.load_state_dict(state)
        return model.eval()
