"""Speech rendering of corpus items in worker processes, fed while the LLM is still answering.

Each item's query audio, answer audio and answer latent are written atomically; one line per
finished item goes to ``tts.jsonl``, so a resumed run skips finished items.
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import threading
from collections import deque
from collections.abc import Iterable
from multiprocessing.pool import Pool
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from tqdm import tqdm

from vocalnet.audio.io import AudioError, prepare_audio, write_audio
from vocalnet.data.manifest import item_paths
from vocalnet.data.state import JsonlLog, atomic_path
from vocalnet.data.voices import ANSWER_RATE, QUERY_RATE, AnswerVoiceFactory, QueryRenderer, SeededPiper

FAILURES_BEFORE_ABORT = 20
MAX_ANSWER_SECONDS = 60.0

_WORKER: dict[str, Any] = {}


def _init_worker(out: str, answer_voice: AnswerVoiceFactory) -> None:
    _WORKER.update(out=Path(out), answer=answer_voice())


def _query_renderer() -> QueryRenderer:
    """The worker's query renderer, built on first use (answer variants never need one)."""
    if "query" not in _WORKER:
        _WORKER["query"] = QueryRenderer(SeededPiper(threads=1))
    return _WORKER["query"]


def _synthesize(item: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Query audio (None for an answer variant, which reuses its question's), answer audio and latent."""
    query = None if item.get("variant_of") else _query_renderer().render(item["question"], item["query_voice"])
    audio, latent = _WORKER["answer"].synthesize(item["answer"], np.random.default_rng(item["answer_seed"]))
    audio = prepare_audio(audio, ANSWER_RATE, ANSWER_RATE, max_seconds=MAX_ANSWER_SECONDS,
                          name=f"answer of {item['id']}")
    if latent.ndim != 2 or latent.size == 0 or not np.isfinite(latent).all():
        raise AudioError(f"bad answer latent of shape {latent.shape} for {item['id']}")
    return query, audio, latent


def render_item(item: dict[str, Any]) -> dict[str, Any]:
    """Render and save one item (in a worker); its record for the log, with "error" if it failed."""
    try:
        query, audio, latent = _synthesize(item)
    except (AudioError, subprocess.CalledProcessError) as e:
        return {"id": item["id"], "error": str(e)}
    paths, out = item_paths(item["id"]), _WORKER["out"]
    record = {"id": item["id"], "answer_seconds": round(audio.size / ANSWER_RATE, 3), "latent_frames": int(latent.shape[-1])}
    if query is not None:
        with atomic_path(out / paths["speech"]) as tmp:
            write_audio(tmp, query, QUERY_RATE)
        record["query_seconds"] = round(query.size / QUERY_RATE, 3)
    with atomic_path(out / paths["answer_audio"]) as tmp:
        write_audio(tmp, audio, ANSWER_RATE)
    with atomic_path(out / paths["answer_latent"]) as tmp:
        np.save(tmp, latent.astype(np.float16))
    return record


class RenderQueue:
    """Renders added items in `workers` processes, at most `limit` at a time (lower it while the LLM runs).

    Use as a context manager; the processes start with the first item to render. `wait` blocks until
    everything added is rendered and re-raises a worker's unexpected error.
    """

    def __init__(self, out: Path, log_path: Path, answer_voice: AnswerVoiceFactory, workers: int, total: int,
                 progress: bool = True):
        self.out, self.answer_voice, self.workers, self.limit = out, answer_voice, workers, workers
        self.log = JsonlLog(log_path)
        self.records: dict[str, dict[str, Any]] = {r["id"]: r for r in self.log.load()}
        self.bar = tqdm(total=total, initial=len(self.records), desc="tts", position=1, disable=not progress)
        self._pending: deque[dict[str, Any]] = deque()
        self._queued = set(self.records)
        self._in_flight = self._failures = self._successes = 0
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._pool: Pool | None = None

    def __enter__(self) -> RenderQueue:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is not None:
            if kind is None:
                self._pool.close()
            else:
                self._pool.terminate()
            self._pool.join()
        self.bar.close()

    def _start(self) -> Pool:
        if self._pool is None:
            self.answer_voice()  # builds any cached graphs once, before the workers would race to
            self._pool = mp.get_context("spawn").Pool(self.workers, _init_worker, (str(self.out), self.answer_voice))
        return self._pool

    def add(self, items: Iterable[dict[str, Any]]) -> None:
        with self._cond:
            self._raise_error()
            new = [item for item in items if item["id"] not in self._queued]
            self._queued.update(item["id"] for item in new)
            self._pending.extend(new)
            self._pump()

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self.limit = max(1, limit)
            self._pump()

    def wait(self) -> dict[str, dict[str, Any]]:
        """All records (old and new) once every added item is rendered."""
        with self._cond:
            while (self._pending or self._in_flight) and self._error is None:
                self._cond.wait()
            self._raise_error()
            return self.records

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _pump(self) -> None:
        while self._pending and self._in_flight < self.limit and self._error is None:
            self._in_flight += 1
            self._start().apply_async(render_item, (self._pending.popleft(),), callback=self._done,
                                  error_callback=self._failed)

    def _done(self, record: dict[str, Any]) -> None:
        with self._cond:
            self.log.append(record)
            self.records[record["id"]] = record
            self._in_flight -= 1
            failed = "error" in record
            self._failures, self._successes = self._failures + failed, self._successes + (not failed)
            if self._failures >= FAILURES_BEFORE_ABORT and not self._successes:
                self._error = RuntimeError(f"the first {self._failures} items all failed in TTS, "
                                           f"e.g. {record['error']}")
            self.bar.update()
            self._pump()
            self._cond.notify_all()

    def _failed(self, error: BaseException) -> None:
        with self._cond:
            self._in_flight -= 1
            self._error = error
            self._cond.notify_all()
