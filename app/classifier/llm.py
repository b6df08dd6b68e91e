"""LLM providers: `openai` (chat completions with local fallback) and `hibrido` (local first, LLM for doubts).

Design, in short:
- One chat completion per comment. A malformed answer then costs one comment, not a group; the fallback is
  exact per item; the few-shot prefix is identical on every call, so providers that cache prompt prefixes
  bill it once. Throughput comes from bounded concurrency instead of grouping.
- Retries are ours (the client runs with `max_retries=0`) so every attempt is logged and counted: tenacity,
  exponential backoff with jitter, `Retry-After` honoured (capped) on 429/503.
- A consecutive-failure circuit breaker tracks the endpoint's *availability* (timeouts, connection errors,
  429, 5xx, auth/config errors). pybreaker was considered and rejected: its `call` holds one lock for the whole
  call, which would serialise the concurrent requests.
- Any failure for an item falls back to the injected local classifier, and `modelo` says so.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import openai
import yaml
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from app.classifier.base import CATEGORIES, Classification, Classifier, Tag, normalize_category
from app.config import Settings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

log = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
# The prompt in use: `prompts/<version>.md` (system prompt) + `prompts/examples_<suffix>.yaml` (few-shot).
PROMPT_VERSION = "classify_v1"

# Longest wait we accept from a server's Retry-After; longer hints are cut to this (the item may fall back).
DEFAULT_RETRY_AFTER_CAP = 20.0
# Exponential backoff between retries when the server gives no hint: initial * 2**n + jitter, at most max.
DEFAULT_BACKOFF_INITIAL = 0.5
DEFAULT_BACKOFF_MAX = 8.0
# Daily budget counters live one day past their date, then Redis drops them.
BUDGET_KEY_PREFIX = "alumusic:llm:orcamento_diario"
BUDGET_KEY_TTL_SECONDS = 2 * 24 * 3600

LLM_TOKENS = Counter(
    "alumusic_llm_tokens_total",
    "Tokens consumed by LLM classification calls, as reported by the endpoint.",
    ["model", "kind"],
)
LLM_CALLS = Counter(
    "alumusic_llm_calls_total",
    "LLM classification outcomes. ok/invalid/error count HTTP attempts; fallback counts comments that did not get "
    "an LLM answer (kept or got the local result); circuit_open counts comments skipped by the open breaker.",
    ["model", "outcome"],
)

# Why an item did not get an LLM answer; shown in `modelo` as "local:<v> (fallback: <reason>)".
REASON_UNAVAILABLE = "openai indisponível"
REASON_TIMEOUT = "openai indisponível: tempo esgotado"
REASON_CIRCUIT_OPEN = "openai indisponível: circuito aberto"
REASON_INVALID = "resposta inválida do openai"
REASON_UNEXPECTED = "erro inesperado no openai"

# HTTP statuses worth another try, and those that say the endpoint is unusable (they open the breaker).
_RETRYABLE_STATUSES = frozenset({408, 429})
_UNAVAILABLE_STATUSES = frozenset({401, 403, 404, 408, 429})


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


class LLMError(Exception):
    """An item could not be classified by the LLM; `reason` is what `modelo` shows."""

    reason = REASON_UNAVAILABLE


class InvalidAnswerError(LLMError):
    """The endpoint answered, but not with a valid classification."""

    reason = REASON_INVALID


class CircuitOpenError(LLMError):
    """The circuit breaker is open: the endpoint is not called."""

    reason = REASON_CIRCUIT_OPEN


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


# -------------------------------------------------------------------------------------------------- breaker


class CircuitBreaker:
    """Consecutive-failure breaker: opens after `failure_threshold` failures in a row, skips calls for
    `reset_timeout` seconds, then half-opens: one trial call decides between closed and open again.

    Thread-safe, and holds its lock only to update state (never during the guarded call).
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, failure_threshold: int, reset_timeout: float, clock: Callable[[], float] = time.monotonic):
        if failure_threshold < 1 or reset_timeout <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout > 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state = self.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_started_at: float | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == self.OPEN and self._clock() - self._opened_at >= self.reset_timeout:
                return self.HALF_OPEN
            return self._state

    def allow(self) -> bool:
        """Whether a call may go through now; in half-open, only one trial call at a time is let through."""
        with self._lock:
            now = self._clock()
            if self._state == self.CLOSED:
                return True
            if self._state == self.OPEN:
                if now - self._opened_at < self.reset_timeout:
                    return False
                self._state = self.HALF_OPEN
                self._trial_started_at = now
                log.info("llm circuit half-open: sending one trial call")
                return True
            # Half-open: a trial is in flight. Guard against a trial that never reported back.
            if self._trial_started_at is None or now - self._trial_started_at >= self.reset_timeout:
                self._trial_started_at = now
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            if self._state != self.CLOSED:
                log.info("llm circuit closed: endpoint answered")
            self._state = self.CLOSED
            self._failures = 0
            self._trial_started_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state == self.HALF_OPEN or (
                self._state == self.CLOSED and self._failures >= self.failure_threshold
            ):
                log.warning(
                    "llm circuit open for %.1fs after %d consecutive failures", self.reset_timeout, self._failures
                )
                self._state = self.OPEN
                self._opened_at = self._clock()
                self._trial_started_at = None


