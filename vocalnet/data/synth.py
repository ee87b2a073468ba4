"""`vocalnet data synth`: question bank -> LLM answers -> query and answer speech -> manifests.

Phases, each resumable from the state folder ``<out>/.synth``:

1. questions  the backbone writes extra questions (batched; one log line per batch), then the bank
              is split into per-split candidate lists (``candidates.json``).
2. answers    the backbone answers candidates in batches (``answers.jsonl``, one line per batch) until
              every split has its quota; each accepted answer becomes an item with an id, a query
              voice and an answer seed (all items: ``items.json`` once answering is done).
3. tts        worker processes render each item's query and answer audio (see `render`), starting
              while the LLM is still answering (the LLM takes one core, TTS the others; all cores
              once answering is done); finished items are skipped on resume.
4. manifests  ``train.json``, ``dev.json``, ``test.json``.

All randomness derives from the seed (per item, independent of processing order), so a resumed
run produces the same corpus as an uninterrupted one.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vocalnet.data.answers import ChatModel, HFChatModel, answer_questions, write_questions
from vocalnet.data.manifest import SPLITS, make_entry, manifest_path
from vocalnet.data.questions import (
    LLM_CATEGORY,
    Question,
    assign_splits,
    dedupe,
    llm_question_prompts,
    template_questions,
)
from vocalnet.data.render import RenderQueue
from vocalnet.data.state import JsonlLog, pin_settings, read_json, remove_temporaries, write_json
from vocalnet.data.voices import (
    AnswerVoiceFactory,
    PiperAnswerVoice,
    pool_for,
    require_espeak,
    rng_for,
    sample_query_voice,
)

STATE_DIR = ".synth"
FILL_ORDER = ("test", "dev", "train")  # splits get their candidates and answers in this order
MAX_HELD_OUT = 500

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines the corpus (the worker count does not)."""

    num: int = 9000
    seed: int = 0
    dev: int | None = None  # default: num/18, at most 500
    test: int | None = None  # default: like dev
    llm_questions: int = 600  # prompts for questions written by the LLM
    batch_size: int = 32
    max_new_tokens: int = 40
    spare: float = 1.1  # candidates per needed answer (some answers are dropped)
    answer_noise_scale: float = 0.0  # the answer voice's sampling noise (see `PiperAnswerVoice`)
    answer_noise_w: float = 0.0

    @classmethod
    def of_corpus(cls, corpus: str | Path) -> SynthConfig:
        """The settings a corpus was (or is being) built with."""
        path = Path(corpus) / STATE_DIR / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} missing: {corpus} was not built by `vocalnet data synth`")
        saved = read_json(path)
        unknown = sorted(f.name for f in fields(cls) if f.name not in saved)
        if unknown:  # an older corpus: its settings for these are not the defaults of today
            raise ValueError(f"{path} does not record {unknown}: add the values that corpus was built with")
        return cls(**saved)

    def answer_voice(self) -> AnswerVoiceFactory:
        return functools.partial(PiperAnswerVoice, noise_scale=self.answer_noise_scale, noise_w=self.answer_noise_w)

    def quotas(self) -> dict[str, int]:
        held = max(1, min(MAX_HELD_OUT, round(self.num / 18)))
        dev = held if self.dev is None else self.dev
        test = held if self.test is None else self.test
        train = self.num - dev - test
        if train < 1 or dev < 0 or test < 0:
            raise ValueError(f"--num {self.num} leaves no training items after dev {dev} and test {test}")
        return {"test": test, "dev": dev, "train": train}


@dataclass
class SynthSummary:
    counts: dict[str, int]
    query_hours: float
    answer_hours: float
    phase_seconds: dict[str, float]
    dropped_questions: int
    tts_failures: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = ["split    items"] + [f"{s:<8} {self.counts.get(s, 0):>5}" for s in SPLITS]
        lines += [f"query audio:  {self.query_hours:.2f} h", f"answer audio: {self.answer_hours:.2f} h",
                  f"questions dropped (no clean answer): {self.dropped_questions}",
                  f"items failed in TTS: {len(self.tts_failures)}" + (f" ({', '.join(self.tts_failures[:5])})"
                                                                      if self.tts_failures else "")]
        lines += [f"time {phase:<10} {seconds / 60:7.1f} min" + (" (includes the answers phase it overlaps)"
                                                                 if phase == "tts" else "")
                  for phase, seconds in self.phase_seconds.items()]
        return "\n".join(lines)


