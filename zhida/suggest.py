"""The one "did you mean": the closest known name to a misspelt one.

Used for policy fields, functions, keys and criterion ids, schema types, profile
columns, event types and SMS template names alike, so a misspelling gets the same
help everywhere. Case is ignored; the score is rapidfuzz's `ratio` (0-100).
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, process

#: lowest similarity (0-100) worth suggesting
CUTOFF = 70


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to `word` (an exact match up to case first), or None."""
    by_fold: dict[str, str] = {}
    for choice in choices:
        by_fold.setdefault(choice.casefold(), choice)
    if not by_fold or not word:
        return None
    exact = by_fold.get(word.casefold())
    if exact is not None:
        return exact
    best = process.extractOne(
        word.casefold(), list(by_fold), scorer=fuzz.ratio, score_cutoff=CUTOFF
    )
    return by_fold[best[0]] if best else None


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """ "did you mean 'X'?" for the closest choice, or None."""
    best = closest(word, choices)
    return f"did you mean '{best}'?" if best is not None else None
