"""Command-line options shared by several sub-commands."""

from __future__ import annotations

import argparse
import os

from ..decoding.sampling import DecodingOptions
from ..llm.answer_rules import AnswerRules


def add_answer_rules(parser: argparse.ArgumentParser) -> None:
    """--max-sentences / --no-repeat-ngram: how the greedy text answer ends (see `AnswerRules`)."""
    default = AnswerRules()
    parser.add_argument("--max-sentences", type=int, default=default.max_sentences,
                        help="end the answer after this many sentences (0: no limit)")
    parser.add_argument("--no-repeat-ngram", type=int, default=default.no_repeat_ngram,
                        help="never repeat an n-gram of answer tokens (0: off)")


def answer_rules(args: argparse.Namespace) -> AnswerRules:
    return AnswerRules(no_repeat_ngram=args.no_repeat_ngram, max_sentences=args.max_sentences or None)


def add_speech_decoding(parser: argparse.ArgumentParser) -> None:
    """How speech tokens are picked (see `DecodingOptions`): greedy unless --temperature is set."""
    default = DecodingOptions()
    parser.add_argument("--temperature", type=float, default=default.temperature,
                        help="speech-token sampling temperature (0: greedy)")
    parser.add_argument("--top-k", type=int, default=default.top_k, help="sample among the k likeliest units (0: all)")
    parser.add_argument("--top-p", type=float, default=default.top_p, help="nucleus sampling mass (1: off)")
    parser.add_argument("--seed", type=int, default=default.seed, help="speech-token sampling seed")
    parser.add_argument("--repetition-penalty", type=float, default=default.repetition_penalty,
                        help="penalise units among the last --repetition-window ones (1: off; official 2)")
    parser.add_argument("--repetition-window", type=int, default=default.repetition_window,
                        help="how many of the latest units the repetition penalty looks at")


def speech_decoding(args: argparse.Namespace) -> DecodingOptions:
    return DecodingOptions(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                           repetition_penalty=args.repetition_penalty, repetition_window=args.repetition_window)


def add_threads(parser: argparse.ArgumentParser) -> None:
    """--threads: torch's CPU threads for a latency-bound run (batch-1 decoding)."""
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: $OMP_NUM_THREADS if set, else the cores the load "
                             "average leaves idle, at least 1)")


def idle_cores() -> int:
    """Cores this process may use minus the 1-minute load average, at least 1.

    Batch-1 decoding runs thousands of tiny ops, and torch's OpenMP threads spin while they wait for
    each other: with a second thread on a core another process keeps busy, every op waits for the
    scheduler (vocalnet-smol's first packet went from 0.21 s to 20 s beside a training job; with one
    thread it stayed at 0.25 s).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - round(os.getloadavg()[0]))


def apply_threads(args: argparse.Namespace) -> int:
    """Set torch's thread count from --threads, else leave $OMP_NUM_THREADS alone, else `idle_cores`."""
    import torch

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(idle_cores())
    return torch.get_num_threads()
