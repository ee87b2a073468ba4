"""`vocalnet data synth|variants|check|...`: build the synthetic spoken-dialogue corpus, add to it, validate it.

Exit codes of `data check`: 0 when no errors were found (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_data_synth(args: argparse.Namespace) -> int:
    from ..data.synth import SynthConfig, synthesize_corpus

    config = SynthConfig(num=args.num, seed=args.seed, dev=args.dev, test=args.test, llm_questions=args.llm_questions,
                         batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                         answer_noise_scale=args.answer_noise_scale, answer_noise_w=args.answer_noise_w)
    summary = synthesize_corpus(args.out, config, workers=args.workers)
    print(summary.format())
    return 0


def cmd_data_variants(args: argparse.Namespace) -> int:
    from ..data.variants import VariantsConfig, build_variants

    config = VariantsConfig(split=args.split, per_item=args.per_item, seed=args.seed, temperature=args.temperature,
                            top_p=args.top_p, batch_size=args.batch_size)
    print(build_variants(args.dir, config, workers=args.workers).format())
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from ..data.check import check_corpus

    report = check_corpus(args.dir, vocab=args.vocab, allow_missing_units=args.allow_missing_units,
                          manifests=args.manifest, progress=True)
    print(report.format(args.examples))
    return 1 if report.errors else 0


def cmd_data_readings(args: argparse.Namespace) -> int:
    from ..assets import default_asset_paths
    from ..data.readings import synthesize_readings

    llm = args.llm or default_asset_paths().llm
    print(synthesize_readings(args.out, args.num, args.seed, llm, workers=args.workers).format())
    print(f"speech units for the generator: vocalnet tokenizer encode {args.out / 'readings.json'}")
    return 0


def cmd_data_annotate(args: argparse.Namespace) -> int:
    from ..data.annotations import CLEAN_LATENTS, PHONES, annotate_answers

    annotation = {"clean-latents": CLEAN_LATENTS, "phones": PHONES}[args.action]
    print(f"{annotate_answers(args.dir, annotation)} files written under {args.dir / annotation.folder}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `data` commands to the `vocalnet` command line."""
    data = subparsers.add_parser("data", help="synthetic training corpus").add_subparsers(dest="action", required=True)

    synth = data.add_parser("synth", help="build (or resume building) the spoken question/answer corpus")
    synth.add_argument("--out", type=Path, required=True, help="corpus folder (re-run the same command to resume)")
    synth.add_argument("--num", type=int, default=9000, help="dialogues in total over train/dev/test")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--dev", type=int, default=None, help="dev items (default: num/18, at most 500)")
    synth.add_argument("--test", type=int, default=None, help="test items (default: num/18, at most 500)")
    synth.add_argument("--llm-questions", type=int, default=600, help="prompts for questions written by the LLM")
    synth.add_argument("--batch-size", type=int, default=32, help="LLM generation batch")
    synth.add_argument("--max-new-tokens", type=int, default=40, help="answer length limit in tokens")
    synth.add_argument("--answer-noise-scale", type=float, default=0.0,
                       help="piper latent noise of the answer voice (0: one rendering per text; piper's own 0.667)")
    synth.add_argument("--answer-noise-w", type=float, default=0.0,
                       help="piper duration noise of the answer voice (0: one rendering per text; piper's own 0.8)")
    synth.add_argument("--workers", type=int, default=None, help="TTS processes (default: one per core)")
    synth.set_defaults(func=cmd_data_synth)

    readings = data.add_parser("readings", help="sentences of common words: queries in the train voices, the same "
                                                "text as the answer in the assistant voice")
    readings.add_argument("--out", type=Path, required=True, help="folder (re-run the same command to resume)")
    readings.add_argument("--num", type=int, default=8000, help="sentences to render")
    readings.add_argument("--seed", type=int, default=0)
    readings.add_argument("--workers", type=int, default=2)
    readings.add_argument("--llm", type=Path, default=None, help="HF backbone folder whose tokenizer sets word casing")
    readings.set_defaults(func=cmd_data_readings)

    variants = data.add_parser("variants", help="more answers to a split's questions, sampled from the backbone "
                                                "(speech generator data; re-run to resume)")
    variants.add_argument("dir", type=Path, help="corpus folder built by `vocalnet data synth`")
    variants.add_argument("--split", default="train", help="whose questions to answer again (writes <split>_variants.json)")
    variants.add_argument("--per-item", type=int, default=1,
                          help="sampled answers per question (a rerun may raise it: earlier variants are kept)")
    variants.add_argument("--seed", type=int, default=0)
    variants.add_argument("--temperature", type=float, default=0.8)
    variants.add_argument("--top-p", type=float, default=0.95)
    variants.add_argument("--batch-size", type=int, default=32, help="LLM generation batch")
    variants.add_argument("--workers", type=int, default=None, help="TTS processes (default: one per core)")
    variants.set_defaults(func=cmd_data_variants)

    clean = data.add_parser("clean-latents", help="noise-free answer latents (the vocoder's cleaner training target)")
    clean.add_argument("dir", type=Path, help="corpus folder built by `vocalnet data synth` (re-run to resume)")
    clean.set_defaults(func=cmd_data_annotate)

    phones = data.add_parser("phones", help="the phoneme each answer latent frame renders (the phone tokenizer's labels)")
    phones.add_argument("dir", type=Path, help="corpus folder built by `vocalnet data synth` (re-run to resume)")
    phones.set_defaults(func=cmd_data_annotate)

    check = data.add_parser("check", help="validate manifests and the files they name")
    check.add_argument("dir", type=Path, help="corpus folder holding train.json/dev.json/test.json")
    check.add_argument("--manifest", action="append", type=Path, help="check this manifest file instead (repeatable)")
    check.add_argument("--vocab", type=int, default=None, help="speech-unit vocabulary size: units must be < vocab")
    check.add_argument("--allow-missing-units", action="store_true", help="missing units files are warnings")
    check.add_argument("--examples", type=int, default=5, help="examples shown per problem kind")
    check.set_defaults(func=cmd_data_check)

