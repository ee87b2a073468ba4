"""`vocalnet eval run`: the whole assistant on a test manifest, per decoding setting (spec section 8).

Reported per MTP setting m: WER of the spoken answer's ASR transcript against the text answer (and
the same with each answer's errors capped at its word count, so that one looping transcript cannot
outweigh the rest), DNSMOS OVRL, speech tokens per second (streaming, and the same answer's text decoded
whole: `VocalNet.decode_whole`), first-packet latency and RTF. Reported
once (they do not depend on m): s->t accuracy on questions with a reference answer, and t->t
accuracy of the backbone LLM answering the same questions typed (its own accuracy, the ceiling for
s->t), and asr->t, the cascade baseline: the backbone answering the ASR judge's transcript of the spoken
question (Whisper tiny.en, the same encoder size as vocalnet-smol's). All three are also broken down
by query voice, beside the ASR judge's WER on those queries: what Whisper alone makes of each voice.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from tqdm import tqdm

from ..audio.io import SAMPLE_RATE, resample
from ..data.manifest import entry_file, read_entries
from ..decoding.sampling import DecodingOptions
from ..llm.answer_rules import AnswerRules
from .text_norm import ErrorCounts, normalize_text, word_errors


@dataclass
class TestItem:
    id: str
    query: Path
    question: str | None
    reference: str | None
    voice: str = "unknown"


@dataclass
class SettingReport:
    mtp: int
    wer: float
    wer_capped: float  # each answer's errors counted up to its word count (ErrorCounts.capped)
    dnsmos_ovrl: float
    tokens_per_s: float
    speedup: float  # median over answers of tokens/s against the same answer's m = 0 run (nan without m = 0)
    whole_tokens_per_s: float  # the same answer's text decoded whole (`VocalNet.decode_whole`: no per-chunk calls)
    whole_speedup: float
    first_packet_ms: float
    rtf: float
    eos_rate: float
    n: int


class _Outcome(NamedTuple):
    """One graded question: its query voice, the three answers' correctness, the ASR judge's query errors."""
    voice: str
    s2t: bool
    t2t: bool
    asr2t: bool
    query_errors: ErrorCounts


@dataclass
class VoiceReport:
    """Accuracy on one query voice's graded questions, and the ASR judge's WER on those queries."""
    voice: str
    n: int
    s2t_accuracy: float
    t2t_accuracy: float
    asr2t_accuracy: float
    query_wer: float


@dataclass
class SystemReport:
    s2t_accuracy: float | None
    t2t_accuracy: float | None
    accuracy_items: int
    asr2t_accuracy: float | None = None  # cascade: the backbone on the ASR judge's transcript of the query
    settings: list[SettingReport] = field(default_factory=list)
    by_voice: list[VoiceReport] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)  # one record per graded question and per spoken answer
    # what the figures depend on beyond the weights: the int8 LLM's greedy answers change with the thread count
    conditions: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        lines = [", ".join(f"{k} {v}" for k, v in self.conditions.items())] if self.conditions else []
        if self.accuracy_items:
            ratio = self.s2t_accuracy / self.t2t_accuracy if self.t2t_accuracy else float("nan")
            lines.append(f"accuracy on {self.accuracy_items} questions with a reference: s->t {100 * self.s2t_accuracy:.1f}%"
                         f", t->t (backbone, typed) {100 * self.t2t_accuracy:.1f}%, ratio {ratio:.2f}"
                         f"; asr->t (cascade) {100 * self.asr2t_accuracy:.1f}%")
            for v in self.by_voice:
                lines.append(f"  {v.voice:<28} n {v.n:>4}  s->t {100 * v.s2t_accuracy:5.1f}%  t->t {100 * v.t2t_accuracy:5.1f}%"
                             f"  asr->t {100 * v.asr2t_accuracy:5.1f}%  query ASR WER {100 * v.query_wer:5.1f}%")
        if not self.settings:
            return "\n".join(lines)
        lines.append(f"{'m':>2} {'WER %':>7} {'capped':>7} {'DNSMOS':>7} {'tok/s':>7} {'x NTP':>6} {'whole':>7} {'x NTP':>6} "
                     f"{'1st pkt ms':>10} {'RTF':>6} {'EOS %':>6} {'n':>4}")
        for s in self.settings:
            lines.append(f"{s.mtp:>2} {100 * s.wer:>7.2f} {100 * s.wer_capped:>7.2f} {s.dnsmos_ovrl:>7.3f} {s.tokens_per_s:>7.1f} {s.speedup:>6.2f} "
                         f"{s.whole_tokens_per_s:>7.1f} {s.whole_speedup:>6.2f} "
                         f"{s.first_packet_ms:>10.0f} {s.rtf:>6.3f} {100 * s.eos_rate:>6.1f} {s.n:>4}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The summary, with the first graded questions' answers as `examples` (the rest of `details` is
        left to `write_details`)."""
        out = asdict(self)
        graded = [d for d in out.pop("details") if d["kind"] == "accuracy"][:10]
        out["examples"] = [{k: d[k] for k in ("id", "question", "reference", "s2t", "t2t")} for d in graded]
        return out

    def write_details(self, path: Path) -> None:
        """Every graded question (both answers, the ASR judge's transcript of the query) and every spoken
        answer (text, the judge's transcript, its word errors, DNSMOS, speed) as JSON lines."""
        import json

        Path(path).write_text("".join(json.dumps(d) + "\n" for d in self.details))