class PhaseClock:
    """Seconds per phase, summed over resumed runs, saved in the state folder."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds: dict[str, float] = read_json(path) if path.is_file() else {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 1)
            write_json(self.path, self.seconds)


def synthesize_corpus(out: str | Path, config: SynthConfig, chat_factory: Callable[[], ChatModel] | None = None,
                      answer_voice: AnswerVoiceFactory | None = None, workers: int | None = None,
                      progress: bool = True) -> SynthSummary:
    """Build (or finish building) the corpus in `out`; see the module docstring."""
    require_espeak()
    out = Path(out)
    state = out / STATE_DIR
    pin_settings(state / "config.json", asdict(config), out, "resume with the same settings or use a new --out")
    remove_temporaries(out)
    clock = PhaseClock(state / "progress.json")
    chat = functools.cache(chat_factory or default_chat)
    with clock.phase("questions"):
        candidates = _candidates(state, config, chat, progress)
    with clock.phase("tts"):
        voice = answer_voice or config.answer_voice()
        items, dropped, records = _answer_and_render(out, config, candidates, chat, voice,
                                                     workers or os.cpu_count() or 1, clock, progress)
    with clock.phase("manifests"):
        counts = _write_manifests(out, items, records)
    ok = [r for r in records.values() if "error" not in r]
    return SynthSummary(counts, sum(r["query_seconds"] for r in ok) / 3600, sum(r["answer_seconds"] for r in ok) / 3600,
                        clock.seconds, dropped, sorted(r["id"] for r in records.values() if "error" in r))


# ------------------------------------------------------------------------------------------ questions

def _llm_questions(state: Path, config: SynthConfig, chat: Callable[[], ChatModel], progress: bool) -> list[Question]:
    prompts = llm_question_prompts(config.llm_questions, config.seed)
    log_file = JsonlLog(state / "llm_questions.jsonl")
    written: list[str | None] = [q for rec in log_file.load() for q in rec["questions"]]
    with tqdm(total=len(prompts), initial=len(written), desc="LLM questions", disable=not progress) as bar:
        while len(written) < len(prompts):
            batch = prompts[len(written):len(written) + config.batch_size]
            questions = write_questions(chat(), batch)
            log_file.append({"start": len(written), "questions": questions})
            written += questions
            bar.update(len(batch))
    return [Question(q, LLM_CATEGORY, None, f"{LLM_CATEGORY}/{topic}/{q}")
            for q, (topic, _) in zip(written, prompts) if q is not None]


def _candidates(state: Path, config: SynthConfig, chat: Callable[[], ChatModel],
                progress: bool) -> dict[str, list[Question]]:
    path = state / "candidates.json"
    if path.is_file():
        return {split: [Question(**q) for q in qs] for split, qs in read_json(path).items()}
    bank = dedupe(template_questions() + _llm_questions(state, config, chat, progress))
    targets = {s: math.ceil(n * config.spare) + config.batch_size for s, n in config.quotas().items()}
    if sum(targets.values()) > len(bank):
        raise ValueError(f"the question bank has {len(bank)} questions; {sum(targets.values())} candidates needed")
    candidates = assign_splits(bank, {s: targets[s] for s in FILL_ORDER}, config.seed)
    write_json(path, {split: [asdict(q) for q in qs] for split, qs in candidates.items()})
    return candidates


# -------------------------------------------------------------------------------------------- answers

class Answering:
    """Answers each split's candidates in batches until its quota is met; accepted answers become items.

    The batches and their results are logged, so a resumed run replays them and continues identically.
    """

    def __init__(self, state: Path, config: SynthConfig, candidates: dict[str, list[Question]]):
        self.config, self.candidates, self.quotas = config, candidates, config.quotas()
        self.log = JsonlLog(state / "answers.jsonl")
        self.position = dict.fromkeys(self.quotas, 0)
        self.accepted = dict.fromkeys(self.quotas, 0)
        self.items: list[dict[str, Any]] = []
        self.dropped = 0
        for rec in self.log.load():
            self._record(rec["split"], rec["start"], rec["answers"])

    def run(self, chat: Callable[[], ChatModel], progress: bool) -> Iterator[list[dict[str, Any]]]:
        """Answer the remaining batches, yielding the new items of each."""
        total = sum(self.quotas.values())
        with tqdm(total=total, initial=len(self.items), desc="answers", position=0, disable=not progress) as bar:
            for split in FILL_ORDER:
                while self.accepted[split] < self.quotas[split] and self.position[split] < len(self.candidates[split]):
                    start = self.position[split]
                    size = min(self.config.batch_size,
                               math.ceil((self.quotas[split] - self.accepted[split]) * self.config.spare))
                    batch = self.candidates[split][start:start + size]
                    answers = answer_questions(chat(), [q.text for q in batch], self.config.max_new_tokens)
                    self.log.append({"split": split, "start": start, "answers": answers})
                    new = self._record(split, start, answers)
                    bar.update(len(new))
                    yield new
                if self.accepted[split] < self.quotas[split]:
                    log.warning("%s: only %d of %d questions got a clean answer",
                                split, self.accepted[split], self.quotas[split])

    def _record(self, split: str, start: int, answers: list[str | None]) -> list[dict[str, Any]]:
        if start != self.position[split]:
            raise ValueError(f"answers log out of order for {split} at {start}: delete {self.log.path} to redo answers")
        self.position[split] += len(answers)
        self.dropped += sum(a is None for a in answers)
        batch = self.candidates[split][start:start + len(answers)]
        new = []
        for q, answer in zip(batch, answers):
            if answer is not None and self.accepted[split] < self.quotas[split]:
                new.append(_plan_item(self.config.seed, f"{split}-{self.accepted[split]:05d}", split, q, answer))
                self.accepted[split] += 1
        self.items += new
        return new


def _plan_item(seed: int, item_id: str, split: str, question: Question, answer: str) -> dict[str, Any]:
    """An item: its text, a query voice for its split and the seed of its answer voice noise."""
    return {"id": item_id, "split": split, "question": question.text, "category": question.category,
            "reference": question.reference, "answer": answer,
            "query_voice": sample_query_voice(rng_for(seed, f"voice/{item_id}"), pool_for(split)),
            "answer_seed": int(rng_for(seed, f"answer/{item_id}").integers(2**31))}


# ----------------------------------------------------------------------------------------------- main

def default_chat() -> ChatModel:
    """The backbone on one thread: the other cores render speech meanwhile."""
    return HFChatModel(threads=1)


def _answer_and_render(out: Path, config: SynthConfig, candidates: dict[str, list[Question]],
                       chat: Callable[[], ChatModel], answer_voice: AnswerVoiceFactory, workers: int,
                       clock: PhaseClock, progress: bool) -> tuple[list[dict[str, Any]], int, dict[str, dict]]:
    """Items, dropped-question count and TTS records; TTS starts while the LLM is still answering."""
    state = out / STATE_DIR
    items_path = state / "items.json"
    with RenderQueue(out, state / "tts.jsonl", answer_voice, workers, sum(config.quotas().values()),
                     progress) as tts:
        if items_path.is_file():
            saved = read_json(items_path)
            items, dropped = saved["items"], saved["dropped"]
        else:
            answering = Answering(state, config, candidates)
            tts.set_limit(workers - 1)
            tts.add(answering.items)
            with clock.phase("answers"):
                for new in answering.run(chat, progress):
                    tts.add(new)
            items, dropped = answering.items, answering.dropped
            write_json(items_path, {"items": items, "dropped": dropped})
        tts.set_limit(workers)
        tts.add(items)
        return items, dropped, tts.wait()


def _write_manifests(out: Path, items: list[dict[str, Any]], records: dict[str, dict[str, Any]]) -> dict[str, int]:
    counts = {}
    for split in SPLITS:
        entries = [make_entry(item, records[item["id"]]["query_seconds"], records[item["id"]]["answer_seconds"])
                   for item in items if item["split"] == split and "error" not in records[item["id"]]]
        write_json(manifest_path(out, split), entries)
        counts[split] = len(entries)
    return counts
