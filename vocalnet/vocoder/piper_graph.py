"""The piper voice split at its prior latent z_p: text -> z_p (random) and z_p -> audio (deterministic).

A piper voice is a VITS graph: text encoder -> duration predictor -> expanded prior (m_p, logs_p)
-> ``z_p = m_p + eps * exp(logs_p) * noise_scale`` -> reverse flow -> ``z`` -> ``z * y_mask``
-> HiFi-GAN -> audio (``hop_length`` samples per frame). z_p, the reverse-flow input, is the
latent: it is a per-phoneme Gaussian (text-predictable), and the subgraph from it to the audio
reads nothing but z_p and ``y_mask`` (all ones for a single utterance). The duration predictor's
rounded output (frames per phoneme id) is exposed beside it: it aligns every latent frame to the
phoneme it renders.

Derived once into ``default_cache_dir() / "piper-latent" / <voice>``: ``full.onnx`` (the voice with
an extra ``latent`` output), ``encoder.onnx`` (piper's inputs -> ``latent``, ``durations``) and ``decoder.onnx``
(``latent`` (1, C, T), ``mask`` (1, 1, T) -> ``audio`` (1, 1, 1, T * hop_length)).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx.utils import Extractor
from piper import PiperVoice
from piper.config import PiperConfig

from vocalnet.assets.prepare import default_cache_dir, require_piper_voice
from vocalnet.checkpoint.io import atomic_dir

CACHE_SUBDIR = "piper-latent"
GRAPH_FORMAT = 3  # bump when the derived graphs change, so cached ones are rebuilt
MARKER = "piper-latent.json"
FULL_GRAPH = "full.onnx"
ENCODER_GRAPH = "encoder.onnx"
DECODER_GRAPH = "decoder.onnx"
LATENT, MASK, AUDIO, DURATIONS = "latent", "mask", "audio", "durations"
# Latent frames of context for `decode_window`: windows then match whole-utterance decoding to < 1e-4
# (measured worst 5e-5; (28, 28) gives 7e-4, (24, 24) 1e-2). The reverse flow alone (4 couplings x
# 4 kernel-5 convs) reaches +-32 frames; a one-frame change moves the audio of frames -41..+37.
LEFT_CONTEXT = 28
RIGHT_CONTEXT = 32


@dataclass(frozen=True)
class LatentTensors:
    """Names of the cut tensors inside a piper VITS graph."""

    z_p: str  # reverse-flow input, (1, C, T)
    y_mask: str  # frame mask the flow and the decoder multiply by, (1, 1, T)
    z: str  # HiFi-GAN input (z * y_mask), (1, C, T)
    durations: str  # frames per phoneme id (the duration predictor's ceil), (1, 1, N)


@dataclass(frozen=True)
class LatentGraphs:
    """Derived graph files of one piper voice."""

    full: Path  # the voice with z_p as an extra ``latent`` output
    encoder: Path  # text (piper's inputs) -> ``latent``
    decoder: Path  # ``latent``, ``mask`` -> ``audio``
    tensors: LatentTensors


def find_latent_tensors(graph: onnx.GraphProto) -> LatentTensors:
    """Locate z_p, y_mask and z through the exporter's ``/flow/`` and ``/dec/`` node scopes, and the
    durations as the output of the graph's only Ceil."""
    producer = {out: node for node in graph.node for out in node.output}
    z_p = next(node for node in graph.node if node.name.startswith("/flow/")).input[0]
    z = next(node for node in graph.node if node.name.startswith("/dec/")).input[0]
    mask_mul = producer[z]  # z = flow(z_p) * y_mask
    if mask_mul.op_type != "Mul":
        raise ValueError(f"decoder input {z!r} is not a masked flow output (made by {mask_mul.op_type})")
    y_mask = next(name for name in mask_mul.input if not producer[name].name.startswith("/flow/"))
    ceils = [node for node in graph.node if node.op_type == "Ceil"]
    if len(ceils) != 1:
        raise ValueError(f"expected one Ceil (the rounded durations) in the piper graph, found {len(ceils)}")
    return LatentTensors(z_p=z_p, y_mask=y_mask, z=z, durations=ceils[0].output[0])


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` everywhere in ``graph``."""
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for info in [*graph.input, *graph.output, *graph.value_info]:
        if info.name == old:
            info.name = new


def _unbound_inputs(graph: onnx.GraphProto) -> set[str]:
    """Tensors read by ``graph``'s nodes that nothing in the graph defines."""
    defined = {out for node in graph.node for out in node.output}
    defined |= {t.name for t in graph.initializer} | {i.name for i in graph.input} | {""}
    return {name for node in graph.node for name in node.input} - defined


def extract_subgraph(
    model: onnx.ModelProto, inputs: list[str], outputs: list[str], renames: dict[str, str]
) -> onnx.ModelProto:
    """The part of a shape-inferred ``model`` between ``inputs`` and ``outputs``, tensors renamed by ``renames``."""
    subgraph = Extractor(model).extract_model(inputs, outputs)
    unbound = _unbound_inputs(subgraph.graph)
    if unbound:
        raise ValueError(f"{inputs} -> {outputs} is not separable, it also reads {sorted(unbound)}")
    for old, new in renames.items():
        _rename(subgraph.graph, old, new)
    onnx.checker.check_model(subgraph)
    return subgraph


def add_latent_output(model: onnx.ModelProto, tensors: LatentTensors) -> onnx.ModelProto:
    """``model`` with z_p exposed as an extra ``latent`` output (in place; returned for chaining)."""
    model.graph.node.append(onnx.helper.make_node("Identity", [tensors.z_p], [LATENT], name="/latent/Identity"))
    model.graph.output.append(onnx.helper.make_tensor_value_info(LATENT, onnx.TensorProto.FLOAT, [None] * 3))
    onnx.checker.check_model(model)
    return model


def _source_stamp(onnx_path: Path) -> dict[str, object]:
    stat = onnx_path.stat()
    return {"format": GRAPH_FORMAT, "source": str(onnx_path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_marker(folder: Path) -> dict[str, object] | None:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _write_graphs(onnx_path: Path, out_dir: Path) -> LatentTensors:
    model = onnx.load(str(onnx_path))
    tensors = find_latent_tensors(model.graph)
    inferred = onnx.shape_inference.infer_shapes(model)
    text_inputs = [tensor.name for tensor in model.graph.input]
    (audio,) = (tensor.name for tensor in model.graph.output)
    encoder_renames = {tensors.z_p: LATENT, tensors.durations: DURATIONS}
    encoder = extract_subgraph(inferred, text_inputs, [tensors.z_p, tensors.durations], encoder_renames)
    decoder_renames = {tensors.z_p: LATENT, tensors.y_mask: MASK, audio: AUDIO}
    decoder = extract_subgraph(inferred, [tensors.z_p, tensors.y_mask], [audio], decoder_renames)
    onnx.save(encoder, str(out_dir / ENCODER_GRAPH))
    onnx.save(decoder, str(out_dir / DECODER_GRAPH))
    onnx.save(add_latent_output(model, tensors), str(out_dir / FULL_GRAPH))
    return tensors


def _build(source: Path, folder: Path, stamp: dict[str, object]) -> dict[str, object]:
    """Write the graphs and their marker into a temporary sibling of ``folder``, then swap it in."""
    with atomic_dir(folder) as tmp:
        marker = {**stamp, "tensors": asdict(_write_graphs(source, tmp))}
        (tmp / MARKER).write_text(json.dumps(marker, indent=1))
    return marker


def prepare_latent_graphs(onnx_path: Path | None = None, cache_dir: Path | None = None) -> LatentGraphs:
    """Derive (once) the latent graphs of a piper voice (default: the joe voice) into the cache."""
    source = require_piper_voice(onnx_path)
    folder = (cache_dir if cache_dir is not None else default_cache_dir()) / CACHE_SUBDIR / source.stem
    stamp = _source_stamp(source)
    marker = _read_marker(folder)
    if marker is None or any(marker.get(key) != value for key, value in stamp.items()):
        marker = _build(source, folder, stamp)
    tensors = LatentTensors(**marker["tensors"])
    return LatentGraphs(folder / FULL_GRAPH, folder / ENCODER_GRAPH, folder / DECODER_GRAPH, tensors)


def _load_config(onnx_path: Path) -> PiperConfig:
    config = PiperConfig.from_dict(json.loads(Path(f"{onnx_path}.json").read_text(encoding="utf-8")))
    if config.num_speakers > 1:
        raise ValueError(f"{onnx_path.name} is multi-speaker; only single-speaker voices are supported")
    return config


def make_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session: ``threads`` intra-op threads, sequential, full graph optimization, no spin-waiting."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # share the CPU with the LLM
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class PiperLatentVoice:
    """Piper text-to-speech that also returns the z_p latent its audio was rendered from."""

    def __init__(self, onnx_path: Path | None = None, threads: int = 2) -> None:
        source = require_piper_voice(onnx_path)
        session = make_session(prepare_latent_graphs(source).encoder, threads)
        self._voice = PiperVoice(session=session, config=_load_config(source))
        self.decoder = PiperLatentDecoder(source, threads)

    @property
    def sample_rate(self) -> int:
        return self._voice.config.sample_rate

    def synthesize(
        self, text: str, length_scale: float = 1.0, noise_scale: float = 0.667, noise_w: float = 0.8
    ) -> tuple[np.ndarray, np.ndarray]:
        """(audio float32 (T * hop,), latent float32 (C, T)) with ``audio == decoder.decode(latent)``.

        Each sentence gets its own latent (one noise draw, as in piper); the sentences' latents are
        concatenated and rendered in one decoder run, so no seam differs from what ``decode`` gives.
        The audio is the graph's raw output (piper's CLI also peak-normalizes each sentence).
        """
        sentences = [phonemes for phonemes in self._voice.phonemize(text) if phonemes]
        if not sentences:
            raise ValueError(f"no speakable text in {text!r}")
        scales = np.array([noise_scale, length_scale, noise_w], dtype=np.float32)
        latent = np.concatenate([self._latent(self._voice.phonemes_to_ids(p), scales) for p in sentences], axis=1)
        return self.decoder.decode(latent), latent

    def _latent(self, phoneme_ids: list[int], scales: np.ndarray) -> np.ndarray:
        feeds = {
            "input": np.array([phoneme_ids], dtype=np.int64),
            "input_lengths": np.array([len(phoneme_ids)], dtype=np.int64),
            "scales": scales,
        }
        return self._voice.session.run([LATENT], feeds)[0][0]


class PiperLatentDecoder:
    """z_p latent (C, T) -> audio with the voice's own reverse flow and HiFi-GAN."""

    def __init__(self, onnx_path: Path | None = None, threads: int = 1) -> None:
        source = require_piper_voice(onnx_path)
        self._config = _load_config(source)
        self._session = make_session(prepare_latent_graphs(source).decoder, threads)
        self._latent_dim = int(self._session.get_inputs()[0].shape[1])

    @property
    def sample_rate(self) -> int:
        return self._config.sample_rate

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame."""
        return self._config.hop_length

    @property
    def latent_dim(self) -> int:
        return self._latent_dim

    def decode(self, latent: np.ndarray) -> np.ndarray:
        """Audio float32 of ``latent.shape[1] * hop_length`` samples."""
        if latent.ndim != 2 or latent.shape[0] != self.latent_dim or latent.shape[1] == 0:
            raise ValueError(f"latent must be ({self.latent_dim}, T>0), got {latent.shape}")
        frames = latent.shape[1]
        feeds = {
            LATENT: np.ascontiguousarray(latent, dtype=np.float32)[None],
            MASK: np.ones((1, 1, frames), dtype=np.float32),
        }
        return self._session.run([AUDIO], feeds)[0].reshape(-1)

    def decode_window(
        self,
        latent: np.ndarray,
        start: int,
        end: int,
        left_context: int = LEFT_CONTEXT,
        right_context: int = RIGHT_CONTEXT,
    ) -> np.ndarray:
        """Audio of frames [start, end), decoded from ``latent[:, start - left : end + right]`` and trimmed."""
        if not 0 <= start < end <= latent.shape[1] or left_context < 0 or right_context < 0:
            raise ValueError(f"bad window [{start}, {end}) with context ({left_context}, {right_context})")
        first = max(0, start - left_context)
        audio = self.decode(latent[:, first : min(latent.shape[1], end + right_context)])
        return audio[(start - first) * self.hop_length : (end - first) * self.hop_length]
