"""Query voices (piper joe with varied settings, espeak-ng voices, gain, padding, background noise) and
the one fixed assistant voice for answers.

Every random choice of a query comes from its voice spec (a JSON-able dict that also holds a seed), so
a query is reproduced exactly from (text, spec). The piper graph's two RandomNormalLike nodes are
replaced by inputs fed from that seed, which makes piper itself deterministic.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import soundfile as sf

from vocalnet.audio.io import AudioError, prepare_audio

QUERY_RATE = 16_000
ANSWER_RATE = 22_050
PIPER_VOICE = "en_US-joe-medium"
PIPER_PAD = "_"
DURATION_NOISE_CHANNELS = 2  # VITS stochastic duration predictor noise: (1, 2, phonemes)
LATENT_CHANNELS = 192  # VITS prior noise: (1, inter_channels, frames)
NOISE_TYPES = ("white", "pink", "brown", "babble")
BABBLE_TEXTS = (
    "I think we should leave a little earlier tomorrow morning.",
    "Did you see the game last night? It was amazing.",
    "The meeting has been moved to the second floor.",
    "Could you pass me the salt and the pepper, please?",
    "We are going to the market after lunch.",
    "My sister bought a new car last week.",
    "The weather is supposed to be nice this weekend.",
    "I can't find my keys anywhere in this house.",
    "Let's order some food and watch a film tonight.",
    "The train was delayed again because of the snow.",
    "She said the tickets would be ready on Friday.",
    "Have you finished reading that book yet?",
)


@dataclass(frozen=True)
class VoicePool:
    """The query voices a split may use."""

    espeak_voices: tuple[str, ...]
    piper_length: tuple[float, float]


# The test split hears voices and speaking rates that train and dev never use.
TRAIN_POOL = VoicePool(("en-us", "en-gb", "en-us+f3", "en-gb-x-rp+m3", "en-029+f2", "en-us+m5"), (0.85, 1.15))
TEST_POOL = VoicePool(("en-gb-scotland", "en-us-nyc+f4"), (1.2, 1.32))


def pool_for(split: str) -> VoicePool:
    return TEST_POOL if split == "test" else TRAIN_POOL


def rng_for(seed: int, key: str) -> np.random.Generator:
    """A generator determined by (seed, key) alone, independent of processing order."""
    return np.random.default_rng([seed, *key.encode()])


def _uniform(rng: np.random.Generator, low: float, high: float, digits: int = 3) -> float:
    return round(float(rng.uniform(low, high)), digits)


def sample_query_voice(rng: np.random.Generator, pool: VoicePool, piper_share: float = 0.55,
                       noise_share: float = 0.35) -> dict[str, Any]:
    """A random query voice spec from `pool` (engine settings, gain, silence padding, noise, seed)."""
    if rng.random() < piper_share:
        spec: dict[str, Any] = {"engine": "piper", "voice": PIPER_VOICE,
                                "length_scale": _uniform(rng, *pool.piper_length),
                                "noise_scale": _uniform(rng, 0.4, 0.9), "noise_w": _uniform(rng, 0.5, 1.0)}
    else:
        spec = {"engine": "espeak", "voice": str(rng.choice(pool.espeak_voices)),
                "speed": int(rng.integers(140, 191)), "pitch": int(rng.integers(30, 71))}
    spec["gain_db"] = _uniform(rng, -18.0, -1.0, 1)
    spec["pad_s"] = [_uniform(rng, 0.05, 0.4, 2), _uniform(rng, 0.05, 0.4, 2)]
    spec["noise"] = None
    if rng.random() < noise_share:
        kind = str(rng.choice(NOISE_TYPES))
        spec["noise"] = {"type": kind, "snr_db": _uniform(rng, 5.0, 25.0, 1)}
        if kind == "babble":
            spec["noise"]["talkers"] = [str(v) for v in rng.choice(pool.espeak_voices, size=3)]
    spec["seed"] = int(rng.integers(2**31))
    return spec


# ------------------------------------------------------------------------------------------- engines

class SeededPiper:
    """A piper voice graph (default: the voice itself) whose sampling noise is fed from a caller's generator."""

    def __init__(self, voice_path: str | Path | None = None, graph_path: str | Path | None = None, threads: int = 1):
        import onnx
        import onnxruntime as ort
        from piper import PiperVoice
        from piper.config import PiperConfig

        from vocalnet.assets.prepare import require_piper_voice

        voice_path = require_piper_voice(voice_path)
        model = onnx.load(str(graph_path or voice_path))
        self.noise_inputs = _noise_as_inputs(model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        config = PiperConfig.from_dict(json.loads(Path(f"{voice_path}.json").read_text(encoding="utf-8")))
        self.voice = PiperVoice(session=session, config=config)

    @property
    def sample_rate(self) -> int:
        return self.voice.config.sample_rate

    def run_sentences(self, text: str, rng: np.random.Generator, length_scale: float = 1.0,
                      noise_scale: float = 0.667, noise_w: float = 0.8) -> list[tuple[list[int], list[np.ndarray]]]:
        """Per sentence of `text`: its phoneme ids and all the graph's outputs (batch dim removed)."""
        sentences = []
        for phonemes in filter(None, self.voice.phonemize(text)):
            ids = self.voice.phonemes_to_ids(phonemes)
            frames = int(64 + 20 * len(ids) * length_scale)  # generous bound on the output frames
            feeds = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
                     "scales": np.array([noise_scale, length_scale, noise_w], dtype=np.float32)}
            sizes = (DURATION_NOISE_CHANNELS * len(ids), LATENT_CHANNELS * frames)
            feeds |= {name: rng.standard_normal(size, dtype=np.float32) for name, size in zip(self.noise_inputs, sizes)}
            sentences.append((ids, [out[0] for out in self.voice.session.run(None, feeds)]))
        if not sentences:
            raise AudioError(f"no speakable text in {text!r}")
        return sentences

    def run(self, text: str, rng: np.random.Generator, length_scale: float = 1.0, noise_scale: float = 0.667,
            noise_w: float = 0.8) -> list[np.ndarray]:
        """The graph's first output (batch dim removed) for each sentence of `text`."""
        return [outputs[0] for _, outputs in self.run_sentences(text, rng, length_scale, noise_scale, noise_w)]

    def synthesize(self, text: str, rng: np.random.Generator, length_scale: float = 1.0, noise_scale: float = 0.667,
                   noise_w: float = 0.8) -> np.ndarray:
        """float32 audio at `sample_rate`, each sentence peak-normalised (as piper does)."""
        chunks = [a.reshape(-1) for a in self.run(text, rng, length_scale, noise_scale, noise_w)]
        return np.concatenate([a / max(float(np.abs(a).max()), 1e-8) for a in chunks]).astype(np.float32)


