"""Synonyms of government terms, loaded from data/synonyms.txt (data, not code)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

SYNONYMS_FILE = Path(__file__).parent / "data" / "synonyms.txt"


@lru_cache
def groups(path: Path = SYNONYMS_FILE) -> tuple[tuple[str, ...], ...]:
    result = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            result.append(tuple(t.strip() for t in line.split(",") if t.strip()))
    return tuple(result)


@lru_cache
def _index() -> dict[str, tuple[str, ...]]:
    return {term: group for group in groups() for term in group}


def canonical(term: str) -> str:
    """The group's first term, or the term itself when it has no synonyms."""
    group = _index().get(term)
    return group[0] if group else term


def expansions(term: str) -> tuple[str, ...]:
    """Every term of the term's group (the term itself first)."""
    group = _index().get(term, ())
    return (term, *[t for t in group if t != term])
