"""Step-by-step speech decoding with KV caches: NTP, MTP (m extra tokens per step) and streaming.

`SpeechDecoder` keeps one streaming state for a segment: KV caches for the pre-net, the decoder and
every MTP module in use, the text seen so far and the tokens emitted. Text hidden states arrive with
`push_text` (streaming: causal text, as in the streaming training mask) or all at once with
`generate` (non-streaming: bidirectional text). Tokens are emitted as soon as the schedule of
`vocalnet.generator.masks.text_visibility` allows: token u_k needs the text that speech row k-1 sees.
Streamed text is buffered until it lets the next speech row start, then runs through the pre-net in
one call per layer: the C_t-token text chunks of the schedule, not one call per token. The decoder
and the MTP modules take a chunk's text rows in the same layer call as their next speech row (at
batch size 1 a call's fixed cost outweighs its arithmetic, and MTP runs more modules per chunk).

Module j (0 = decoder, j >= 1 = MTP module j) processes speech rows lazily: row r runs once its input
exists and the text that base row r + j sees has arrived. Every module therefore computes exactly the
rows of the teacher-forced forward under the matching mask, which the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..generator.layers import KVCache
from ..generator.masks import text_visibility
from ..generator.speech_generator import SpeechGenerator
from .sampling import DecodingOptions, ForcedSampler, RepetitionPenalty, Sampler


@dataclass
class DecodeResult:
    """Tokens of one segment (EOS excluded) and how decoding went."""

    tokens: list[int]
    steps: int
    ended_with_eos: bool
    truncated: bool
    trace: dict[int, dict[int, torch.Tensor]] = field(default_factory=dict)


class SpeechDecoder:
    """Incremental speech-token decoder over a `SpeechGenerator` (batch size 1)."""

    def __init__(
        self,
        generator: SpeechGenerator,
        options: DecodingOptions | None = None,
        sampler: Sampler | None = None,
        trace: bool = False,
    ) -> None:
        self.g = generator
        self.cfg = generator.config
        self.opts = options or DecodingOptions()
        m = self.opts.mtp
        if m < 0 or m > generator.num_extra_heads:
            raise ValueError(
                f"mtp={m} extra tokens per step, but this model has {generator.num_extra_heads} extra heads"
            )
        self.m = m
        self.n_modules = m if generator.has_mtp_modules else 0
        self.stride = self.cfg.group_size if self.cfg.variant == "group" else 1
        self.sampler = sampler or self.opts.make_sampler()
        self.penalty = RepetitionPenalty(self.opts.repetition_penalty, self.opts.repetition_window)
        self.max_tokens = self.opts.max_tokens or self.cfg.max_speech_tokens
        c = self.cfg
        if not 0 < self.max_tokens <= c.max_position_embeddings:
            raise ValueError(f"max_tokens must be in 1..{c.max_position_embeddings} (the generator's positions), "
                             f"got {self.max_tokens}")
        self.tracing = trace
        rows = torch.arange(self.max_tokens + self.m + 2 * self.stride + 2)
        # streaming schedule as plain ints: text tokens (BOS included) each base speech row sees
        self._streaming_vis: list[int] = text_visibility(rows, None, True, c.txt_token_num, c.speech_token_num).tolist()
        # added to every head's logits: only units and EOS can be emitted
        self._suppress = torch.full((c.vocab_size,), float("-inf"), device=generator.embedding.weight.device)
        self._suppress[: c.unit_vocab_size] = 0.0
        self._suppress[c.eos_id] = 0.0
        self.reset()

    # ---- state -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget everything: start a new segment."""
        self.prenet_caches = [KVCache() for _ in self.g.encode_layers]
        self.caches = [[KVCache() for _ in self.g.module_layers(j)] for j in range(self.n_modules + 1)]
        self.prenet_len = 0
        self.text_len = 0  # text positions in the decoder, BOS included
        self.token_rows = [0]  # token_rows[k]: text positions holding the first k text tokens (BOS included)
        self.text_final = False
        self.bidirectional_text = False
        self.text_buffer: list[torch.Tensor] = []  # streamed text hidden states not yet run
        self.text_pending: list[torch.Tensor | None] = [None] * (self.n_modules + 1)  # module inputs, not yet run
        self.tokens: list[int] = []
        self.rows_done = [0] * (self.n_modules + 1)
        self.pending: list[torch.Tensor | None] = [None] * (self.n_modules + 1)
        self.speech_offset: int | None = None
        self._rope_table: tuple[torch.Tensor, torch.Tensor] | None = None
        self._mask_memo: tuple[tuple, torch.Tensor | None] | None = None
        self.steps = 0
        self.ended_with_eos = False
        self.truncated = False
        self.trace: dict[int, dict[int, torch.Tensor]] = {}

    @property
    def finished(self) -> bool:
        return self.ended_with_eos or self.truncated

    def result(self) -> DecodeResult:
        return DecodeResult(list(self.tokens), self.steps, self.ended_with_eos, self.truncated, self.trace)

    # ---- text side ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def push_text(self, text_hidden: torch.Tensor, final: bool = False) -> list[int]:
        """Feed new LLM hidden states (1, n, D) under the streaming schedule; returns the new tokens.

        `final=True` marks the end of the answer text: decoding then runs to EOS.
        """
        if self.text_final:
            raise RuntimeError("text was already finalised for this segment; call reset() first")
        if text_hidden.numel():
            self._check_text(text_hidden)
            self.text_buffer.append(text_hidden)
        if final:
            return self.finish()
        if self.finished or not self._buffer_unblocks():
            return []
        self._flush_text()
        return self._advance()

    @torch.inference_mode()
    def finish(self) -> list[int]:
        """End of the answer text: emit the remaining tokens up to EOS (or the length guard)."""
        self._flush_text()
        self.text_final = True
        return self._advance()

    def _buffer_unblocks(self) -> bool:
        """Whether the buffered text completes what the next speech row must see."""
        buffered = sum(t.shape[1] for t in self.text_buffer) + (0 if self.text_len else 1)  # + BOS
        return self.text_tokens + buffered >= self._text_needed(len(self.tokens) + self.stride - 1)

    def _flush_text(self) -> None:
        if self.text_buffer:
            text, self.text_buffer = torch.cat(self.text_buffer, dim=1), []
            self._add_text(text, bidirectional=False)

    @torch.inference_mode()
    def generate(self, text_hidden: torch.Tensor) -> DecodeResult:
        """Non-streaming decoding: the whole text at once (bidirectional), then tokens to EOS."""
        if self.text_len or self.tokens:
            self.reset()
        self._add_text(text_hidden, bidirectional=True)
        self.text_final = True
        self._advance()
        return self.result()

    def _check_text(self, text_hidden: torch.Tensor) -> None:
        if text_hidden.dim() != 3 or text_hidden.shape[0] != 1:
            raise ValueError(f"text hidden states must be (1, n, D), got {tuple(text_hidden.shape)}")
        if text_hidden.shape[-1] != self.cfg.text_input_size:
            raise ValueError(f"text input width {text_hidden.shape[-1]} != the generator's text_input_size "
                             f"{self.cfg.text_input_size} (llm_hidden_size + text_embed_size)")
        if self.rows_done[0] and self.cfg.position_layout == "concat" and self.bidirectional_text:
            raise RuntimeError("cannot add text after speech decoding started in non-streaming mode")

    def _add_text(self, text_hidden: torch.Tensor, bidirectional: bool) -> None:
        """Run the pre-net over new text; the decoder takes its rows with its next speech row."""
        self._check_text(text_hidden)
        g = self.g
        dev = text_hidden.device
        x, rows = g.text_inputs(text_hidden, [text_hidden.shape[1]])
        n = x.shape[1]
        pos = torch.arange(self.prenet_len, self.prenet_len + n, device=dev)[None]
        mask = self._text_mask(self.prenet_len, n, 0, causal=True, device=dev)
        x = g.prenet(x, pos, mask, self.prenet_caches)
        self.prenet_len += n
        if self.text_len == 0:
            x = torch.cat([g.embedding(torch.tensor([[self.cfg.bos_id]], device=dev)), x], dim=1)
            self.token_rows.append(1)
        for k in rows[0].tolist():
            self.token_rows.append(self.token_rows[-1] + k)
        self._queue_text(0, x)
        self.text_len += x.shape[1]
        self.bidirectional_text = bidirectional

    def _queue_text(self, j: int, x: torch.Tensor) -> None:
        """Text rows (1, k, H) waiting to run through module j (as its input)."""
        if j:
            x = self.g.module_input(j, x, torch.full(x.shape[:2], self.cfg.pad_id, device=x.device))
        p = self.text_pending[j]
        self.text_pending[j] = x if p is None else torch.cat([p, x], dim=1)

    @staticmethod
    def _text_mask(past: int, new: int, speech_keys: int, causal: bool, device: torch.device) -> torch.Tensor:
        """Text rows see text keys (causally or all of them), never speech keys."""
        keys = torch.arange(past + new, device=device)
        rows = torch.arange(past, past + new, device=device)
        text = keys[None, :] <= rows[:, None] if causal else torch.ones(new, past + new, dtype=torch.bool, device=device)
        speech = torch.zeros(new, speech_keys, dtype=torch.bool, device=device)
        return torch.cat([text, speech], dim=1)[None, None]

    # ---- speech side -------------------------------------------------------------------------------
    @property
    def text_tokens(self) -> int:
        """Text tokens in the decoder, BOS included (each may span several positions: phoneme rows)."""
        return len(self.token_rows) - 1

    def _visible(self, base_row: int) -> int:
        """Text positions base speech row `base_row` attends to (never more than have arrived)."""
        if self.bidirectional_text:
            return self.text_len
        return self.token_rows[min(self._text_needed(base_row), self.text_tokens)]

    def _allowed(self, base_row: int) -> bool:
        """Whether the text that base speech row `base_row` sees has arrived."""
        return self.text_final or self._text_needed(base_row) <= self.text_tokens

    def _text_needed(self, base_row: int) -> int:
        """Text tokens (BOS included) that base speech row `base_row` sees in streaming."""
        return self._streaming_vis[base_row]

    def _row_inputs(self, j: int, r0: int, r1: int, dev: torch.device) -> torch.Tensor:
        g, c = self.g, self.cfg
        if j > 0:
            h_prev, rest = self.pending[j][:, : r1 - r0], self.pending[j][:, r1 - r0 :]
            self.pending[j] = rest if rest.shape[1] else None
            if c.variant != "deepseek_mtp":
                return h_prev
            nxt = [self._input_token(r + j) for r in range(r0, r1)]
            return g.module_input(j, h_prev, torch.tensor([nxt], device=dev))
        if c.variant == "group":
            s = self.stride
            groups = [[c.sos_id] + [c.pad_id] * (s - 1) if r == 0 else self.tokens[(r - 1) * s : r * s] for r in range(r0, r1)]
            return g.group_embedding(torch.tensor([groups], device=dev))
        return g.embedding(torch.tensor([[self._input_token(r) for r in range(r0, r1)]], device=dev))

    def _input_token(self, row: int) -> int:
        """Speech input of a row: SOS for row 0, else the unit emitted before it (PAD past the end)."""
        if row == 0:
            return self.cfg.sos_id
        return self.tokens[row - 1] if row - 1 < len(self.tokens) else self.cfg.pad_id

    def _process(self, j: int, upto: int, dev: torch.device) -> torch.Tensor:
        """Run module j over its pending speech rows [rows_done[j], upto), after its pending text rows in
        the same call; returns the speech rows' outputs (the last module in use: the newest row's only,
        unless tracing)."""
        g = self.g
        r0 = self.rows_done[j]
        if self.speech_offset is None:
            self.speech_offset = self.text_len if self.cfg.position_layout == "concat" else 0
        x = self._row_inputs(j, r0, upto, dev)
        cos, sin = self._speech_rope(dev, x.dtype)
        rope, mask = (cos[:, r0:upto], sin[:, r0:upto]), self._speech_mask(j, r0, upto, dev)
        text, nt = self.text_pending[j], 0
        if text is not None:  # the text rows come first: they see text only, never speech
            nt, self.text_pending[j] = text.shape[1], None
            past = self.caches[j][0].length("text")  # text positions already in the module's cache
            t_cos, t_sin = g.rope(torch.arange(past, past + nt, device=dev)[None], x.dtype)
            x, rope = torch.cat([text, x], 1), (torch.cat([t_cos, rope[0]], 1), torch.cat([t_sin, rope[1]], 1))
            mask = self._merged_mask(j, past, nt, mask, upto, dev)
        last_only = j == self.n_modules and not self.tracing  # only the newest row feeds a head
        h = g.run_module(j, x, rope, mask, self.caches[j], nt if nt else "speech", 1 if last_only else None)
        if nt and not last_only:  # (the last module in use outputs its newest speech row only)
            if j < self.n_modules:
                self._queue_text(j + 1, h[:, :nt])
            h = h[:, nt:]
        self.rows_done[j] = upto
        if j < self.n_modules:
            self.pending[j + 1] = h if self.pending[j + 1] is None else torch.cat([self.pending[j + 1], h], dim=1)
        if self.tracing:
            self._record(j, r0, h)
        return h

    def _speech_rope(self, dev: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotary tables (cos, sin) of every speech row of the segment, computed once."""
        if self._rope_table is None:
            rows = torch.arange(self.speech_offset, self.speech_offset + len(self._streaming_vis), device=dev)
            self._rope_table = self.g.rope(rows[None], dtype)
        return self._rope_table

    def _merged_mask(self, j: int, past: int, nt: int, speech: torch.Tensor | None, r1: int,
                     dev: torch.device) -> torch.Tensor:
        """Additive mask of [nt new text rows after `past` cached ones, speech rows] over [text, speech]
        keys: text rows see the text before them (all of it when bidirectional), speech rows as
        `_speech_mask` says."""
        dtype = self.g.embedding.weight.dtype
        n_speech = r1 - self.rows_done[j]
        text = _additive(self._text_mask(past, nt, r1, not self.bidirectional_text, dev), dtype)
        if speech is None:
            speech = torch.zeros(1, 1, n_speech, self.text_len + r1, dtype=dtype, device=dev)
        return torch.cat([text, speech], dim=2)

    def _speech_mask(self, j: int, r0: int, r1: int, dev: torch.device) -> torch.Tensor | None:
        """Mask of speech rows [r0, r1) in module j over [text, speech] keys (None: all keys visible).

        Row r sees the text of base row r*stride + stride-1 + j and speech rows <= r. Masks are
        shared between modules whose rows see the same text (always, in non-streaming decoding).
        """
        vis = tuple(self._visible(r * self.stride + self.stride - 1 + j) for r in range(r0, r1))
        key = (r0, r1, vis, self.text_len)
        if self._mask_memo is not None and self._mask_memo[0] == key:
            return self._mask_memo[1]
        dtype = self.g.embedding.weight.dtype
        if r1 - r0 == 1 and vis[0] == self.text_len:
            mask = None
        elif r1 - r0 == 1:  # one row (every decoding step): it sees all speech keys, text up to vis[0]
            mask = torch.zeros(1, 1, 1, self.text_len + r1, dtype=dtype, device=dev)
            mask[..., vis[0] : self.text_len] = float("-inf")
        else:
            rows = torch.arange(r0, r1, device=dev)
            text_keys = torch.arange(self.text_len, device=dev)[None, :] < torch.tensor(vis, device=dev)[:, None]
            speech_keys = torch.arange(r1, device=dev)[None, :] <= rows[:, None]
            mask = _additive(torch.cat([text_keys, speech_keys], dim=1)[None, None], dtype)
        self._mask_memo = (key, mask)
        return mask

    def _record(self, j: int, r0: int, h: torch.Tensor) -> None:
        """Trace mode: keep the logits of every head computed from module j's new rows."""
        heads = [j]
        if j == 0 and self.cfg.variant == "parallel_linear":
            heads += list(range(1, self.m + 1))
        for head in heads:
            logits = self.g.head_logits(head, h, h)
            for i in range(h.shape[1]):
                self.trace.setdefault(head, {})[r0 + i] = logits[0, i].detach().clone()

    def _advance(self) -> list[int]:
        start = len(self.tokens)
        if self.text_len == 0:
            return []
        if self.cfg.variant == "group":
            self._advance_groups()
        else:
            self._advance_mtp()
        return self.tokens[start:]

    def _advance_mtp(self) -> None:
        g = self.g
        dev = self.g.embedding.weight.device
        while not self.finished:
            n = len(self.tokens)
            if not self._allowed(n):
                return
            k = 1  # heads this step: the main one, then each extra one whose text has arrived
            while k <= self.m and self._allowed(n + k):
                k += 1
            h = self._process(0, n + 1, dev)[0, -1:]
            self.steps += 1
            if self.cfg.variant == "deepseek_mtp":  # module j reads the token head j-1 chose: one head at a time
                for j in range(k):
                    if j:
                        h = self._process(j, n + 1, dev)[0, -1:]
                    if not self._emit(g.head_logits(j, h)):
                        return
                continue
            if g.has_mtp_modules:  # module j's input is module j-1's state, not a token: run them all, then
                h = torch.cat([h] + [self._process(j, n + 1, dev)[0, -1:] for j in range(1, k)])
            else:  # parallel heads all read the decoder's state
                h = h.expand(k, -1)
            if not self._emit(g.step_logits(h)):  # every head of the step in one call
                return

    def _advance_groups(self) -> None:
        g, s = self.g, self.stride
        dev = self.g.embedding.weight.device
        while not self.finished:
            q = self.rows_done[0]
            if not self._allowed(q * s + s - 1):
                return
            h = self._process(0, q + 1, dev)
            self.steps += 1
            if not self._emit(g.head_logits(0, h)[0, -1]):  # (g, V): one row per token of the group
                return

    def _emit(self, logits: torch.Tensor) -> bool:
        """Emit one token per row of (k, V) head logits, in order; False once the segment is finished.
        Greedy without a repetition penalty picks every row in one call."""
        logits = logits.float() + self._suppress
        picks = self.sampler.pick_rows(logits) if self.penalty.penalty == 1.0 else None
        if picks is None:  # row by row: each choice sees the tokens accepted before it
            picks = (self.sampler(self.penalty(row, self.tokens), self.tokens) for row in logits)
        return all(self._accept(tok) for tok in picks)

    def _accept(self, tok: int) -> bool:
        c = self.cfg
        if tok == c.eos_id:
            self.ended_with_eos = True
            return False
        if not 0 <= tok < c.unit_vocab_size:
            raise RuntimeError(f"sampler returned token {tok} outside the unit vocabulary")
        self.tokens.append(tok)
        if len(self.tokens) >= self.max_tokens:
            self.truncated = True
            return False
        return True


def _additive(visible: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A boolean attention mask as the float one SDPA adds to its scores (SDPA would convert a
    boolean mask in every layer; this is done once per mask)."""
    return torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill_(~visible, float("-inf"))


def forced_decoder(generator: SpeechGenerator, tokens: list[int], mtp: int = 0) -> SpeechDecoder:
    """A decoder that replays `tokens` (then EOS) and records every head's logits per row."""
    opts = DecodingOptions(mtp=mtp, max_tokens=len(tokens) + 1)
    return SpeechDecoder(generator, opts, ForcedSampler(tokens, generator.config.eos_id), trace=True)
