"""Two-stage training on a tiny model: losses fall, exports load, resume after a kill, DDP == single process."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig, WhisperModel

from vocalnet.checkpoint.io import CheckpointError
from vocalnet.llm.backbone import load_tokenizer
from vocalnet.modeling import VocalNetModel
from vocalnet.training.config import TrainConfig
from vocalnet.training.data import Dialogue, DialogueDataset, TensorCache
from vocalnet.training.gta import write_gta_manifest
from vocalnet.training.recipes.stage1_s2t import Stage1Recipe
from vocalnet.training.recipes.stage2_s2s import Stage2Recipe
from vocalnet.training.recipes.vocoder_u2l import load_pairs
from vocalnet.training.run import train
from vocalnet.training.trainer import param_groups

UNITS = 40
ANSWERS = ["Paris is the capital.", "Two plus two is four.", "The sky is blue.", "Cats like to sleep."]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, assets) -> Path:
    """8 dialogues (noise-burst 'questions', short answers, random units) + tiny LLM / Whisper folders."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    entries = []
    for i in range(8):
        wav = (0.1 * rng.standard_normal(16000 + 1600 * i)).astype(np.float32)
        (root / "q").mkdir(exist_ok=True)
        (root / "u").mkdir(exist_ok=True)
        sf.write(root / "q" / f"{i}.wav", wav, 16000)
        np.save(root / "u" / f"{i}.npy", rng.integers(0, UNITS, 30 + 3 * i))
        entries.append({"id": f"d{i}", "speech": f"q/{i}.wav", "units": f"u/{i}.npy", "question": f"What is item {i}?", "answer_audio": f"q/{(i + 1) % 8}.wav",
                        "conversations": [{"from": "human", "value": "<speech>"},
                                          {"from": "gpt", "value": ANSWERS[i % 4]}]})
    (root / "train.json").write_text(json.dumps(entries))
    (root / "dev.json").write_text(json.dumps(entries[:2]))
    tok = load_tokenizer(assets.llm)
    torch.manual_seed(0)
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=48, intermediate_size=96,
                                       num_hidden_layers=2, num_attention_heads=4))
    llm.save_pretrained(root / "llm")
    tok.save_pretrained(root / "llm")
    WhisperModel(WhisperConfig(d_model=64, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=128,
                               decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=128)).save_pretrained(root / "whisper")
    return root


def write_config(corpus: Path, folder: Path, stage: str, **extra) -> Path:
    cfg = {"stage": stage, "output_dir": str(folder), "train_manifest": str(corpus / "train.json"),
           "dev_manifest": str(corpus / "dev.json"), "cache_dir": str(corpus / "cache"),
           "optim": {"lr": 3e-3, "batch_size": 4, "max_steps": 8, "warmup_ratio": 0.0},
           "log_every": 1, "eval_every": 4, "save_every": 4, "seed": 0}
    if stage == "s2t" and "init_from" not in extra:
        cfg["model"] = {"llm": str(corpus / "llm"), "speech_encoder": str(corpus / "whisper"), "adaptor_hidden_size": 32,
                        "system_prompt": "Answer briefly.",
                        "generator": {"hidden_size": 32, "llm_hidden_size": 48, "ffn_dim": 64, "num_heads": 4,
                                      "unit_vocab_size": UNITS, "mtp_num": 2, "dropout": 0.0,
                                      "position_layout": "separate"}}
    cfg.update(extra)
    path = folder.parent / f"{folder.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def losses(folder: Path) -> list[float]:
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r]  # the step-0 record holds the dev loss only


