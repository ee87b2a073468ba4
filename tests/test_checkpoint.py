"""Checkpoints: save/load round trip, clear errors, and the official release layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from official_reference import OfficialReferenceGenerator
from vocalnet.checkpoint.io import CheckpointError, load_state_dict
from vocalnet.checkpoint.official import convert_official, from_official_key, is_official_checkpoint, save_official
from vocalnet.cli.main import main as cli_main
from vocalnet.config import VocalNetConfig
from vocalnet.generator.config import ConfigError, SpeechGeneratorConfig
from vocalnet.modeling import VocalNetModel

H, UNITS = 64, 30
LLAMA = dict(model_type="llama", vocab_size=120, hidden_size=H, intermediate_size=96, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
WHISPER = dict(d_model=64, num_mel_bins=80, encoder_layers=2, encoder_attention_heads=1, encoder_ffn_dim=128,
               max_source_positions=1500, decoder_layers=1, decoder_attention_heads=1, decoder_ffn_dim=128)


def tiny_config(**gen) -> VocalNetConfig:
    g = dict(hidden_size=H, llm_hidden_size=H, ffn_dim=128, num_heads=4, unit_vocab_size=UNITS, mtp_num=2)
    return VocalNetConfig(llm_config=dict(LLAMA), encoder_config=dict(WHISPER), adaptor_hidden_size=48,
                          eot_token_id=7, generator=SpeechGeneratorConfig(**{**g, **gen}))


@pytest.fixture()
def model() -> VocalNetModel:
    torch.manual_seed(0)
    return VocalNetModel.from_config(tiny_config())


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_self_contained_round_trip_is_bit_exact(model: VocalNetModel, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path / "ckpt", include_backbones=True)
    umask = os.umask(0o022)
    os.umask(umask)
    for path in [tmp_path / "ckpt", *(tmp_path / "ckpt").rglob("*")]:  # not owner-only (mkdtemp, safetensors)
        assert path.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~umask, path
    loaded = VocalNetModel.from_pretrained(tmp_path / "ckpt")
    assert_same_state(model, loaded)
    assert loaded.config.to_dict()["generator"] == model.config.to_dict()["generator"]


def test_trained_parts_only_round_trip(model: VocalNetModel, tmp_path: Path) -> None:
    """Without backbones the checkpoint stores adaptor + generator and points at the LLM / Whisper folders."""
    llm_dir, enc_dir = tmp_path / "llm", tmp_path / "whisper"
    model.llm.save_pretrained(llm_dir)
    from transformers import WhisperModel

    whisper = WhisperModel(WhisperConfig(**WHISPER))
    whisper.encoder.load_state_dict(model.speech_encoder.whisper.state_dict())
    whisper.save_pretrained(enc_dir)
    model.config.llm_config = model.config.encoder_config = None
    model.config.llm, model.config.speech_encoder = str(llm_dir), str(enc_dir)
    model.save_pretrained(tmp_path / "ckpt")
    stored = load_state_dict(tmp_path / "ckpt")
    assert stored and all(k.startswith(("speech_projector.", "speech_generator.")) for k in stored)
    loaded = VocalNetModel.from_pretrained(tmp_path / "ckpt")
    assert_same_state(model, loaded)


def test_overwrite_is_atomic(model: VocalNetModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "ckpt"
    model.save_pretrained(target, include_backbones=True)
    before = (target / "model.safetensors").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("vocalnet.modeling.save_state_dict", boom)
    with pytest.raises(OSError):
        model.save_pretrained(target, include_backbones=True)
    assert (target / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_bad_checkpoints_fail_clearly(model: VocalNetModel, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt, include_backbones=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VocalNetModel.from_pretrained(tmp_path / "nowhere")
    state = load_state_dict(ckpt)
    # a missing tensor
    save_file({k: v for k, v in state.items() if "speech_generator.norm" not in k}, str(ckpt / "model.safetensors"))
    with pytest.raises(CheckpointError, match="lacks"):
        VocalNetModel.from_pretrained(ckpt)
    # an unexpected tensor
    save_file({**state, "speech_generator.extra.weight": torch.zeros(2)}, str(ckpt / "model.safetensors"))
    with pytest.raises(CheckpointError, match="unexpected"):
        VocalNetModel.from_pretrained(ckpt)
    # a wrong shape
    bad = dict(state)
    bad["speech_generator.norm.weight"] = torch.zeros(3)
    save_file(bad, str(ckpt / "model.safetensors"))
    with pytest.raises(CheckpointError, match="shape"):
        VocalNetModel.from_pretrained(ckpt)
    # corrupt bytes
    (ckpt / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        VocalNetModel.from_pretrained(ckpt)
    # bad config.json
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="JSON"):
        VocalNetModel.from_pretrained(ckpt)
    (ckpt / "config.json").write_text(json.dumps({"model_type": "vocalnet", "generator": {"hidden_size": -1}}))
    with pytest.raises(ConfigError, match="hidden_size"):
        VocalNetModel.from_pretrained(ckpt)
    (ckpt / "config.json").write_text(json.dumps({"model_type": "vocalnet", "warp_drive": True}))
    with pytest.raises(ConfigError, match="unknown"):
        VocalNetModel.from_pretrained(ckpt)


# ---- official layout ------------------------------------------------------------------------------------------
OFFICIAL_SPEECH_KEYS = dict(
    model_type="omni_speech2s_llama", speech_encoder="whisper/large-v3.pt", speech_encoder_type="whisper",
    speech_encoder_ds_rate=5, speech_encoder_hidden_size=64, speech_projector_type="linear",
    speech_generator_type="ar_mtp", llm_hidden_size=H, decoder_num_layers=2, encoder_num_layers=2,
    decoder_num_heads=4, decoder_ffn_dim=128, decoder_dropout=0.1, unit_vocab_size=UNITS, special_tokens=4,
    speech_bos_token_id=UNITS, speech_sos_token_id=UNITS + 1, speech_eos_token_id=UNITS + 2,
    speech_padding_token_id=UNITS + 3, mtp_num=3, txt_token_num=5, speech_token_num=15, max_speech_tokens=512,
    speech_max_position_embeddings=2048,
)


@pytest.fixture(scope="module")
def official_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OfficialReferenceGenerator]:
    """A small randomly initialised checkpoint in the released layout, written in two shards."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("official")
    llm = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in LLAMA.items() if k != "model_type"}))
    enc = WhisperEncoder(WhisperConfig(**WHISPER))
    ref = OfficialReferenceGenerator(H, 128, 4, 2, 2, 3, UNITS).eval()
    proj = {"model.speech_projector.linear1.weight": torch.randn(2048, 64 * 5) * 0.02,
            "model.speech_projector.linear1.bias": torch.zeros(2048),
            "model.speech_projector.linear2.weight": torch.randn(H, 2048) * 0.02,
            "model.speech_projector.linear2.bias": torch.zeros(H)}
    shard1 = {**{k: v for k, v in llm.state_dict().items()}, **proj}
    shard2 = {**{f"model.speech_encoder.{k}": v for k, v in enc.state_dict().items()},
              **{f"speech_generator.{k}": v for k, v in ref.state_dict().items()}}
    save_file({k: v.contiguous() for k, v in shard1.items()}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({k: v.contiguous() for k, v in shard2.items()}, str(folder / "model-00002-of-00002.safetensors"))
    weight_map = {**{k: "model-00001-of-00002.safetensors" for k in shard1},
                  **{k: "model-00002-of-00002.safetensors" for k in shard2}}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    llm_cfg = {k: v for k, v in llm.config.to_dict().items() if not k.startswith("_")}
    (folder / "config.json").write_text(json.dumps({**llm_cfg, **OFFICIAL_SPEECH_KEYS, "architectures": ["OmniSpeech2SLlamaForCausalLM"]}))
    return folder, ref


def reference_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(3, 17, H, generator=g), torch.randint(0, UNITS, (3, 50), generator=g)


@pytest.mark.parametrize("mode", ["streaming", "non-streaming"])
def test_official_checkpoint_matches_reference(official_dir, mode: str) -> None:
    folder, ref = official_dir
    assert is_official_checkpoint(folder)
    model = VocalNetModel.from_pretrained(folder)  # raises on any missing / unexpected tensor
    gen = model.speech_generator.eval()
    assert gen.config.mtp_num == 3 and model.config.encoder_pad_to_30s
    text, units = reference_inputs()
    flags = [mode == "streaming"] * 3
    # single samples of different lengths, and a batch whose texts have equal length
    for lens, ulens, idx in [([17], [50], [0]), ([9], [23], [1]), ([4], [37], [2]), ([11, 11, 11], [50, 29, 8], [0, 1, 2])]:
        t, u = text[idx, : max(lens)], units[idx, : max(ulens)]
        with torch.no_grad():
            ref_loss, ref_logits = ref(t, lens, u, ulens, flags[: len(idx)])
            ours = gen(t, lens, u, ulens, mode)
        assert torch.allclose(ours.loss, ref_loss, atol=1e-5), (lens, float(ours.loss), float(ref_loss))
        for j, (a, b) in enumerate(zip(ours.logits, ref_logits)):
            for i, n in enumerate(ulens):
                rows = n + 1 - j
                assert torch.allclose(a[i, :rows], b[i, :rows], atol=1e-4), (j, i)


def test_official_layout_round_trip_and_convert(official_dir, tmp_path: Path) -> None:
    folder, _ = official_dir
    model = VocalNetModel.from_pretrained(folder)
    assert cli_main(["convert", str(folder), str(tmp_path / "converted")]) == 0
    converted = VocalNetModel.from_pretrained(tmp_path / "converted")
    assert_same_state(model, converted)
    save_official(converted, tmp_path / "again")
    raw = json.loads((tmp_path / "again" / "config.json").read_text())
    for k, v in OFFICIAL_SPEECH_KEYS.items():
        if k not in ("speech_encoder", "decoder_dropout"):
            assert raw[k] == v, k
    official_names = set(load_state_dict(folder))
    assert set(load_state_dict(tmp_path / "again")) == official_names
    assert {from_official_key(k) for k in official_names} == set(model.state_dict())


def test_convert_rejects_non_official(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(CheckpointError, match="not an official"):
        convert_official(tmp_path, tmp_path / "out")


def test_qwen2_backbone_round_trip_and_official_layout(tmp_path: Path) -> None:
    """Any HF causal LM: a tiny Qwen2 backbone trains, saves, reloads, and maps onto omni_speech2s_qwen2."""
    qwen = dict(model_type="qwen2", vocab_size=100, hidden_size=H, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=False)
    cfg = tiny_config()
    cfg.llm_config = qwen
    torch.manual_seed(0)
    model = VocalNetModel.from_config(cfg)
    assert type(model.llm).__name__ == "Qwen2ForCausalLM"
    texts = [torch.randn(5, H), torch.randn(3, H)]
    out = model.generator_loss(texts, [[1, 2, 3, 4], [5, 6]], "streaming")
    assert torch.isfinite(out.loss)
    model.save_pretrained(tmp_path / "ckpt", include_backbones=True)
    assert_same_state(model, VocalNetModel.from_pretrained(tmp_path / "ckpt"))
    save_official(model, tmp_path / "official")
    assert json.loads((tmp_path / "official" / "config.json").read_text())["model_type"] == "omni_speech2s_qwen2"
    assert_same_state(model, VocalNetModel.from_pretrained(tmp_path / "official"))