def load_test_items(manifest: Path, limit: int | None = None) -> list[TestItem]:
    return [TestItem(str(e["id"]), entry_file(manifest, e, "speech"), e.get("question"), e.get("reference"),
                     _voice_name(e.get("query_voice")))
            for e in read_entries(manifest, limit, require=("id", "speech"))]


def _voice_name(voice: dict | None) -> str:
    """engine:voice of a corpus entry's query voice ("unknown" for manifests without one)."""
    if not isinstance(voice, dict):
        return "unknown"
    return f"{voice.get('engine', '?')}:{voice.get('voice', '?')}"


def is_correct(answer: str, reference: str) -> bool:
    """The normalised reference appears as whole words in the normalised answer."""
    return f" {normalize_text(reference)} " in f" {normalize_text(answer)} "


def backbone_answer(llm, tokenizer, system_prompt: str, question: str, max_new_tokens: int = 64,
                    rules: AnswerRules | None = None) -> str:
    """The backbone LLM answering a typed question: greedy, same system prompt and answer rules as the assistant."""
    import torch
    from transformers import LogitsProcessorList

    from ..llm.backbone import end_of_turn_id

    msgs = [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]
    ids = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    eot, prompt_len = end_of_turn_id(tokenizer), ids["input_ids"].shape[1]
    limiter = (rules or AnswerRules()).processor(tokenizer, eot, prompt_len)
    with torch.inference_mode():
        out = llm.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eot,
                           logits_processor=LogitsProcessorList([limiter]))
    return tokenizer.decode(out[0, prompt_len:], skip_special_tokens=True).strip()


def evaluate_system(model_dir: Path | None, manifest: Path, mtp_values: list[int], limit: int | None = None,
                    speech_limit: int | None = 40, precision: str = "int8",
                    answer_rules: AnswerRules | None = None, accuracy: bool = True,
                    speech_decoding: DecodingOptions | None = None) -> SystemReport:
    """Accuracy on `limit` items (unless `accuracy` is False, e.g. to compare speech generators behind
    one stage 1); spoken-answer metrics on the first `speech_limit` items per m, speech tokens picked
    as `speech_decoding` says (default greedy). The assistant's text answers and the typed backbone's
    follow the same `answer_rules`."""
    import torch

    from ..assets import default_asset_paths
    from ..assistant import VocalNet
    from ..llm.backbone import load_llm, load_tokenizer
    from .asr import AsrJudge
    from .mos import MosJudge

    items = load_test_items(manifest, limit)
    vn = VocalNet.from_pretrained(model_dir, precision=precision, answer_rules=answer_rules,
                                  speech_decoding=speech_decoding)
    asr, mos = AsrJudge(), MosJudge()
    graded = [it for it in items if it.reference and it.question] if accuracy else []
    outcomes: list[_Outcome] = []
    if graded:
        base_path = vn.model.config.llm or default_asset_paths().llm
        base_llm, base_tok = load_llm(base_path), load_tokenizer(base_path)
    report = SystemReport(None, None, len(graded), conditions={
        "model": str(model_dir or "vocalnet-smol (shipped)"), "precision": precision,
        "speech decoding": vn.speech_decoding.describe(), "torch threads": torch.get_num_threads(),
        "torch": torch.__version__})
    for it in tqdm(graded, desc="accuracy", unit="q"):
        spoken = _text_only(vn, it.query)
        typed = backbone_answer(base_llm, base_tok, vn.model.config.system_prompt, it.question, rules=vn.answer_rules)
        heard = asr.transcribe(it.query)
        cascade = backbone_answer(base_llm, base_tok, vn.model.config.system_prompt, heard, rules=vn.answer_rules)
        outcomes.append(_Outcome(it.voice, is_correct(spoken, it.reference), is_correct(typed, it.reference),
                                 is_correct(cascade, it.reference), word_errors(it.question, heard)))
        report.details.append({"kind": "accuracy", "id": it.id, "voice": it.voice, "question": it.question,
                               "query_heard": heard, "reference": it.reference, "s2t": spoken, "t2t": typed,
                               "asr2t": cascade, "s2t_correct": outcomes[-1].s2t, "t2t_correct": outcomes[-1].t2t,
                               "asr2t_correct": outcomes[-1].asr2t})
    if graded:
        report.s2t_accuracy = sum(o.s2t for o in outcomes) / len(outcomes)
        report.t2t_accuracy = sum(o.t2t for o in outcomes) / len(outcomes)
        report.asr2t_accuracy = sum(o.asr2t for o in outcomes) / len(outcomes)
        report.by_voice = _by_voice(outcomes)
    speech_items = items if speech_limit is None else items[:speech_limit]  # 0: accuracy only
    # Every timed answer runs before any judge does (nothing the judges do to the process, thread pools
    # or OpenMP state, can touch the timings), and the settings take turns on each question (order
    # reversed every other one), so drifting machine load hits them alike and speed-ups are paired.
    replies: dict[int, list] = {m: [] for m in mtp_values}
    for i, it in enumerate(tqdm(speech_items, desc="spoken answers", unit="q")):
        for m in mtp_values if i % 2 == 0 else mtp_values[::-1]:
            vn.mtp = m
            replies[m].append(_timed_reply(vn, it.query))
    for m in mtp_values if speech_items else []:
        errors = capped = ErrorCounts(0, 0)
        ovrl = []
        for it, reply in zip(speech_items, tqdm(replies[m], desc=f"judge m={m}", unit="q")):
            wav16 = _judgeable(resample(reply.audio, reply.sample_rate, SAMPLE_RATE))
            heard = asr.transcribe(wav16)
            answer_errors = word_errors(reply.text, heard)
            errors += answer_errors
            capped += answer_errors.capped()
            ovrl.append(mos.score(wav16)["ovrl"])
            report.details.append({"kind": "spoken", "id": it.id, "mtp": m, "text": reply.text, "heard": heard,
                                   "word_errors": answer_errors.edits, "words": answer_errors.ref_len,
                                   "dnsmos_ovrl": ovrl[-1], **{k: reply.metrics[k] for k in _SPOKEN_METRICS}})
        report.settings.append(SettingReport(m, errors.rate, capped.rate, float(np.mean(ovrl)),
                                             _median(replies[m], "tokens_per_s"), _paired_speedup(replies, m),
                                             _median(replies[m], "whole_tokens_per_s"),
                                             _paired_speedup(replies, m, "whole_tokens_per_s"),
                                             1000 * _median(replies[m], "first_packet_s"), _median(replies[m], "rtf"),
                                             float(np.mean([r.metrics["ended_with_eos"] for r in replies[m]])),
                                             len(speech_items)))
    return report


