"""`vocalnet bench generator`: measured MTP speed-up of the speech generator vs its ideal.

At batch 1 decoding is bound by reading weights, so the ideal speed-up of MTP-m over NTP is the
ratio of weight bytes read per generated token:
  NTP:   (decoder layers + head) per token
  MTP-m: (decoder layers + m MTP layers + (m+1) heads) per m+1 tokens.
The FLOP ratio (NTP FLOPs per token / MTP FLOPs per token) is printed beside it: MTP does more
arithmetic per token, which is why it only pays off while weights, not FLOPs, are the bottleneck.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..checkpoint.io import submodule_state
from ..config import VocalNetConfig
from ..decoding.engine import SpeechDecoder
from ..decoding.optimize import for_inference
from ..decoding.sampling import DecodingOptions, GreedySampler
from ..generator.config import SpeechGeneratorConfig, shape_config
from ..generator.speech_generator import SpeechGenerator


class _NoEosGreedy(GreedySampler):
    """Greedy over unit tokens only, so every run decodes exactly max_tokens tokens (all rows of a
    step in one argmax, as the assistant's greedy decoding does)."""

    def __init__(self, eos_id: int) -> None:
        self.eos_id = eos_id

    def __call__(self, logits: torch.Tensor, history: list[int]) -> int:
        return self.pick_rows(logits[None])[0]

    def pick_rows(self, logits: torch.Tensor) -> list[int]:
        return super().pick_rows(logits.index_fill(-1, torch.tensor([self.eos_id], device=logits.device), float("-inf")))


@dataclass
class BenchRow:
    mtp: int
    tokens: int
    seconds: float
    tokens_per_s: float
    speedup: float
    ideal_speedup: float
    fraction_of_ideal: float
    flop_ratio: float


def layer_weights(cfg: SpeechGeneratorConfig) -> int:
    """Weights of one transformer layer (attention + SwiGLU MLP; norms are negligible)."""
    H, kv = cfg.hidden_size, (cfg.num_kv_heads or cfg.num_heads) * (cfg.hidden_size // cfg.num_heads)
    return 2 * H * H + 2 * H * kv + 3 * H * cfg.ffn_dim


def ideal_ratios(cfg: SpeechGeneratorConfig, m: int) -> tuple[float, float]:
    """(ideal weight-bytes speed-up, FLOP ratio) of MTP-m over NTP, from the generator's shape."""
    layer = layer_weights(cfg)
    dec = cfg.decoder_num_layers * layer
    head = cfg.hidden_size * cfg.vocab_size + cfg.vocab_size
    ntp = dec + head
    mtp_bytes = (dec + m * layer + (m + 1) * head) / (m + 1)
    mtp_flops = dec + m * layer + head  # each step runs m+1 rows through the decoder and m modules
    return ntp / mtp_bytes, ntp / mtp_flops


def load_generator(model_dir: str | Path) -> SpeechGenerator:
    """The trained speech generator of a vocalnet model folder (nothing else is loaded)."""
    cfg = VocalNetConfig.load(Path(model_dir) / "config.json").generator
    gen = SpeechGenerator(cfg)
    gen.load_state_dict(submodule_state(model_dir, "speech_generator"))
    return gen


def _time_decode(gen: SpeechGenerator, text: torch.Tensor, m: int, tokens: int) -> float:
    opts = DecodingOptions(mtp=m, max_tokens=tokens)
    dec = SpeechDecoder(gen, opts, sampler=_NoEosGreedy(gen.config.eos_id))
    t0 = time.perf_counter()
    res = dec.generate(text)
    elapsed = time.perf_counter() - t0
    assert len(res.tokens) == tokens, (len(res.tokens), tokens)
    return elapsed


def run_generator_bench(
    shape: str, mtp_values: list[int], tokens: int = 150, text_len: int = 20, precision: str = "int8",
    repeats: int = 5, seed: int = 0, progress: bool = True, model: str | Path | None = None, device: str = "cpu",
) -> list[BenchRow]:
    """Decode `tokens` speech tokens at batch 1 for each m (this CPU): random weights of a named
    `shape`, or the trained generator of a `model` folder. The text is known up front (whole-answer
    decoding), so this is MTP's own speed-up, without the streaming schedule's text waits.

    The settings run interleaved in `repeats` rounds (order reversed every other round), and each
    round's speed-ups are taken against that round's own NTP run: neighbouring runs share whatever
    the rest of the machine is doing, so the ratio is stable even when absolute speed drifts. The
    table reports medians over rounds. `device` "cuda" runs the generator on the GPU (fp32 only: int8 is
    CPU dynamic quantisation).
    """
    from tqdm import tqdm

    torch.manual_seed(seed)
    if model is not None:
        gen = load_generator(model)
        cfg = gen.config
    else:
        cfg = shape_config(shape, dropout=0.0, max_speech_tokens=max(tokens, 16))
        gen = SpeechGenerator(cfg)
    if max(mtp_values) > cfg.mtp_num or min(mtp_values) < 0:
        raise ValueError(f"the generator has {cfg.mtp_num} MTP modules; m must be in 0..{cfg.mtp_num}")
    if torch.device(device).type != "cpu" and precision != "fp32":
        raise ValueError(f"precision {precision!r} is CPU-only; use fp32 on {device}")
    gen = for_inference(gen, precision).to(device)
    text = torch.randn(1, text_len, cfg.text_input_size)
    if cfg.phoneme_slots:  # the last columns are phoneme ids, 0-6 per token packed from the first place, as in answers
        ids = torch.randint(1, cfg.phoneme_vocab, (1, text_len, cfg.phoneme_slots))
        counts = torch.randint(0, min(cfg.phoneme_slots, 6) + 1, (1, text_len, 1))
        text[..., -cfg.phoneme_slots :] = torch.where(torch.arange(cfg.phoneme_slots) < counts, ids, 0).float()
    text = text.to(device)
    settings = sorted(set(mtp_values) | {0})
    _time_decode(gen, text, max(settings), min(tokens, 16))  # warm-up (allocations, kernels)
    times: dict[int, list[float]] = {m: [] for m in settings}
    with tqdm(total=repeats * len(settings), desc="bench generator", disable=not progress, leave=False) as bar:
        for r in range(repeats):
            for m in settings if r % 2 == 0 else settings[::-1]:
                times[m].append(_time_decode(gen, text, m, tokens))
                bar.update()
    rows = []
    for m in settings:
        if m not in mtp_values:
            continue
        ideal, flops = ideal_ratios(cfg, m)
        speed = statistics.median(t0 / tm for t0, tm in zip(times[0], times[m]))
        t = statistics.median(times[m])
        rows.append(BenchRow(m, tokens, t, tokens / t, speed, ideal, speed / ideal, flops))
    return rows


def format_rows(shape: str, precision: str, rows: list[BenchRow], device: str = "cpu") -> str:
    where = f"{torch.get_num_threads()} threads" if device == "cpu" else torch.cuda.get_device_name(device)
    lines = [
        f"speech generator decoding, shape {shape}, batch 1, {precision}, {where}, "
        f"{rows[0].tokens} tokens per run",
        f"{'m':>2} {'tokens/s':>9} {'speed-up':>9} {'ideal':>7} {'of ideal':>9} {'FLOP ratio':>11}",
    ]
    for r in rows:
        lines.append(
            f"{r.mtp:>2} {r.tokens_per_s:>9.2f} {r.speedup:>8.2f}x {r.ideal_speedup:>6.2f}x "
            f"{100 * r.fraction_of_ideal:>8.1f}% {r.flop_ratio:>11.3f}"
        )
    return "\n".join(lines)


def rows_json(shape: str, precision: str, rows: list[BenchRow], device: str = "cpu") -> str:
    return json.dumps(
        {"shape": shape, "precision": precision, "device": device, "threads": torch.get_num_threads(),
         "rows": [asdict(r) for r in rows]},
        indent=2,
    )
