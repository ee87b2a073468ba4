"""Units -> waveform in the assistant's voice, whole or streamed chunk by chunk.

`Vocoder` = `UnitToLatent` (trained here) + the piper voice's own reverse flow and HiFi-GAN
(`PiperLatentDecoder`). Both stages have finite receptive fields, so `StreamingVocoder` renders each
chunk from a window of units with context on both sides. With the decoder's full right context
(`RIGHT_CONTEXT`, 32 latent frames) the stream equals whole-utterance decoding; the streaming default
is half of it (`STREAM_RIGHT_CONTEXT`), which lets the first 15-unit chunk out after 30 units instead
of 35 (after two text chunks of the smol generator's 5 -> 15 schedule instead of three). The last
frames of a chunk then differ slightly from whole-utterance decoding, so each chunk also renders a
short continuation past its end, and the next chunk fades from that continuation into its own
audio: the seam stays continuous.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .piper_graph import LEFT_CONTEXT, PiperLatentDecoder
from .unit_to_latent import UnitToLatent

# Decoder right context of streamed chunks, in latent frames. 16 instead of the exact 32: on the first
# 100 test answers (`vocalnet eval resynth`) the stream scored 11.35% WER / DNSMOS 3.361 against 11.23% /
# 3.361 for whole-utterance decoding, and the first chunk needs 30 units instead of 35.
STREAM_RIGHT_CONTEXT = 16
CROSSFADE_FRAMES = 1  # latent frames (~12 ms) over which a chunk fades in from the previous one's continuation


class Vocoder:
    def __init__(self, unit_to_latent: UnitToLatent, decoder: PiperLatentDecoder | None = None) -> None:
        self.u2l = unit_to_latent.eval()
        self.decoder = decoder or PiperLatentDecoder()
        if self.decoder.latent_dim != self.u2l.config.latent_dim:
            raise ValueError(f"latent dims differ: model {self.u2l.config.latent_dim}, voice {self.decoder.latent_dim}")

    @classmethod
    def load(cls, path: str | Path, voice_onnx: Path | None = None) -> "Vocoder":
        return cls(UnitToLatent.load(path), PiperLatentDecoder(voice_onnx))

    @property
    def sample_rate(self) -> int:
        return self.decoder.sample_rate

    @property
    def vocab_size(self) -> int:
        return self.u2l.config.unit_vocab_size

    def _check(self, units: np.ndarray | list[int]) -> torch.Tensor:
        u = torch.as_tensor(np.asarray(units, dtype=np.int64))
        if u.ndim != 1 or u.numel() == 0:
            raise ValueError("units must be a non-empty 1-D sequence")
        if int(u.min()) < 0 or int(u.max()) >= self.vocab_size:
            raise ValueError(f"units must lie in [0, {self.vocab_size})")
        return u

    @torch.inference_mode()
    def latent(self, units: np.ndarray | list[int]) -> np.ndarray:
        u = self._check(units)
        n = u.numel()
        lat = self.u2l(u[None], torch.tensor([n]), torch.tensor([self.u2l.frames_for(n)]))
        return lat[0].numpy()

    def decode(self, units: np.ndarray | list[int]) -> np.ndarray:
        """Whole-utterance decoding: float32 audio at `sample_rate`."""
        return self.decoder.decode(self.latent(units))


class StreamingVocoder:
    """Takes units as they arrive; returns audio as soon as `chunk_units` worth is final.

    left_context / right_context are the decoder's latent-frame contexts (left: exact; right: see
    `STREAM_RIGHT_CONTEXT`; `RIGHT_CONTEXT` makes the stream exact). Each chunk fades in over
    `crossfade_frames` from the previous chunk's rendering of the same frames.
    Lookahead in units = what the unit-to-latent model and the decoder's right context need.
    Every rendered window pays for its contexts, so after the first chunk (which sets the latency)
    the chunk size grows by `growth` up to `max_chunk_units`, as CosyVoice's streaming does.
    """

    def __init__(self, vocoder: Vocoder, chunk_units: int = 15, left_context: int = LEFT_CONTEXT,
                 right_context: int = STREAM_RIGHT_CONTEXT, growth: float = 2.0, max_chunk_units: int = 120,
                 crossfade_frames: int = CROSSFADE_FRAMES) -> None:
        if chunk_units < 1 or growth < 1 or max_chunk_units < chunk_units:
            raise ValueError("need chunk_units >= 1, growth >= 1 and max_chunk_units >= chunk_units")
        if not 0 <= crossfade_frames <= right_context:
            raise ValueError(f"crossfade_frames must be in 0..right_context ({right_context}), got {crossfade_frames}")
        self.v, self.first_chunk = vocoder, chunk_units
        self.growth, self.max_chunk = growth, max_chunk_units
        self.left, self.right = left_context, right_context
        self.crossfade = crossfade_frames
        self.reset()

    def reset(self) -> None:
        self.units: list[int] = []
        self.emitted = 0  # latent frames already rendered
        self.chunk_units = self.first_chunk
        self.tail = np.zeros(0, dtype=np.float32)  # the last chunk's rendering of the frames after it

    @property
    def lookahead_units(self) -> int:
        """Units beyond a chunk's end needed before the chunk can be rendered."""
        ru, rf = self.v.u2l.receptive_field
        return int(np.ceil((self.right + rf) / self.v.u2l.config.frames_per_unit)) + ru

    def push(self, units: list[int]) -> list[np.ndarray]:
        """Add units; return the audio chunks that became final."""
        self.units.extend(int(u) for u in units)
        chunks = []
        while True:
            chunk_frames = self.v.u2l.frames_for(self.chunk_units)
            if self._ready_frames() - self.emitted < chunk_frames:
                return chunks
            chunks.append(self._render(self.emitted + chunk_frames, final=False))
            self.chunk_units = min(self.max_chunk, int(self.chunk_units * self.growth))

    def finish(self) -> np.ndarray:
        """Render everything left (end of the utterance)."""
        total = self.v.u2l.frames_for(len(self.units))
        if not self.units or self.emitted >= total:
            return np.zeros(0, dtype=np.float32)
        return self._render(total, final=True)

    def _ready_frames(self) -> int:
        """Frames whose audio no future unit can change."""
        u2l, n = self.v.u2l, len(self.units)
        ru, rf = u2l.receptive_field
        last_unit = n - 1 - ru  # newest unit whose model output is final
        if last_unit < 0:
            return 0
        # latent frames < first frame of the unit after last_unit are final, minus rf for the frame convs
        final_latent = u2l.frames_for(last_unit + 1) - rf
        return max(0, final_latent - self.right)

    def _render(self, end: int, final: bool) -> np.ndarray:
        u2l = self.v.u2l
        units = torch.tensor(self.units)
        total = u2l.frames_for(len(self.units)) if final else None
        first = max(0, self.emitted - self.left)
        last = end + self.right if total is None else min(total, end + self.right)
        lat = u2l.latent_window(units, first, last, total)
        audio = self.v.decoder.decode(lat.numpy())
        hop = self.v.decoder.hop_length
        out = audio[(self.emitted - first) * hop : (end - first) * hop]  # a fresh buffer per render: fade in place
        n = min(len(self.tail), len(out))
        if n:
            fade = np.linspace(0.0, 1.0, n + 2, dtype=np.float32)[1:-1]
            out[:n] = self.tail[:n] * (1.0 - fade) + out[:n] * fade
        self.tail = audio[(end - first) * hop : (end - first + self.crossfade) * hop]
        self.emitted = end
        return out
