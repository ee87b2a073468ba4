"""The backbone LLM as answerer and question writer: batched chat generation plus text cleaning.

Answers are cut after at most two complete sentences; an answer without a clean sentence end, or
that looks like garbage, is re-asked once with a stricter prompt and otherwise dropped (None).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from vocalnet.llm.answer_rules import sentence_ends

SYSTEM_PROMPT = "You are a helpful voice assistant. Answer in one or two short, complete sentences."
RETRY_PROMPT = "You are a helpful voice assistant. Answer in one short, complete sentence."
QUESTION_WRITER_PROMPT = "You write short, clear questions that people ask a voice assistant."
MAX_ANSWER_WORDS = 60
MAX_QUESTION_WORDS = 20

Message = dict[str, str]


class ChatModel(Protocol):
    """Generation for a batch of chat conversations; returns the decoded new text of each."""

    def generate(self, conversations: Sequence[list[Message]], max_new_tokens: int) -> list[str]: ...


class HFChatModel:
    """A local HF causal LM (default: the SmolLM2 backbone), fp32 on CPU, batched with left padding.

    `threads` sets torch's (process-wide) intra-op thread count; one thread is much faster than two
    when another process competes for the second core. `temperature` 0 decodes greedily; above 0 it
    samples (nucleus `top_p`) from torch's global generator, which the caller seeds.
    """

    def __init__(self, path: str | Path | None = None, threads: int | None = None, temperature: float = 0.0,
                 top_p: float = 1.0):
        import torch

        from vocalnet.assets import default_asset_paths
        from vocalnet.llm.backbone import end_of_turn_id, load_llm, load_tokenizer

        if not temperature >= 0 or not 0 < top_p <= 1:
            raise ValueError(f"temperature must be >= 0 and top_p in (0, 1], got {temperature}, {top_p}")
        if threads is not None:
            torch.set_num_threads(threads)
        path = Path(path) if path is not None else default_asset_paths().llm
        self.tokenizer = load_tokenizer(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eot_id = end_of_turn_id(self.tokenizer)
        self.model = load_llm(path).eval()
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature else {
            "do_sample": False, "temperature": None, "top_p": None}
        self.sampling = {**sampling, "top_k": None}

    def generate(self, conversations: Sequence[list[Message]], max_new_tokens: int) -> list[str]:
        import torch

        texts = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new_tokens, **self.sampling,
                                      pad_token_id=self.tokenizer.pad_token_id, eos_token_id=self.eot_id)
        new = out[:, enc["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)


# ----------------------------------------------------------------------------------------------- text

_TRANSLATE = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                            "\u2026": "...", "\u00a0": " "})
_MARKUP = re.compile(r"[*_#`]+")
_ALLOWED = re.compile(r"^[A-Za-z0-9\u00c0-\u00ff ,.;:!?'\"()%&$/+\-]+$")
_REFUSALS = ("i'm sorry", "i am sorry", "i cannot", "i can't", "as an ai", "i don't have", "i do not have")
_QUOTED_QUESTION = re.compile(r"\"([^\"]+\?)\"")
_STOPWORDS = frozenset({"the", "and", "for", "with", "how", "what", "your", "about", "from", "into"})


def tidy(text: str) -> str:
    """Plain ASCII punctuation, no markdown, single spaces."""
    return " ".join(_MARKUP.sub("", text.translate(_TRANSLATE)).split())


def _is_garbage(text: str) -> bool:
    words = text.lower().split()
    repeated = any(words[i] == words[i + 1] == words[i + 2] for i in range(len(words) - 2))
    return (not _ALLOWED.match(text) or repeated or len(set(words)) < 0.4 * len(words)
            or text.lower().startswith(_REFUSALS))


def clean_answer(raw: str, max_sentences: int = 2) -> str | None:
    """The first one or two complete sentences of a generated answer, or None if it is unusable."""
    text = tidy(raw).strip("\"' ")
    ends = sentence_ends(text)
    if not ends:
        return None
    answer = text[:ends[min(len(ends), max_sentences) - 1]]
    words = answer.split()
    if not 2 <= len(words) <= MAX_ANSWER_WORDS or _is_garbage(answer):
        return None
    return answer


def clean_llm_question(raw: str, topic: str) -> str | None:
    """A single clean question about `topic` from the question writer's output, or None."""
    text = tidy(raw.splitlines()[0] if raw.strip() else "")
    quoted = _QUOTED_QUESTION.findall(text)
    question = (quoted[0] if quoted else text).strip("\"' ")
    words = question.split()
    if (not question.endswith("?") or question.count("?") != 1 or any(c in question for c in ".!;:")
            or not 4 <= len(words) <= MAX_QUESTION_WORDS or _is_garbage(question)):
        return None
    stems = [w[:4] for w in re.findall(r"[a-z]+", topic.lower()) if len(w) >= 3 and w not in _STOPWORDS]
    return question if any(s in question.lower() for s in stems) else None


# ------------------------------------------------------------------------------------------ generation

def _chat(system: str, user: str) -> list[Message]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def question_prompt(topic: str, starter: str) -> list[Message]:
    return _chat(QUESTION_WRITER_PROMPT, f'Write one question about {topic} that begins with the word "{starter}".')


def write_questions(model: ChatModel, prompts: Sequence[tuple[str, str]], max_new_tokens: int = 32) -> list[str | None]:
    """One cleaned question (or None) per (topic, starter) prompt."""
    raw = model.generate([question_prompt(t, s) for t, s in prompts], max_new_tokens)
    return [clean_llm_question(r, t) for r, (t, _) in zip(raw, prompts)]


def answer_questions(model: ChatModel, questions: Sequence[str], max_new_tokens: int = 40) -> list[str | None]:
    """Clean answers for a batch of questions; failures are re-asked once with a stricter prompt."""
    answers = [clean_answer(r) for r in model.generate([_chat(SYSTEM_PROMPT, q) for q in questions], max_new_tokens)]
    retry = [i for i, a in enumerate(answers) if a is None]
    if retry:
        raw = model.generate([_chat(RETRY_PROMPT, questions[i]) for i in retry], max_new_tokens)
        for i, r in zip(retry, raw):
            answers[i] = clean_answer(r)
    return answers
