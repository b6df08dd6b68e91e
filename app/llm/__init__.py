"""The LLM layer shared by the classifier and the weekly summary / insights Q&A: one OpenAI-compatible client
with retries, a circuit breaker, a daily budget and token accounting, plus versioned prompt files."""

from app.llm.breaker import CircuitBreaker
from app.llm.budget import DailyLLMBudget, redis_for_budget
from app.llm.client import (
    ChatClient,
    CircuitOpenError,
    InvalidAnswerError,
    LLMError,
    failure_reason,
    setting,
)
from app.llm.prompts import load_text_prompt

__all__ = [
    "ChatClient",
    "CircuitBreaker",
    "CircuitOpenError",
    "DailyLLMBudget",
    "InvalidAnswerError",
    "LLMError",
    "failure_reason",
    "load_text_prompt",
    "redis_for_budget",
    "setting",
]
