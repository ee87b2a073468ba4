"""`vocalnet data variants`: more answers to a corpus split's questions, sampled from the backbone.

Why: the speech generator learns from (answer text, answer units) pairs, and one greedy answer per
question is all `vocalnet data synth` gives it. On 8,000 such answers the smol generator memorised
them (main-head CE 1.04 on training answers, 1.53 on dev answers). Sampled answers (temperature,
nucleus) are new texts in the same assistant style, spoken by the same answer voice; each variant
reuses its question's query audio, so both training stages read it like any corpus entry.

Phases, each resumable from the state folder ``<corpus>/.variants-<split>``. A rerun with a larger
`per_item` keeps every variant made so far and adds the new rounds (the result equals a run started
with the larger value):

1. answers   the backbone answers each question again, `per_item` times, in seeded batches
             (``answers.jsonl``, one line per batch); a variant equal to an answer the question
             already has is dropped.
2. tts       worker processes render each variant's answer audio and latent (``tts.jsonl``),
             starting while the LLM is still answering.
3. manifest  ``<split>_variants.json`` beside the corpus manifests; ids are ``<entry id>-v<k>``.

Speech units come afterwards, from `vocalnet tokenizer encode <corpus>/<split>_variants.json`; a
training config lists both manifests (`train_manifest: [train.json, train_variants.json]`).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vocalnet.data.answers import ChatModel, HFChatModel, answer_questions
from vocalnet.data.manifest import gpt_answer, item_paths, load_manifest, manifest_path
from vocalnet.data.render import RenderQueue
from vocalnet.data.state import JsonlLog, pin_settings, remove_temporaries, write_json
from vocalnet.data.synth import SynthConfig
from vocalnet.data.voices import AnswerVoiceFactory, rng_for
from vocalnet.evaluation.text_norm import normalize_text


@dataclass(frozen=True)
class VariantsConfig:
    """Everything that determines the variants (the worker count does not)."""

    split: str = "train"
    per_item: int = 1
    seed: int = 0
    temperature: float = 0.8
    top_p: float = 0.95
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.per_item < 1 or self.batch_size < 1:
            raise ValueError(f"per_item and batch_size must be >= 1, got {self.per_item}, {self.batch_size}")
        if not self.temperature > 0:
            raise ValueError(f"variants are sampled: temperature must be > 0, got {self.temperature}")


@dataclass
class VariantsSummary:
    manifest: Path
    variants: int
    dropped: int
    answer_hours: float
    seconds: float

    def format(self) -> str:
        return (f"{self.manifest}: {self.variants} answer variants ({self.answer_hours:.2f} h of answer audio), "
                f"{self.dropped} dropped (no clean or no new answer), {self.seconds / 60:.1f} min\n"
                f"next: vocalnet tokenizer encode {self.manifest}")


def build_variants(corpus: str | Path, config: VariantsConfig, chat_factory: Callable[[], ChatModel] | None = None,
                   answer_voice: AnswerVoiceFactory | None = None, workers: int | None = None,
                   progress: bool = True) -> VariantsSummary:
    """Sample, render and list the answer variants of one split of `corpus` (see the module docstring)."""
    corpus = Path(corpus)
    entries = load_manifest(manifest_path(corpus, config.split))
    unasked = [e.get("id") for e in entries if not isinstance(e, dict) or not e.get("question") or not e.get("id")]
    if unasked:
        raise ValueError(f"{manifest_path(corpus, config.split)}: {len(unasked)} entries lack an id or the question "
                         f"text to answer again (e.g. {unasked[:3]})")
    state = corpus / f".variants-{config.split}"
    pin_settings(state / "config.json", asdict(config), state, f"resume with those or delete {state}",
                 may_grow=("per_item",))
    remove_temporaries(corpus)
    start = time.perf_counter()
    voice = answer_voice or SynthConfig.of_corpus(corpus).answer_voice()
    chat = functools.cache(chat_factory or functools.partial(HFChatModel, threads=1, temperature=config.temperature,
                                                             top_p=config.top_p))
    workers = workers or os.cpu_count() or 1
    with RenderQueue(corpus, state / "tts.jsonl", voice, workers, len(entries) * config.per_item, progress) as tts:
        tts.set_limit(max(1, workers - 1))
        items, dropped = _answer(state, config, entries, chat, tts.add, progress)
        tts.set_limit(workers)
        tts.add(items)
        records = tts.wait()
    by_id = {e["id"]: e for e in entries}
    variants = [_entry(by_id[it["variant_of"]], it, records[it["id"]]) for it in items if "error" not in records[it["id"]]]
    out = corpus / f"{config.split}_variants.json"
    write_json(out, variants)
    return VariantsSummary(out, len(variants), dropped + len(items) - len(variants),
                           sum(v["answer_seconds"] for v in variants) / 3600, time.perf_counter() - start)


def _answer(state: Path, config: VariantsConfig, entries: list[dict[str, Any]], chat: Callable[[], ChatModel],
            on_new: Callable[[list[dict[str, Any]]], None], progress: bool) -> tuple[list[dict[str, Any]], int]:
    """Planned variant items (replayed from the log, then new batches) and how many answers were dropped."""
    import torch

    questions = [(e, k) for k in range(1, config.per_item + 1) for e in entries]
    known: dict[str, set[str]] = {e["id"]: {normalize_text(gpt_answer(e) or "")} for e in entries}
    log_file = JsonlLog(state / "answers.jsonl")
    items: list[dict[str, Any]] = []
    dropped = done = 0

    def accept(batch: list[tuple[dict[str, Any], int]], answers: list[str | None]) -> list[dict[str, Any]]:
        nonlocal dropped
        new = []
        for (e, k), answer in zip(batch, answers):
            key = normalize_text(answer) if answer else None
            if key is None or key in known[e["id"]]:
                dropped += 1
                continue
            known[e["id"]].add(key)
            new.append({"id": f"{e['id']}-v{k}", "variant_of": e["id"], "question": e.get("question"), "answer": answer,
                        "answer_seed": int(rng_for(config.seed, f"variant-answer/{e['id']}/{k}").integers(2**31))})
        items.extend(new)
        return new

    for rec in log_file.load():
        if rec["start"] != done:
            raise ValueError(f"{log_file.path} is out of order at {rec['start']}: delete it to redo the answers")
        accept(questions[done:done + len(rec["answers"])], rec["answers"])
        done += len(rec["answers"])
    on_new(items)
    with tqdm(total=len(questions), initial=done, desc="answer variants", disable=not progress) as bar:
        while done < len(questions):
            # batches never span two rounds k: the plan for per_item = n is a prefix of the plan for n + 1
            batch = questions[done:min(done + config.batch_size, (done // len(entries) + 1) * len(entries))]
            torch.manual_seed(int(rng_for(config.seed, f"variant-batch/{done}").integers(2**31)))
            answers = answer_questions(chat(), [e["question"] for e, _ in batch])
            log_file.append({"start": done, "answers": answers})
            on_new(accept(batch, answers))
            done += len(batch)
            bar.update(len(batch))
    return items, dropped


def _entry(original: dict[str, Any], item: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The variant's manifest entry: its question's query side (audio included) and its own answer side
    (annotations of the original answer, such as clean latents, do not carry over)."""
    query_side = ("speech", "question", "reference", "category", "split", "query_voice", "query_seconds")
    paths = item_paths(item["id"])
    turns = [c if c.get("from") != "gpt" else {**c, "value": item["answer"]} for c in original["conversations"]]
    return {"id": item["id"], "variant_of": item["variant_of"], **{k: original[k] for k in query_side if k in original},
            "conversations": turns, "units": paths["units"], "answer_audio": paths["answer_audio"],
            "answer_latent": paths["answer_latent"], "answer_seconds": record["answer_seconds"]}
