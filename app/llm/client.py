"""One OpenAI-compatible chat client for every LLM user (classifier, weekly summary, insights Q&A).

- Retries are ours (the `openai` client runs with `max_retries=0`) so every attempt is logged and counted:
  tenacity, exponential backoff with jitter, `Retry-After` honoured (capped) on 429/503.
- A consecutive-failure circuit breaker tracks the endpoint's *availability* (timeouts, connection errors,
  429, 5xx, auth/config errors); 400/422 concern one request and do not open it.
- The answer is validated by the caller's `parse` inside the retry loop: an invalid answer is retried too.
- Tokens and outcomes are counted per client (`usage`) and in Prometheus.
"""

from __future__ import annotations

import email.utils
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import openai
from prometheus_client import Counter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from app.config import Settings
from app.llm.breaker import CircuitBreaker

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

log = logging.getLogger(__name__)

T = TypeVar("T")

# Longest wait we accept from a server's Retry-After; longer hints are cut to this (the caller may fall back).
DEFAULT_RETRY_AFTER_CAP = 20.0
# Exponential backoff between retries when the server gives no hint: initial * 2**n + jitter, at most max.
DEFAULT_BACKOFF_INITIAL = 0.5
DEFAULT_BACKOFF_MAX = 8.0

LLM_TOKENS = Counter(
    "alumusic_llm_tokens_total",
    "Tokens consumed by LLM calls, as reported by the endpoint.",
    ["model", "kind"],
)
LLM_CALLS = Counter(
    "alumusic_llm_calls_total",
    "LLM call outcomes. ok/invalid/error count HTTP attempts; fallback counts items that did not get an LLM "
    "answer (kept or got the local result); circuit_open counts items skipped by the open breaker.",
    ["model", "outcome"],
)

# Why an item did not get an LLM answer; shown in `modelo` as "<local> (fallback: <reason>)".
REASON_UNAVAILABLE = "openai indisponível"
REASON_TIMEOUT = "openai indisponível: tempo esgotado"
REASON_CIRCUIT_OPEN = "openai indisponível: circuito aberto"
REASON_INVALID = "resposta inválida do openai"
REASON_UNEXPECTED = "erro inesperado no openai"
REASON_OVER_BUDGET = "orçamento diário do openai esgotado"

# HTTP statuses worth another try, and those that say the endpoint is unusable (they open the breaker).
_RETRYABLE_STATUSES = frozenset({408, 429})
_UNAVAILABLE_STATUSES = frozenset({401, 403, 404, 408, 429})

USAGE_KEYS = ("requests", "ok", "invalid", "errors", "fallback", "circuit_open")
TOKEN_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


class LLMError(Exception):
    """The LLM gave no usable answer; `reason` is what `modelo` shows."""

    reason = REASON_UNAVAILABLE


class InvalidAnswerError(LLMError):
    """The endpoint answered, but not with what the caller asked for."""

    reason = REASON_INVALID


class CircuitOpenError(LLMError):
    """The circuit breaker is open: the endpoint is not called."""

    reason = REASON_CIRCUIT_OPEN


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


def failure_reason(exc: BaseException) -> str:
    """The pt-BR reason shown to users for an exception raised by `ChatClient.complete`."""
    if isinstance(exc, LLMError):
        return exc.reason
    if isinstance(exc, openai.APITimeoutError):
        return REASON_TIMEOUT
    if isinstance(exc, openai.APIError):
        return REASON_UNAVAILABLE
    return REASON_UNEXPECTED


def setting(config: Mapping[str, Any], name: str) -> Any:
    """A setting from `config`, defaulting to the documented default in `app.config.Settings`."""
    return config[name] if name in config else Settings.model_fields[name].default


def client_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """ChatClient keyword arguments from the OPENAI_* / LLM_* settings."""
    return {
        "base_url": setting(config, "OPENAI_BASE_URL"),
        "api_key": setting(config, "OPENAI_API_KEY"),
        "model": setting(config, "LLM_MODEL"),
        "timeout": float(setting(config, "LLM_TIMEOUT")),
        "max_retries": int(setting(config, "LLM_MAX_RETRIES")),
        "concurrency": int(setting(config, "LLM_CONCURRENCY")),
        "circuit_failures": int(setting(config, "LLM_CIRCUIT_FAILURES")),
        "circuit_reset_seconds": float(setting(config, "LLM_CIRCUIT_RESET_SECONDS")),
    }


