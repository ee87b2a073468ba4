"""Read-speech corpus for the adaptor's align stage: sentences of common English words, spoken by the
train query voices, with their transcripts.

Why: the dialogue corpus has a few thousand distinct words, and its test entities never occur in
train, so a CTC-aligned adaptor never hears most of the words a user may say ("Ireland" -> "is").
Readings widen the vocabulary cheaply: words come from wordfreq's English frequency list (not from
the question tables), cased the way the backbone's tokenizer spells them, so proper nouns read as
"Ireland" rather than "ireland". Entries use the official manifest format with the transcript as
`question` (and as the gpt turn), so the align stage can add them to its training set.

Measured on vocalnet-smol it did not help: one more align epoch with 6,000 readings moved test CTC WER
from 29.3% to 31.5% (README, "Training"), so the smol recipe leaves them out.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..audio.io import write_audio
from .manifest import SPEECH_PLACEHOLDER
from .state import atomic_path, write_json
from .voices import QUERY_RATE, TRAIN_POOL, QueryRenderer, SeededPiper, rng_for, sample_query_voice

MANIFEST_NAME = "readings.json"
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
    hours: float
    seconds: float

    def format(self) -> str:
        return (f"{self.items} readings ({self.rendered_now} rendered now), {self.hours:.2f} h of audio, "
                f"{self.seconds / 60:.1f} min")


@functools.cache
def _renderer() -> QueryRenderer:
    """One renderer per worker process."""
    return QueryRenderer(SeededPiper(threads=1))


def _render(job: tuple[dict[str, Any], str]) -> None:
    """Render one reading to its wav file (in a worker process)."""
    item, out = job
    wav = _renderer().render(item["question"], item["query_voice"])
    with atomic_path(Path(out) / item["speech"]) as tmp:
        write_audio(tmp, wav, QUERY_RATE)


def plan_readings(num: int, seed: int, words: list[str]) -> list[dict[str, Any]]:
    """Deterministic items for a seed: the i-th item depends on (seed, i) alone."""
    items = []
    for i in range(num):
        rid = f"read-{i:06d}"
        rng = rng_for(seed, rid)
        text = reading_text(rng, words)
        items.append({"id": rid, "speech": f"wavs/{rid}.wav", "question": text,
                      "conversations": [{"from": "human", "value": SPEECH_PLACEHOLDER}, {"from": "gpt", "value": text}],
                      "category": "reading", "split": "train", "query_voice": sample_query_voice(rng, TRAIN_POOL)})
    return items


def synthesize_readings(out: str | Path, num: int, seed: int, llm_dir: str | Path, workers: int = 2) -> ReadingsSummary:
    """Render `num` readings into `out` (resumable: finished files are kept) and write its manifest."""
    import soundfile as sf

    out = Path(out)
    t0 = time.time()
    items = plan_readings(num, seed, reading_words(llm_dir))
    todo = [it for it in items if not (out / it["speech"]).is_file()]
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        for _ in tqdm(pool.imap_unordered(_render, [(it, str(out)) for it in todo], chunksize=4),
                      total=len(todo), desc="readings", unit="utt"):
            pass
    seconds = sum(sf.info(str(out / it["speech"])).duration for it in items)
    write_json(out / MANIFEST_NAME, items)
    return ReadingsSummary(len(items), len(todo), seconds / 3600, time.time() - t0)
