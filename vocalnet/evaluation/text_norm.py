"""The one text normaliser used on both sides of every WER/CER, and the error rates built on it.

Rules (spec section 8), applied in this order:

- Unicode NFKC, lower-case, curly apostrophes made straight;
- numbers written as words: ``1,000`` -> "one thousand", ``42`` -> "forty two", ``3.50`` -> "three point
  five zero", ``21st`` -> "twenty first", ``50%`` -> "fifty percent"; years are plain cardinals
  (``1990`` -> "one thousand nine hundred ninety"), no "and" after hundreds; digit strings with a leading
  zero (``007``) and integers of 19+ digits are read digit by digit; ``&`` -> "and";
- initialisms written with dots joined into one word (``D.C.`` -> "dc", ``U.S.A.`` -> "usa"), as the judge
  writes them with or without the dots;
- punctuation replaced by spaces, except apostrophes inside words (contractions such as "don't" and
  possessives stay as they are, never expanded);
- British spellings made American ("colour" -> "color", "metres" -> "meters"), with the word list of
  Whisper's own English normaliser (the `whisper-normalizer` package): the ASR judge, Whisper tiny.en,
  writes American spellings, so a correctly spoken "colour" would otherwise count as an error;
- whitespace collapsed and stripped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import jiwer

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion")
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}

_APOSTROPHES = re.compile(r"[\u2018\u2019\u02bc`\u00b4]")
_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_DECIMAL = re.compile(r"(\d+)\.(\d+)")
_INTEGER = re.compile(r"\d+")
_DOTTED_INITIALISM = re.compile(r"\b(?:[a-z]\.){2,}")
_STRAY_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")
_PUNCTUATION = re.compile(r"[^\w\s']|_")
_SPACES = re.compile(r"\s+")


def _below_thousand(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    words = [_ONES[hundreds], "hundred"] if hundreds else []
    if rest >= 20:
        words.append(_TENS[rest // 10])
        if rest % 10:
            words.append(_ONES[rest % 10])
    elif rest:
        words.append(_ONES[rest])
    return words


def _digits_to_words(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


def integer_to_words(digits: str) -> str:
    """A string of digits as English words ("1990" -> "one thousand nine hundred ninety")."""
    if (len(digits) > 1 and digits[0] == "0") or len(digits) > 3 * len(_SCALES):
        return _digits_to_words(digits)
    n = int(digits)
    if n == 0:
        return "zero"
    groups: list[str] = []
    for scale in _SCALES:
        n, group = divmod(n, 1000)
        if group:
            groups.insert(0, " ".join(_below_thousand(group) + ([scale] if scale else [])))
    return " ".join(groups)


def ordinal_to_words(digits: str) -> str:
    """"21" -> "twenty first", "12" -> "twelfth", "40" -> "fortieth"."""
    *head, last = integer_to_words(digits).split()
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


@cache
def _american_spelling() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishSpellingNormalizer

    return EnglishSpellingNormalizer()


def normalize_text(text: str) -> str:
    """Lower-case, numbers as words, dotted initialisms joined, punctuation removed, American spelling,
    whitespace collapsed (see module docstring)."""
    text = _APOSTROPHES.sub("'", unicodedata.normalize("NFKC", text).lower())
    text = text.replace("%", " percent ").replace("&", " and ")
    text = _THOUSANDS_COMMA.sub("", text)
    text = _ORDINAL.sub(lambda m: f" {ordinal_to_words(m.group(1))} ", text)
    text = _DECIMAL.sub(lambda m: f" {integer_to_words(m.group(1))} point {_digits_to_words(m.group(2))} ", text)
    text = _INTEGER.sub(lambda m: f" {integer_to_words(m.group(0))} ", text)
    text = _DOTTED_INITIALISM.sub(lambda m: m.group(0).replace(".", "") + " ", text)
    text = _PUNCTUATION.sub(" ", _STRAY_APOSTROPHE.sub(" ", text))
    return _american_spelling()(_SPACES.sub(" ", text).strip())


@dataclass(frozen=True)
class ErrorCounts:
    """Edit operations (substitutions + deletions + insertions) against a reference of ``ref_len`` units."""

    edits: int
    ref_len: int

    @property
    def rate(self) -> float:
        """edits / ref_len; an empty reference counts each inserted unit as one error (rate = edits)."""
        return self.edits / max(self.ref_len, 1)

    def capped(self) -> ErrorCounts:
        """At most one error per reference unit: an utterance wholly wrong, or a transcript that loops on
        past the audio (Whisper tiny's hallucinations), then weighs as much as an utterance all deleted."""
        return ErrorCounts(min(self.edits, max(self.ref_len, 1)), self.ref_len)

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(self.edits + other.edits, self.ref_len + other.ref_len)


def _counts(output: jiwer.WordOutput | jiwer.CharacterOutput) -> ErrorCounts:
    edits = output.substitutions + output.deletions + output.insertions
    return ErrorCounts(edits, output.substitutions + output.deletions + output.hits)


def word_errors(ref: str, hyp: str) -> ErrorCounts:
    """Word edits between the normalised reference and hypothesis."""
    ref, hyp = normalize_text(ref), normalize_text(hyp)
    if not ref:
        return ErrorCounts(len(hyp.split()), 0)
    return _counts(jiwer.process_words(ref, hyp))


def char_errors(ref: str, hyp: str) -> ErrorCounts:
    """Character edits (spaces included) between the normalised reference and hypothesis."""
    ref, hyp = normalize_text(ref), normalize_text(hyp)
    if not ref:
        return ErrorCounts(len(hyp), 0)
    return _counts(jiwer.process_characters(ref, hyp))


def wer(ref: str, hyp: str) -> float:
    """Word error rate of one utterance on normalised text."""
    return word_errors(ref, hyp).rate


def cer(ref: str, hyp: str) -> float:
    """Character error rate of one utterance on normalised text."""
    return char_errors(ref, hyp).rate


def _corpus(refs: Iterable[str], hyps: Iterable[str], errors: Callable[[str, str], ErrorCounts]) -> float:
    return sum((errors(r, h) for r, h in zip(refs, hyps, strict=True)), ErrorCounts(0, 0)).rate


def corpus_wer(refs: Iterable[str], hyps: Iterable[str]) -> float:
    """Corpus WER: sum of word edits / sum of reference words."""
    return _corpus(refs, hyps, word_errors)


def corpus_cer(refs: Iterable[str], hyps: Iterable[str]) -> float:
    """Corpus CER: sum of character edits / sum of reference characters."""
    return _corpus(refs, hyps, char_errors)
