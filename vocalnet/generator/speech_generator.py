"""The speech generator: pre-net, AR decoder and MTP modules (spec section 3), plus the paper's variants.

This module holds the trainable network and its teacher-forced training forward. The building
blocks (`prenet`, `run_module`, `module_input`, `head_logits`) are also what the step-by-step
decoding engine in `vocalnet.decoding` drives, so both share one definition of every computation.

Module numbering: module 0 is the decoder (`decode_layers`), module j >= 1 is `mtp_layers[j-1]`.
Head j predicts the token j places after the main head's target.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import SpeechGeneratorConfig
from .layers import DecoderLayer, HeadStack, KVCache, RMSNorm, RotaryEmbedding, Segment
from .masks import causal_mask, resolve_streaming_flags, sample_mask


@dataclass
class GeneratorOutput:
    """Training forward result: total loss, per-head token-mean losses, per-sample losses, logits."""

    loss: torch.Tensor
    head_losses: list[torch.Tensor]
    sample_losses: torch.Tensor
    logits: list[torch.Tensor]
    streaming: list[bool]
    head_sums: list[torch.Tensor]  # summed CE per head (for normalising over several processes)
    head_counts: list[torch.Tensor]  # non-PAD targets per head


class SpeechGenerator(nn.Module):
    """Maps LLM hidden states to discrete speech tokens (official parameter names)."""

    def __init__(self, config: SpeechGeneratorConfig) -> None:
        super().__init__()
        self.config = c = config
        H = c.hidden_size
        self.input_proj = nn.Linear(c.llm_hidden_size, H) if c.llm_hidden_size != H else None
        self.embed_proj = nn.Linear(c.text_embed_size, H, bias=False) if c.text_embed_size else None
        if c.phoneme_slots:
            self.phoneme_embed = nn.Embedding(c.phoneme_vocab, c.phoneme_embed_size, padding_idx=0)
            self.phoneme_proj = nn.Linear(c.phoneme_slots * c.phoneme_embed_size, H, bias=False)
        else:
            self.phoneme_embed = self.phoneme_proj = None
        self.phoneme_row_proj = nn.Linear(c.phoneme_embed_size, H) if c.phoneme_rows else None
        self.embedding = nn.Embedding(c.vocab_size, H, padding_idx=c.pad_id)
        self.encode_layers = nn.ModuleList(self._layer() for _ in range(c.encoder_num_layers))
        self.decode_layers = nn.ModuleList(self._layer() for _ in range(c.decoder_num_layers))
        self.norm = RMSNorm(H, c.rms_norm_eps)
        out_dim = c.vocab_size * (c.group_size if c.variant == "group" else 1)
        self.output_proj = nn.Linear(H, out_dim)
        self.rotary = RotaryEmbedding(H // c.num_heads, c.rope_theta)
        if c.variant == "mtp":
            self.mtp_layers = nn.ModuleList(
                nn.ModuleDict(
                    {"decoder_layer": self._layer(), "norm_final": RMSNorm(H, c.rms_norm_eps),
                     "output_proj": nn.Linear(H, c.vocab_size)}
                )
                for _ in range(c.mtp_num)
            )
        elif c.variant == "deepseek_mtp":
            self.mtp_layers = nn.ModuleList(
                nn.ModuleDict(
                    {"hidden_norm": RMSNorm(H, c.rms_norm_eps), "embed_norm": RMSNorm(H, c.rms_norm_eps),
                     "merge_proj": nn.Linear(2 * H, H, bias=False), "decoder_layer": self._layer(),
                     "norm_final": RMSNorm(H, c.rms_norm_eps)}
                )
                for _ in range(c.mtp_num)
            )
        elif c.variant == "parallel_linear":
            self.mtp_heads = nn.ModuleList(nn.Linear(H, c.vocab_size) for _ in range(c.mtp_num))
        self.head_stack: HeadStack | None = None  # inference copies only (`stack_heads`)

    def _layer(self) -> DecoderLayer:
        c = self.config
        return DecoderLayer(c.hidden_size, c.num_heads, c.ffn_dim, c.num_kv_heads, c.dropout, c.rms_norm_eps,
                            c.hidden_dropout)

    # ---- building blocks shared with the decoding engine -----------------------------------------
    @property
    def num_extra_heads(self) -> int:
        """Heads beyond the main one (0 for NTP and group modeling)."""
        return 0 if self.config.variant == "group" else self.config.mtp_num

    def pattern_units(self, logits: list[torch.Tensor], mtp: int) -> torch.Tensor:
        """Teacher-forced unit predictions (B, rows) taken as m-token decoding takes them: unit p comes
        from head j = p mod (m + 1) at row p - j (the argmax over units, special tokens excluded). That is
        every step's pattern while the text is ahead of the speech; in streaming, a step whose later
        heads' text has not arrived yet takes fewer tokens.

        logits: the training forward's per-head logits (`GeneratorOutput.logits`)."""
        if self.config.variant == "group":
            raise ValueError("pattern_units needs per-token heads; group modeling predicts whole groups")
        if not 0 <= mtp < len(logits):
            raise ValueError(f"mtp must lie in [0, {len(logits) - 1}] for this generator, got {mtp}")
        preds = torch.stack([lg[..., : self.config.unit_vocab_size].argmax(-1) for lg in logits[: mtp + 1]])
        p = torch.arange(preds.shape[2], device=preds.device)
        j = p % (mtp + 1)
        return preds[j, :, p - j].T

    @property
    def has_mtp_modules(self) -> bool:
        """Whether extra heads sit on their own transformer modules (each with its own KV cache)."""
        return self.config.variant in ("mtp", "deepseek_mtp")

    def rope(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rotary(positions, dtype)

    def text_inputs(self, text_hidden: torch.Tensor, text_lens: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Text input (B, L, text_input_size) -> pre-net inputs (B, R, H) and rows per token (B, L).

        One row per token; with `phoneme_rows`, each of its phoneme ids follows it as a row of its own
        (R is then the longest sample's row count, the rest zero-padded; padded tokens count 0 rows).
        """
        c = self.config
        hidden = text_hidden[..., : c.llm_hidden_size]
        x = self.input_proj(hidden) if self.input_proj is not None else hidden
        if self.embed_proj is not None:
            x = x + self.embed_proj(text_hidden[..., c.llm_hidden_size : c.llm_hidden_size + c.text_embed_size])
        if self.training and c.text_dropout:
            keep = torch.rand(x.shape[:-1], device=x.device) >= c.text_dropout
            x = x * keep.unsqueeze(-1).to(x.dtype)
        B, L = x.shape[:2]
        valid = torch.arange(L, device=x.device)[None] < torch.tensor(text_lens, device=x.device)[:, None]
        if self.phoneme_proj is None:
            return x, valid.long()
        ids = text_hidden[..., c.llm_hidden_size + c.text_embed_size :].round().long()
        phonemes = self.phoneme_embed(ids)
        x = x + self.phoneme_proj(phonemes.flatten(-2))
        if self.phoneme_row_proj is None:
            return x, valid.long()
        rows = torch.cat([x[:, :, None], self.phoneme_row_proj(phonemes)], dim=2)  # (B, L, 1 + slots, H)
        keep = torch.cat([valid[..., None], (ids > 0) & valid[..., None]], dim=2)
        per_sample = [rows[b][keep[b]] for b in range(B)]  # token-major: a token's row, then its phonemes
        out = x.new_zeros(B, max(len(r) for r in per_sample), x.shape[-1])
        for b, r in enumerate(per_sample):
            out[b, : len(r)] = r
        return out, keep.sum(-1)

    def prenet(
        self, x: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor, caches: list[KVCache] | None = None,
    ) -> torch.Tensor:
        """Pre-net inputs (B, R, H) (`text_inputs`) -> pre-net outputs (B, R, H), causal over text."""
        rope = self.rope(positions, x.dtype)
        for i, layer in enumerate(self.encode_layers):
            x = layer(x, rope, mask, caches[i] if caches else None, "text")
        return x

    def module_layers(self, j: int) -> list[DecoderLayer]:
        if j == 0:
            return list(self.decode_layers)
        return [self.mtp_layers[j - 1]["decoder_layer"]]

    def run_module(
        self, j: int, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor,
        caches: list[KVCache] | None = None, segment: Segment = "speech", out_rows: int | None = None,
    ) -> torch.Tensor:
        """Transformer layers of module j over x (already the module's input). `out_rows`: the output
        of the last rows only (decoding: the other rows' outputs are not needed, only their keys/values)."""
        layers = self.module_layers(j)
        for i, layer in enumerate(layers):
            x = layer(x, rope, mask, caches[i] if caches else None, segment, out_rows if i == len(layers) - 1 else None)
        return x

    def module_input(self, j: int, h_prev: torch.Tensor, next_tokens: torch.Tensor | None) -> torch.Tensor:
        """Input of MTP module j >= 1 from the previous module's hidden states.

        VocalNet MTP feeds h_{j-1} directly; DeepSeek-style MTP merges it with the embedding of the
        token j places ahead of each row's input (`next_tokens`, PAD where there is none).
        """
        if self.config.variant != "deepseek_mtp":
            return h_prev
        mod = self.mtp_layers[j - 1]
        emb = self.embedding(next_tokens)
        return mod["merge_proj"](torch.cat([mod["hidden_norm"](h_prev), mod["embed_norm"](emb)], dim=-1))

    def head_logits(self, j: int, h: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of head j. h is module j's output (for parallel heads, h0 is used for every head).

        Group modeling returns (..., group_size, V).
        """
        c = self.config
        if j == 0:
            logits = self.output_proj(self.norm(h))
            if c.variant == "group":
                logits = logits.view(*logits.shape[:-1], c.group_size, c.vocab_size)
            return logits
        if c.variant == "mtp":
            mod = self.mtp_layers[j - 1]
            return mod["output_proj"](mod["norm_final"](h))
        if c.variant == "deepseek_mtp":
            return self.output_proj(self.mtp_layers[j - 1]["norm_final"](h))
        if c.variant == "parallel_linear":
            return self.mtp_heads[j - 1](self.norm(h0 if h0 is not None else h))
        raise ValueError(f"variant {c.variant!r} has no head {j}")

    def stack_heads(self) -> None:
        """Inference only: heads 0..num_extra_heads as one `HeadStack` (VocalNet MTP and parallel heads;
        a DeepSeek module reads the token its previous head chose, so its heads run one at a time)."""
        c = self.config
        if c.variant == "mtp":
            norms = [self.norm] + [mod["norm_final"] for mod in self.mtp_layers]
            projs = [self.output_proj] + [mod["output_proj"] for mod in self.mtp_layers]
        elif c.variant == "parallel_linear":
            norms, projs = [self.norm] * (c.mtp_num + 1), [self.output_proj, *self.mtp_heads]
        else:
            return
        self.head_stack = HeadStack(norms, projs)

    def step_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Logits (k, V) of heads 0..k-1 of a decoding step, head j on row j of h (k, H) (VocalNet MTP
        and parallel heads): one stacked call when `stack_heads` has run."""
        if self.head_stack is not None:
            return self.head_stack(h)
        return torch.stack([self.head_logits(j, h[j], h[j]) for j in range(h.shape[0])])

    def group_embedding(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, Q, g) token ids -> (B, Q, H): the mean of each group's embeddings (PAD embeds to 0)."""
        return self.embedding(tokens).mean(dim=-2)

    # ---- teacher-forced training forward -----------------------------------------------------------
    def forward(
        self,
        text_hidden: torch.Tensor,
        text_lens: torch.Tensor | list[int],
        speech_tokens: torch.Tensor,
        speech_lens: torch.Tensor | list[int],
        mask_mode: str | list[str] = "random",
        rng: torch.Generator | None = None,
    ) -> GeneratorOutput:
        """Teacher-forced loss.

        text_hidden: (B, L, text_input_size) right-padded text input; text_lens: valid lengths.
        speech_tokens: (B, N) right-padded unit ids (< unit_vocab_size); speech_lens: valid lengths.
        mask_mode: "streaming", "non-streaming", "random" (p=0.5 per sample) or one mode per sample.
        """
        c = self.config
        dev = text_hidden.device
        text_lens = [int(n) for n in text_lens]
        speech_lens = [int(n) for n in speech_lens]
        B = text_hidden.shape[0]
        if len(text_lens) != B or len(speech_lens) != B or speech_tokens.shape[0] != B:
            raise ValueError("text_hidden, text_lens, speech_tokens and speech_lens disagree on batch size")
        if min(text_lens) < 1:
            raise ValueError("every sample needs at least one text hidden state")
        streaming = resolve_streaming_flags(mask_mode, B, rng)

        # Text part: pre-net (causal), then BOS in front.
        x_text, token_rows = self.text_inputs(text_hidden[:, : max(text_lens)], text_lens)
        row_lens = token_rows.sum(1).tolist()
        R = x_text.shape[1]
        pos_text = torch.arange(R, device=dev)[None].expand(B, R)
        pre = self.prenet(x_text, pos_text, causal_mask(row_lens, R).to(dev))
        bos = self.embedding(torch.full((B, 1), c.bos_id, device=dev))
        text = torch.cat([bos, pre], dim=1)
        t_lens = [n + 1 for n in text_lens]  # text tokens, BOS included
        # text positions holding the first k text tokens (BOS included), k = 0 .. t_lens
        head = torch.tensor([0, 1])
        cum_rows = [torch.cat([head, 1 + token_rows[b, :n].cpu().cumsum(0)]) for b, n in enumerate(text_lens)]
        Tp = R + 1

        s_in, s_out, s_rows = self._speech_io(speech_tokens, speech_lens)
        if self.training and c.unit_noise:
            s_in = self._corrupt_units(s_in)
        if c.variant == "group":
            s_in_x = self.group_embedding(s_in)
        else:
            s_in_x = self.embedding(s_in)
        Sp = s_in_x.shape[1]
        x = torch.cat([text, s_in_x], dim=1)
        positions = self._positions([int(cr[-1]) for cr in cum_rows], Tp, Sp, dev)  # text positions, BOS included
        rope = self.rope(positions, x.dtype)

        stride = c.group_size if c.variant == "group" else 1

        def mask_for(j: int) -> torch.Tensor:
            # Module j: j fewer valid rows, each seeing the text of base row + j.
            shift = j + stride - 1
            ms = [
                sample_mask(tl, max(r - j, 0), st, c.txt_token_num, c.speech_token_num, shift, stride, Tp, Sp, cr)
                for tl, r, st, cr in zip(t_lens, s_rows, streaming, cum_rows)
            ]
            return torch.stack(ms)[:, None].to(dev)

        h = self.run_module(0, x, rope, mask_for(0))
        logits = [self.head_logits(0, h[:, Tp:])]
        targets = [s_out]
        h0 = h
        for j in range(1, self.num_extra_heads + 1):
            tgt = F.pad(s_out[:, j:], (0, j), value=c.pad_id)
            if self.has_mtp_modules:
                nxt = F.pad(s_in[:, j:], (0, j), value=c.pad_id)
                nxt = torch.cat([torch.full((B, Tp), c.pad_id, device=dev), nxt], dim=1)
                h = self.run_module(j, self.module_input(j, h, nxt), rope, mask_for(j))
                logits.append(self.head_logits(j, h[:, Tp:]))
            else:
                logits.append(self.head_logits(j, h0[:, Tp:], h0[:, Tp:]))
            targets.append(tgt)
        return self._loss(logits, targets, streaming)

    def _speech_io(
        self, speech_tokens: torch.Tensor, speech_lens: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Inputs [SOS, u..], targets [u.., EOS] (PAD-filled) and valid row counts."""
        c = self.config
        B, dev = speech_tokens.shape[0], speech_tokens.device
        N = max(speech_lens) if speech_lens else 0
        units = torch.full((B, N), c.pad_id, dtype=torch.long, device=dev)
        for i, n in enumerate(speech_lens):
            if n > speech_tokens.shape[1]:
                raise ValueError(f"speech_lens[{i}]={n} exceeds the token tensor length {speech_tokens.shape[1]}")
            units[i, :n] = speech_tokens[i, :n]
        valid = units[units != c.pad_id]
        if valid.numel() and (valid.min() < 0 or valid.max() >= c.unit_vocab_size):
            raise ValueError(f"speech tokens must lie in [0, {c.unit_vocab_size}), got {valid.min()}..{valid.max()}")
        s_in = torch.cat([torch.full((B, 1), c.sos_id, device=dev), units], dim=1)
        s_out = torch.cat([units, torch.full((B, 1), c.pad_id, device=dev)], dim=1)
        s_out[torch.arange(B, device=dev), torch.tensor(speech_lens, device=dev)] = c.eos_id
        if c.variant != "group":
            return s_in, s_out, [n + 1 for n in speech_lens]
        g = c.group_size
        rows = [-(-(n + 1) // g) for n in speech_lens]
        Q = max(rows)
        # Row q's input is the group of units u_{g(q-1)+1..gq} (SOS alone for q=0); its targets are
        # S_out[gq : gq+g].
        s_out = F.pad(s_out, (0, Q * g - s_out.shape[1]), value=c.pad_id)[:, : Q * g].view(B, Q, g)
        grp = F.pad(units, (0, max(0, (Q - 1) * g - N)), value=c.pad_id)[:, : (Q - 1) * g].view(B, Q - 1, g)
        sos = torch.full((B, 1, g), c.pad_id, dtype=torch.long, device=dev)
        sos[:, 0, 0] = c.sos_id
        return torch.cat([sos, grp], dim=1), s_out, rows

    def _corrupt_units(self, s_in: torch.Tensor) -> torch.Tensor:
        """Replace each input unit (not SOS or PAD) by a random unit with probability `unit_noise`."""
        c = self.config
        hit = (torch.rand(s_in.shape, device=s_in.device) < c.unit_noise) & (s_in < c.unit_vocab_size)
        noise = torch.randint(0, c.unit_vocab_size, s_in.shape, device=s_in.device)
        return torch.where(hit, noise, s_in)

    def _positions(self, t_lens: list[int], Tp: int, Sp: int, dev: torch.device) -> torch.Tensor:
        """Per-sample position ids: text 0..L; speech after the sample's own text (concat) or from 0."""
        pos = []
        for tl in t_lens:
            off = tl if self.config.position_layout == "concat" else 0
            pos.append(torch.cat([torch.arange(Tp), off + torch.arange(Sp)]))
        return torch.stack(pos).to(dev)

    def _loss(self, logits: list[torch.Tensor], targets: list[torch.Tensor], streaming: list[bool]) -> GeneratorOutput:
        c = self.config
        B = targets[0].shape[0]
        head_losses, sums, counts = [], [], []
        sample_losses = torch.zeros(B, device=targets[0].device)
        total = logits[0].new_zeros(())
        for j, (lg, tg) in enumerate(zip(logits, targets)):
            ce = F.cross_entropy(lg.reshape(-1, c.vocab_size).float(), tg.reshape(-1), ignore_index=c.pad_id,
                                 reduction="none").view(B, -1)
            valid = (tg != c.pad_id).view(B, -1).float()
            sums.append(ce.sum())
            counts.append(valid.sum())
            head = sums[-1] / counts[-1].clamp(min=1)
            per_sample = ce.sum(1) / valid.sum(1).clamp(min=1)
            w = c.mtp_loss_decay ** j
            total = total + w * head
            sample_losses = sample_losses + w * per_sample
            head_losses.append(head.detach())
        return GeneratorOutput(total, head_losses, sample_losses.detach(), logits, streaming, sums, counts)
