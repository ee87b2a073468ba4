"""How a greedy spoken answer ends: at most a few sentences, no repeated n-grams.

A small backbone decoding greedily can loop ("the order of the order of the order ...") until the
token limit. Spoken, such a loop is long and unintelligible, and it is nothing like the one- or
two-sentence answers the speech generator was trained on (`vocalnet data synth` cuts every corpus
answer with `sentence_ends`). `AnswerRules` applies the same two limits while the answer is decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor, NoRepeatNGramLogitsProcessor

_SENTENCE_END = re.compile(r"[.!?]+[\"')]*(?=\s|$)")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "approx", "mt"})


def sentence_ends(text: str) -> list[int]:
    """End offsets of complete sentences (not after abbreviations or single initials like 'J.')."""
    ends = []
    for m in _SENTENCE_END.finditer(text):
        word = text[:m.start()].rsplit(" ", 1)[-1].lower()
        if m.group().startswith(".") and (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
            continue
        ends.append(m.end())
    return ends


@dataclass(frozen=True)
class AnswerRules:
    """Limits on a greedy answer. no_repeat_ngram: no n-gram of answer tokens twice (0: off);
    max_sentences: end of turn once this many sentences are complete (None: no limit)."""

    no_repeat_ngram: int = 4
    max_sentences: int | None = 2

    def __post_init__(self) -> None:
        if self.no_repeat_ngram < 0 or (self.max_sentences is not None and self.max_sentences < 1):
            raise ValueError(f"bad answer rules: {self}")

    def processor(self, tokenizer, eot_id: int, prompt_len: int = 0) -> "AnswerLimiter":
        """A logits processor applying the rules to the ids after `prompt_len` (HF `generate` or by hand)."""
        return AnswerLimiter(self, tokenizer, eot_id, prompt_len)


class AnswerLimiter(LogitsProcessor):
    """`AnswerRules` as a HF logits processor (batch size 1): banned repeats get -inf, and once the
    greedy choice would start a sentence past `max_sentences`, only end of turn is left."""

    def __init__(self, rules: AnswerRules, tokenizer, eot_id: int, prompt_len: int) -> None:
        self.rules, self.tokenizer, self.eot_id, self.prompt_len = rules, tokenizer, eot_id, prompt_len
        self.no_repeat = NoRepeatNGramLogitsProcessor(rules.no_repeat_ngram) if rules.no_repeat_ngram else None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise ValueError("AnswerLimiter decodes one answer at a time")
        answer = input_ids[:, self.prompt_len :]
        if not answer.shape[1]:
            return scores
        if self.no_repeat is not None:
            scores = self.no_repeat(answer, scores)  # returns a new tensor
        nxt = int(scores[0].argmax())
        if nxt != self.eot_id and self.rules.max_sentences is not None:
            text = self.tokenizer.decode(answer[0].tolist() + [nxt], skip_special_tokens=True)
            # a sentence counts as complete once the token after its end shows (a space, a new word)
            if sum(e < len(text) for e in sentence_ends(text)) >= self.rules.max_sentences:
                scores = torch.full_like(scores, float("-inf"))
                scores[:, self.eot_id] = 0.0
        return scores