_SPOKEN_METRICS = ("speech_tokens", "tokens_per_s", "whole_tokens_per_s", "first_packet_s", "rtf", "ended_with_eos")


def _timed_reply(vn, query: Path):
    """`vn.chat`, plus the speed of decoding the same answer's text whole (`whole_tokens_per_s`)."""
    reply = vn.chat(query)
    speed = float("nan")
    if reply.generator_input is not None:
        t = time.perf_counter()
        n = len(vn.decode_whole(reply.generator_input).tokens)
        speed = n / (time.perf_counter() - t) if n else float("nan")
    reply.metrics["whole_tokens_per_s"] = speed
    return reply


def _by_voice(outcomes: list[_Outcome]) -> list[VoiceReport]:
    """One VoiceReport per query voice, most frequent first."""
    groups: dict[str, list[_Outcome]] = {}
    for o in outcomes:
        groups.setdefault(o.voice, []).append(o)
    return [VoiceReport(v, len(g), sum(o.s2t for o in g) / len(g), sum(o.t2t for o in g) / len(g),
                        sum(o.asr2t for o in g) / len(g), sum((o.query_errors for o in g), ErrorCounts(0, 0)).rate)
            for v, g in sorted(groups.items(), key=lambda kv: -len(kv[1]))]


def _judgeable(wav16: np.ndarray, min_seconds: float = 0.1) -> np.ndarray:
    """A spoken answer padded with silence to the judges' shortest input: a one-unit answer must be
    scored (as the garble it is), not stop the run."""
    return np.pad(wav16, (0, max(0, int(min_seconds * SAMPLE_RATE) - len(wav16))))


def _median(replies: list, key: str) -> float:
    return statistics.median(r.metrics[key] for r in replies)


def _paired_speedup(replies: dict[int, list], m: int, key: str = "tokens_per_s") -> float:
    """Median over questions of setting m's speech tokens/s (`key`) over NTP's (m = 0) on the same question."""
    if 0 not in replies:
        return float("nan")
    return statistics.median(r.metrics[key] / r0.metrics[key] for r, r0 in zip(replies[m], replies[0]))


def _text_only(vn, query: Path) -> str:
    """The s->t answer: the text side of the stream (the speech side is not needed for accuracy)."""
    from ..assistant import TextPiece

    return "".join(ev.text for ev in vn.stream(query, speech=False) if isinstance(ev, TextPiece)).strip()
