"""Token selection strategies for speech decoding: small swappable classes.

A `Sampler` turns one head's logits into a token id. Logit processors (repetition penalty, special
token suppression) run before it. `ForcedSampler` replays given tokens, which is how tests compare
step-by-step decoding with a teacher-forced forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


class RepetitionPenalty:
    """Penalise tokens among the last `window` emitted ones (HF convention: divide positive logits by
    `penalty`, multiply negative ones, so that a penalty always lowers a token's probability)."""

    def __init__(self, penalty: float, window: int) -> None:
        if penalty < 1.0:
            raise ValueError(f"repetition penalty must be >= 1, got {penalty}")
        self.penalty, self.window = penalty, window

    def __call__(self, logits: torch.Tensor, history: list[int]) -> torch.Tensor:
        if self.penalty == 1.0 or not history or self.window <= 0:
            return logits
        idx = torch.tensor(sorted(set(history[-self.window :])), device=logits.device)
        sel = logits[idx]
        logits = logits.clone()
        logits[idx] = torch.where(sel > 0, sel / self.penalty, sel * self.penalty)
        return logits


class Sampler:
    """Base class: choose a token from logits (V,) given the tokens emitted so far."""

    def __call__(self, logits: torch.Tensor, history: list[int]) -> int:
        raise NotImplementedError

    def pick_rows(self, logits: torch.Tensor) -> list[int] | None:
        """One token per row of (k, V) logits at once, where a choice never depends on the rows before
        it; None: the decoder asks row by row, each with the history so far."""
        return None


class GreedySampler(Sampler):
    def __call__(self, logits: torch.Tensor, history: list[int]) -> int:
        return int(torch.argmax(logits))

    def pick_rows(self, logits: torch.Tensor) -> list[int] | None:
        return logits.argmax(-1).tolist()


class StochasticSampler(Sampler):
    """Temperature, top-k and top-p (nucleus) sampling with its own seeded generator."""

    def __init__(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0) -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0 (use GreedySampler for greedy decoding)")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.rng = torch.Generator().manual_seed(seed)

    def __call__(self, logits: torch.Tensor, history: list[int]) -> int:
        logits = logits.float() / self.temperature
        if self.top_k > 0:
            kth = torch.topk(logits, min(self.top_k, logits.numel())).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=True)
            cum = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
            drop = cum - torch.softmax(sorted_logits, dim=-1) >= self.top_p  # keep the token crossing top_p
            logits = logits.scatter(0, order[drop], float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        return int(torch.multinomial(probs.cpu(), 1, generator=self.rng))


class ForcedSampler(Sampler):
    """Replays a fixed token sequence (then EOS); for teacher-forced checks of the decoder."""

    def __init__(self, tokens: list[int], eos_id: int) -> None:
        self.tokens, self.eos_id = list(tokens), eos_id

    def __call__(self, logits: torch.Tensor, history: list[int]) -> int:
        k = len(history)
        return self.tokens[k] if k < len(self.tokens) else self.eos_id


@dataclass
class DecodingOptions:
    """How to decode speech tokens.

    mtp: extra tokens per decoder step (0 = NTP; at most the model's mtp_num).
    temperature 0 means greedy; top_k / top_p / seed apply to sampling.
    repetition_penalty 1.0 disables the penalty; the official setting is 2.0 over a window of 6.
    """

    mtp: int = 0
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    repetition_penalty: float = 1.0
    repetition_window: int = 6
    max_tokens: int | None = None

    def describe(self) -> str:
        """The token choice in words (mtp and max_tokens aside), e.g. for a report's conditions."""
        pick = "greedy" if self.temperature == 0 else \
            f"sampling (temperature {self.temperature:g}, top-k {self.top_k}, top-p {self.top_p:g}, seed {self.seed})"
        if self.repetition_penalty != 1.0:
            pick += f", repetition penalty {self.repetition_penalty:g} over {self.repetition_window}"
        return pick

    def make_sampler(self) -> Sampler:
        if self.temperature == 0:
            return GreedySampler()
        return StochasticSampler(self.temperature, self.top_k, self.top_p, self.seed)