# ---------------------------------------------------------------------------------------------- retry policy


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The server's Retry-After hint (seconds or HTTP date; `retry-after-ms` too) on a 429/503, if any."""
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (429, 503):
        return None
    headers = exc.response.headers
    value: float | None = None
    try:
        if ms := headers.get("retry-after-ms"):
            value = float(ms) / 1000
        elif ra := headers.get("retry-after"):
            try:
                value = float(ra)
            except ValueError:
                when = email.utils.parsedate_to_datetime(ra)
                value = (when - datetime.now(when.tzinfo or UTC)).total_seconds()
    except (TypeError, ValueError):
        return None
    if value is None or not math.isfinite(value):
        return None
    return max(0.0, value)


def is_retryable(exc: BaseException) -> bool:
    """Timeouts, connection errors, 408/429/5xx and invalid answers are retried; other errors are final."""
    if isinstance(exc, InvalidAnswerError):
        return True
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRYABLE_STATUSES or exc.status_code >= 500
    return False


class BackoffWait:
    """tenacity wait: the server's Retry-After (capped) when given, else exponential backoff with jitter."""

    def __init__(self, initial: float, maximum: float, retry_after_cap: float) -> None:
        self._exponential = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)
        self.retry_after_cap = retry_after_cap

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hint = retry_after_seconds(exc)
        if hint is not None:
            return min(hint, self.retry_after_cap)
        return float(self._exponential(retry_state))


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, LLMError):
        return exc.reason
    if isinstance(exc, openai.APITimeoutError):
        return REASON_TIMEOUT
    if isinstance(exc, openai.APIError):
        return REASON_UNAVAILABLE
    return REASON_UNEXPECTED


