"""`VocalNet`: the voice assistant API — spoken (or typed) question in, text + streamed speech out.

    vn = VocalNet.from_pretrained()            # the shipped vocalnet-smol, or a folder
    reply = vn.chat("question.wav")            # Reply(text, audio, sample_rate, metrics)
    for event in vn.stream("question.wav"):    # TextPiece / AudioChunk as soon as they exist
        ...

Streaming follows the spec's data flow: the LLM decodes greedily with a KV cache; each answer
token's final hidden state goes to the speech generator as soon as the next token shows it is not
the last one (the last is replaced by the end-of-turn embedding); the generator emits units on the
C_t -> C_s schedule; the streaming vocoder turns them into audio chunks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from transformers import DynamicCache

from .audio.features import LogMel
from .audio.io import load_audio, prepare_audio
from .decoding.engine import DecodeResult, SpeechDecoder
from .decoding.optimize import for_inference, prompt_reader
from .decoding.sampling import DecodingOptions
from .llm.answer_rules import AnswerRules
from .modeling import VocalNetModel
from .models import DEFAULT_MODEL, DEFAULT_VOCODER
from .vocoder.vocoder import StreamingVocoder, Vocoder

MAX_QUERY_SECONDS = 30.0


def playback_stall(arrivals: list[tuple[float, float]]) -> float:
    """Seconds a player that starts with the first chunk would wait for audio. `arrivals`: (arrival
    time, seconds of audio) per chunk, in order; a chunk plays when the ones before it have played,
    or when it arrives, whichever is later."""
    stall, clock = 0.0, None
    for t, seconds in arrivals:
        if clock is not None and t > clock:
            stall += t - clock
        clock = (t if clock is None else max(clock, t)) + seconds
    return stall


@dataclass
class TextPiece:
    text: str


@dataclass
class AudioChunk:
    audio: np.ndarray
    sample_rate: int


@dataclass
class Reply:
    text: str
    audio: np.ndarray
    sample_rate: int
    units: list[int]
    metrics: dict[str, float] = field(default_factory=dict)
    generator_input: torch.Tensor | None = None  # (1, n, width): the text rows the speech generator read


class VocalNet:
    """The assistant: LoRA merged into the LLM; LLM and generator in `precision` (int8 dynamic
    quantisation by default, several times faster on CPU); `mtp` speech tokens per step - 1.
    The prompt is read with fp32 MLP down projections (see `prompt_reader`); answer tokens, one row
    at a time, by the int8 LLM on the same KV cache, greedily under `answer_rules` (default: at most
    two sentences, no repeated 4-grams). `speech_decoding` picks the speech tokens (default: greedy, no
    repetition penalty); its `mtp` is replaced by `mtp`."""

    def __init__(self, model: VocalNetModel, vocoder: Vocoder, mtp: int | None = None, precision: str = "int8",
                 vocoder_context: tuple[int, int] | None = None, answer_rules: AnswerRules | None = None,
                 speech_decoding: DecodingOptions | None = None) -> None:
        gen = model.config.generator
        if vocoder.vocab_size != gen.unit_vocab_size:
            raise ValueError(f"the vocoder reads {vocoder.vocab_size} units but the speech generator writes "
                             f"{gen.unit_vocab_size}: they come from different tokenizers")
        model.merge_lora()
        fp32_decoder = model.llm.get_decoder()
        model.llm = for_inference(model.llm, precision)
        self._prompt_reader = prompt_reader(fp32_decoder, model.llm.get_decoder())
        self.model = model.eval()
        self.generator = for_inference(model.speech_generator, precision)
        self.vocoder = vocoder
        self.logmel = LogMel(model.config.speech_encoder, model.speech_encoder.num_mel_bins)
        self.mtp = (gen.mtp_num if gen.default_mtp is None else gen.default_mtp) if mtp is None else mtp
        self.vocoder_context = vocoder_context
        self.answer_rules = answer_rules or AnswerRules()
        self.speech_decoding = speech_decoding or DecodingOptions()
        self._speech_decoder()  # bad settings (or an mtp the generator lacks) fail here, not mid-answer
        if model.tokenizer is None:
            raise ValueError("the model folder has no tokenizer for its LLM")
        if gen.phoneme_slots:
            model.phonemizer.word_ids("ready")  # espeak-ng starts (~1 s) here, not inside the first answer

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, **kw) -> "VocalNet":
        """A vocalnet model folder (default: the shipped vocalnet-smol). Its `vocoder/` subfolder
        renders the speech; a folder without one (e.g. a training export) uses the shipped vocoder."""
        path = Path(path) if path else DEFAULT_MODEL
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no VocalNet model at {path}")
        vocoder = path / "vocoder" if (path / "vocoder").is_dir() else DEFAULT_VOCODER
        return cls(VocalNetModel.from_pretrained(path), Vocoder.load(vocoder), **kw)

    # ---- inputs -------------------------------------------------------------------------------------------
    def _query_embeds(self, query: str | Path | np.ndarray | None, text: str | None, sr: int) -> torch.Tensor:
        m = self.model
        embed = m.llm.get_input_embeddings()
        if text is not None:
            if not text.strip():
                raise ValueError("the typed question is empty")
            from .llm.backbone import build_prompt

            p = build_prompt(m.tokenizer, m.config.system_prompt, text.strip())
            return embed(torch.tensor([p.before]))
        if query is None:
            raise ValueError("give a spoken question (path or array) or text=")
        if isinstance(query, np.ndarray):
            wav = prepare_audio(query, sr, max_seconds=MAX_QUERY_SECONDS, name="query audio")
        else:
            wav = load_audio(query, max_seconds=MAX_QUERY_SECONDS)
        mel = self.logmel(wav)[None]
        speech, lens = m.encode_speech(mel, torch.tensor([mel.shape[-1]]))
        p = m.prompt
        return torch.cat([embed(torch.tensor([p.before])), speech[:, : int(lens[0])], embed(torch.tensor([p.after]))], 1)

    # ---- streaming ----------------------------------------------------------------------------------------
    @torch.inference_mode()
    def stream(self, query: str | Path | np.ndarray | None = None, text: str | None = None, sample_rate: int = 16000,
               max_new_tokens: int = 64, stats: dict | None = None, speech: bool = True) -> Iterator[TextPiece | AudioChunk]:
        """Yield text pieces and audio chunks as soon as they are ready. `stats` (a dict) receives
        first_packet_s, total_s, audio_s, rtf, speech_tokens, tokens_per_s (speech tokens per second of
        speech-generator time), stall_s (`playback_stall`), units and generator_input (the text rows the
        generator read, for `decode_whole`). speech=False: text only."""
        t0 = time.perf_counter()
        m, tok = self.model, self.model.tokenizer
        eot = m.eot_id
        dec = self._speech_decoder()
        ctx = self.vocoder_context
        sv = StreamingVocoder(self.vocoder, left_context=ctx[0], right_context=ctx[1]) if ctx else StreamingVocoder(self.vocoder)
        stats = stats if stats is not None else {}
        first_audio: float | None = None
        gen_time = 0.0
        audio_samples = 0
        arrivals: list[tuple[float, float]] = []  # (time, seconds of audio) per chunk

        def arrived(chunk: np.ndarray) -> AudioChunk:
            nonlocal first_audio, audio_samples
            now = time.perf_counter()
            first_audio = first_audio or now
            audio_samples += len(chunk)
            arrivals.append((now, len(chunk) / self.vocoder.sample_rate))
            return AudioChunk(chunk, self.vocoder.sample_rate)

        def emit_units(units: list[int]) -> Iterator[AudioChunk]:
            for chunk in sv.push(units):
                yield arrived(chunk)

        cache = DynamicCache()
        base, head = m.llm.get_decoder(), m.llm.get_output_embeddings()
        hidden = self._prompt_reader(inputs_embeds=self._query_embeds(query, text, sample_rate), cache=cache,
                                     use_cache=True).last_hidden_state
        answer: list[int] = []
        limiter = self.answer_rules.processor(tok, eot)
        shown = ""
        pending_hidden: torch.Tensor | None = None
        rows: list[torch.Tensor] = []  # the generator's text input, row by row
        for _ in range(max_new_tokens):
            nxt = int(limiter(torch.tensor([answer], dtype=torch.long), head(hidden[:, -1])).argmax())
            if pending_hidden is not None and speech:  # the previous token's hidden: now known not to be the last
                row = self._text_input(pending_hidden, answer, nxt) if nxt != eot else self._eot_input(answer)
                rows.append(row)
                tg = time.perf_counter()  # tokens/s times the speech generator alone, not its input's features
                units = dec.push_text(row)
                gen_time += time.perf_counter() - tg
                yield from emit_units(units)
            if nxt == eot:
                break
            answer.append(nxt)
            text_now = tok.decode(answer, skip_special_tokens=True)
            if len(text_now) > len(shown) and not text_now.endswith("\ufffd"):  # not inside a UTF-8 character
                yield TextPiece(text_now[len(shown):])
                shown = text_now
            hidden = base(input_ids=torch.tensor([[nxt]]), cache=cache, use_cache=True).last_hidden_state
            pending_hidden = hidden
        else:
            if pending_hidden is not None and speech:  # length limit: close the text with the end-of-turn embedding
                rows.append(self._eot_input(answer))
                dec.push_text(rows[-1])
        if not speech:
            return
        tg = time.perf_counter()
        units = dec.finish()
        gen_time += time.perf_counter() - tg
        yield from emit_units(units)
        tail = sv.finish()
        if len(tail):
            yield arrived(tail)
        total = time.perf_counter() - t0
        audio_s = audio_samples / self.vocoder.sample_rate
        stats.update(first_packet_s=(first_audio or time.perf_counter()) - t0, total_s=total, audio_s=audio_s,
                     rtf=total / audio_s if audio_s else float("nan"), speech_tokens=len(dec.tokens),
                     tokens_per_s=len(dec.tokens) / gen_time if gen_time else float("nan"),
                     ended_with_eos=float(dec.ended_with_eos), units=list(dec.tokens), stall_s=playback_stall(arrivals),
                     generator_input=torch.cat(rows, 1) if rows else None)

    @torch.inference_mode()
    def decode_whole(self, generator_input: torch.Tensor) -> DecodeResult:
        """Speech tokens for an answer whose text is known in full (a `Reply.generator_input`): all of it
        goes to a fresh decoder at once, each speech row seeing the text the streaming schedule gives it,
        so MTP runs without per-chunk calls. With NTP the tokens are the streamed ones (up to int8
        activation scales); with MTP they part once a chunk end has cut a streamed step short, since the
        steps then fall elsewhere and other heads predict the same positions."""
        dec = self._speech_decoder()
        dec.push_text(generator_input, final=True)
        return dec.result()

    def _speech_decoder(self) -> SpeechDecoder:
        """A fresh decoder for one answer: `speech_decoding` at the current `mtp`."""
        return SpeechDecoder(self.generator, replace(self.speech_decoding, mtp=self.mtp))

    def _text_input(self, hidden: torch.Tensor, answer: list[int], nxt: int) -> torch.Tensor:
        """The generator input (1, 1, width) of the answer's newest token, from its hidden state
        (1, 1, D); `nxt`, the token after it, tells whether it completes a word."""
        return self.model.generator_rows(hidden[0], answer + [nxt], first=len(answer) - 1, final=False)[None]

    def _eot_input(self, answer: list[int]) -> torch.Tensor:
        """The closing generator input: the end-of-turn embedding in place of the last hidden state."""
        return self.model.generator_rows(self.model.eot_embedding(), answer, first=len(answer) - 1, final=True)[None]

    # ---- whole reply --------------------------------------------------------------------------------------
    def chat(self, query: str | Path | np.ndarray | None = None, text: str | None = None, sample_rate: int = 16000,
             max_new_tokens: int = 64) -> Reply:
        """Answer one question: text and the whole spoken answer (streaming path, collected)."""
        stats: dict = {}
        pieces, audio = [], []
        for ev in self.stream(query, text, sample_rate, max_new_tokens, stats):
            (pieces if isinstance(ev, TextPiece) else audio).append(ev.text if isinstance(ev, TextPiece) else ev.audio)
        wav = np.concatenate(audio) if audio else np.zeros(0, dtype=np.float32)
        units, rows = stats.pop("units"), stats.pop("generator_input")
        return Reply("".join(pieces).strip(), wav, self.vocoder.sample_rate, units, stats, rows)