def message_content(completion: ChatCompletion) -> str | None:
    """The first choice's text; a missing, unfinished or refused answer is invalid."""
    if not completion.choices:
        raise InvalidAnswerError("no choices in the answer")
    choice = completion.choices[0]
    if choice.finish_reason not in (None, "stop"):
        raise InvalidAnswerError(f"answer not finished: {choice.finish_reason}")
    if getattr(choice.message, "refusal", None):
        raise InvalidAnswerError("the model refused to answer")
    return choice.message.content


class ChatClient:
    """Chat completions with our retries, breaker, bounded concurrency and token accounting."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        timeout: float = 15.0,
        max_retries: int = 3,
        concurrency: int = 4,
        circuit_failures: int = 5,
        circuit_reset_seconds: float = 30.0,
        backoff_initial: float = DEFAULT_BACKOFF_INITIAL,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1 or max_retries < 0:
            raise ValueError("concurrency must be >= 1 and max_retries >= 0")
        if not api_key:
            # OpenAI-compatible local servers need no key, but the client insists on one.
            log.warning("OPENAI_API_KEY is empty; sending a placeholder key")
        self.model = model
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.breaker = CircuitBreaker(circuit_failures, circuit_reset_seconds)
        self._wait = BackoffWait(backoff_initial, backoff_max, retry_after_cap)
        self._sleep = sleep
        self._client = openai.OpenAI(
            base_url=base_url or None, api_key=api_key or "sem-chave", timeout=timeout, max_retries=0
        )
        # Bounds in-flight requests per process, also across concurrent callers.
        self._slots = threading.BoundedSemaphore(concurrency)
        self._usage_lock = threading.Lock()
        self._usage: dict[str, int] = dict.fromkeys(USAGE_KEYS, 0) | dict.fromkeys(TOKEN_KEYS, 0)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> ChatClient:
        """Build from OPENAI_* / LLM_* settings; keyword overrides win (tests tune timeouts and backoff)."""
        return cls(**(client_settings(config) | overrides))

    @property
    def usage(self) -> dict[str, int]:
        """Cumulative calls and tokens since this client was built (a copy)."""
        with self._usage_lock:
            return dict(self._usage)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def complete(
        self,
        messages: list[dict[str, str]],
        parse: Callable[[str | None], T],
        *,
        response_format: dict[str, Any] | None = None,
        temperature: float = 0,
        max_tokens: int | None = None,
    ) -> T:
        """One validated answer, retried per policy; raises LLMError or openai.OpenAIError when none came."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(is_retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(self._attempt, messages, parse, response_format, temperature, max_tokens)

    def count(self, outcome: str, n: int = 1) -> None:
        """Add to a usage counter (and its Prometheus outcome)."""
        if n <= 0:
            return
        with self._usage_lock:
            self._usage[outcome] += n
        metric = {"requests": None, "errors": "error"}.get(outcome, outcome)
        if metric:
            LLM_CALLS.labels(model=self.model, outcome=metric).inc(n)

    def _attempt(
        self,
        messages: list[dict[str, str]],
        parse: Callable[[str | None], T],
        response_format: dict[str, Any] | None,
        temperature: float,
        max_tokens: int | None,
    ) -> T:
        if not self.breaker.allow():
            raise CircuitOpenError("circuit open")
        self.count("requests")
        extra: dict[str, Any] = {}
        if response_format is not None:
            extra["response_format"] = response_format
        if max_tokens is not None:
            extra["max_tokens"] = max_tokens
        try:
            with self._slots:
                completion = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=temperature,
                    **extra,
                )
        except openai.APIStatusError as exc:
            self.count("errors")
            # 400/422 concern this request, not the endpoint's health.
            if exc.status_code in _UNAVAILABLE_STATUSES or exc.status_code >= 500:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            raise
        except Exception:
            self.count("errors")
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        self._count_tokens(completion)
        try:
            answer = parse(message_content(completion))
        except InvalidAnswerError:
            self.count("invalid")
            raise
        self.count("ok")
        return answer

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
