"""`vocalnet eval asr|mos PATH`: the evaluation judges on an audio file, a folder of them or a manifest JSON.

Exit codes: 0 when every item was judged, 1 when some failed (they are listed) or none was found.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ..models import DEFAULT_TOKENIZER, DEFAULT_VOCODER
from .options import add_answer_rules, add_speech_decoding, add_threads, answer_rules, apply_threads, speech_decoding

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


def cmd_eval_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..evaluation.system import evaluate_system

    mtp = [int(x) for x in args.mtp.split(",") if x.strip()]  # empty: accuracy only (e.g. a stage-1 model)
    if args.details and not Path(args.details).parent.is_dir():  # fail before the long run, not after it
        raise FileNotFoundError(f"--details: folder {Path(args.details).parent} does not exist")
    apply_threads(args)
    report = evaluate_system(Path(args.model) if args.model else None, Path(args.data), mtp, args.limit, args.speech_limit,
                             args.precision, answer_rules(args), accuracy=not args.no_accuracy,
                             speech_decoding=speech_decoding(args))
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.table())
    if args.details:
        report.write_details(Path(args.details))
    return 0


def cmd_eval_resynth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..evaluation.resynthesis import evaluate_resynthesis, report_json

    report = evaluate_resynthesis(Path(args.data), Path(args.tokenizer), Path(args.vocoder), args.limit, args.chunk)
    print(report_json(report) if args.json else report.table())
    return 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a .wav/.flac file, a folder of them, or a manifest JSON (official format)")
    parser.add_argument("--audio-field", default="speech",
                        help="manifest field with the audio path, e.g. speech or answer_audio (default: speech)")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `eval asr`, `eval mos` and `eval run` to the `vocalnet` command line."""
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

    run = judges.add_parser("run", help="the whole assistant on a test manifest, per MTP setting")
    run.add_argument("--model", default=None, help="model folder (default: the shipped vocalnet-smol)")
    run.add_argument("--data", required=True, help="test manifest (official format with question/reference)")
    run.add_argument("--mtp", default="0,1,2,3,5", help="comma-separated MTP settings ('' for accuracy only)")
    run.add_argument("--limit", type=int, default=None, help="questions used for accuracy")
    run.add_argument("--no-accuracy", action="store_true",
                     help="spoken-answer metrics only (e.g. generators trained behind the same stage 1)")
    run.add_argument("--speech-limit", type=int, default=40, help="questions used for spoken-answer metrics per m (0: accuracy only)")
    run.add_argument("--precision", default="int8", choices=["int8", "fp32"], help="LLM and generator weights")
    run.add_argument("--json", action="store_true")
    run.add_argument("--details", default=None, help="also write every question's and spoken answer's results "
                                                     "here (JSON lines)")
    add_answer_rules(run)
    add_speech_decoding(run)
    add_threads(run)
    run.set_defaults(func=cmd_eval_run)

    rs = judges.add_parser("resynth", help="answer audio -> units -> vocoder -> audio: WER, DNSMOS, vocoder RTF")
    rs.add_argument("--data", required=True, help="manifest with answer_audio (e.g. dev.json)")
    rs.add_argument("--tokenizer", default=str(DEFAULT_TOKENIZER), help="default: the shipped tokenizer")
    rs.add_argument("--vocoder", default=str(DEFAULT_VOCODER), help="default: the shipped vocoder")
    rs.add_argument("--limit", type=int, default=30)
    rs.add_argument("--chunk", type=int, default=15, help="streaming chunk size in units")
    rs.add_argument("--json", action="store_true")
    rs.set_defaults(func=cmd_eval_resynth)
