"""Read-speech corpus: sentences of common English words, spoken by the train query voices and, as the
answer, by the assistant voice, with their transcripts.

Why: the dialogue corpus has a few thousand distinct words, and its test entities never occur in
train. Readings widen the vocabulary cheaply: words come from wordfreq's English frequency list (not
from the question tables), cased the way the backbone's tokenizer spells them, so proper nouns read as
"Ireland" rather than "ireland". Entries use the corpus's manifest format with the transcript as
`question` and as the gpt turn (the answer repeats the query), so both training stages can add them.

- Align stage (the query audio): measured on vocalnet-smol, it did not help; one more align epoch with
  6,000 readings moved test CTC WER from 29.3% to 31.5% (README, "Training").
- Speech generator (the answer audio, units from `vocalnet tokenizer encode`): the shipped generator
  mis-speaks words it rarely heard in training answers (session 17, 40 spoken test answers at m = 3:
  93% of the words absent from the training answers were misheard by the ASR judge, 75% of those
  heard 1-9 times, 19% of those heard 1,000+ times), so readings give it many more words to speak.

Rendering goes through the corpus's `RenderQueue` (resumable from ``.readings/tts.jsonl``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .manifest import make_entry
from .render import RenderQueue
from .state import write_json
from .voices import TRAIN_POOL, AnswerVoiceFactory, rng_for, sample_query_voice

MANIFEST_NAME = "readings.json"
STATE_DIR = ".readings"
BLOCKED = frozenset({"fuck", "fucking", "fucked", "shit", "bitch", "cunt", "twat", "dick", "pussy", "cock",
                     "porn", "nigga", "nigger", "fag", "faggot", "slut", "whore", "rape", "raped", "asshole"})
CARRIERS = ("What is {}?", "Tell me about {}.", "How do you say {}?", "Where is {}?", "Is {} true?",
            "I heard {} today.", "Can you explain {}?", "Why {}?")


def reading_words(llm_dir: str | Path, top_n: int = 30_000) -> list[str]:
    """The `top_n` most frequent English words, each cased as the backbone's tokenizer prefers."""
    from transformers import AutoTokenizer
    from wordfreq import top_n_list

    vocab = AutoTokenizer.from_pretrained(str(llm_dir)).get_vocab()
    words = []
    for w in top_n_list("en", top_n):
        if not w.isalpha() or w in BLOCKED or (len(w) == 1 and w not in "ai"):
            continue
        proper = w.capitalize()
        words.append(proper if f"Ġ{proper}" in vocab and f"Ġ{w}" not in vocab else w)
    return words


def reading_text(rng: np.random.Generator, words: list[str]) -> str:
    """A random sentence: a carrier phrase around 1-3 words, or 4-10 words; numbers now and then.

    Half the words are drawn by rank from the whole list (rare words get heard), half from the
    2,000 most frequent (the function words between them)."""
    def word() -> str:
        if rng.random() < 0.08:
            return str(int(rng.integers(0, 2000)))
        return words[int(rng.integers(len(words)))] if rng.random() < 0.5 else words[int(rng.integers(min(2000, len(words))))]

    if rng.random() < 0.35:
        return CARRIERS[int(rng.integers(len(CARRIERS)))].format(" ".join(word() for _ in range(int(rng.integers(1, 4)))))
    text = " ".join(word() for _ in range(int(rng.integers(4, 11))))
    return text[0].upper() + text[1:] + ("?" if rng.random() < 0.3 else ".")


@dataclass
class ReadingsSummary:
    items: int
    rendered_now: int
    failed: int
    query_hours: float
    answer_hours: float
    seconds: float

    def format(self) -> str:
        return (f"{self.items} readings ({self.rendered_now} rendered now, {self.failed} failed in TTS), "
                f"{self.query_hours:.2f} h of queries, {self.answer_hours:.2f} h of answers, "
                f"{self.seconds / 60:.1f} min")


def plan_readings(num: int, seed: int, words: list[str]) -> list[dict[str, Any]]:
    """Deterministic items for a seed: the i-th item depends on (seed, i) alone."""
    items = []
    for i in range(num):
        rid = f"read-{i:06d}"
        rng = rng_for(seed, rid)
        text = reading_text(rng, words)
        items.append({"id": rid, "split": "train", "question": text, "answer": text, "category": "reading",
                      "reference": None, "query_voice": sample_query_voice(rng, TRAIN_POOL),
                      "answer_seed": int(rng.integers(2**31))})
    return items


def synthesize_readings(out: str | Path, num: int, seed: int, llm_dir: str | Path, workers: int = 2,
                        answer_voice: AnswerVoiceFactory | None = None, progress: bool = True) -> ReadingsSummary:
    """Render `num` readings (query and answer audio, answer latents) into `out` and write its manifest.
    Resumable: a re-run renders only what is missing, and a larger `num` adds items. `answer_voice`
    defaults to the corpus's (`vocalnet data synth`'s default settings)."""
    from .synth import SynthConfig

    out = Path(out)
    t0 = time.time()
    items = plan_readings(num, seed, reading_words(llm_dir))
    (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    voice = answer_voice or SynthConfig().answer_voice()
    with RenderQueue(out, out / STATE_DIR / "tts.jsonl", voice, workers, len(items), progress) as tts:
        before = sum(it["id"] in tts.records for it in items)
        tts.add(items)
        records = tts.wait()
    done = [(it, records[it["id"]]) for it in items if "error" not in records[it["id"]]]
    entries = [make_entry(it, rec["query_seconds"], rec["answer_seconds"]) for it, rec in done]
    write_json(out / MANIFEST_NAME, entries)
    return ReadingsSummary(len(entries), len(items) - before, len(items) - len(entries),
                           sum(e["query_seconds"] for e in entries) / 3600,
                           sum(e["answer_seconds"] for e in entries) / 3600, time.time() - t0)
