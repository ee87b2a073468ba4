"""How each answer token is pronounced: espeak-ng phonemes of the words a token completes.

An optional input of the speech generator (`SpeechGeneratorConfig.phoneme_slots`). The LLM's hidden
state says what a position means and its token embedding which token it is; neither says how the
word sounds, which a small generator must otherwise learn word by word from a few hours of speech.
The assistant voice itself is rendered from espeak-ng phonemes (piper), so these are the sounds the
speech tokens encode.

Rows follow the answer's tokens. A token that completes a word (the next token starts with
whitespace, or the answer ends) carries that word's phonemes, as piper phoneme ids, in up to
`slots` places (0 = none); the other tokens of the word carry none. Whether a token completes a word
is known once the next token is: the assistant pushes each token's hidden state one token late
anyway. Words come from the tokenizer's own decoding, so any backbone's tokenizer works.
"""

from __future__ import annotations

from functools import lru_cache

import torch

WORD_GAP = " "  # separates several words completed by one token


@lru_cache(maxsize=1)
def _phoneme_id_map() -> dict[str, int]:
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    return {ph: ids[0] for ph, ids in DEFAULT_PHONEME_ID_MAP.items()}


class WordPhonemizer:
    """espeak-ng (through piper) phoneme ids of single words, memoised."""

    def __init__(self, voice: str = "en-us") -> None:
        from piper.phonemize_espeak import EspeakPhonemizer

        self.voice = voice
        self._espeak = EspeakPhonemizer()
        self._ids = _phoneme_id_map()
        self._cache: dict[str, list[int]] = {}

    def word_ids(self, word: str) -> list[int]:
        if word not in self._cache:
            sentences = self._espeak.phonemize(self.voice, word)
            phonemes = "".join("".join(s) for s in sentences).strip()
            self._cache[word] = [self._ids[p] for p in phonemes if p in self._ids]
        return self._cache[word]

    def row_ids(self, decode, token_ids: list[int], rows: range, final: bool, slots: int) -> torch.Tensor:
        """(len(rows), slots) phoneme ids (as float, to travel with the hidden states) of answer rows.

        decode: the tokenizer's `decode` (ids -> text). token_ids: the answer's tokens, reaching at
        least one past the last row unless `final` (the last row then ends the answer).
        """
        n = len(token_ids)
        if rows.stop > n:
            raise ValueError(f"rows up to {rows.stop - 1} but only {n} answer tokens")
        prefix = {k: decode(token_ids[:k]) for k in range(rows.start, min(rows.stop + 1, n) + 1)}  # each once
        out = torch.zeros(len(rows), slots)
        done = _words_through(prefix, n, rows.start - 1, final)[1]
        for i, r in enumerate(rows):
            words, now = _words_through(prefix, n, r, final)
            ids: list[int] = []
            for w in words[done:now]:
                ids += ([self._ids[WORD_GAP]] if ids else []) + self.word_ids(w)
            ids = ids[:slots]
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.float32)
            done = now
        return out


def _words_through(prefix: dict[int, str], n: int, row: int, final: bool) -> tuple[list[str], int]:
    """The words of tokens 0..row, and how many of them are complete after that row.

    prefix[k] is the decoded text of the first k of the answer's n tokens (known so far).
    """
    if row < 0:
        return [], 0
    text = prefix[row + 1]
    words = text.split()
    if final and row == n - 1 or text[-1:].isspace():
        return words, len(words)
    if row + 1 >= n:
        raise ValueError(f"row {row} needs the next token to know whether its word is complete")
    after = prefix[row + 2][len(text) : len(text) + 1]
    return words, len(words) if after.isspace() else max(len(words) - 1, 0)
