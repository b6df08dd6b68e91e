"""LLM providers: `openai` (chat completions with local fallback) and `hibrido` (local first, LLM for doubts).

Design, in short:
- One chat completion per comment. A malformed answer then costs one comment, not a group; the fallback is
  exact per item; the few-shot prefix is identical on every call, so providers that cache prompt prefixes
  bill it once. Throughput comes from bounded concurrency instead of grouping.
- The HTTP client, retries with backoff (Retry-After honoured), the circuit breaker, the daily budget and token
  accounting live in `app.llm`, shared with the weekly summary and the insights Q&A; this module owns the
  classification prompt, the strict answer schema and the per-item fallback.
- Any failure for an item falls back to the injected local classifier, and `modelo` says so.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import openai
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.classifier.base import CATEGORIES, Classification, Classifier, Tag, normalize_category
from app.llm.breaker import CircuitBreaker
from app.llm.budget import DailyLLMBudget, redis_for_budget
from app.llm.client import (
    DEFAULT_BACKOFF_INITIAL,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_RETRY_AFTER_CAP,
    REASON_CIRCUIT_OPEN,
    REASON_UNEXPECTED,
    ChatClient,
    InvalidAnswerError,
    LLMError,
    client_settings,
    failure_reason,
    setting,
)

__all__ = [
    "PROMPTS_DIR",
    "RESPONSE_FORMAT",
    "CircuitBreaker",
    "DailyLLMBudget",
    "HybridClassifier",
    "OpenAIClassifier",
    "build_llm_classifier",
    "load_prompt",
]

log = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
# The prompt in use: `prompts/<version>.md` (system prompt) + `prompts/examples_<suffix>.yaml` (few-shot).
PROMPT_VERSION = "classify_v1"


# --------------------------------------------------------------------------------------------------- answer


class LLMAnswer(BaseModel):
    """The JSON object the model must return; anything else is an invalid answer."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    categoria: str
    confianca: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    tags: list[str] = Field(max_length=20)

    @field_validator("categoria")
    @classmethod
    def _known_category(cls, value: str) -> str:
        category = normalize_category(value)
        if category is None:
            raise ValueError(f"unknown category {value!r}")
        return category


# Structured output: the endpoint is asked to emit exactly LLMAnswer (strict JSON schema).
RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "classificacao_comentario",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "categoria": {"type": "string", "enum": list(CATEGORIES)},
                "confianca": {"type": "number", "minimum": 0, "maximum": 1},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["categoria", "confianca", "tags"],
            "additionalProperties": False,
        },
    },
}


@dataclass(frozen=True, slots=True)
class LLMFailure:
    """The outcome of an item the LLM could not classify."""

    reason: str
    error: str


def parse_answer(content: str | None) -> LLMAnswer:
    """Validate a model's message content strictly; raise InvalidAnswerError on anything unexpected."""
    if not content or not content.strip():
        raise InvalidAnswerError("empty answer")
    try:
        return LLMAnswer.model_validate_json(content)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'resposta'}: {e['msg']}" for e in exc.errors())
        raise InvalidAnswerError(f"invalid answer: {problems}") from exc


# --------------------------------------------------------------------------------------------------- prompt


def format_comment(text: str) -> str:
    """The user message for one comment; the markers let the prompt treat the comment as data only."""
    return f"Comentário:\n<<<\n{text}\n>>>"


@dataclass(frozen=True, slots=True)
class FewShotExample:
    texto: str
    answer: LLMAnswer


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A versioned prompt: the system text and the few-shot examples sent before each comment."""

    version: str
    system: str
    examples: tuple[FewShotExample, ...]

    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat messages that classify `text`."""
        messages = [{"role": "system", "content": self.system}]
        for example in self.examples:
            messages.append({"role": "user", "content": format_comment(example.texto)})
            messages.append(
                {"role": "assistant", "content": json.dumps(example.answer.model_dump(), ensure_ascii=False)}
            )
        messages.append({"role": "user", "content": format_comment(text)})
        return messages


