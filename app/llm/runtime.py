"""The per-process LLM client and daily budget of the summary and Q&A (the breaker must outlive one call)."""

from __future__ import annotations

import threading

from flask import Flask

from app.llm.budget import DailyLLMBudget, redis_for_budget
from app.llm.client import ChatClient

INSIGHTS_BUDGET_KEY_PREFIX = "alumusic:llm:orcamento_insights"
_EXTENSION = "alumusic_insights_llm"
_lock = threading.Lock()


def llm_configured(app: Flask) -> bool:
    """An endpoint (or at least a key for the default one) is set."""
    return bool(app.config.get("OPENAI_BASE_URL") or app.config.get("OPENAI_API_KEY"))


def insights_llm(app: Flask) -> tuple[ChatClient, DailyLLMBudget]:
    """The client and budget shared by the weekly summary and the Q&A of this app (built once)."""
    with _lock:
        pair = app.extensions.get(_EXTENSION)
        if pair is None:
            budget = DailyLLMBudget(
                int(app.config["INSIGHTS_LLM_DAILY_BUDGET"]),
                redis_for_budget(app.config.get("REDIS_URL") or ""),
                key_prefix=INSIGHTS_BUDGET_KEY_PREFIX,
            )
            pair = (ChatClient.from_config(app.config), budget)
            app.extensions[_EXTENSION] = pair
        return pair
