"""`vocalnet tokenizer ...` and `vocalnet vocoder ...`: the speech token stack."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from ..models import DEFAULT_MODEL, DEFAULT_TOKENIZER, DEFAULT_VOCODER


def _manifest_audio(manifest: Path, field: str) -> list[tuple[dict, Path]]:
    from ..data.manifest import entry_file, read_entries

    return [(e, entry_file(manifest, e, field)) for e in read_entries(manifest, require=(field,))]


def cmd_tokenizer_train(args: argparse.Namespace) -> int:
    from ..assets import default_asset_paths
    from ..audio.io import load_audio
    from ..data.manifest import entry_file
    from ..tokenizer.speech_tokenizer import SpeechTokenizer, TokenizerConfig

    pool_mode = args.pool_mode or ("concat" if args.method == "phone" else "mean")
    if args.method == "phone" and pool_mode != "concat":
        raise SystemExit("--method phone pools a token's two frames by concatenation: leave out --pool-mode or pass concat")
    items = _manifest_audio(args.manifest, args.audio_field)
    order = np.random.default_rng(args.seed).permutation(len(items))
    t0 = time.time()
    whisper = args.whisper or default_asset_paths().whisper
    phones, classes = None, 0
    if args.method == "phone":
        from ..data.annotations import PHONES
        from ..data.voices import piper_phoneme_id_count

        missing = sum(1 for e, _ in items if PHONES.field not in e)
        if missing:
            raise SystemExit(f"{missing} entries of {args.manifest} have no {PHONES.field!r}: run `vocalnet data phones` first")
        phones = (np.load(entry_file(args.manifest, items[i][0], PHONES.field)).astype(np.int64) for i in order)
        classes = piper_phoneme_id_count()
    layer = args.layer if args.layer is not None else (-1 if args.method == "phone" else 2)
    config = TokenizerConfig(args.vocab, layer, seed=args.seed, method=args.method, pool_mode=pool_mode,
                             phone_classes=classes)
    wavs = (load_audio(items[i][1]) for i in order)
    tok = SpeechTokenizer.train(wavs, whisper, config, args.max_frames, phones=phones, phone_steps=args.phone_steps)
    tok.save(args.out)
    print(f"speech tokenizer ({args.method}, {args.vocab} units, layer {layer}) -> {args.out} in {time.time() - t0:.0f} s")
    return 0


def cmd_tokenizer_encode(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..audio.io import AudioError, load_audio
    from ..tokenizer.speech_tokenizer import SpeechTokenizer

    tok = SpeechTokenizer.load(args.tokenizer, args.whisper)
    if args.input.suffix.lower() != ".json":
        print(" ".join(map(str, tok.encode(load_audio(args.input)))))
        return 0
    done = failed = 0
    for entry, audio in tqdm(_manifest_audio(args.input, args.audio_field), desc="encode", unit="utt"):
        if not entry.get("units"):
            raise ValueError(f"entry {entry.get('id')} has no 'units' path")
        out = args.input.parent / entry["units"]
        if out.is_file() and not args.force:
            continue
        try:
            units = tok.encode(load_audio(audio))
        except AudioError as e:
            print(f"skipped {entry.get('id')}: {e}")
            failed += 1
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.{os.getpid()}.npy")
        np.save(tmp, units.astype(np.int16 if tok.vocab_size <= 32767 else np.int32))
        os.replace(tmp, out)
        done += 1
    print(f"encoded {done} utterances ({failed} failed) -> units next to {args.input}")
    return 1 if failed else 0


def cmd_vocoder_train(args: argparse.Namespace) -> int:
    from ..training.run import train

    print(f"vocoder: {train(args.config)}")
    return 0


def cmd_vocoder_gta(args: argparse.Namespace) -> int:
    from ..training.gta import write_gta_manifest

    out, agree = write_gta_manifest(args.model, args.manifest, args.out, args.mtp, args.cache_dir, args.batch_size)
    print(f"{out}: generator units (m = {args.mtp}, teacher-forced) for every entry; {100 * agree:.1f}% equal the tokenizer's")
    return 0


def cmd_vocoder_decode(args: argparse.Namespace) -> int:
    from ..audio.io import write_audio
    from ..vocoder.vocoder import StreamingVocoder, Vocoder

    voc = Vocoder.load(args.vocoder)
    units = np.load(args.units) if args.units.suffix == ".npy" else np.array(args.units.read_text().split(), dtype=np.int64)
    t0 = time.time()
    if args.stream:
        sv = StreamingVocoder(voc, args.chunk)
        parts = [c for i in range(0, len(units), args.chunk) for c in sv.push(units[i : i + args.chunk].tolist())]
        audio = np.concatenate(parts + [sv.finish()])
    else:
        audio = voc.decode(units)
    elapsed = time.time() - t0
    write_audio(args.out, audio, voc.sample_rate)
    dur = len(audio) / voc.sample_rate
    print(f"{args.out}: {dur:.2f} s of audio in {elapsed:.2f} s (RTF {elapsed / dur:.3f})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    tok = sub.add_parser("tokenizer", help="25 Hz speech tokenizer").add_subparsers(dest="action", required=True)
    t = tok.add_parser("train", help="fit the quantiser on Whisper-encoder features of a manifest's audio")
    t.add_argument("--manifest", type=Path, required=True)
    t.add_argument("--audio-field", default="answer_audio")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--vocab", type=int, default=1024)
    t.add_argument("--method", choices=("kmeans", "phone"), default="kmeans",
                   help="k-means on the features, or on phone posteriors (needs `vocalnet data phones`)")
    t.add_argument("--layer", type=int, default=None,
                   help="Whisper encoder layer (-1: final); default 2 for kmeans (resynthesises best), -1 for phone")
    t.add_argument("--phone-steps", type=int, default=2000, help="phone method: classifier training steps")
    t.add_argument("--max-frames", type=int, default=400_000, help="tokens' worth of features to train on")
    t.add_argument("--pool-mode", choices=("mean", "concat"), default=None,
                   help="the two 50 Hz frames of a token: averaged, or concatenated (keeps their order); "
                        "default mean for kmeans, concat (the only one) for phone")
    t.add_argument("--whisper", type=Path, default=None, help="HF Whisper folder (default: the prepared asset)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=cmd_tokenizer_train)
    e = tok.add_parser("encode", help="units of a wav (printed) or of every entry of a manifest (written to 'units')")
    e.add_argument("input", type=Path)
    e.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="default: the shipped tokenizer")
    e.add_argument("--audio-field", default="answer_audio")
    e.add_argument("--whisper", type=Path, default=None)
    e.add_argument("--force", action="store_true", help="re-encode files that exist")
    e.set_defaults(func=cmd_tokenizer_encode)

    voc = sub.add_parser("vocoder", help="units -> waveform").add_subparsers(dest="action", required=True)
    v = voc.add_parser("train", help="train the unit-to-latent model from a YAML config (stage: vocoder)")
    v.add_argument("--config", type=Path, required=True)
    v.set_defaults(func=cmd_vocoder_train)
    g = voc.add_parser("gta", help="the generator's teacher-forced units of a manifest's answers (vocoder training data)")
    g.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="a vocalnet model folder (default: the shipped model)")
    g.add_argument("--manifest", type=Path, required=True, help="answers with units (`vocalnet tokenizer encode`)")
    g.add_argument("--out", type=Path, required=True, help="folder for units/ and the new manifest")
    g.add_argument("--mtp", type=int, default=3, help="take the units as m-token decoding does (0: main head only)")
    g.add_argument("--cache-dir", type=Path, help="stage-2 hidden-state cache to read and fill (default: OUT/cache)")
    g.add_argument("--batch-size", type=int, default=16)
    g.set_defaults(func=cmd_vocoder_gta)
    d = voc.add_parser("decode", help="units (.npy or whitespace-separated text) -> wav")
    d.add_argument("units", type=Path)
    d.add_argument("--vocoder", type=Path, default=DEFAULT_VOCODER, help="default: the shipped vocoder")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--stream", action="store_true", help="decode chunk by chunk as a stream")
    d.add_argument("--chunk", type=int, default=15)
    d.set_defaults(func=cmd_vocoder_decode)
