"""The corpus builder (`vocalnet data synth`) and checker (`vocalnet data check`).

The end-to-end runs use a stub LLM (instant, deterministic) with the real piper and espeak-ng voices.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocalnet.audio.io import write_audio
from vocalnet.cli.data_cmd import register
from vocalnet.data.answers import RETRY_PROMPT, Message, clean_answer, clean_llm_question
from vocalnet.data.check import check_corpus
from vocalnet.data.manifest import SPLITS, ManifestError, entry_file, gpt_answer, manifest_path, read_entries
from vocalnet.data.questions import (
    FACTUAL_CATEGORIES,
    OPEN_CATEGORIES,
    assign_splits,
    normalize,
    template_questions,
)
from vocalnet.data.synth import STATE_DIR, SynthConfig, synthesize_corpus
from vocalnet.data.voices import (
    TEST_POOL,
    TRAIN_POOL,
    PiperAnswerVoice,
    piper_phoneme_id_count,
    pool_for,
    rng_for,
    sample_query_voice,
)

needs_speech = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
# piper's own sampled answer voice, so that the clean-latent annotation has noise to remove
CONFIG = SynthConfig(num=8, seed=0, llm_questions=8, batch_size=4, answer_noise_scale=0.667, answer_noise_w=0.8)


class StubChat:
    """An instant, deterministic stand-in for the LLM: writes one question per topic; answers with two
    sentences and a cut-off tail. Some questions get an unusable first answer (re-asked), a few get
    no usable answer at all (dropped)."""

    def generate(self, conversations: Sequence[list[Message]], max_new_tokens: int) -> list[str]:
        return [self._reply(c[0]["content"], c[-1]["content"]) for c in conversations]

    @staticmethod
    def _reply(system: str, user: str) -> str:
        topic = re.search(r"question about (.+) that begins with the word \"(\w+)\"", user)
        if topic:
            return f'A student might ask: "{topic.group(2)} do people care about {topic.group(1)}?"'
        if len(user) % 5 == 0:
            return "Sorry, garbage" if system == RETRY_PROMPT and len(user) % 10 == 0 else "Well, it depends on"
        word = user.rstrip("?.").split()[-1].lower()
        return f"It is about {word}. That is the short answer. And then some"


class Killed(BaseException):
    """Stands for the process being killed (not an Exception: nothing may catch it)."""


class FlakyChat(StubChat):
    """Dies like a killed process on its `fail_at`-th call."""

    def __init__(self, fail_at: int):
        self.calls, self.fail_at = 0, fail_at

    def generate(self, conversations: Sequence[list[Message]], max_new_tokens: int) -> list[str]:
        self.calls += 1
        if self.calls == self.fail_at:
            raise Killed
        return super().generate(conversations, max_new_tokens)


class FlakyAnswerVoice(PiperAnswerVoice):
    """Dies like a killed process on its third answer (in a worker process)."""

    def __init__(self) -> None:
        super().__init__(noise_scale=CONFIG.answer_noise_scale, noise_w=CONFIG.answer_noise_w)
        self.calls = 0

    def synthesize(self, text: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("simulated kill")
        return super().synthesize(text, rng)


def _synth(out: Path, chat: type | functools.partial = StubChat, **kwargs: object) -> object:
    return synthesize_corpus(out, CONFIG, chat_factory=chat, workers=1, progress=False, **kwargs)


def _files(folder: Path) -> dict[str, bytes]:
    """Every output file's bytes, without the run-history files (timings, TTS completion order)."""
    skip = {f"{STATE_DIR}/progress.json", f"{STATE_DIR}/tts.jsonl"}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and str(p.relative_to(folder)) not in skip}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    out = tmp_path_factory.mktemp("corpus")
    _synth(out)
    return out


def _entries(folder: Path) -> dict[str, list[dict]]:
    return {s: json.loads(manifest_path(folder, s).read_text()) for s in SPLITS}


# ------------------------------------------------------------------------------------------- questions

