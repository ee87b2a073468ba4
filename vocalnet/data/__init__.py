"""Synthetic spoken-dialogue corpus: question bank, LLM answers, query/answer speech, manifests, checks."""
