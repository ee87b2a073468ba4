"""Per-answer annotations re-derived from piper with each answer's own seed, so they share the
durations of the answer's audio and latent (`vocalnet data clean-latents`, `vocalnet data phones`).

- Clean latents: an answer's saved latent is piper's z_p = m_p + noise_scale * sigma_p * eps, the
  prior mean of each phoneme stretched over its frames plus sampling noise. The noise is
  unpredictable from the speech units, so an L1 loss against z_p sits on a floor (about 0.43 per
  value for piper joe, while a trained vocoder reaches about 0.45). m_p (noise_scale 0) renders
  speech as intelligible as z_p (ASR WER 4.2% either way on 40 test answers): a cleaner target.
- Phones: the piper phoneme each latent frame renders (the duration predictor's alignment). piper
  puts a pad symbol between all phonemes and gives it frames of its own (transitions, about 40% of
  all frames); each pad run is split between its neighbours (first half to the left one), so every
  frame is labelled with a phoneme, a word boundary, punctuation (a pause) or the start/end symbol.
  These labels supervise the "phone" speech tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .manifest import SPLITS, gpt_answer, manifest_path
from .state import atomic_path, read_json, write_json
from .synth import STATE_DIR, SynthConfig
from .voices import PiperAnswerVoice


def merge_pads(ids: np.ndarray, pad_ids: list[int]) -> np.ndarray:
    """Each run of pad ids in ``ids`` relabelled: its first half (rounded up) takes the id before the
    run, the rest the id after it; a run at either end takes its one neighbour."""
    pad = np.isin(ids, pad_ids)
    if pad.all() or not pad.any():
        return ids.copy()
    n, idx = len(ids), np.arange(len(ids))
    prev = np.maximum.accumulate(np.where(pad, -1, idx))
    nxt = np.minimum.accumulate(np.where(pad, n, idx)[::-1])[::-1]
    mid = prev + 1 + (nxt - prev) // 2
    take_left = ((idx < mid) & (prev >= 0)) | (nxt >= n)
    return np.where(pad, ids[np.where(take_left, prev, np.minimum(nxt, n - 1))], ids)


@dataclass(frozen=True)
class Annotation:
    """One kind of per-answer array: manifest field, folder, stored dtype and how piper makes it."""

    field: str
    folder: str
    dtype: type
    make: Callable[[PiperAnswerVoice, str, np.random.Generator], np.ndarray]


CLEAN_LATENTS = Annotation("answer_latent_clean", "latents_clean", np.float16,
                           lambda voice, text, rng: voice.clean_latent(text, rng))
PHONES = Annotation("answer_phones", "phones", np.int16,
                    lambda voice, text, rng: merge_pads(voice.frame_phonemes(text, rng), voice.pad_ids))


def annotate_answers(corpus: str | Path, annotation: Annotation, progress: bool = True) -> int:
    """Add ``annotation`` (``<folder>/<id>.npy``, one value or vector per latent frame) to every
    manifest entry of a corpus built by `vocalnet data synth`; returns how many files were written
    (existing ones are kept, so a killed run resumes)."""
    corpus = Path(corpus)
    items_path = corpus / STATE_DIR / "items.json"
    if not items_path.is_file():
        raise FileNotFoundError(f"{items_path} missing: answer annotations need the seeds `vocalnet data synth` recorded")
    seeds = {it["id"]: it["answer_seed"] for it in read_json(items_path)["items"]}
    voice, written = SynthConfig.of_corpus(corpus).answer_voice()(), 0
    for split in SPLITS:
        path = manifest_path(corpus, split)
        entries = read_json(path)
        for e in tqdm(entries, desc=f"{annotation.folder} ({split})", unit="utt", disable=not progress):
            rel = f"{annotation.folder}/{e['id']}.npy"
            if not (corpus / rel).is_file():
                frames = np.load(corpus / e["answer_latent"], mmap_mode="r").shape[-1]  # the header only
                value = annotation.make(voice, gpt_answer(e), np.random.default_rng(seeds[e["id"]]))
                if value.shape[-1] != frames:
                    raise ValueError(f"{e['id']}: {annotation.folder} has {value.shape[-1]} frames, the latent {frames}")
                with atomic_path(corpus / rel) as tmp:
                    np.save(tmp, value.astype(annotation.dtype))
                written += 1
            e[annotation.field] = rel
        write_json(path, entries)
    return written