def _noise_as_inputs(model: Any) -> list[str]:
    """Replace each RandomNormalLike(x) by reshape(noise_k[:size(x)], shape(x)) with a new 1-D input noise_k.

    Returns the new input names in graph order (duration-predictor noise first, then the latent noise).
    """
    from onnx import TensorProto, helper

    nodes, names = [], []
    for node in model.graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        name = f"noise_{len(names)}"
        names.append(name)
        p = f"/seeded/{name}"
        model.graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n"]))
        model.graph.initializer.append(helper.make_tensor(f"{p}/zero", TensorProto.INT64, [1], [0]))
        nodes += [helper.make_node("Shape", [node.input[0]], [f"{p}/shape"]),
                  helper.make_node("ReduceProd", [f"{p}/shape"], [f"{p}/size"], keepdims=1),
                  helper.make_node("Slice", [name, f"{p}/zero", f"{p}/size"], [f"{p}/flat"]),
                  helper.make_node("Reshape", [f"{p}/flat", f"{p}/shape"], [node.output[0]])]
    if len(names) != 2:
        raise ValueError(f"expected 2 RandomNormalLike nodes in the piper graph, found {len(names)}")
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return names


def require_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        raise FileNotFoundError("espeak-ng not found (Debian: apt-get install -y espeak-ng)")


def espeak(text: str, voice: str, speed: int = 175, pitch: int = 50) -> tuple[np.ndarray, int]:
    """espeak-ng speech as (float32 audio, sample rate)."""
    require_espeak()
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         capture_output=True, check=True).stdout
    audio, sr = sf.read(io.BytesIO(out), dtype="float32")
    return audio, sr


# --------------------------------------------------------------------------------------------- noise

def _coloured_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectrum 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    return np.fft.irfft(spectrum / freqs ** (exponent / 2), n).astype(np.float32)


def _babble(n: int, rng: np.random.Generator, talkers: list[str]) -> np.ndarray:
    """Several espeak talkers saying unrelated sentences at once, looped to `n` samples at 16 kHz."""
    mix = np.zeros(n, dtype=np.float32)
    for voice in talkers:
        text = " ".join(rng.choice(BABBLE_TEXTS, size=3, replace=False))
        audio, sr = espeak(text, voice, int(rng.integers(150, 200)), int(rng.integers(20, 80)))
        audio = prepare_audio(audio, sr, QUERY_RATE, name="babble")
        mix += np.roll(np.resize(audio, n), int(rng.integers(n)))
    return mix


