"""An extractive conversation summary: the customer's own sentences, picked deterministically.

Used when no generative provider is configured or it failed: the routing prompt and the agent still
need a description of the issue, and quoting the customer is the one summary that cannot invent
anything. It takes the first customer sentence (people usually open with their problem) and then the
sentences that add the most content words not yet covered, shown in their original order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing don done down during each few for from further get got had has have
    having he her here hers him his how i i'm if in into is it it's its just me more most my myself no nor not now
    of off on once only or other our out over own please same she should so some still such than thank thanks
    that the their them then there these they this those through to too under until up very was we were what
    when where which while who why will with would you your yes hi hello hey ok okay
    """.split()  # noqa: SIM905
)


def extractive_summary(*, messages: Sequence[Mapping[str, Any]], max_sentences: int = 3, max_chars: int = 500) -> str:
    """At most `max_sentences` customer sentences, within `max_chars`; "" when the customer said nothing."""
    sentences: list[str] = []
    for message in messages:
        if (message.get("sender") or "customer") != "customer":
            continue
        for match in _SENTENCE.finditer(str(message.get("text", ""))):
            sentence = " ".join(match.group().split())
            if content_words(sentence) and sentence not in sentences:
                sentences.append(sentence)
    if not sentences:
        return ""

    chosen = [0]
    covered = set(content_words(sentences[0]))
    while len(chosen) < max_sentences:
        best, best_gain = None, 0
        for index, sentence in enumerate(sentences):
            if index in chosen:
                continue
            gain = len(set(content_words(sentence)) - covered)
            if gain > best_gain:  # strict: the earliest sentence wins a tie
                best, best_gain = index, gain
        if best is None:
            break
        chosen.append(best)
        covered |= set(content_words(sentences[best]))

    summary = ""
    for index in sorted(chosen):
        candidate = f"{summary} {sentences[index]}".strip()
        if len(candidate) > max_chars:
            if not summary:
                summary = sentences[index][: max_chars - 1].rstrip() + "…"
            break
        summary = candidate
    return summary


def content_words(sentence: str) -> list[str]:
    """Lower-cased words of three letters or more that are not stopwords: what a sentence is about."""
    return [word for word in _WORD.findall(sentence.lower()) if word not in _STOPWORDS and len(word) > 2]