def test_question_bank_is_varied_unique_and_referenced() -> None:
    bank = template_questions()
    categories = Counter(q.category for q in bank)
    assert len(categories) >= 15 and len(bank) > 9000
    assert min(categories.values()) >= 50
    assert len({normalize(q.text) for q in bank}) == len(bank)
    assert set(categories) <= FACTUAL_CATEGORIES | OPEN_CATEGORIES
    for q in bank:
        assert (q.reference is not None) == (q.category in FACTUAL_CATEGORIES), q
        assert q.reference is None or q.reference.strip()
    assert len({q.text for q in bank if q.category == "capitals" and "France" in q.text}) >= 4


def test_splits_share_no_question_or_paraphrase() -> None:
    splits = assign_splits(template_questions(), {"test": 300, "dev": 300, "train": 5000}, seed=0)
    assert {s: len(qs) for s, qs in splits.items()} == {"test": 300, "dev": 300, "train": 5000}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not {normalize(q.text) for q in splits[a]} & {normalize(q.text) for q in splits[b]}
        assert not {q.group for q in splits[a]} & {q.group for q in splits[b]}
    assert len({q.category for q in splits["test"]}) >= 15
    assert splits != assign_splits(template_questions(), {"test": 300, "dev": 300, "train": 5000}, seed=1)


def test_test_voices_are_disjoint_from_train() -> None:
    assert not set(TEST_POOL.espeak_voices) & set(TRAIN_POOL.espeak_voices)
    assert TEST_POOL.piper_length[0] > TRAIN_POOL.piper_length[1]
    specs = {split: [sample_query_voice(rng_for(0, f"{split}-{i}"), pool_for(split)) for i in range(300)]
             for split in ("train", "test")}

    def voices(split: str) -> set[str]:
        return {s["voice"] for s in specs[split] if s["engine"] == "espeak"}

    def lengths(split: str) -> list[float]:
        return [s["length_scale"] for s in specs[split] if s["engine"] == "piper"]

    assert not voices("test") & voices("train") and len(voices("train")) >= 4
    assert min(lengths("test")) > max(lengths("train"))
    assert {s["noise"]["type"] for s in specs["train"] if s["noise"]} == {"white", "pink", "brown", "babble"}


def test_answers_are_cut_to_clean_sentences() -> None:
    assert clean_answer("Paris is the capital. It is big. It has a tower. And") == "Paris is the capital. It is big."
    assert clean_answer("It was written by J. K. Rowling. She is British.") == \
        "It was written by J. K. Rowling. She is British."
    assert clean_answer("The sky is blue because of the way light is scattered by") is None
    assert clean_answer("") is None and clean_answer("ok ok ok ok.") is None
    written = 'A student might ask: "Why do volcanoes erupt?"'
    assert clean_llm_question(written, "volcanoes") == "Why do volcanoes erupt?"
    assert clean_llm_question("Which moon?", "the Moon") is None


# ------------------------------------------------------------------------------------------ end to end

@needs_speech
def test_synth_writes_manifests_that_check_accepts(corpus: Path) -> None:
    entries = _entries(corpus)
    assert {s: len(e) for s, e in entries.items()} == {"train": 6, "dev": 1, "test": 1}
    entry = entries["train"][0]
    assert entry["conversations"][0] == {"from": "human", "value": "<speech>"}
    assert entry["conversations"][1]["from"] == "gpt" and entry["conversations"][1]["value"].endswith(".")
    assert entry["units"] == f"units/{entry['id']}.npy"
    assert sf.info(str(corpus / entry["speech"])).samplerate == 16000
    assert sf.info(str(corpus / entry["answer_audio"])).samplerate == 22050
    latent = np.load(corpus / entry["answer_latent"])
    assert latent.dtype == np.float16 and latent.ndim == 2
    for e in entries["test"]:
        voice = e["query_voice"]
        assert voice["voice"] in TEST_POOL.espeak_voices or voice["length_scale"] >= TEST_POOL.piper_length[0]

    strict = check_corpus(corpus)
    assert {p.kind for p in strict.errors} == {"missing_units"}
    assert not check_corpus(corpus, allow_missing_units=True).errors
    for e in (e for split in entries.values() for e in split):
        (corpus / "units").mkdir(exist_ok=True)
        np.save(corpus / e["units"], np.arange(50, dtype=np.int64))
    assert not check_corpus(corpus, vocab=6561).problems