def make_noise(spec: dict[str, Any], n: int, rng: np.random.Generator) -> np.ndarray:
    kind = spec["type"]
    if kind == "babble":
        return _babble(n, rng, spec["talkers"])
    return _coloured_noise(n, rng, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind])


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled so that rms(speech)/rms(noise) is `snr_db` decibels."""
    return speech + noise * (_rms(speech) / (_rms(noise) * 10 ** (snr_db / 20)))


# ------------------------------------------------------------------------------------------- queries

class QueryRenderer:
    """Renders (question text, voice spec) into 16 kHz float32 audio."""

    def __init__(self, piper: SeededPiper):
        self.piper = piper

    def _speech(self, text: str, spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        if spec["engine"] == "piper":
            audio = self.piper.synthesize(text, rng, spec["length_scale"], spec["noise_scale"], spec["noise_w"])
            sr = self.piper.sample_rate
        else:
            audio, sr = espeak(text, spec["voice"], spec["speed"], spec["pitch"])
        return prepare_audio(audio, sr, QUERY_RATE, max_seconds=30.0, name=f"query {text!r}")

    def render(self, text: str, spec: dict[str, Any]) -> np.ndarray:
        rng = np.random.default_rng(spec["seed"])
        speech = self._speech(text, spec, rng)
        speech = speech / max(float(np.abs(speech).max()), 1e-8) * 10 ** (spec["gain_db"] / 20)
        pads = [np.zeros(int(s * QUERY_RATE), dtype=np.float32) for s in spec["pad_s"]]
        wav = np.concatenate([pads[0], speech, pads[1]])
        if spec["noise"]:
            wav = mix_at_snr(wav, make_noise(spec["noise"], wav.size, rng), spec["noise"]["snr_db"])
        peak = float(np.abs(wav).max())
        return (wav / peak * 0.99 if peak > 0.99 else wav).astype(np.float32)


# ------------------------------------------------------------------------------------------- answers

class AnswerVoice(Protocol):
    """The assistant voice: text -> (audio float32 at ANSWER_RATE, latent float32 (C, T_frames)), noise from `rng`."""

    def synthesize(self, text: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


class PiperAnswerVoice:
    """piper joe through the latent graphs of `vocalnet.vocoder.piper_graph`, at fixed sampling noise.

    Same as `PiperLatentVoice.synthesize` (one latent per sentence, concatenated, decoded in one run,
    audio == decoder.decode(latent)), but with the encoder's noise drawn from `rng`, so an item's
    answer audio is reproducible. The default noise is zero (`noise_scale` on the latent, `noise_w` on
    the durations): every text then has one rendering, and so one speech-unit sequence for the
    generator to learn, as intelligible and as clean-sounding as piper's sampled default (0.667, 0.8).
    """

    def __init__(self, threads: int = 1, noise_scale: float = 0.0, noise_w: float = 0.0) -> None:
        from vocalnet.vocoder.piper_graph import PiperLatentDecoder, prepare_latent_graphs

        self.encoder = SeededPiper(graph_path=prepare_latent_graphs().encoder, threads=threads)
        self.decoder = PiperLatentDecoder(threads=threads)
        self.settings = {"length_scale": 1.0, "noise_scale": noise_scale, "noise_w": noise_w}

    def synthesize(self, text: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        latent = np.concatenate(self.encoder.run(text, rng, **self.settings), axis=1)
        return self.decoder.decode(latent), latent

    def clean_latent(self, text: str, rng: np.random.Generator) -> np.ndarray:
        """The prior mean m_p of `synthesize`'s latent for the same `rng` state: same durations (the
        duration noise is drawn alike), no sampling noise on the latent (noise_scale 0)."""
        return np.concatenate(self.encoder.run(text, rng, **{**self.settings, "noise_scale": 0.0}), axis=1)

    def frame_phonemes(self, text: str, rng: np.random.Generator) -> np.ndarray:
        """The piper phoneme id that each latent frame of `synthesize(text, rng)` renders, int64 (T,)."""
        frames = []
        for ids, (latent, durations) in self.encoder.run_sentences(text, rng, **self.settings):
            per_frame = np.repeat(np.asarray(ids, dtype=np.int64), durations.reshape(-1).astype(np.int64))
            if per_frame.size != latent.shape[-1]:
                raise ValueError(f"durations cover {per_frame.size} frames, the latent has {latent.shape[-1]}")
            frames.append(per_frame)
        return np.concatenate(frames)

    @property
    def pad_ids(self) -> list[int]:
        """The ids of piper's pad symbol, which it puts between all phonemes."""
        return list(self.encoder.voice.config.phoneme_id_map[PIPER_PAD])

    @property
    def num_phoneme_ids(self) -> int:
        """One more than the largest phoneme id of the voice."""
        return _phoneme_id_count(self.encoder.voice.config.phoneme_id_map)


def _phoneme_id_count(phoneme_id_map: dict[str, list[int]]) -> int:
    return 1 + max(i for ids in phoneme_id_map.values() for i in ids)


def piper_phoneme_id_count(voice_path: str | Path | None = None) -> int:
    """`PiperAnswerVoice.num_phoneme_ids` from the voice's JSON config alone (no ONNX session built)."""
    from vocalnet.assets.prepare import require_piper_voice

    config = json.loads(Path(f"{require_piper_voice(voice_path)}.json").read_text(encoding="utf-8"))
    return _phoneme_id_count(config["phoneme_id_map"])


AnswerVoiceFactory = Callable[[], AnswerVoice]
