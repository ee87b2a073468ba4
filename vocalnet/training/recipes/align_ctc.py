"""Adaptor alignment before stage 1 (stage "align"): CTC from speech frames to the question's LLM tokens.

Stage 1 teaches the adaptor only through the LLM, a slow signal on a CPU (every step runs the LLM
forward and backward) that in our runs taught the gist of a question before its words. This recipe
trains the adaptor alone: each 10 Hz adaptor output is scored against the LLM's own input embeddings
(dot products with the embedding rows of the tokens that occur in the training questions, plus a
learned blank), and CTC asks the frames to spell the question's tokens. No LLM layer runs, so an
epoch costs seconds to minutes, and stage 1 starts (`adaptor_from`) from speech frames that already
sit next to the embeddings of the words spoken. `align_readings` adds read speech of common words
(`vocalnet data readings`), whose transcripts widen the set of tokens the head can spell.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...modeling import VocalNetModel
from ..data import Dialogue, DialogueDataset, load_dialogues
from ..trainer import LossModule
from .stage1_s2t import Stage1Recipe


class CTCHead(nn.Module):
    """Adaptor frames (B, T, D) -> log-probs (T, B, 1 + V') over [blank] + a subset of LLM tokens."""

    def __init__(self, embeddings: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("rows", embeddings.detach().clone())
        self.blank = nn.Parameter(torch.zeros(embeddings.shape[1]))
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        table = torch.cat([self.blank[None], self.rows])
        return (self.scale * frames @ table.T).log_softmax(-1).transpose(0, 1)


class AlignRecipe(Stage1Recipe):
    uses_lora = False  # the LLM is only a table of embeddings here

    def datasets(self, module: LossModule) -> tuple[DialogueDataset, DialogueDataset | None]:
        train, dev = super().datasets(module)
        if any(not d.question for d in train.items):
            raise ValueError("the align stage needs the `question` text of every training entry")
        extra: list[Dialogue] = []
        if self.cfg.align_on_answers:  # the answer audio read aloud, its text as the target
            extra += [dataclasses.replace(d, id=f"{d.id}/answer", query_wav=d.answer_wav, question=d.answer)
                      for d in train.items if d.answer_wav is not None]
        if self.cfg.align_readings:  # read speech of common words: the vocabulary the dialogues lack
            extra += [d for m in self.cfg.align_readings for d in load_dialogues(m)]
        if extra:  # one pass fills the cache (a second would re-read every cached file)
            train.items = train.items + extra
            train.precompute("Whisper features (answers, readings)")
        tok = self.model.tokenizer
        used = sorted({t for ds in (train, dev) if ds for d in ds.items if d.question
                       for t in tok(d.question, add_special_tokens=False)["input_ids"]})
        self.ctc_index = {t: i + 1 for i, t in enumerate(used)}  # 0 is the blank
        head = CTCHead(self.model.llm.get_input_embeddings().weight[used])
        module.model.add_module("ctc_head", head)  # inside the module: trained, checkpointed, synchronised
        return train, dev

    def collate(self, items: list[tuple[Dialogue, torch.Tensor]]) -> dict[str, Any]:
        """Features and CTC targets only: the LLM-side answer ids and prompts of stage 1 are not used here."""
        tok = self.model.tokenizer
        targets = [[self.ctc_index[t] for t in tok(d.question, add_special_tokens=False)["input_ids"] if t in self.ctc_index]
                   for d, _ in items]
        return {**self.pad_features(items), "targets": targets}

    def loss_terms(self, model: VocalNetModel, batch: dict[str, Any]) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
        enc = F.dropout(batch["enc"], self.cfg.feature_dropout, model.training)
        speech, lens = model.speech_projector(enc, batch["enc_lens"])
        log_probs = model.ctc_head(speech)
        targets = batch["targets"]
        flat = torch.tensor([t for seq in targets for t in seq], dtype=torch.long, device=log_probs.device)
        target_lens = torch.tensor([len(seq) for seq in targets], device=log_probs.device)
        loss = F.ctc_loss(log_probs, flat, lens, target_lens, blank=0, reduction="sum", zero_infinity=True)
        return [(1.0, loss, target_lens.sum())] + self.norm_terms(speech, lens)

    def export(self, module: LossModule, out_dir: Path) -> None:
        model = module.model
        del model.ctc_head  # alignment-only: the exported model is a plain vocalnet model
        model.save_pretrained(out_dir)
