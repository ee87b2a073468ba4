"""VocalNetModel: speech encoder -> adaptor -> LLM -> speech generator, with the official parameter names.

State-dict names (ours -> official checkpoint layout, see `vocalnet.checkpoint.official`):
  speech_encoder.whisper.*  <-> model.speech_encoder.*
  speech_projector.*        <-> model.speech_projector.*
  llm.model.* / llm.lm_head <-> model.* / lm_head
  speech_generator.*        <-> speech_generator.*
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase, WhisperConfig

from .checkpoint.io import CheckpointError, atomic_dir, load_state_dict, save_state_dict, WEIGHTS_NAME
from .config import VocalNetConfig
from .encoder.adaptor import SpeechAdaptor
from .encoder.speech_encoder import SpeechEncoder
from .generator.phonemes import WordPhonemizer
from .generator.speech_generator import GeneratorOutput, SpeechGenerator
from .llm.backbone import Prompt, add_lora, build_prompt, end_of_turn_id, has_tokenizer, llm_from_config, load_llm, load_tokenizer

BACKBONE_PREFIXES = ("llm.", "speech_encoder.")


@dataclass
class SpeechBatch:
    """A training batch: log-mels, answer token ids (without end-of-turn) and answer speech units."""

    mel: torch.Tensor
    mel_lens: torch.Tensor
    answer_ids: list[list[int]]
    units: list[list[int]] | None = None


@dataclass
class LLMInputs:
    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    answer_start: list[int]


class VocalNetModel(nn.Module):
    def __init__(
        self,
        config: VocalNetConfig,
        llm: PreTrainedModel,
        speech_encoder: SpeechEncoder,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.speech_encoder = speech_encoder
        llm_dim = llm.config.hidden_size
        if config.generator.llm_hidden_size != llm_dim:
            raise ValueError(
                f"generator.llm_hidden_size={config.generator.llm_hidden_size} but the LLM hidden size is {llm_dim}"
            )
        embed_dim = llm.get_input_embeddings().embedding_dim
        if config.generator.text_embed_size not in (0, embed_dim):
            raise ValueError(f"generator.text_embed_size={config.generator.text_embed_size} but the LLM's token "
                             f"embeddings have {embed_dim} values (use 0 or {embed_dim})")
        self.speech_projector = SpeechAdaptor(
            speech_encoder.hidden_size, llm_dim, config.encoder_ds_rate, config.adaptor_hidden_size
        )
        self.llm = llm
        self.speech_generator = SpeechGenerator(config.generator)
        self.tokenizer = tokenizer
        self._prompt: Prompt | None = None
        self._eot_id: int | None = None

    # ---- construction ------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: VocalNetConfig, base_dir: Path | None = None) -> "VocalNetModel":
        """Build the model; backbones come from their folders unless their configs are given inline."""
        from .assets.prepare import default_asset_paths

        def resolve(p: str | None, default: str) -> Path:
            if p is None:
                return Path(getattr(default_asset_paths(), default))
            p = Path(p)
            return p if p.is_absolute() or base_dir is None else base_dir / p

        if config.llm_config is not None:
            llm, tok_dir = llm_from_config(config.llm_config), base_dir
        else:
            tok_dir = resolve(config.llm, "llm")
            llm = load_llm(tok_dir)
        tokenizer = load_tokenizer(tok_dir) if tok_dir and has_tokenizer(tok_dir) else None
        if config.lora is not None:
            llm = add_lora(llm, config.lora)
        kw = dict(pad_to_30s=config.encoder_pad_to_30s, frozen=config.freeze_encoder)
        if config.encoder_config is not None:
            encoder = SpeechEncoder.from_config(WhisperConfig(**config.encoder_config), **kw)
        else:
            encoder = SpeechEncoder.from_pretrained(resolve(config.speech_encoder, "whisper"), **kw)
        return cls(config, llm, encoder, tokenizer)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "VocalNetModel":
        """Load a vocalnet checkpoint folder, or an official VocalNet release folder."""
        from .checkpoint.official import is_official_checkpoint, load_official

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"checkpoint folder {path} does not exist")
        if is_official_checkpoint(path):
            return load_official(path)
        config = VocalNetConfig.load(path / "config.json")
        model = cls.from_config(config, base_dir=path)
        model.load_weights(load_state_dict(path), partial=config.llm_config is None)
        return model

    def load_weights(self, state: dict[str, torch.Tensor], partial: bool) -> None:
        """Load a state dict. `partial` allows the backbones to be absent (they came from their folders)."""
        own = self.state_dict()
        unexpected = sorted(set(state) - set(own))
        if unexpected:
            raise CheckpointError(f"checkpoint has {len(unexpected)} unexpected tensors, e.g. {unexpected[:5]}")
        missing = [k for k in own if k not in state and not self._is_tied(k)]
        if partial:
            missing = [k for k in missing if not k.startswith(BACKBONE_PREFIXES) or "lora_" in k]
        if missing:
            raise CheckpointError(f"checkpoint lacks {len(missing)} tensors, e.g. {missing[:5]}")
        for k, v in state.items():
            if own[k].shape != v.shape:
                raise CheckpointError(f"shape mismatch for {k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}")
        self.load_state_dict(state, strict=False)
        if getattr(self.llm.config, "tie_word_embeddings", False):
            self.llm.tie_weights()

    def merge_lora(self) -> None:
        """Fold LoRA adapters into the LLM weights (faster inference; needed for the official layout)."""
        if self.config.lora is not None:
            self.llm = self.llm.merge_and_unload()
            self.config.lora = None

    def _is_tied(self, key: str) -> bool:
        return key == "llm.lm_head.weight" and bool(getattr(self.llm.config, "tie_word_embeddings", False))

    def save_pretrained(self, path: str | Path, include_backbones: bool = False, half: bool = False) -> None:
        """Write config.json + model.safetensors atomically.

        Without backbones, only what VocalNet trains is stored (adaptor, generator) and config.json
        points at the LLM / Whisper folders; with them, the folder is self-contained. `half` stores
        fp16 (loading casts back to the model's dtype).
        """
        config = VocalNetConfig.from_dict(self.config.to_dict())
        state = self.state_dict()
        if include_backbones:
            llm_cfg = self.llm.config.to_dict()
            config.llm_config = {k: v for k, v in llm_cfg.items() if not k.startswith("_")}
            config.encoder_config = {k: v for k, v in self.speech_encoder.whisper.config.to_dict().items()
                                     if not k.startswith("_")}
        else:
            state = {k: v for k, v in state.items() if not k.startswith(BACKBONE_PREFIXES) or "lora_" in k}
        state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in state.items() if not self._is_tied(k)}
        with atomic_dir(Path(path)) as tmp:
            config.save(tmp / "config.json")
            save_state_dict(state, tmp / WEIGHTS_NAME, metadata={"format": "pt", "producer": "vocalnet"})
            if include_backbones and self.tokenizer is not None:
                self.tokenizer.save_pretrained(tmp)

    # ---- forward passes ----------------------------------------------------------------------------
    @property
    def eot_id(self) -> int:
        """The end-of-turn token: the config's, else looked up in the tokenizer once (a vocabulary scan)."""
        if self.config.eot_token_id is not None:
            return self.config.eot_token_id
        if self._eot_id is None:
            if self.tokenizer is None:
                raise ValueError("no tokenizer and no eot_token_id in the config")
            self._eot_id = end_of_turn_id(self.tokenizer)
        return self._eot_id

    @property
    def prompt(self) -> Prompt:
        if self._prompt is None:
            if self.tokenizer is None:
                raise ValueError("this model has no tokenizer: cannot build the chat prompt")
            self._prompt = build_prompt(self.tokenizer, self.config.system_prompt)
        return self._prompt

    def encode_speech(self, mel: torch.Tensor, mel_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel -> LLM-space speech embeddings at 10 Hz and their lengths."""
        h, lens = self.speech_encoder(mel, mel_lens)
        return self.speech_projector(h, lens)

    def build_llm_inputs(self, speech: torch.Tensor, speech_lens: torch.Tensor, answers: list[list[int]],
                         prompts: list[Prompt] | None = None) -> LLMInputs:
        """[prompt before] + speech + [prompt after] + answer + <eot>, right-padded; labels on answer+eot.

        `prompts` gives each sample its own chat prompt (default: the model's, for all)."""
        embed = self.llm.get_input_embeddings()
        dev = speech.device
        seqs, labels, starts = [], [], []
        for i, ans in enumerate(answers):
            p = prompts[i] if prompts is not None else self.prompt
            before = embed(torch.tensor(p.before, device=dev))
            after = embed(torch.tensor(p.after, device=dev)) if p.after else before[:0]
            ans_ids = list(ans) + [self.eot_id]
            n = int(speech_lens[i])
            seqs.append(torch.cat([before, speech[i, :n], after, embed(torch.tensor(ans_ids, device=dev))]))
            start = len(p.before) + n + len(p.after)
            starts.append(start)
            labels.append(torch.tensor([-100] * start + ans_ids, device=dev))
        T = max(s.shape[0] for s in seqs)
        B, D = len(seqs), seqs[0].shape[1]
        x = speech.new_zeros(B, T, D)
        mask = torch.zeros(B, T, dtype=torch.long, device=dev)
        lab = torch.full((B, T), -100, dtype=torch.long, device=dev)
        for i, (s, l) in enumerate(zip(seqs, labels)):
            x[i, : len(s)], mask[i, : len(s)], lab[i, : len(l)] = s, 1, l
        return LLMInputs(x, mask, lab, starts)

    def forward_s2t(self, batch: SpeechBatch) -> torch.Tensor:
        """Stage 1 loss: the LLM's cross-entropy on answer + end-of-turn."""
        speech, lens = self.encode_speech(batch.mel, batch.mel_lens)
        inp = self.build_llm_inputs(speech, lens, batch.answer_ids)
        out = self.llm(inputs_embeds=inp.inputs_embeds, attention_mask=inp.attention_mask, labels=inp.labels)
        return out.loss

    def generator_text_input(self, hidden: torch.Tensor, start: int, answer_ids: list[int]) -> torch.Tensor:
        """The generator's text input for one answer: `answer_hidden`, with the extra inputs the
        generator reads (token embeddings, phonemes; see `generator_rows`)."""
        return self.generator_rows(self.answer_hidden(hidden, start, len(answer_ids)), answer_ids)

    def answer_hidden(self, hidden: torch.Tensor, start: int, answer_len: int) -> torch.Tensor:
        """Final hidden states at the answer positions (end-of-turn excluded), the last one replaced
        by the end-of-turn token's input embedding (official)."""
        h = hidden[start : start + answer_len]
        if self.config.replace_last_hidden_with_eot:
            h = torch.cat([h[:-1], self.eot_embedding(h.device).to(h.dtype)])
        return h

    @torch.no_grad()  # the LLM is frozen in stage 2 and at inference
    def eot_embedding(self, device: torch.device | None = None) -> torch.Tensor:
        """(1, D) LLM input embedding of the end-of-turn token."""
        return self.llm.get_input_embeddings()(torch.tensor([self.eot_id], device=device))

    def generator_rows(self, h: torch.Tensor, answer_ids: list[int], first: int = 0, final: bool = True) -> torch.Tensor:
        """The generator's text input for answer rows first .. first + n - 1, from their (n, D) rows of
        `answer_hidden`: each row's hidden state, then (with `text_embed_size`) its token's LLM input
        embedding, then (with `phoneme_slots`) the phoneme ids of the words its token completes.

        answer_ids: the answer's tokens so far; unless `final` (the last row ends the answer: its
        token is end-of-turn when that row's hidden state was replaced), they reach one token past
        the last row, which says whether that row's word is complete.
        """
        g = self.config.generator
        rows = range(first, first + h.shape[0])
        parts = [h]
        if g.text_embed_size:
            ends = final and self.config.replace_last_hidden_with_eot
            tokens = [self.eot_id if ends and r == len(answer_ids) - 1 else answer_ids[r] for r in rows]
            embed = self.llm.get_input_embeddings()  # may sit on the GPU while h, from the cache, is on the CPU
            with torch.no_grad():
                parts.append(embed(torch.tensor(tokens, device=embed.weight.device)).to(h.device, h.dtype))
        if g.phoneme_slots:
            ids = self.phonemizer.row_ids(self.tokenizer.decode, answer_ids, rows, final, g.phoneme_slots)
            parts.append(ids.to(h.device, h.dtype))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else h

    @cached_property
    def phonemizer(self) -> WordPhonemizer:
        if self.tokenizer is None:
            raise ValueError("phoneme inputs need the LLM's tokenizer (words come from its decoding)")
        return WordPhonemizer(self.config.generator.phoneme_voice)

    def forward_s2s(self, batch: SpeechBatch, mask_mode: str = "random") -> GeneratorOutput:
        """Stage 2 loss: the speech generator on frozen LLM hidden states."""
        if batch.units is None:
            raise ValueError("stage 2 needs speech units for every sample")
        with torch.no_grad():
            speech, lens = self.encode_speech(batch.mel, batch.mel_lens)
            inp = self.build_llm_inputs(speech, lens, batch.answer_ids)
            hidden = self.llm.get_decoder()(inputs_embeds=inp.inputs_embeds, attention_mask=inp.attention_mask).last_hidden_state
        texts = [self.generator_text_input(hidden[i], s, a) for i, (s, a) in enumerate(zip(inp.answer_start, batch.answer_ids))]
        return self.generator_loss(texts, batch.units, mask_mode)

    def generator_loss(self, texts: list[torch.Tensor], units: list[list[int]], mask_mode: str = "random") -> GeneratorOutput:
        """Pad per-sample text hidden states and unit sequences, then run the speech generator."""
        L = max(t.shape[0] for t in texts)
        x = texts[0].new_zeros(len(texts), L, texts[0].shape[-1])
        for i, t in enumerate(texts):
            x[i, : t.shape[0]] = t
        N = max(max(len(u) for u in units), 1)
        tok = torch.zeros(len(units), N, dtype=torch.long, device=x.device)
        for i, u in enumerate(units):
            tok[i, : len(u)] = torch.as_tensor(u, dtype=torch.long)
        return self.speech_generator(x, [t.shape[0] for t in texts], tok, [len(u) for u in units], mask_mode)
