"""Stage 1, modality alignment (speech -> text): encoder frozen, adaptor trained, LoRA on the LLM.

Loss: the LLM's cross-entropy on answer + end-of-turn. Frozen Whisper outputs are cached per query.
Export: a vocalnet checkpoint holding the adaptor, the LoRA adapters (mergeable with
`VocalNetModel.merge_lora`) and the (still untrained) speech generator; the base LLM and Whisper are
referenced, not copied.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...audio.features import LogMel
from ...audio.io import load_audio
from ...config import VocalNetConfig
from ...modeling import VocalNetModel
from ..config import TrainConfig
from ..trainer import LossModule
from ..data import Dialogue, DialogueDataset, cached_datasets


class Stage1Recipe:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.model: VocalNetModel | None = None

    def build(self) -> LossModule:
        mcfg = VocalNetConfig.from_dict({"model_type": "vocalnet", **self.cfg.model})
        mcfg.lora = dataclasses.asdict(self.cfg.lora)
        model = VocalNetModel.from_config(mcfg)
        if model.tokenizer is None:
            raise ValueError("stage 1 needs the LLM's tokenizer next to its weights")
        model.requires_grad_(False)
        for name, p in model.llm.named_parameters():
            p.requires_grad = "lora_" in name
        model.speech_projector.requires_grad_(True)
        self.model = model
        self._logmel = LogMel(mcfg.speech_encoder, model.speech_encoder.num_mel_bins)
        return LossModule(model, self.loss_terms)

    def _featurize(self, d: Dialogue) -> torch.Tensor:
        wav = load_audio(d.query_wav, max_seconds=self.cfg.max_query_seconds)
        with torch.no_grad():
            h, _ = self.model.speech_encoder(self._logmel(wav)[None])
        return h[0]

    def datasets(self, module: LossModule) -> tuple[DialogueDataset, DialogueDataset | None]:
        c = module.model.config
        fp = f"encoder:{c.speech_encoder}:{c.encoder_config}:pad{c.encoder_pad_to_30s}"
        return cached_datasets(self.cfg, "whisper-encoder", self._featurize, fp, "Whisper features")

    def collate(self, items: list[tuple[Dialogue, torch.Tensor]]) -> dict[str, Any]:
        feats = [f for _, f in items]
        lens = torch.tensor([f.shape[0] for f in feats])
        x = torch.zeros(len(feats), int(lens.max()), feats[0].shape[1])
        for i, f in enumerate(feats):
            x[i, : f.shape[0]] = f
        tok = self.model.tokenizer
        answers = [tok(d.answer, add_special_tokens=False)["input_ids"] for d, _ in items]
        return {"enc": x, "enc_lens": lens, "answers": answers}

    def loss_terms(self, model: VocalNetModel, batch: dict[str, Any]) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
        """Text CE on answer + end-of-turn. The vocabulary projection runs only where there is a
        label (a third of the positions): most of a CPU step would otherwise go to prompt logits."""
        speech, lens = model.speech_projector(batch["enc"], batch["enc_lens"])
        inp = model.build_llm_inputs(speech, lens, batch["answers"])
        hidden = model.llm.get_decoder()(inputs_embeds=inp.inputs_embeds, attention_mask=inp.attention_mask).last_hidden_state
        labels = inp.labels[:, 1:]
        keep = labels != -100
        logits = model.llm.get_output_embeddings()(hidden[:, :-1][keep])
        ce = F.cross_entropy(logits.float(), labels[keep], reduction="sum")
        return [(1.0, ce, keep.sum())]

    def export(self, module: LossModule, out_dir: Path) -> None:
        module.model.save_pretrained(out_dir)

