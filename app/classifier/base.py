"""The classifier interface every provider implements (SPEC §2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# The five categories of the wire contract, always emitted with accents.
CATEGORIES: tuple[str, ...] = ("ELOGIO", "CRÍTICA", "SUGESTÃO", "DÚVIDA", "SPAM")

# Unaccented spellings accepted on input (filters, data files, LLM answers).
_ALIASES = {
    "ELOGIO": "ELOGIO",
    "CRITICA": "CRÍTICA",
    "CRÍTICA": "CRÍTICA",
    "SUGESTAO": "SUGESTÃO",
    "SUGESTÃO": "SUGESTÃO",
    "DUVIDA": "DÚVIDA",
    "DÚVIDA": "DÚVIDA",
    "SPAM": "SPAM",
}


def normalize_category(value: str) -> str | None:
    """Return the accented category for any accepted spelling, or None if unknown."""
    return _ALIASES.get(value.strip().upper()) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Tag:
    codigo: str
    explicacao: str


@dataclass(slots=True)
class Classification:
    """One comment's classification, as the wire contract exposes it."""

    categoria: str
    confianca: float
    tags: list[Tag] = field(default_factory=list)
    modelo: str = ""


@runtime_checkable
class Classifier(Protocol):
    """A provider: classifies texts in order, one result per input text."""

    name: str

    def classify_many(self, texts: Sequence[str]) -> list[Classification]: ...