@pytest.fixture(scope="module")
def stage1(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "s1"
    return train(write_config(corpus, out, "s2t", repeat_question=0.5,
                              optim={"lr": 3e-3, "batch_size": 4, "max_steps": 8, "warmup_ratio": 0.0,
                                     "param_lr": {"speech_projector": 1e-2}}))


def test_stage1_repeat_items_use_their_own_prompt_and_the_question_as_target(corpus: Path, tmp_path: Path) -> None:
    cfg = TrainConfig.load(write_config(corpus, tmp_path / "r", "s2t", repeat_question=0.5))
    recipe = Stage1Recipe(cfg)
    module = recipe.build()
    train_ds, dev_ds = recipe.datasets(module)
    assert len(train_ds) == 12 and len(dev_ds) == 2  # 8 answer items + 4 repeat items; dev answers only
    repeats = [train_ds[i] for i in range(len(train_ds)) if train_ds.items[i].task == "repeat"]
    assert len({d.id for d, _ in repeats}) == 4
    batch = recipe.collate([train_ds[0], repeats[0]])
    tok = module.model.tokenizer
    assert batch["answers"][0] == tok(train_ds.items[0].answer, add_special_tokens=False)["input_ids"]
    assert batch["answers"][1] == tok(repeats[0][0].question, add_special_tokens=False)["input_ids"]
    assert batch["prompts"][0] == module.model.prompt and batch["prompts"][1] != module.model.prompt
    assert "word for word" in tok.decode(batch["prompts"][1].before)
    inp = module.model.build_llm_inputs(torch.zeros(2, 3, 48), torch.tensor([3, 3]), batch["answers"], batch["prompts"])
    for i in range(2):  # labels start right after each sample's own prompt + speech
        assert inp.answer_start[i] == len(batch["prompts"][i].before) + 3 + len(batch["prompts"][i].after)
        assert inp.labels[i, inp.answer_start[i]:inp.answer_start[i] + len(batch["answers"][i])].tolist() == batch["answers"][i]


def write_readings(corpus: Path, path: Path) -> list[dict]:
    """Four read-speech items (the corpus's query audio, transcripts as typed questions) at `path`."""
    readings = [{"id": f"r{i}", "speech": str(corpus / "q" / f"{i}.wav"), "question": f"Green river {i}.",
                 "conversations": [{"from": "human", "value": "<speech>"}, {"from": "gpt", "value": f"Green river {i}."}]}
                for i in range(4)]
    path.write_text(json.dumps(readings))
    return readings


def test_stage1_repeat_only_readings_are_transcribed_under_the_repeat_prompt(corpus: Path, tmp_path: Path) -> None:
    write_readings(corpus, tmp_path / "readings.json")
    cfg = TrainConfig.load(write_config(corpus, tmp_path / "r", "s2t", repeat_only=str(tmp_path / "readings.json")))
    recipe = Stage1Recipe(cfg)
    module = recipe.build()
    train_ds, _ = recipe.datasets(module)
    assert [d.task for d in train_ds.items] == ["answer"] * 8 + ["repeat"] * 4
    batch = recipe.collate([train_ds[0], train_ds[8]])
    tok = module.model.tokenizer
    assert batch["answers"][1] == tok("Green river 0.", add_special_tokens=False)["input_ids"]
    assert batch["prompts"][0] == module.model.prompt and "word for word" in tok.decode(batch["prompts"][1].before)
    assert batch["answer_ce"].tolist() == [True, True]  # transcription trains through CE, unlike distill_only
    with pytest.raises(ValueError, match="repeat_only is a stage-1"):
        TrainConfig.load(write_config(corpus, tmp_path / "s", "s2s", init_from=str(tmp_path), repeat_only=cfg.repeat_only))


def test_align_stage_spells_questions_and_answers_then_seeds_stage1(corpus: Path, tmp_path: Path) -> None:
    """CTC alignment trains the adaptor alone (on questions and, with align_on_answers, answer audio);
    stage 1 then starts from its adaptor."""
    cfg = write_config(corpus, tmp_path / "align", "s2t", align_on_answers=True, feature_dropout=0.1)
    spec = yaml.safe_load(cfg.read_text())
    cfg.write_text(yaml.safe_dump({**spec, "stage": "align", "optim": {**spec["optim"], "lr": 1e-2, "batch_size": 8}}))
    out = train(cfg)
    ls = losses(tmp_path / "align")
    assert len(ls) == 8 and ls[-1] < ls[0]
    records = [json.loads(l) for l in (tmp_path / "align" / "log.jsonl").read_text().splitlines()]
    assert records[-1]["samples"] == 64  # 8 steps x 8: the 16 items (8 questions + 8 answer readings) cycle
    stored = load_file(str(out / "model.safetensors"))
    assert any(k.startswith("speech_projector.") for k in stored)
    assert not any("ctc_head" in k or "lora_" in k for k in stored)
    recipe = Stage1Recipe(TrainConfig.load(write_config(corpus, tmp_path / "s1", "s2t", adaptor_from=str(out))))
    seeded = recipe.build().model.speech_projector.state_dict()
    assert all(torch.equal(seeded[k], stored[f"speech_projector.{k}"].float()) for k in seeded)


def test_align_readings_join_the_training_set_and_widen_the_ctc_vocabulary(corpus: Path, tmp_path: Path) -> None:
    """Read-speech manifests (`align_readings`) add their items to the align stage's training set, and
    their words' tokens become spellable by the CTC head."""
    from vocalnet.training.recipes.align_ctc import AlignRecipe

    words = "Zanzibar volcanoes hum quietly"
    readings = [{"id": f"read-{i}", "speech": str(corpus / "q" / f"{i}.wav"), "question": words,
                 "conversations": [{"from": "human", "value": "<speech>"}, {"from": "gpt", "value": words}]}
                for i in range(3)]
    (tmp_path / "readings.json").write_text(json.dumps(readings))
    ids = load_tokenizer(corpus / "llm")(words, add_special_tokens=False)["input_ids"]
    recipes = []
    for extra in ([], [str(tmp_path / "readings.json")]):
        cfg = yaml.safe_load(write_config(corpus, tmp_path / "a", "s2t").read_text())
        (tmp_path / "a.yaml").write_text(yaml.safe_dump({**cfg, "stage": "align", "align_readings": extra}))
        recipe = AlignRecipe(TrainConfig.load(tmp_path / "a.yaml"))
        train_ds, _ = recipe.datasets(recipe.build())
        recipes.append((recipe, train_ds))
    (plain, plain_ds), (read, read_ds) = recipes
    assert len(read_ds) == len(plain_ds) + 3
    assert [d.question for d in read_ds.items[-3:]] == [words] * 3
    assert not set(ids) <= set(plain.ctc_index) and set(ids) <= set(read.ctc_index)
    batch = read.collate([read_ds[len(read_ds) - 1]])
    assert batch["targets"][0] == [read.ctc_index[t] for t in ids]


def test_adaptor_norm_term_pulls_frames_to_the_embedding_norm(corpus: Path, tmp_path: Path) -> None:
    """The norm term is zero for frames at the LLM's mean embedding norm, ignores padding, and
    training with it moves the adaptor's frames towards that norm."""
    cfg = TrainConfig.load(write_config(corpus, tmp_path / "n", "s2t", adaptor_norm_weight=2.0))
    recipe = Stage1Recipe(cfg)
    module = recipe.build()
    target = module.model.llm.get_input_embeddings().weight.norm(dim=-1).mean()
    frames = torch.nn.functional.normalize(torch.randn(2, 5, 48), dim=-1) * target
    frames[1, 3:] *= 100  # padding: not counted
    [(w, total, count)] = recipe.norm_terms(frames, torch.tensor([5, 3]))
    assert w == 2.0 and int(count) == 8 and float(total) < 1e-8
    [(_, total, _)] = recipe.norm_terms(frames * 3, torch.tensor([5, 3]))
    assert float(total) == pytest.approx(8 * 4.0, rel=1e-4)

    @torch.no_grad()
    def mean_deviation(model: VocalNetModel) -> float:
        enc = torch.stack([f[:50] for _, f in (train_ds[i] for i in range(4))])
        speech, _ = model.speech_projector(enc, torch.full((4,), 50))
        return float((speech.norm(dim=-1) / target - 1).abs().mean())

    train_ds, _ = recipe.datasets(module)
    before = mean_deviation(module.model)
    cfg_path = write_config(corpus, tmp_path / "align", "s2t", adaptor_norm_weight=2.0)
    spec = yaml.safe_load(cfg_path.read_text())
    cfg_path.write_text(yaml.safe_dump({**spec, "stage": "align", "optim": {**spec["optim"], "lr": 1e-2}}))
    after = mean_deviation(VocalNetModel.from_pretrained(train(cfg_path)))
    assert after < 0.5 * before, (before, after)


def test_param_lr_groups() -> None:
    net = torch.nn.ModuleDict({"speech_projector": torch.nn.Linear(2, 2), "llm": torch.nn.Linear(2, 2),
                               "frozen": torch.nn.Linear(2, 2)})
    net["frozen"].requires_grad_(False)
    groups = {g["lr"]: len(g["params"]) for g in param_groups(net, 2e-4, {"speech_projector": 1e-3})}
    assert groups == {1e-3: 2, 2e-4: 2}
    with pytest.raises(ValueError, match="match no trainable"):
        param_groups(net, 2e-4, {"frozen": 1e-3})


def test_stage1_trains_adaptor_and_lora(stage1: Path) -> None:
    run = stage1.parent
    ls = losses(run)
    assert len(ls) == 8 and ls[-1] < ls[0]
    assert any("dev_loss" in json.loads(l) for l in (run / "log.jsonl").read_text().splitlines())
    stored = load_file(str(stage1 / "model.safetensors"))
    assert any("lora_A" in k for k in stored) and any(k.startswith("speech_projector.") for k in stored)
    assert not any(k.startswith("llm.") and "lora_" not in k for k in stored)  # base LLM referenced, not copied
    model = VocalNetModel.from_pretrained(stage1)
    before = model.llm.get_input_embeddings().weight.clone()
    model.merge_lora()
    assert model.config.lora is None and not any("lora" in n for n, _ in model.llm.named_parameters())
    assert torch.equal(before, model.llm.get_input_embeddings().weight)
    assert list((run / "tb").rglob("events.out.tfevents*"))


def test_stage1_continues_a_checkpoint_and_refuses_one_without_lora(stage1: Path, corpus: Path, tmp_path: Path) -> None:
    cfg = TrainConfig.load(write_config(corpus, tmp_path / "c", "s2t", init_from=str(stage1)))
    start = Stage1Recipe(cfg).build().model.state_dict()
    stored = load_file(str(stage1 / "model.safetensors"))
    assert all(torch.equal(start[k], stored[k].float()) for k in stored)  # adaptor, LoRA and generator
    out = train(write_config(corpus, tmp_path / "c", "s2t", init_from=str(stage1)))
    assert losses(tmp_path / "c")[0] < losses(stage1.parent)[0]  # it goes on from the trained adaptor and LoRA
    cont = load_file(str(out / "model.safetensors"))
    lora = [k for k in stored if "lora_" in k]
    assert any(not torch.equal(cont[k], stored[k]) for k in lora)
    merged = VocalNetModel.from_pretrained(stage1)
    merged.merge_lora()
    merged.save_pretrained(tmp_path / "merged")
    with pytest.raises(ValueError, match="no LoRA adapters"):
        Stage1Recipe(TrainConfig.load(write_config(corpus, tmp_path / "m", "s2t", init_from=str(tmp_path / "merged")))).build()
    # the config may restate the checkpoint's LoRA, not ask for another one
    same = {"r": 8, "alpha": 16, "dropout": 0.05}
    Stage1Recipe(TrainConfig.load(write_config(corpus, tmp_path / "l", "s2t", init_from=str(stage1), lora=same))).build()
    with pytest.raises(ValueError, match="differs from the LoRA of init_from"):
        Stage1Recipe(TrainConfig.load(write_config(corpus, tmp_path / "l", "s2t", init_from=str(stage1),
                                                   lora={**same, "r": 4}))).build()


def test_stage1_distillation_pulls_the_heard_question_to_the_typed_one(corpus: Path, tmp_path: Path) -> None:
    """distill_weight: the base LLM reading the typed question is the teacher at every target position;
    distill_only items (read speech) add that term alone, never answer CE."""
    readings = write_readings(corpus, tmp_path / "readings.json")
    path = write_config(corpus, tmp_path / "d", "s2t", distill_weight=0.5, distill_only=str(tmp_path / "readings.json"))
    recipe = Stage1Recipe(TrainConfig.load(path))
    module = recipe.build()
    train_set, _ = recipe.datasets(module)
    assert [d.task for d in train_set.items] == ["answer"] * 8 + ["distill"] * 4
    model = module.model
    batch = recipe.collate([train_set[i] for i in (0, 1, 8, 9)])
    (_, ce, n_ce), (w, kl, n_kl) = recipe.loss_terms(model, batch)  # (no adaptor norm term here)
    n_answer = sum(len(a) + 1 for a in batch["answers"][:2])  # answer + end-of-turn of the two dialogues
    assert int(n_ce) == n_answer and int(n_kl) == sum(len(a) + 1 for a in batch["answers"])
    assert w == 0.5 and kl > 0 and torch.isfinite(ce)
    # the teacher is the student's own LLM with LoRA off: with untrained LoRA (B = 0) and the typed
    # question as the query, both give the same distributions at the same positions
    embeds, lens = recipe.typed_query(model, batch)
    with torch.no_grad():
        student, targets, item = recipe._target_logits(model, embeds, lens, batch)
        with model.llm.disable_adapter():
            teacher = recipe._target_logits(model, embeds, lens, batch)[0]
    assert torch.allclose(student, teacher, atol=1e-5) and item.tolist() == sorted(item.tolist())
    assert targets[item == 2].tolist() == batch["answers"][2] + [model.eot_id]  # a reading's probe text is its transcript
    out = train(path)
    assert any("lora_B" in k and load_file(str(out / "model.safetensors"))[k].abs().sum() > 0
               for k in load_file(str(out / "model.safetensors")))
    with pytest.raises(ValueError, match="stage-1 .s2t. options"):
        TrainConfig.load(write_config(corpus, tmp_path / "s", "s2s", init_from=str(out), distill_weight=0.5))
    with pytest.raises(ValueError, match="distill_weight must be"):
        TrainConfig.load(write_config(corpus, tmp_path / "e", "s2t", distill_only=str(tmp_path / "readings.json")))
    (tmp_path / "untyped.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "question"} for r in readings]))
    with pytest.raises(ValueError, match="needs the typed `question`"):
        r = Stage1Recipe(TrainConfig.load(write_config(corpus, tmp_path / "u", "s2t", distill_weight=0.5,
                                                       distill_only=str(tmp_path / "untyped.json"))))
        r.datasets(r.build())


def test_stage2_trains_generator_only(stage1: Path, corpus: Path, tmp_path: Path) -> None:
    out = train(write_config(corpus, tmp_path / "s2", "s2s", init_from=str(stage1), mask_mode="random"))
    ls = losses(tmp_path / "s2")
    assert ls[-1] < ls[0]
    a, b = load_file(str(stage1 / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("speech_generator."))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("speech_generator."))
    # a warm start takes the trained generator, everything else from init_from
    cfg = TrainConfig.load(write_config(corpus, tmp_path / "w", "s2s", init_from=str(stage1), generator_from=str(out)))
    warm = Stage2Recipe(cfg).build().model.state_dict()
    assert all(torch.equal(warm[k], b[k].float()) for k in b if k.startswith("speech_generator."))
    assert all(torch.equal(warm[k], a[k].float()) for k in a if k.startswith("speech_projector."))
    with pytest.raises(CheckpointError, match="no speech_generator weights"):
        Stage2Recipe(TrainConfig.load(write_config(corpus, tmp_path / "x", "s2s", init_from=str(stage1),
                                                   generator_from=str(corpus / "llm")))).build()
    # a warm start into a generator that also reads token embeddings and phonemes: the new
    # projections start at zero (same outputs as before), then training moves them
    gen = {"text_embed_size": 48, "phoneme_slots": 8}
    cfg = TrainConfig.load(write_config(corpus, tmp_path / "e", "s2s", init_from=str(stage1), generator_from=str(out),
                                        generator=gen))
    warm = Stage2Recipe(cfg).build().model.state_dict()
    assert all(torch.equal(warm[k], b[k].float()) for k in b if k.startswith("speech_generator."))
    assert not warm["speech_generator.embed_proj.weight"].any() and not warm["speech_generator.phoneme_proj.weight"].any()
    fused = load_file(str(train(write_config(corpus, tmp_path / "e2", "s2s", init_from=str(stage1),
                                             generator_from=str(out), generator=gen)) / "model.safetensors"))
    assert fused["speech_generator.embed_proj.weight"].float().abs().sum() > 0
    assert fused["speech_generator.phoneme_proj.weight"].float().abs().sum() > 0


def test_stage2_cache_survives_a_new_generator_but_not_a_new_stage1(stage1: Path, corpus: Path, tmp_path: Path) -> None:
    """The hidden-state cache is keyed by what produces the hidden states, not by the generator."""
    def fingerprint(init_from: Path) -> str:
        recipe = Stage2Recipe(TrainConfig.load(write_config(corpus, tmp_path / "f", "s2s", init_from=str(init_from))))
        recipe.build()
        return recipe._fingerprint()

    s2 = train(write_config(corpus, tmp_path / "s2", "s2s", init_from=str(stage1), optim={
        "lr": 3e-3, "batch_size": 4, "max_steps": 2, "warmup_ratio": 0.0}))
    assert fingerprint(s2) == fingerprint(stage1)
    changed = tmp_path / "changed"
    changed.mkdir()
    state = load_file(str(stage1 / "model.safetensors"))
    name = next(k for k in state if k.startswith("speech_projector."))
    state[name] = state[name] + 1
    save_file(state, str(changed / "model.safetensors"))
    for f in stage1.iterdir():
        if f.is_file() and f.name != "model.safetensors":
            (changed / f.name).write_bytes(f.read_bytes())
    assert fingerprint(changed) != fingerprint(stage1)


def test_gta_units_line_up_with_the_answers_for_the_vocoder(stage1: Path, corpus: Path, tmp_path: Path) -> None:
    """`vocalnet vocoder gta`: one predicted unit per true unit, the answer's latent kept, a manifest the
    vocoder recipe reads; the reported agreement is the files' own."""
    entries = json.loads((corpus / "train.json").read_text())
    for e in entries:  # latents for the vocoder, stored outside the corpus folder
        np.save(tmp_path / f"{e['id']}.npy", np.zeros((4, 10), np.float32))
        e["answer_latent"] = str(tmp_path / f"{e['id']}.npy")
    manifest = corpus / "gta_src.json"
    manifest.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="mtp must lie"):
        write_gta_manifest(stage1, manifest, tmp_path / "bad", mtp=3)  # the tiny generator has 2 extra heads
    out, agree = write_gta_manifest(stage1, manifest, tmp_path / "gta", mtp=2, cache_dir=tmp_path / "cache")
    gta = json.loads(out.read_text())
    assert [e["id"] for e in gta] == [e["id"] for e in entries]
    same = total = 0
    for src, e in zip(entries, gta):
        true, pred = np.load(corpus / src["units"]), np.load(out.parent / e["units"])
        assert pred.shape == true.shape and 0 <= pred.min() and pred.max() < UNITS
        assert Path(e["speech"]).is_absolute() and Path(e["speech"]).is_file()
        same, total = same + int((pred == true).sum()), total + len(true)
    assert agree == pytest.approx(same / total)
    pairs = load_pairs(out)
    assert [p.latent for p in pairs] == [Path(e["answer_latent"]) for e in entries]
    again, _ = write_gta_manifest(stage1, manifest, tmp_path / "gta2", mtp=2, cache_dir=tmp_path / "cache")
    assert all(np.array_equal(np.load(a.units), np.load(b.units)) for a, b in zip(pairs, load_pairs(again)))


def test_cache_entries_follow_the_audio_and_the_answer_not_the_paths(tmp_path: Path) -> None:
    """A corpus rebuilt in place (same ids and paths, new audio or answers) must not reuse stale entries;
    one moved elsewhere keeps its entries."""
    wav = tmp_path / "a" / "q.wav"
    wav.parent.mkdir()
    sf.write(wav, np.zeros(1600, np.float32), 16000)
    calls: list[str] = []

    def featurize(d: Dialogue) -> torch.Tensor:
        calls.append(d.answer)
        return torch.ones(2)

    def fetch(d: Dialogue, reads_text: bool) -> None:
        DialogueDataset([d], TensorCache(tmp_path / "cache", "ns"), featurize, "fp", reads_text)[0]

    d = Dialogue("x", wav, "First answer.", None)
    fetch(d, True)
    fetch(d, True)
    assert len(calls) == 1
    fetch(dataclasses.replace(d, answer="Second answer."), True)  # same audio, new answer
    assert len(calls) == 2
    fetch(dataclasses.replace(d, answer="Second answer."), False)  # Whisper features: the answer does not matter
    fetch(dataclasses.replace(d, answer="Third answer."), False)
    assert len(calls) == 3
    moved = tmp_path / "b" / "q.wav"
    moved.parent.mkdir()
    moved.write_bytes(wav.read_bytes())
    fetch(dataclasses.replace(d, query_wav=moved, answer="Third answer."), False)
    assert len(calls) == 3
    sf.write(wav, np.ones(1600, np.float32) * 0.1, 16000)  # rebuilt in place
    fetch(dataclasses.replace(d, answer="Third answer."), False)
    assert len(calls) == 4


def _run_cli(config: Path, env_extra: dict | None = None, nproc: int = 1) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    if nproc == 1:
        cmd = [sys.executable, "-m", "vocalnet.cli.main", "train", "--config", str(config)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_port=29533",
               "-m", "vocalnet.cli.main", "train", "--config", str(config)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_resume_after_kill_matches_uninterrupted_run(stage1: Path, corpus: Path, tmp_path: Path) -> None:
    extra = dict(init_from=str(stage1), mask_mode="streaming", save_every=2)
    ref = train(write_config(corpus, tmp_path / "ref", "s2s", **extra))
    cfg = write_config(corpus, tmp_path / "killed", "s2s", **extra)
    proc = _run_cli(cfg)
    ckpts = tmp_path / "killed" / "checkpoints"
    deadline = time.time() + 120
    while not list(ckpts.glob("step-*/trainer_state.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(int(p.parent.name.split("-")[1]) for p in ckpts.glob("step-*/trainer_state.json"))
    assert done and done[-1] < 8, "the run was not interrupted mid-way"
    resumed = train(cfg)
    records = [json.loads(line) for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()]
    ref_records = [json.loads(line) for line in (ref / ".." / "log.jsonl").read_text().splitlines()]
    assert records[-1]["samples"] == ref_records[-1]["samples"]  # counted over the killed and the resumed run
    # both runs logged the starting point once, every head of it, on the same (fixed-seed) dev masks
    assert [r["step"] for r in records].count(0) == 1
    assert records[0]["step"] == 0 and len(records[0]["dev_terms"]) == 3  # main head + mtp_num 2
    assert records[0]["dev_terms"] == ref_records[0]["dev_terms"]
    assert ref_records[-1]["dev_terms"] != ref_records[0]["dev_terms"]
    a, b = load_file(str(ref / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k


def test_two_process_ddp_matches_single_process(stage1: Path, corpus: Path, tmp_path: Path) -> None:
    extra = dict(init_from=str(stage1), mask_mode="streaming")
    cpu = {"CUDA_VISIBLE_DEVICES": ""}  # two gloo processes on the CPU, also on a machine with one GPU
    single = write_config(corpus, tmp_path / "single", "s2s", **extra)
    p = _run_cli(single, cpu)
    assert p.wait(300) == 0, p.stdout.read().decode()[-3000:]
    ddp = write_config(corpus, tmp_path / "ddp", "s2s", **{**extra, "optim": {
        "lr": 3e-3, "batch_size": 2, "max_steps": 8, "warmup_ratio": 0.0}})
    p = _run_cli(ddp, cpu, nproc=2)
    assert p.wait(300) == 0, p.stdout.read().decode()[-3000:]
    assert np.allclose(losses(tmp_path / "single"), losses(tmp_path / "ddp"), atol=1e-4)


def test_bad_training_configs(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("stage: s3t\noutput_dir: o\ntrain_manifest: t.json\ninit_from: x\n")
    with pytest.raises(ValueError, match="stage"):
        TrainConfig.load(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text("stage: s2t\noutput_dir: o\ntrain_manifest: t.json\nlearning_rate: 1\nmodel: {}\n")
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.load(tmp_path / "b.yaml")
    with pytest.raises(FileNotFoundError):
        TrainConfig.load(tmp_path / "missing.yaml")
    (tmp_path / "c.yaml").write_text("stage: s2t\noutput_dir: o\ntrain_manifest: []\nmodel: {}\n")
    with pytest.raises(ValueError, match="train_manifest"):
        TrainConfig.load(tmp_path / "c.yaml")


def test_several_train_manifests_are_trained_on_together(stage1: Path, corpus: Path, tmp_path: Path) -> None:
    """`train_manifest` may list manifests (e.g. train.json and its answer variants): one training set."""
    extra = json.loads((corpus / "train.json").read_text())[:3]
    for e in extra:
        e["id"] += "-v1"
    (corpus / "extra.json").write_text(json.dumps(extra))
    cfg = TrainConfig.load(write_config(corpus, tmp_path / "m", "s2s", init_from=str(stage1),
                                        train_manifest=["train.json", str(corpus / "extra.json")]))
    assert cfg.train_manifests == [str(Path("train.json").resolve()), str(corpus / "extra.json")]
    cfg = dataclasses.replace(cfg, train_manifest=[str(corpus / "train.json"), str(corpus / "extra.json")])
    recipe = Stage2Recipe(cfg)
    train_ds, _ = recipe.datasets(recipe.build())
    assert [d.id for d in train_ds.items] == [f"d{i}" for i in range(8)] + ["d0-v1", "d1-v1", "d2-v1"]
    assert TrainConfig.load(write_config(corpus, tmp_path / "s", "s2s", init_from=str(stage1))).train_manifests == [
        str(corpus / "train.json")]


def test_dev_evaluation_draws_its_randomness_from_a_fixed_seed() -> None:
    """Two evaluations of a loss with random parts agree, and training's RNG stream is left as it was."""
    from accelerate import Accelerator

    from vocalnet.training.trainer import evaluate

    class Noisy(torch.nn.Module):
        def forward(self, batch: torch.Tensor) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
            noise = torch.rand(batch.shape)  # stands for stage 2's random masks
            return [(1.0, (batch * noise).sum(), torch.tensor(float(batch.numel()))),
                    (0.8, noise.sum(), torch.tensor(float(batch.numel())))]

    # the trainer's device choice: accelerate allows one AcceleratorState per process
    acc, model = Accelerator(cpu=not torch.cuda.is_available()), Noisy()
    dl = torch.utils.data.DataLoader(torch.ones(6, 3), batch_size=2)
    torch.manual_seed(1)
    first = evaluate(acc, model, dl)
    after_first = torch.rand(1)
    torch.manual_seed(1)
    second = evaluate(acc, model, dl)
    assert first == second and len(first["dev_terms"]) == 2
    assert torch.equal(torch.rand(1), after_first)  # the RNG stream continued as if nothing had run
    torch.manual_seed(1)
    assert torch.equal(torch.rand(1), after_first)


def test_shipped_recipe_configs_load() -> None:
    """Every training config shipped with the recipes parses: known keys, valid values, a known stage."""
    configs = Path(__file__).resolve().parents[1] / "vocalnet" / "training" / "recipes" / "configs"
    paths = [p for p in sorted(configs.rglob("*.yaml")) if "accelerate" not in p.parts]
    assert len(paths) >= 4
    stages = {TrainConfig.load(p).stage for p in paths}
    assert {"align", "s2t", "s2s", "vocoder"} <= stages