def _setting(config: Mapping[str, Any], name: str) -> Any:
    """A setting from `config`, defaulting to the documented default in `app.config.Settings`."""
    return config[name] if name in config else Settings.model_fields[name].default


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
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        if not api_key:
            # OpenAI-compatible local servers need no key, but the client insists on one.
            log.warning("OPENAI_API_KEY is empty; sending a placeholder key")
        self.model = model
        self.fallback = fallback
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.prompt = prompt or load_prompt()
        self.breaker = CircuitBreaker(circuit_failures, circuit_reset_seconds)
        self._wait = BackoffWait(backoff_initial, backoff_max, retry_after_cap)
        self._sleep = sleep
        self._client = openai.OpenAI(
            base_url=base_url or None, api_key=api_key or "sem-chave", timeout=timeout, max_retries=0
        )
        # Bounds in-flight requests per process, also across concurrent classify_many calls.
        self._slots = threading.BoundedSemaphore(concurrency)
        self._tag_normalizer = tag_normalizer
        self._tags_lock = threading.Lock()
        self._usage_lock = threading.Lock()
        self._usage: dict[str, int] = dict.fromkeys(
            ("requests", "ok", "invalid", "errors", "fallback", "circuit_open"), 0
        ) | dict.fromkeys(("prompt_tokens", "completion_tokens", "total_tokens"), 0)
        log.info("llm classifier ready: model=%s prompt=%s", model, self.prompt.version)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, fallback: Classifier, **overrides: Any) -> OpenAIClassifier:
        """Build from OPENAI_* / LLM_* settings; keyword overrides win (tests tune backoff this way)."""
        kwargs: dict[str, Any] = {
            "base_url": _setting(config, "OPENAI_BASE_URL"),
            "api_key": _setting(config, "OPENAI_API_KEY"),
            "model": _setting(config, "LLM_MODEL"),
            "timeout": float(_setting(config, "LLM_TIMEOUT")),
            "max_retries": int(_setting(config, "LLM_MAX_RETRIES")),
            "concurrency": int(_setting(config, "LLM_CONCURRENCY")),
            "circuit_failures": int(_setting(config, "LLM_CIRCUIT_FAILURES")),
            "circuit_reset_seconds": float(_setting(config, "LLM_CIRCUIT_RESET_SECONDS")),
        }
        return cls(fallback=fallback, **(kwargs | overrides))

    @property
    def model_label(self) -> str:
        """What `modelo` says for an LLM answer."""
        return f"openai:{self.model}"

    @property
    def usage(self) -> dict[str, int]:
        """Cumulative calls and tokens since this instance was built (a copy)."""
        with self._usage_lock:
            return dict(self._usage)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

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
            self._count("fallback", len(failures))
            self._count("circuit_open", skipped)
            log.warning(
                "llm gave no answer for %d/%d comments (%d skipped by open circuit); last error: %s",
                len(failures),
                len(texts),
                skipped,
                failures[-1].error,
            )
        return outcomes

    # -- one item -------------------------------------------------------------------------------------------

    def _classify_one(self, text: str) -> Classification | LLMFailure:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, text)
        except (LLMError, openai.OpenAIError) as exc:
            return LLMFailure(reason=_failure_reason(exc), error=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug must not fail the whole batch: log it loudly and fall back
            log.exception("unexpected error while calling the llm")
            return LLMFailure(reason=REASON_UNEXPECTED, error=f"{type(exc).__name__}: {exc}")

    def _attempt(self, text: str) -> Classification:
        if not self.breaker.allow():
            raise CircuitOpenError("circuit open")
        self._count("requests")
        try:
            with self._slots:
                completion = self._client.chat.completions.create(
                    model=self.model,
                    messages=self.prompt.messages(text),  # type: ignore[arg-type]
                    temperature=0,
                    response_format=RESPONSE_FORMAT,  # type: ignore[arg-type]
                )
        except openai.APIStatusError as exc:
            self._count("errors")
            # 400/422 concern this request, not the endpoint's health.
            unavailable = exc.status_code in _UNAVAILABLE_STATUSES or exc.status_code >= 500
            if unavailable:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            raise
        except Exception:
            self._count("errors")
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        self._count_tokens(completion)
        try:
            answer = parse_answer(self._content(completion))
        except InvalidAnswerError:
            self._count("invalid")
            raise
        self._count("ok")
        return Classification(
            categoria=answer.categoria,
            confianca=answer.confianca,
            tags=self._tags().normalize_codes(answer.tags),
            modelo=self.model_label,
        )

    @staticmethod
    def _content(completion: ChatCompletion) -> str | None:
        if not completion.choices:
            raise InvalidAnswerError("no choices in the answer")
        choice = completion.choices[0]
        if choice.finish_reason not in (None, "stop"):
            raise InvalidAnswerError(f"answer not finished: {choice.finish_reason}")
        if getattr(choice.message, "refusal", None):
            raise InvalidAnswerError("the model refused to answer")
        return choice.message.content

    def _tags(self) -> TagNormalizer:
        if self._tag_normalizer is None:
            with self._tags_lock:
                if self._tag_normalizer is None:
                    self._tag_normalizer = load_tag_normalizer()
        return self._tag_normalizer

    def _count(self, outcome: str, n: int = 1) -> None:
        if n <= 0:
            return
        with self._usage_lock:
            self._usage[outcome] += n
        metric = {"requests": None, "errors": "error"}.get(outcome, outcome)
        if metric:
            LLM_CALLS.labels(model=self.model, outcome=metric).inc(n)

    def _count_tokens(self, completion: ChatCompletion) -> None:
        usage = completion.usage
        if usage is None:
            return
        prompt, done = usage.prompt_tokens or 0, usage.completion_tokens or 0
        with self._usage_lock:
            self._usage["prompt_tokens"] += prompt
            self._usage["completion_tokens"] += done
            self._usage["total_tokens"] += usage.total_tokens or prompt + done
        LLM_TOKENS.labels(model=self.model, kind="prompt").inc(prompt)
        LLM_TOKENS.labels(model=self.model, kind="completion").inc(done)

    def _log_retry(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.warning(
            "llm attempt %d/%d failed (%s: %s); retrying in %.2fs",
            retry_state.attempt_number,
            self.max_retries + 1,
            type(exc).__name__,
            exc,
            wait,
        )


# --------------------------------------------------------------------------------------------------- budget


class DailyLLMBudget:
    """How many comments may still go to the LLM today (UTC), shared through Redis when a client is given.

    `limit == 0` means unlimited. Without Redis (or when Redis fails) the count is per process.
    """

    def __init__(
        self,
        limit: int,
        redis_client: Any | None = None,
        *,
        key_prefix: str = BUDGET_KEY_PREFIX,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.limit = limit
        self._redis = redis_client
        self._key_prefix = key_prefix
        self._today = today
        self._lock = threading.Lock()
        self._local: dict[date, int] = {}

    def key(self, day: date | None = None) -> str:
        return f"{self._key_prefix}:{(day or self._today()).isoformat()}"

    def reserve(self, wanted: int) -> int:
        """Take up to `wanted` units from today's budget; return how many were granted."""
        if wanted <= 0:
            return 0
        if self.limit == 0:
            return wanted
        if self._redis is not None:
            try:
                return self._reserve_redis(wanted)
            except Exception as exc:  # the budget must not take classification down with Redis
                log.warning("llm budget: redis unavailable (%s); counting in this process", exc)
        return self._reserve_local(wanted)

    def release(self, unused: int) -> None:
        """Give back units reserved but not spent (e.g. comments skipped by the open circuit)."""
        if unused <= 0 or self.limit == 0:
            return
        if self._redis is not None:
            try:
                self._redis.decrby(self.key(), unused)
                return
            except Exception as exc:
                log.warning("llm budget: redis unavailable (%s); releasing in this process", exc)
        with self._lock:
            day = self._today()
            self._local[day] = max(0, self._local.get(day, 0) - unused)

    def used_today(self) -> int:
        if self._redis is not None:
            try:
                return int(self._redis.get(self.key()) or 0)
            except Exception:
                pass
        with self._lock:
            return self._local.get(self._today(), 0)

    def _reserve_redis(self, wanted: int) -> int:
        key = self.key()
        pipe = self._redis.pipeline()
        pipe.incrby(key, wanted)
        pipe.expire(key, BUDGET_KEY_TTL_SECONDS)
        total, _ = pipe.execute()
        granted = max(0, min(wanted, self.limit - (int(total) - wanted)))
        if granted < wanted:
            # Concurrent reservers each give back their own excess, so the total never overshoots the limit.
            self._redis.decrby(key, wanted - granted)
        return granted

    def _reserve_local(self, wanted: int) -> int:
        with self._lock:
            day = self._today()
            for old in [d for d in self._local if d != day]:
                del self._local[old]
            used = self._local.get(day, 0)
            granted = max(0, min(wanted, self.limit - used))
            self._local[day] = used + granted
            return granted


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
            review_threshold=float(_setting(config, "REVIEW_THRESHOLD")),
            request_budget=int(_setting(config, "LLM_REQUEST_BUDGET")),
            daily_budget=DailyLLMBudget(int(_setting(config, "LLM_DAILY_BUDGET")), redis_client),
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
    if redis_client is None and config.get("REDIS_URL"):
        import redis

        redis_client = redis.Redis.from_url(config["REDIS_URL"], socket_timeout=1.0, socket_connect_timeout=1.0)
    return HybridClassifier.from_config(config, local=fallback, llm=llm, redis_client=redis_client)
