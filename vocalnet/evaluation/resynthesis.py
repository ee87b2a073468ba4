"""`vocalnet eval resynth`: audio -> units -> vocoder -> audio on held-out answers (issue 3's measure).

Per utterance: ASR WER of the original piper audio and of the resynthesis (whole and streamed, both
against the answer text), DNSMOS OVRL of all three, and the streaming vocoder's real-time factor.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..audio.io import load_audio, resample
from ..data.manifest import entry_file, gpt_answer, read_entries
from .text_norm import word_errors


@dataclass
class ResynthReport:
    n: int
    wer_original: float
    wer_resynth: float
    wer_stream: float
    ovrl_original: float
    ovrl_resynth: float
    ovrl_stream: float
    stream_rtf: float
    whole_rtf: float

    def table(self) -> str:
        return (f"{self.n} utterances\n"
                f"{'':14}{'WER %':>8}{'DNSMOS OVRL':>13}\n"
                f"{'original':14}{100 * self.wer_original:>8.2f}{self.ovrl_original:>13.3f}\n"
                f"{'resynth':14}{100 * self.wer_resynth:>8.2f}{self.ovrl_resynth:>13.3f}\n"
                f"{'resynth-15ch':14}{100 * self.wer_stream:>8.2f}{self.ovrl_stream:>13.3f}\n"
                f"vocoder RTF: whole {self.whole_rtf:.3f}, streaming (15-unit chunks) {self.stream_rtf:.3f}")


def evaluate_resynthesis(manifest: Path, tokenizer_dir: Path, vocoder_dir: Path, limit: int = 30,
                         chunk: int = 15) -> ResynthReport:
    from ..tokenizer.speech_tokenizer import SpeechTokenizer
    from ..vocoder.vocoder import StreamingVocoder, Vocoder
    from .asr import AsrJudge
    from .mos import MosJudge

    entries = read_entries(manifest, limit, require=("answer_audio",))
    tok, voc = SpeechTokenizer.load(tokenizer_dir), Vocoder.load(vocoder_dir)
    asr, mos = AsrJudge(), MosJudge()
    sums = {k: [0, 0] for k in ("original", "resynth", "stream")}
    ovrl = {k: [] for k in sums}
    t_whole = t_stream = seconds = 0.0
    for e in tqdm(entries, desc="resynthesis", unit="utt"):
        text = gpt_answer(e) or ""
        original = load_audio(entry_file(manifest, e, "answer_audio"))
        units = tok.encode(original)
        t0 = time.perf_counter()
        whole = voc.decode(units)
        t1 = time.perf_counter()
        sv = StreamingVocoder(voc, chunk)
        parts = [c for i in range(0, len(units), chunk) for c in sv.push(units[i : i + chunk].tolist())]
        stream = np.concatenate(parts + [sv.finish()])
        t2 = time.perf_counter()
        t_whole, t_stream = t_whole + t1 - t0, t_stream + t2 - t1
        seconds += len(whole) / voc.sample_rate
        for name, wav in (("original", original), ("resynth", resample(whole, voc.sample_rate, 16000)),
                          ("stream", resample(stream, voc.sample_rate, 16000))):
            errs = word_errors(text, asr.transcribe(wav))
            sums[name][0] += errs.edits
            sums[name][1] += errs.ref_len
            ovrl[name].append(mos.score(wav)["ovrl"])
    wer = {k: e / max(r, 1) for k, (e, r) in sums.items()}
    m = {k: float(np.mean(v)) for k, v in ovrl.items()}
    return ResynthReport(len(entries), wer["original"], wer["resynth"], wer["stream"], m["original"], m["resynth"],
                         m["stream"], t_stream / seconds, t_whole / seconds)


def report_json(report: ResynthReport) -> str:
    return json.dumps(asdict(report), indent=1)