@needs_speech
def test_resumed_run_equals_uninterrupted_run(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(Killed):
        _synth(tmp_path, chat=functools.partial(FlakyChat, fail_at=6))  # killed while answering
    answers_log = tmp_path / STATE_DIR / "answers.jsonl"
    assert answers_log.read_text().count("\n") >= 1
    with answers_log.open("a") as f:
        f.write('{"split": "tra')  # torn last line of a killed write
    with pytest.raises(RuntimeError, match="simulated kill"):
        _synth(tmp_path, answer_voice=FlakyAnswerVoice)  # killed while rendering speech
    assert 0 < (tmp_path / STATE_DIR / "tts.jsonl").read_text().count("\n") < 8
    _synth(tmp_path)
    units = {k for k in _files(corpus) if k.startswith("units/")}  # added to `corpus` by the test above
    assert _files(tmp_path) == {k: v for k, v in _files(corpus).items() if k not in units}


@needs_speech
def test_resume_refuses_other_settings(corpus: Path) -> None:
    with pytest.raises(ValueError, match="other settings"):
        synthesize_corpus(corpus, SynthConfig(num=9, llm_questions=8, batch_size=4), chat_factory=StubChat,
                          progress=False)


@needs_speech
def test_check_reports_every_kind_of_problem(corpus: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(corpus, bad)
    train = json.loads(manifest_path(bad, "train").read_text())
    (bad / "units").mkdir(exist_ok=True)
    (bad / train[0]["speech"]).unlink()
    write_audio(bad / train[1]["answer_audio"], np.full(16000, 0.1, dtype=np.float32), 16000)
    write_audio(bad / train[2]["speech"], np.zeros(16000, dtype=np.float32), 16000)
    np.save(bad / train[3]["units"], np.array([1, 7000]))
    np.save(bad / train[4]["units"], np.array([0.5, 1.5]))
    (bad / train[4]["answer_latent"]).write_bytes(b"not numpy")
    del train[5]["conversations"]
    manifest_path(bad, "train").write_text(json.dumps(train + [train[0] | {"split": "dev"}, "junk"]))
    manifest_path(bad, "dev").write_text("{broken json")

    report = check_corpus(bad, vocab=6561)
    kinds = Counter(p.kind for p in report.errors)
    assert set(kinds) >= {"missing_file", "wrong_sample_rate", "bad_audio", "units_out_of_range", "bad_units",
                          "unreadable_npy", "schema", "duplicate_id", "split_mismatch", "bad_manifest"}
    text = report.format(max_examples=2)
    assert "missing_file" in text and "units_out_of_range" in text

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["data", "check", str(bad), "--vocab", "6561"])
    assert args.func(args) == 1
    args = parser.parse_args(["data", "check", str(corpus), "--vocab", "6561"])
    assert args.func(args) == 0


def test_read_entries_resolves_paths_and_rejects_bad_manifests(corpus: Path, tmp_path: Path) -> None:
    path = manifest_path(corpus, "dev")
    entries = read_entries(path, limit=1, require=("speech", "units"))
    assert len(entries) == 1
    assert entry_file(path, entries[0], "speech") == corpus / entries[0]["speech"]
    assert gpt_answer(entries[0]) == entries[0]["conversations"][-1]["value"]
    with pytest.raises(FileNotFoundError):
        read_entries(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    for content, message in [("{not json", "not a readable JSON"), ('{"id": 1}', "JSON list"),
                             ("[1]", "not an object"), ('[{"id": "a"}]', "lacks speech")]:
        bad.write_text(content)
        with pytest.raises(ManifestError, match=message):
            read_entries(bad, require=("speech",))


# ------------------------------------------------------------------------------------------- readings

def test_readings_are_cased_deterministic_resumable_and_loadable(assets, tmp_path: Path) -> None:
    """Common words cased as the backbone spells them, the same sentences for a seed, 16 kHz queries in
    train voices only and the same text as the answer in the assistant voice (audio and latent), a
    resumed run renders nothing twice, and the manifest loads as training data and passes the check."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    from vocalnet.data.check import check_corpus
    from vocalnet.data.readings import BLOCKED, plan_readings, reading_words, synthesize_readings
    from vocalnet.data.voices import ANSWER_RATE, TEST_POOL
    from vocalnet.training.data import load_dialogues

    words = reading_words(assets.llm, top_n=5000)
    assert "London" in words and "july" not in words and "July" in words and "the" in words
    assert not BLOCKED & set(words) and all(w.isalpha() for w in words)
    plan = plan_readings(40, 3, words)
    assert plan == plan_readings(40, 3, words) and plan != plan_readings(40, 4, words)
    assert all(it["query_voice"].get("voice") not in TEST_POOL.espeak_voices for it in plan)
    assert len({it["question"] for it in plan}) == 40 and all(it["answer"] == it["question"] for it in plan)

    summary = synthesize_readings(tmp_path, 3, 3, assets.llm, workers=1, progress=False)
    assert (summary.items, summary.rendered_now, summary.failed) == (3, 3, 0)
    assert summary.query_hours > 0 and summary.answer_hours > 0
    dialogues = load_dialogues(tmp_path / "readings.json")
    assert [d.question for d in dialogues] == [it["question"] for it in plan_readings(3, 3, reading_words(assets.llm))]
    assert [d.answer for d in dialogues] == [d.question for d in dialogues]
    entries = json.loads((tmp_path / "readings.json").read_text())
    for d, e in zip(dialogues, entries):
        info = sf.info(str(d.query_wav))
        assert info.samplerate == 16000 and info.channels == 1 and info.duration > 0.3
        answer = sf.info(str(tmp_path / e["answer_audio"]))
        assert answer.samplerate == ANSWER_RATE and abs(answer.duration - e["answer_seconds"]) < 0.01
        latent = np.load(tmp_path / e["answer_latent"])
        assert latent.ndim == 2 and latent.shape[-1] > 10
    report = check_corpus(tmp_path, allow_missing_units=True, manifests=[tmp_path / "readings.json"])
    assert not report.errors, report.format(5)
    again = synthesize_readings(tmp_path, 4, 3, assets.llm, workers=1, progress=False)
    assert (again.items, again.rendered_now) == (4, 1)
    assert json.loads((tmp_path / "readings.json").read_text())[:3] == entries


def test_clean_latents_are_the_noise_free_mean_of_each_answer(corpus: Path, tmp_path: Path) -> None:
    """`data clean-latents` writes m_p beside each answer's z_p: same frames (same durations), no
    sampling noise (regenerating z_p from the recorded seed reproduces the saved latent, so the seed is
    the answer's own), and a re-run resumes without rewriting."""
    from vocalnet.data.annotations import CLEAN_LATENTS, annotate_answers

    work = tmp_path / "c"
    shutil.copytree(corpus, work)
    total = sum(len(_entries(work)[s]) for s in SPLITS)
    assert annotate_answers(work, CLEAN_LATENTS, progress=False) == total
    voice = CONFIG.answer_voice()()
    seeds = {it["id"]: it["answer_seed"] for it in json.loads((work / STATE_DIR / "items.json").read_text())["items"]}
    e = _entries(work)["train"][0]
    field = CLEAN_LATENTS.field
    noisy, clean = np.load(work / e["answer_latent"]).astype(np.float32), np.load(work / e[field]).astype(np.float32)
    assert clean.shape == noisy.shape and np.abs(noisy - clean).mean() > 0.1
    again = np.concatenate(voice.encoder.run(gpt_answer(e), np.random.default_rng(seeds[e["id"]]), **voice.settings), axis=1)
    assert np.abs(again - noisy).max() < 0.02  # fp16 rounding only: the seed is right
    assert abs(float((noisy - clean).mean())) < 0.05  # what was removed is zero-mean noise
    assert all(field in x for s in SPLITS for x in _entries(work)[s])
    assert annotate_answers(work, CLEAN_LATENTS, progress=False) == 0


def test_phone_labels_align_every_latent_frame_to_a_phoneme_of_the_answer(corpus: Path, tmp_path: Path) -> None:
    """`data phones` labels each latent frame with the piper phoneme it renders: one label per frame,
    no pad label left, the labels read in order spell the answer's phonemes (pads dropped), and the
    labels follow piper's durations (a frame where the clean latent changes is mostly a label change)."""
    from vocalnet.data.annotations import PHONES, annotate_answers

    work = tmp_path / "p"
    shutil.copytree(corpus, work)
    assert annotate_answers(work, PHONES, progress=False) == sum(len(_entries(work)[s]) for s in SPLITS)
    voice = PiperAnswerVoice()
    for e in _entries(work)["train"][:2]:
        labels = np.load(work / e[PHONES.field]).astype(np.int64)
        assert labels.shape == (np.load(work / e["answer_latent"]).shape[-1],)
        assert not np.isin(labels, voice.pad_ids).any()
        spoken = [i for p in voice.encoder.voice.phonemize(gpt_answer(e)) if p for i in voice.encoder.voice.phonemes_to_ids(p)]
        runs = labels[np.r_[True, labels[1:] != labels[:-1]]]
        it = iter(i for i in spoken if i not in voice.pad_ids)
        assert all(any(r == i for i in it) for r in runs)  # the runs are a subsequence of the phonemes, in order
        assert len(runs) >= 0.7 * sum(1 for i in spoken if i not in voice.pad_ids)  # few phonemes got no frame
    assert piper_phoneme_id_count() == voice.num_phoneme_ids > labels.max()  # the classes a phone tokenizer needs


@needs_speech
def test_default_answer_voice_has_one_rendering_per_text(corpus: Path, tmp_path: Path) -> None:
    """With no sampling noise (the synth default) the answer seed changes nothing, so each answer text
    has exactly one audio and unit sequence; piper's sampled voice differs from seed to seed. A corpus
    reports the settings it was built with; an older one that does not record them all is refused."""
    text = "The capital of France is Paris."
    quiet = SynthConfig().answer_voice()()
    a, b = (quiet.synthesize(text, np.random.default_rng(seed)) for seed in (1, 2))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    sampled = CONFIG.answer_voice()()
    c, d = (sampled.synthesize(text, np.random.default_rng(seed))[1] for seed in (1, 2))
    assert c.shape != d.shape or np.abs(c - d).mean() > 0.1
    assert SynthConfig.of_corpus(corpus) == CONFIG
    with pytest.raises(FileNotFoundError, match="not built by"):
        SynthConfig.of_corpus(corpus / "wavs")
    old = tmp_path / "old"
    (old / STATE_DIR).mkdir(parents=True)
    (old / STATE_DIR / "config.json").write_text(json.dumps({"num": 8, "seed": 0}))
    with pytest.raises(ValueError, match="answer_noise_scale"):
        SynthConfig.of_corpus(old)


def test_merge_pads_splits_each_pad_run_between_its_neighbours() -> None:
    from vocalnet.data.annotations import merge_pads

    ids = np.array([0, 0, 5, 0, 0, 0, 7, 0, 8, 0, 0])
    assert merge_pads(ids, [0]).tolist() == [5, 5, 5, 5, 5, 7, 7, 7, 8, 8, 8]
    assert merge_pads(np.array([0, 0]), [0]).tolist() == [0, 0]
    assert merge_pads(np.array([3, 4]), [0]).tolist() == [3, 4]


class SamplingChat(StubChat):
    """Answers drawn from torch's global generator (as sampling does): a new answer, or, one time in
    four, the original stub answer (a variant that must be dropped)."""

    def generate(self, conversations: Sequence[list[Message]], max_new_tokens: int) -> list[str]:
        import torch

        out = []
        for c in conversations:
            word = c[-1]["content"].rstrip("?.").split()[-1].lower()
            draw = int(torch.randint(0, 4000, (1,)))
            out.append(self._reply(c[0]["content"], c[-1]["content"]) if draw % 4 == 0
                       else f"It is about {word}, choice number {draw}.")
        return out


class FlakySamplingChat(SamplingChat):
    def __init__(self) -> None:
        self.calls = 0

    def generate(self, conversations: Sequence[list[Message]], max_new_tokens: int) -> list[str]:
        self.calls += 1
        if self.calls == 2:
            raise Killed
        return super().generate(conversations, max_new_tokens)


def test_bad_sampling_settings_fail_before_the_model_loads() -> None:
    from vocalnet.data.answers import HFChatModel
    from vocalnet.data.variants import VariantsConfig

    for kw in ({"temperature": -0.1}, {"top_p": 0.0}, {"top_p": 1.5}):
        with pytest.raises(ValueError, match="temperature must be"):
            HFChatModel("/nonexistent/llm", **kw)
    with pytest.raises(ValueError, match="sampled"):
        VariantsConfig(temperature=0.0)


@needs_speech
def test_answer_variants_are_new_spoken_answers_to_the_same_queries(corpus: Path, tmp_path: Path) -> None:
    """`data variants`: sampled answers that differ from the question's own, rendered by the corpus's
    answer voice, listed with the question's query audio; deterministic for a seed and resumable."""
    from vocalnet.data.variants import VariantsConfig, _entry, build_variants

    config = VariantsConfig(per_item=2, seed=3, batch_size=4)
    one_round = VariantsConfig(per_item=1, seed=3, batch_size=4)
    plans = {"once": [(config, SamplingChat)], "killed": [(config, FlakySamplingChat), (config, SamplingChat)],
             "grown": [(one_round, SamplingChat), (config, SamplingChat)]}  # --per-item raised on a rerun
    runs = []
    for name, steps in plans.items():
        work = tmp_path / name
        shutil.copytree(corpus, work)
        for cfg, chat in steps:
            try:
                summary = build_variants(work, cfg, chat_factory=chat, workers=1, progress=False)
            except Killed:
                assert (work / ".variants-train" / "answers.jsonl").read_text().count("\n") == 1
        runs.append((work, json.loads(summary.manifest.read_text())))
    (work, variants), (_, resumed), (_, grown) = runs
    assert variants == resumed == grown
    train = {e["id"]: e for e in _entries(work)["train"]}
    assert 0 < len(variants) < 2 * len(train) and summary.dropped == 2 * len(train) - len(variants)
    for v in variants:
        original = train[v["variant_of"]]
        assert v["id"] in (f"{original['id']}-v1", f"{original['id']}-v2")
        assert v["speech"] == original["speech"] and v["question"] == original["question"]
        assert gpt_answer(v) != gpt_answer(original) and "choice number" in gpt_answer(v)
        audio, rate = sf.read(work / v["answer_audio"])
        assert rate == 22050 and abs(len(audio) / rate - v["answer_seconds"]) < 0.01
        assert not (work / "wavs" / "query" / f"{v['id']}.wav").exists()
    report = check_corpus(work, allow_missing_units=True, manifests=[summary.manifest])
    assert not report.errors
    with pytest.raises(ValueError, match="per_item may only grow"):
        build_variants(work, one_round, chat_factory=SamplingChat, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        build_variants(work, VariantsConfig(per_item=2, seed=4, batch_size=4), chat_factory=SamplingChat, progress=False)
    annotated = {**_entries(work)["train"][0], "answer_latent_clean": "latents_clean/x.npy"}
    v = _entry(annotated, {"id": "x-v1", "variant_of": annotated["id"], "answer": "New answer."}, {"answer_seconds": 1.0})
    assert "answer_latent_clean" not in v and v["speech"] == annotated["speech"] and gpt_answer(v) == "New answer."
