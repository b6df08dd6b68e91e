"""Versioned prompt files of the summary and Q&A (`app/llm/prompts/<name>_v<N>.md`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


@cache
def load_text_prompt(version: str) -> str:
    """The system prompt `<version>.md`, e.g. `summary_v1`; the version is recorded with what it produced."""
    return (PROMPTS_DIR / f"{version}.md").read_text(encoding="utf-8").strip()
