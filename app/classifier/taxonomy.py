"""The tag taxonomy as the rest of the app sees it: known codes and their explanations."""

from __future__ import annotations

from functools import cache


@cache
def _extractor():
    from app.classifier.tags import TagExtractor

    return TagExtractor.load()


def known_codes() -> frozenset[str]:
    return frozenset(_extractor().codes)


def explain(code: str) -> str:
    """The pt-BR explanation of a code ("" for a code no longer in the taxonomy)."""
    try:
        return _extractor().explanation(code) or ""
    except KeyError:
        return ""


def catalogue() -> list[dict[str, str]]:
    return [{"codigo": c, "explicacao": explain(c)} for c in _extractor().codes]
