"""Stage 2, generative fine-tuning (speech -> speech): only the speech generator is trained.

The encoder, adaptor and LLM (with its stage-1 LoRA) run once per dialogue without grad to produce
the generator's text input (final hidden states at the answer positions), which is cached; token
embeddings, when the generator reads them, are looked up per batch.
Loss: CE_main + sum_j decay^j CE_j, normalised over all processes. Export: the stage-1 checkpoint
with the trained generator.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from ...audio.features import LogMel
from ...audio.io import load_audio
from ...checkpoint.io import submodule_state
from ...generator.config import SpeechGeneratorConfig
from ...generator.speech_generator import SpeechGenerator
from ...modeling import VocalNetModel
from ..config import TrainConfig
from ..trainer import LossModule
from ..data import Dialogue, DialogueDataset, cached_datasets, load_units


class Stage2Recipe:
    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.model: VocalNetModel | None = None

    def build(self) -> LossModule:
        model = VocalNetModel.from_pretrained(self.cfg.init_from)
        if self.cfg.generator is not None:  # start the generator afresh with a new shape
            gcfg = SpeechGeneratorConfig.from_dict({**model.config.generator.to_dict(), **self.cfg.generator})
            model.config.generator = gcfg
            model.speech_generator = SpeechGenerator(gcfg)
        if self.cfg.generator_from:  # e.g. a generator trained on an earlier stage 1's hidden states
            self._warm_start(model.speech_generator, submodule_state(self.cfg.generator_from, "speech_generator"))
        model.requires_grad_(False)
        model.speech_generator.requires_grad_(True)
        self.model = model
        self._logmel = LogMel(model.config.speech_encoder, model.speech_encoder.num_mel_bins)
        return LossModule(model, self.loss_terms)

    @staticmethod
    def _warm_start(gen: SpeechGenerator, state: dict[str, torch.Tensor]) -> None:
        """Load an earlier generator. The parts it may lack are the extra text inputs (`embed_proj`,
        `phoneme_embed` / `phoneme_proj`: it read fewer of them); their projections start at zero, so the
        warm-started generator begins where the old one ended. New phoneme rows start from the old
        projection of a word's first phoneme (`phoneme_proj`'s first slot), so they begin as sounds the
        generator already reads."""
        missing, unexpected = gen.load_state_dict(state, strict=False)
        added = ("embed_proj.", "phoneme_embed.", "phoneme_proj.", "phoneme_row_proj.")
        if unexpected or any(not k.startswith(added) for k in missing):
            raise ValueError(f"generator_from does not fit this generator: missing {missing}, unexpected {unexpected}")
        for name in ("embed_proj", "phoneme_proj"):
            if f"{name}.weight" in missing:
                torch.nn.init.zeros_(getattr(gen, name).weight)
        if "phoneme_row_proj.weight" in missing:
            with torch.no_grad():
                gen.phoneme_row_proj.weight.copy_(gen.phoneme_proj.weight[:, : gen.config.phoneme_embed_size])
                gen.phoneme_row_proj.bias.zero_()

    @torch.no_grad()
    def _featurize(self, d: Dialogue) -> torch.Tensor:
        m = self.model
        for frozen in (m.speech_encoder, m.speech_projector, m.llm):
            frozen.eval()
        wav = load_audio(d.query_wav, max_seconds=self.cfg.max_query_seconds)
        mel = self._logmel(wav)[None]
        speech, lens = m.encode_speech(mel, torch.tensor([mel.shape[-1]]))
        answer = m.tokenizer(d.answer, add_special_tokens=False)["input_ids"]
        inp = m.build_llm_inputs(speech, lens, [answer])
        hidden = m.llm.get_decoder()(inputs_embeds=inp.inputs_embeds, attention_mask=inp.attention_mask).last_hidden_state
        return m.answer_hidden(hidden[0], inp.answer_start[0], len(answer))  # token embeddings: in collate

    def datasets(self, module: LossModule) -> tuple[DialogueDataset, DialogueDataset | None]:
        return cached_datasets(self.cfg, "generator-text", self._featurize, self._fingerprint(), "LLM hidden states",
                               reads_text=True)

    def _fingerprint(self) -> str:
        """What the cached hidden states depend on: init_from's weights other than the speech generator's
        (adaptor, LoRA) and its settings other than the generator's (base models, prompt). A retrained generator keeps the cache."""
        weights = Path(self.cfg.init_from) / "model.safetensors"
        digest = hashlib.sha1()
        with safe_open(str(weights), "pt") as f:
            for name in sorted(k for k in f.keys() if not k.startswith("speech_generator.")):
                digest.update(name.encode())
                digest.update(f.get_tensor(name).reshape(-1).view(torch.uint8).numpy().tobytes())
        settings = {k: v for k, v in self.model.config.to_dict().items() if k != "generator"}
        digest.update(json.dumps(settings, sort_keys=True).encode())
        return digest.hexdigest()[:12]

    def collate(self, items: list[tuple[Dialogue, torch.Tensor]]) -> dict[str, Any]:
        m = self.model
        vocab = m.config.generator.unit_vocab_size
        texts = [m.generator_rows(h, m.tokenizer(d.answer, add_special_tokens=False)["input_ids"]) for d, h in items]
        return {"texts": texts, "units": [load_units(d.units, vocab) for d, _ in items]}

    def loss_terms(self, model: VocalNetModel, batch: dict[str, Any]) -> list[tuple[float, torch.Tensor, torch.Tensor]]:
        out = model.generator_loss(batch["texts"], batch["units"], self.cfg.mask_mode)
        decay = model.config.generator.mtp_loss_decay
        return [(decay**j, s, c) for j, (s, c) in enumerate(zip(out.head_sums, out.head_counts))]

    def export(self, module: LossModule, out_dir: Path) -> None:
        module.model.save_pretrained(out_dir)