def load_prompt(version: str = PROMPT_VERSION, prompts_dir: Path = PROMPTS_DIR) -> PromptTemplate:
    """Read `<version>.md` and its `examples_<suffix>.yaml` (examples picked from data/train, never eval)."""
    system = (prompts_dir / f"{version}.md").read_text(encoding="utf-8").strip()
    suffix = version.removeprefix("classify_")
    raw = yaml.safe_load((prompts_dir / f"examples_{suffix}.yaml").read_text(encoding="utf-8")) or []
    examples = []
    for i, row in enumerate(raw):
        try:
            answer = LLMAnswer.model_validate({k: row[k] for k in ("categoria", "confianca", "tags")}, strict=False)
            examples.append(FewShotExample(texto=str(row["texto"]), answer=answer))
        except (KeyError, TypeError, ValidationError) as exc:
            raise ValueError(f"examples_{suffix}.yaml row {i}: {exc}") from exc
    return PromptTemplate(version=version, system=system, examples=tuple(examples))


# ----------------------------------------------------------------------------------------------------- tags


class TagNormalizer(Protocol):
    def normalize_codes(self, codes: Sequence[str]) -> list[Tag]: ...


def load_tag_normalizer() -> TagNormalizer:
    """The curated taxonomy: LLM codes are normalised onto it (unknown codes dropped)."""
    from app.classifier.tags import TagExtractor

    return TagExtractor.load()


# ------------------------------------------------------------------------------------------------- provider


