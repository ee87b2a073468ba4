"""`vocalnet eval asr|mos PATH`: the evaluation judges on a folder of audio files or a manifest JSON.

Exit codes: 0 when every item was judged, 1 when some failed (they are listed) or none was found.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..evaluation.asr import AsrReport
    from ..evaluation.mos import MosReport


def _finish(report: AsrReport | MosReport, as_json: bool) -> int:
    print(json.dumps(report.to_dict(), indent=1) if as_json else report.summary())
    return 0 if report.scores and not report.failures else 1


def cmd_eval_asr(args: argparse.Namespace) -> int:
    from ..evaluation.asr import AsrJudge

    report = AsrJudge().score_path(args.path, args.audio_field, args.ref_field, progress=not args.json)
    return _finish(report, args.json)


def cmd_eval_mos(args: argparse.Namespace) -> int:
    from ..evaluation.mos import MosJudge

    report = MosJudge().score_path(args.path, args.audio_field, progress=not args.json)
    return _finish(report, args.json)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="folder of .wav/.flac files, or a manifest JSON (official format)")
    parser.add_argument("--audio-field", default="speech",
                        help="manifest field with the audio path, e.g. speech or answer_audio (default: speech)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `eval asr` and `eval mos` to the `vocalnet` command line."""
    evaluate = subparsers.add_parser("eval", help="evaluation judges (spec section 8)")
    judges = evaluate.add_subparsers(dest="judge", required=True)

    asr = judges.add_parser("asr", help="WER/CER of Whisper tiny.en transcripts vs reference text")
    _add_common(asr)
    asr.add_argument("--ref-field", default=None,
                     help="manifest field with the reference text (default: the gpt turn of conversations); "
                          "a folder uses each file's sibling .txt, and files without one are only transcribed")
    asr.set_defaults(func=cmd_eval_asr)

    mos = judges.add_parser("mos", help="DNSMOS P.835 OVRL/SIG/BAK at 16 kHz")
    _add_common(mos)
    mos.set_defaults(func=cmd_eval_mos)
