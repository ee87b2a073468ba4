"""Generator-aligned (GTA) units: the trained speech generator's teacher-forced predictions for each
answer, taken in the pattern of m-token decoding (`SpeechGenerator.pattern_units`).

The generator's own units are not the tokenizer's: about half differ, and a vocoder trained only on
the tokenizer's units has never seen its mistakes. The predictions line up one to one with the
answer's true units, so each keeps its answer's latent, and a manifest of them (beside the true
units) trains the vocoder on the units it will be given, as TTS vocoders are fine-tuned on
ground-truth-aligned predictions. Answers the generator did not train on (e.g. a fresh `vocalnet
data readings` seed) give mistakes like those of unseen answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data.manifest import entry_file, read_entries
from ..data.state import atomic_path, write_json
from .config import TrainConfig
from .recipes.stage2_s2s import Stage2Recipe

MEDIA_FIELDS = ("speech", "answer_audio", "answer_latent", "answer_latent_clean")


def write_gta_manifest(model_dir: str | Path, manifest: str | Path, out_dir: str | Path, mtp: int = 3,
                       cache_dir: str | Path | None = None, batch_size: int = 16) -> tuple[Path, float]:
    """Write OUT_DIR/units/<id>.npy and OUT_DIR/<manifest name>: the manifest's entries with absolute
    media paths and `units` pointing at the predictions. Returns the manifest and the share of
    predicted units equal to the true ones. The LLM hidden states come from (and fill) the stage-2
    cache, so a corpus the generator trained on costs only the generator's forward passes."""
    manifest, out_dir = Path(manifest), Path(out_dir)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    cfg = TrainConfig(stage="s2s", output_dir=str(out_dir), train_manifest=str(manifest), init_from=str(model_dir),
                      cache_dir=str(cache_dir) if cache_dir else None)
    recipe = Stage2Recipe(cfg)
    module = recipe.build()
    model = recipe.model.eval()
    if not 0 <= mtp <= model.speech_generator.num_extra_heads:
        raise ValueError(f"mtp must lie in [0, {model.speech_generator.num_extra_heads}] for {model_dir}, got {mtp}")
    data, _ = recipe.datasets(module)
    same = total = 0
    with torch.no_grad():
        for start in tqdm(range(0, len(data), batch_size), desc="GTA units", unit="batch"):
            items = [data[i] for i in range(start, min(len(data), start + batch_size))]
            batch = recipe.collate(items)
            out = model.generator_loss(batch["texts"], batch["units"], "streaming")
            preds = model.speech_generator.pattern_units(out.logits, mtp)
            for (dialogue, _), units, pred in zip(items, batch["units"], preds):
                gta = pred[: len(units)].numpy().astype(np.int16)
                same += int((gta == np.asarray(units)).sum())
                total += len(units)
                with atomic_path(out_dir / "units" / f"{dialogue.id}.npy") as tmp:
                    np.save(tmp, gta)
    entries = read_entries(manifest, require=("id",))
    for e in entries:
        for field in MEDIA_FIELDS:
            if isinstance(e.get(field), str):
                e[field] = str(entry_file(manifest, e, field).resolve())
        e["units"] = f"units/{e['id']}.npy"
    write_json(out_dir / manifest.name, entries)
    return out_dir / manifest.name, same / max(total, 1)
