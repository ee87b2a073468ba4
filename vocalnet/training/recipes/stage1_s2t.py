"""Stage 1, modality alignment (speech -> text): encoder frozen, adaptor trained, LoRA on the LLM.

Loss: the LLM's cross-entropy on answer + end-of-turn. With `repeat_question` > 0 a share of the
dialogues also appears as a "repeat the question" item (its own system prompt, the question text as
target): a dense alignment task that makes the adaptor carry the words of the query, which answering
alone teaches slowly. `adaptor_from` starts the adaptor from the align stage's CTC-trained one
(`align_ctc`); `init_from` instead continues a whole stage-1 checkpoint (adaptor and LoRA).
`distill_weight` > 0 adds self-distillation: at every target position the model hearing the question
is pulled (KL) to the next-token distribution of the base LLM (LoRA off) reading it typed, so that
what it hears means to the LLM what the words mean; `distill_only` manifests (read speech) train
through that term alone, which widens the heard vocabulary without teaching the model to echo.
`repeat_only` manifests (read speech) train through the "repeat" task alone: transcription of many
more words, under its own system prompt.
Frozen Whisper outputs are cached per query (every task reads them).
Export: a vocalnet checkpoint holding the adaptor, the LoRA adapters (mergeable with
`VocalNetModel.merge_lora`) and the (still untrained) speech generator; the base LLM and Whisper are
referenced, not copied.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...audio.features import LogMel
from ...audio.io import load_audio
from ...checkpoint.io import submodule_state
from ...config import VocalNetConfig
from ...llm.backbone import Prompt, build_prompt
from ...modeling import VocalNetModel
from ..config import ConfigError, LoraConfig, TrainConfig
from ..trainer import LossModule
from ..data import Dialogue, DialogueDataset, cached_datasets, load_dialogues


class Stage1Recipe:
    uses_lora = True

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.model: VocalNetModel | None = None
        self._repeat_prompt: Prompt | None = None

    def build(self) -> LossModule:
        model = self._continued() if self.cfg.init_from else self._fresh()
        if self.cfg.adaptor_from:
            model.speech_projector.load_state_dict(submodule_state(self.cfg.adaptor_from, "speech_projector"))
        if model.tokenizer is None:
            raise ValueError("stage 1 needs the LLM's tokenizer next to its weights")
        model.requires_grad_(False)
        for name, p in model.llm.named_parameters():
            p.requires_grad = "lora_" in name
        model.speech_projector.requires_grad_(True)
        self.model = model
        self._embed_norm = float(model.llm.get_input_embeddings().weight.norm(dim=-1).mean())
        self._logmel = LogMel(model.config.speech_encoder, model.speech_encoder.num_mel_bins)
        return LossModule(model, self.loss_terms)

    def _fresh(self) -> VocalNetModel:
        mcfg = VocalNetConfig.from_dict({"model_type": "vocalnet", **self.cfg.model})
        mcfg.lora = dataclasses.asdict(self.cfg.lora or LoraConfig()) if self.uses_lora else None
        return VocalNetModel.from_config(mcfg)

    def _continued(self) -> VocalNetModel:
        """`init_from`: go on training a stage-1 model (its adaptor and LoRA adapters), e.g. the shipped
        one on new data. Its LoRA shape is the checkpoint's: a config `lora` that differs is refused. Its
        other parts (the speech generator) ride along into the export."""
        model = VocalNetModel.from_pretrained(self.cfg.init_from)
        if self.uses_lora and model.config.lora is None:
            raise ConfigError(f"init_from {self.cfg.init_from} holds no LoRA adapters (merged or never trained): "
                              "stage 1 continues a checkpoint whose LoRA it can train")
        if self.cfg.lora is not None and _lora_shape(dataclasses.asdict(self.cfg.lora)) != _lora_shape(model.config.lora):
            raise ConfigError(f"lora {dataclasses.asdict(self.cfg.lora)} differs from the LoRA of init_from "
                              f"{self.cfg.init_from} ({model.config.lora}), which training continues: drop `lora:` or match it")
        return model

    def _featurize(self, d: Dialogue) -> torch.Tensor:
        wav = load_audio(d.query_wav, max_seconds=self.cfg.max_query_seconds)
        with torch.no_grad():
            h, _ = self.model.speech_encoder(self._logmel(wav)[None])
        return h[0]

    def datasets(self, module: LossModule) -> tuple[DialogueDataset, DialogueDataset | None]:
        c = module.model.config
        fp = f"encoder:{c.speech_encoder}:{c.encoder_config}:pad{c.encoder_pad_to_30s}"
        extra = [d.as_task("distill") for m in self.cfg.distill_only for d in load_dialogues(m)]
        extra += [d.as_task("repeat") for m in self.cfg.repeat_only for d in load_dialogues(m)]
        train, dev = cached_datasets(self.cfg, "whisper-encoder", self._featurize, fp, "Whisper features",
                                     extra_train=extra, check=self._check_typed if self.cfg.distill_weight else None)
        k = round(self.cfg.repeat_question * len(train.items))
        train.items = train.items + [d.as_task("repeat") for d in random.Random(self.cfg.seed).sample(train.items, k)]
        return train, dev

    @staticmethod
    def _check_typed(d: Dialogue) -> None:
        if not d.question:
            raise ConfigError(f"distill_weight needs the typed `question` of every item; {d.id} has none")

    def _prompt(self, task: str) -> Prompt:
        if task == "repeat":
            if self._repeat_prompt is None:
                self._repeat_prompt = build_prompt(self.model.tokenizer, self.cfg.repeat_prompt)
            return self._repeat_prompt
        return self.model.prompt

    @staticmethod
    def pad_features(items: list[tuple[Dialogue, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The cached Whisper features of a batch, right-padded, with their lengths."""
        feats = [f for _, f in items]
        lens = torch.tensor([f.shape[0] for f in feats])
        x = torch.zeros(len(feats), int(lens.max()), feats[0].shape[1])
        for i, f in enumerate(feats):
            x[i, : f.shape[0]] = f
        return {"enc": x, "enc_lens": lens}

    def collate(self, items: list[tuple[Dialogue, torch.Tensor]]) -> dict[str, Any]:
        tok = self.model.tokenizer
        answers = [tok(d.target, add_special_tokens=False)["input_ids"] for d, _ in items]
        batch = {**self.pad_features(items), "answers": answers, "prompts": [self._prompt(d.task) for d, _ in items],
                 "answer_ce": torch.tensor([d.task != "distill" for d, _ in items])}
        if self.cfg.distill_weight:
            batch["typed"] = [tok(d.question, add_special_tokens=False)["input_ids"] for d, _ in items]
        return batch

    def norm_terms(self, speech: torch.Tensor, lens: torch.Tensor) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
        """Squared relative deviation of each speech frame's norm from the LLM's mean token-embedding
        norm. Unconstrained, the adaptor's frames grow to 5-12x the text embeddings' norm: the LLM's
        residual stream at speech positions is then dominated by its input, and int8 activation
        quantisation (scaled by the largest value) crushes the text positions."""
        if not self.cfg.adaptor_norm_weight:
            return []
        mask = torch.arange(speech.shape[1], device=speech.device)[None] < lens[:, None]
        dev = (speech.norm(dim=-1) / self._embed_norm - 1).pow(2)[mask]
        return [(self.cfg.adaptor_norm_weight, dev.sum(), mask.sum())]

    def loss_terms(self, model: VocalNetModel, batch: dict[str, Any]) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
        """Text CE on answer + end-of-turn (items of `distill_only` excluded), plus the distillation KL
        when `distill_weight` > 0. The vocabulary projection runs only where there is a label (a third
        of the positions): most of a CPU step would otherwise go to prompt logits."""
        speech, lens = model.speech_projector(batch["enc"], batch["enc_lens"])
        logits, targets, item = self._target_logits(model, speech, lens, batch)
        ce_rows = batch["answer_ce"].to(item.device)[item]
        ce = F.cross_entropy(logits[ce_rows].float(), targets[ce_rows], reduction="sum")
        terms = [(1.0, ce, ce_rows.sum())]
        if self.cfg.distill_weight:
            with torch.no_grad(), model.llm.disable_adapter():
                teacher = self._target_logits(model, *self.typed_query(model, batch), batch)[0]
            kl = F.kl_div(logits.float().log_softmax(-1), teacher.float().log_softmax(-1), log_target=True, reduction="sum")
            terms.append((self.cfg.distill_weight, kl, torch.tensor(len(targets), device=kl.device)))
        return terms + self.norm_terms(speech, lens)

    @staticmethod
    def typed_query(model: VocalNetModel, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The typed questions as a query: their token embeddings (B, T, D), right-padded, and lengths."""
        typed = [torch.tensor(t, device=model.llm.device) for t in batch["typed"]]
        embeds = torch.nn.utils.rnn.pad_sequence([model.llm.get_input_embeddings()(t) for t in typed], batch_first=True)
        return embeds, torch.tensor([len(t) for t in typed])

    @staticmethod
    def _target_logits(model: VocalNetModel, query: torch.Tensor, lens: torch.Tensor,
                       batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The LLM's logits (N, V) at the N target positions of the batch (answer + end-of-turn, in
        order) after the query embeddings (B, T, D) in each item's prompt; the N target tokens; and the
        item each position belongs to. The positions do not depend on the query's length."""
        inp = model.build_llm_inputs(query, lens, batch["answers"], batch["prompts"])
        hidden = model.llm.get_decoder()(inputs_embeds=inp.inputs_embeds, attention_mask=inp.attention_mask).last_hidden_state
        labels = inp.labels[:, 1:]
        keep = labels != -100
        item = torch.arange(len(labels), device=labels.device)[:, None].expand_as(labels)[keep]
        return model.llm.get_output_embeddings()(hidden[:, :-1][keep]), labels[keep], item

    def export(self, module: LossModule, out_dir: Path) -> None:
        module.model.save_pretrained(out_dir)


def _lora_shape(lora: dict[str, Any]) -> tuple:
    """What makes two LoRA settings the same adapters: rank, alpha, dropout and target modules."""
    return lora["r"], lora["alpha"], lora.get("dropout", 0.0), sorted(lora.get("target_modules") or [])
