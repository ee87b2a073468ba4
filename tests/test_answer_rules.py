"""AnswerRules: greedy answers stop after `max_sentences` and never repeat an n-gram."""

from __future__ import annotations

import pytest
import torch

from vocalnet.llm.answer_rules import AnswerRules
from vocalnet.llm.backbone import end_of_turn_id, load_tokenizer


@pytest.fixture(scope="module")
def tok(assets):
    return load_tokenizer(assets.llm)


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def _pick(limiter, ids: list[int], favourite: int, vocab: int) -> int:
    """The limiter's greedy choice when the model's favourite token is `favourite` (runner-up: token 0)."""
    scores = torch.zeros(1, vocab)
    scores[0, favourite] = 10.0
    scores[0, 0] = 5.0
    return int(limiter(torch.tensor([ids]), scores).argmax())


def test_turn_ends_when_a_sentence_past_the_limit_would_start(tok) -> None:
    eot, vocab = end_of_turn_id(tok), len(tok)
    answer = _ids(tok, "The capital is Paris. It is a big city.")
    new_sentence = _ids(tok, " The")[0]
    two = AnswerRules(max_sentences=2).processor(tok, eot)
    assert _pick(two, answer, new_sentence, vocab) == eot
    assert _pick(AnswerRules(max_sentences=3).processor(tok, eot), answer, new_sentence, vocab) == new_sentence
    assert _pick(AnswerRules(max_sentences=None).processor(tok, eot), answer, new_sentence, vocab) == new_sentence
    # one sentence done, the second still going: no cut
    assert _pick(two, answer[:-3], new_sentence, vocab) == new_sentence


def test_a_repeated_ngram_is_never_chosen(tok) -> None:
    eot, vocab = end_of_turn_id(tok), len(tok)
    answer = _ids(tok, "It belongs to the order of the order of")
    the = _ids(tok, " the")[0]  # would repeat the 4-gram "the order of the"
    assert _pick(AnswerRules(no_repeat_ngram=4).processor(tok, eot), answer, the, vocab) == 0
    assert _pick(AnswerRules(no_repeat_ngram=0).processor(tok, eot), answer, the, vocab) == the
    # n-grams of the prompt do not count: only the answer after prompt_len is checked
    prompt = _ids(tok, "the order of the order of")
    limiter = AnswerRules(no_repeat_ngram=4).processor(tok, eot, prompt_len=len(prompt))
    assert _pick(limiter, prompt + _ids(tok, " order of"), the, vocab) == the


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="answer rules"):
        AnswerRules(no_repeat_ngram=-1)
    with pytest.raises(ValueError, match="answer rules"):
        AnswerRules(max_sentences=0)