class OpenAIClassifier:
    """`openai` provider: one strict-JSON chat completion per comment, falling back to `fallback` per item."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        fallback: Classifier,
        timeout: float = 15.0,
        max_retries: int = 3,
        concurrency: int = 4,
        circuit_failures: int = 5,
        circuit_reset_seconds: float = 30.0,
        backoff_initial: float = DEFAULT_BACKOFF_INITIAL,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP,
        prompt: PromptTemplate | None = None,
        tag_normalizer: TagNormalizer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = ChatClient(
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            concurrency=concurrency,
            circuit_failures=circuit_failures,
            circuit_reset_seconds=circuit_reset_seconds,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            retry_after_cap=retry_after_cap,
            sleep=sleep,
        )
        self.model = model
        self.fallback = fallback
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.prompt = prompt or load_prompt()
        self._tag_normalizer = tag_normalizer
        self._tags_lock = threading.Lock()
        log.info("llm classifier ready: model=%s prompt=%s", model, self.prompt.version)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, fallback: Classifier, **overrides: Any) -> OpenAIClassifier:
        """Build from OPENAI_* / LLM_* settings; keyword overrides win (tests tune backoff this way)."""
        return cls(fallback=fallback, **(client_settings(config) | overrides))

    @property
    def breaker(self) -> CircuitBreaker:
        return self.client.breaker

    @property
    def model_label(self) -> str:
        """What `modelo` says for an LLM answer."""
        return f"openai:{self.model}"

    @property
    def usage(self) -> dict[str, int]:
        """Cumulative calls and tokens since this instance was built (a copy)."""
        return self.client.usage

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        outcomes = self.classify_with_llm(texts)
        failed = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, LLMFailure)]
        results: list[Classification | None] = [o if isinstance(o, Classification) else None for o in outcomes]
        if failed:
            # One vectorised call to the fallback for every item that failed.
            local = self.fallback.classify_many([texts[i] for i in failed])
            for i, result in zip(failed, local, strict=True):
                reason = outcomes[i].reason  # type: ignore[union-attr]
                results[i] = replace(result, modelo=f"{result.modelo} (fallback: {reason})")
        return [r for r in results if r is not None]

    def classify_with_llm(self, texts: Sequence[str]) -> list[Classification | LLMFailure]:
        """Ask the LLM about each text (bounded concurrency, input order); failures are returned, not raised."""
        if not texts:
            return []
        if len(texts) == 1:
            outcomes = [self._classify_one(texts[0])]
        else:
            workers = min(self.concurrency, len(texts))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
                outcomes = list(pool.map(self._classify_one, texts))
        failures = [o for o in outcomes if isinstance(o, LLMFailure)]
        if failures:
            skipped = sum(1 for f in failures if f.reason == REASON_CIRCUIT_OPEN)
            self.client.count("fallback", len(failures))
            self.client.count("circuit_open", skipped)
            log.warning(
                "llm gave no answer for %d/%d comments (%d skipped by open circuit); last error: %s",
                len(failures),
                len(texts),
                skipped,
                failures[-1].error,
            )
        return outcomes

    def _classify_one(self, text: str) -> Classification | LLMFailure:
        try:
            answer = self.client.complete(self.prompt.messages(text), parse_answer, response_format=RESPONSE_FORMAT)
        except (LLMError, openai.OpenAIError) as exc:
            return LLMFailure(reason=failure_reason(exc), error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must not fail the whole batch: log it loudly and fall back
            log.exception("unexpected error while calling the llm")
            return LLMFailure(reason=REASON_UNEXPECTED, error=f"{type(exc).__name__}: {exc}")
        return Classification(
            categoria=answer.categoria,
            confianca=answer.confianca,
            tags=self._tags().normalize_codes(answer.tags),
            modelo=self.model_label,
        )

    def _tags(self) -> TagNormalizer:
        if self._tag_normalizer is None:
            with self._tags_lock:
                if self._tag_normalizer is None:
                    self._tag_normalizer = load_tag_normalizer()
        return self._tag_normalizer


# --------------------------------------------------------------------------------------------------- budget


class HybridClassifier:
    """`hibrido` provider: the local model classifies everything; only comments below REVIEW_THRESHOLD go to
    the LLM, the least confident first, within the per-request and per-day budgets. Others keep the local result.
    """

    name = "hibrido"

    def __init__(
        self,
        *,
        local: Classifier,
        llm: OpenAIClassifier,
        review_threshold: float,
        request_budget: int,
        daily_budget: DailyLLMBudget,
    ) -> None:
        self.local = local
        self.llm = llm
        self.review_threshold = review_threshold
        self.request_budget = request_budget
        self.daily_budget = daily_budget
        self._lock = threading.Lock()
        self._usage = {"llm_items": 0, "over_budget": 0}

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], *, local: Classifier, llm: OpenAIClassifier, redis_client: Any | None = None
    ) -> HybridClassifier:
        return cls(
            local=local,
            llm=llm,
            review_threshold=float(setting(config, "REVIEW_THRESHOLD")),
            request_budget=int(setting(config, "LLM_REQUEST_BUDGET")),
            daily_budget=DailyLLMBudget(int(setting(config, "LLM_DAILY_BUDGET")), redis_client),
        )

    @property
    def usage(self) -> dict[str, int]:
        """The LLM's cumulative usage plus how many comments went to it and how many were over budget."""
        with self._lock:
            return self.llm.usage | self._usage

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        results = list(self.local.classify_many(texts))
        doubtful = sorted(
            (i for i, r in enumerate(results) if r.confianca < self.review_threshold),
            key=lambda i: results[i].confianca,
        )
        chosen = doubtful[: self.request_budget] if self.request_budget else doubtful
        chosen = chosen[: self.daily_budget.reserve(len(chosen))]
        with self._lock:
            self._usage["llm_items"] += len(chosen)
            self._usage["over_budget"] += len(doubtful) - len(chosen)
        if len(chosen) < len(doubtful):
            log.info(
                "hibrido: %d low-confidence comments over the llm budget keep the local result",
                len(doubtful) - len(chosen),
            )
        if not chosen:
            return results
        outcomes = self.llm.classify_with_llm([texts[i] for i in chosen])
        not_called = 0
        for i, outcome in zip(chosen, outcomes, strict=True):
            if isinstance(outcome, Classification):
                results[i] = outcome
            else:
                not_called += outcome.reason == REASON_CIRCUIT_OPEN
                results[i] = replace(results[i], modelo=f"{results[i].modelo} (fallback: {outcome.reason})")
        self.daily_budget.release(not_called)
        return results


# -------------------------------------------------------------------------------------------------- factory


def build_llm_classifier(
    provider: str,
    config: Mapping[str, Any],
    *,
    fallback: Classifier | None = None,
    redis_client: Any | None = None,
) -> Classifier:
    """Build the `openai` or `hibrido` provider. The local model is the fallback unless one is injected;
    `hibrido` counts its daily budget in Redis (`redis_client`, or REDIS_URL when set)."""
    if provider not in ("openai", "hibrido"):
        raise ValueError(f"not an llm provider: {provider!r}")
    if fallback is None:
        from app.classifier.local import LocalClassifier

        fallback = LocalClassifier.from_config(config)
    llm = OpenAIClassifier.from_config(config, fallback=fallback)
    if provider == "openai":
        return llm
    if redis_client is None:
        redis_client = redis_for_budget(config.get("REDIS_URL") or "")
    return HybridClassifier.from_config(config, local=fallback, llm=llm, redis_client=redis_client)
