"""Command-line options shared by several sub-commands."""

from __future__ import annotations

import argparse

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
