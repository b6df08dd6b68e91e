"""The `openai` and `hibrido` providers, with the real `openai` client talking HTTP to a fake endpoint.

The fallback is a small in-test classifier so these tests do not depend on the trained model, except for
one test that uses the real `LocalClassifier`. Waits are short (timeout 0.3 s, Retry-After 1 s).
"""

from __future__ import annotations

import csv
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from app.classifier.base import CATEGORIES, Classification, Classifier
from app.classifier.llm import (
    PROMPTS_DIR,
    RESPONSE_FORMAT,
    CircuitBreaker,
    DailyLLMBudget,
    HybridClassifier,
    OpenAIClassifier,
    build_llm_classifier,
    load_prompt,
)
from app.config import DATA_DIR
from tests.support import services
from tests.support.fake_openai import UNKNOWN_TAG, Behaviour, FakeOpenAI, keyword_answer
from tests.support.fake_openai import fake_openai as fake_openai  # the fixture

MODEL = "modelo-teste"
TIMEOUT = 0.3


class StubLocal:
    """Stands in for the local model: always CRÍTICA; confidence 0.95 unless the text says `conf=0.NN`."""

    name = "local"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        self.calls.append(list(texts))
        out = []
        for text in texts:
            match = re.search(r"conf=(0\.\d+)", text)
            confidence = float(match[1]) if match else 0.95
            out.append(Classification(categoria="CRÍTICA", confianca=confidence, tags=[], modelo="local:stub-1"))
        return out


def llm_config(fake: FakeOpenAI, **overrides: Any) -> dict[str, Any]:
    return {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-teste",
        "LLM_MODEL": MODEL,
        "LLM_TIMEOUT": TIMEOUT,
        "LLM_MAX_RETRIES": 2,
        "LLM_CONCURRENCY": 4,
        "LLM_CIRCUIT_FAILURES": 50,
        "LLM_CIRCUIT_RESET_SECONDS": 0.5,
        "REVIEW_THRESHOLD": 0.6,
        "LLM_REQUEST_BUDGET": 50,
        "LLM_DAILY_BUDGET": 0,
    } | overrides


@pytest.fixture
def make_llm(fake_openai: FakeOpenAI) -> Iterator[Callable[..., OpenAIClassifier]]:
    """Build OpenAIClassifiers against the fake (fast backoff); their connections are closed afterwards."""
    built: list[OpenAIClassifier] = []

    def make(fallback: Classifier | None = None, **config: Any) -> OpenAIClassifier:
        classifier = OpenAIClassifier.from_config(
            llm_config(fake_openai, **config),
            fallback=fallback or StubLocal(),
            backoff_initial=0.01,
            backoff_max=0.05,
        )
        built.append(classifier)
        return classifier

    yield make
    for classifier in built:
        classifier.close()


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ----------------------------------------------------------------------------------------- correct answers


def test_correct_answer_is_used_and_request_is_structured(fake_openai, make_llm):
    llm = make_llm()
    text = "o modo offline é ruim demais, uma tag inventada"

    [result] = llm.classify_many([text])

    assert result.categoria == "CRÍTICA" == keyword_answer(text)[0]
    assert result.confianca == pytest.approx(0.91)
    assert result.modelo == f"openai:{MODEL}"
    # Tags are normalised onto the taxonomy: known code kept with its explanation, unknown code dropped.
    assert [t.codigo for t in result.tags] == ["app_modo_offline"]
    assert result.tags[0].explicacao
    assert UNKNOWN_TAG not in {t.codigo for t in result.tags}

    [request] = fake_openai.requests
    body = request.body
    assert request.path == "/v1/chat/completions"
    assert body["model"] == MODEL
    assert body["temperature"] == 0
    assert body["response_format"] == RESPONSE_FORMAT
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"]["properties"]["categoria"]["enum"] == list(CATEGORIES)
    prompt = load_prompt()
    assert body["messages"][0] == {"role": "system", "content": prompt.system}
    assert len(body["messages"]) == 2 + 2 * len(prompt.examples)
    assert request.comment == text
    assert request.headers.get("authorization") == "Bearer sk-teste"


def test_unaccented_category_is_normalised(fake_openai, make_llm):
    fake_openai.default = Behaviour.ok_unaccented()
    texts = ["deviam lançar versão acústica", "quando sai o álbum?", "que batida ruim"]

    results = make_llm().classify_many(texts)

    assert [r.categoria for r in results] == ["SUGESTÃO", "DÚVIDA", "CRÍTICA"]
    assert all(r.modelo == f"openai:{MODEL}" for r in results)


# ------------------------------------------------------------------------------------------ invalid answers


INVALID_ANSWERS = [Behaviour.invalid_json(), Behaviour.unknown_category(), Behaviour.bad_confidence()]


@pytest.mark.parametrize("behaviour", INVALID_ANSWERS, ids=lambda b: b.kind)
def test_invalid_answer_is_retried_then_falls_back(fake_openai, make_llm, behaviour):
    fake_openai.default = behaviour
    local = StubLocal()
    llm = make_llm(fallback=local, LLM_MAX_RETRIES=2)

    [result] = llm.classify_many(["que refrão lindo"])

    assert fake_openai.request_count == 3  # first try + LLM_MAX_RETRIES
    assert local.calls == [["que refrão lindo"]]
    assert result.categoria == "CRÍTICA"  # the stub's answer
    assert result.modelo == "local:stub-1 (fallback: resposta inválida do openai)"
    assert llm.usage["invalid"] == 3
    assert llm.usage["fallback"] == 1


def test_invalid_answer_then_valid_one_succeeds(fake_openai, make_llm):
    fake_openai.script(Behaviour.invalid_json(), Behaviour.unknown_category())
    local = StubLocal()

    [result] = make_llm(fallback=local).classify_many(["que refrão lindo"])

    assert fake_openai.request_count == 3
    assert result.modelo == f"openai:{MODEL}"
    assert result.categoria == "ELOGIO"
    assert local.calls == []


# ------------------------------------------------------------------------------------- retries and backoff


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(fake_openai, make_llm, status):
    fake_openai.script(Behaviour.error(status, retry_after=1))
    slept: list[float] = []  # the injected sleep: what the client waited, not how long the machine took

    llm = OpenAIClassifier.from_config(llm_config(fake_openai), fallback=StubLocal(), sleep=slept.append)
    try:
        [result] = llm.classify_many(["que pedrada"])
    finally:
        llm.close()

    assert result.modelo == f"openai:{MODEL}"
    assert fake_openai.request_count == 2
    assert slept == [1.0]


def test_retry_after_is_capped(fake_openai):
    fake_openai.script(Behaviour.error(429, retry_after=120))
    slept: list[float] = []
    llm = OpenAIClassifier.from_config(
        llm_config(fake_openai), fallback=StubLocal(), retry_after_cap=0.2, sleep=slept.append
    )
    try:
        [result] = llm.classify_many(["que pedrada"])
    finally:
        llm.close()

    assert result.modelo == f"openai:{MODEL}"
    assert fake_openai.request_count == 2
    assert slept == [0.2]  # 120 s asked, capped


def test_server_error_is_retried_then_succeeds(fake_openai, make_llm):
    fake_openai.script(Behaviour.error(500), Behaviour.error(502))

    [result] = make_llm(LLM_MAX_RETRIES=2).classify_many(["que pedrada"])

    assert fake_openai.request_count == 3
    assert result.modelo == f"openai:{MODEL}"


def test_persistent_server_error_falls_back_after_max_retries(fake_openai, make_llm):
    fake_openai.default = Behaviour.error(500)

    [result] = make_llm(LLM_MAX_RETRIES=2).classify_many(["que pedrada"])

    assert fake_openai.request_count == 3
    assert result.modelo == "local:stub-1 (fallback: openai indisponível)"


def test_client_error_is_not_retried(fake_openai, make_llm):
    fake_openai.default = Behaviour.error(400)

    [result] = make_llm(LLM_MAX_RETRIES=3).classify_many(["que pedrada"])

    assert fake_openai.request_count == 1
    assert "(fallback: openai indisponível)" in result.modelo


def test_slow_endpoint_times_out_and_falls_back(fake_openai, make_llm):
    fake_openai.default = Behaviour.slow(2.0)
    llm = make_llm(LLM_MAX_RETRIES=1)

    [result] = llm.classify_many(["que pedrada"])

    assert fake_openai.request_count == 2
    # "tempo esgotado": both calls ended by the client's timeout, never by the server's 2 s answer.
    assert result.modelo == "local:stub-1 (fallback: openai indisponível: tempo esgotado)"


def test_unreachable_endpoint_falls_back():
    llm = OpenAIClassifier.from_config(
        {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k", "LLM_TIMEOUT": TIMEOUT},
        fallback=StubLocal(),
        max_retries=1,
        backoff_initial=0.01,
    )
    try:
        [result] = llm.classify_many(["que pedrada"])
    finally:
        llm.close()
    assert result.modelo == "local:stub-1 (fallback: openai indisponível)"
    assert llm.usage["errors"] == 2


# ------------------------------------------------------------------------------------------ circuit breaker


def test_circuit_opens_after_consecutive_failures_then_half_opens(fake_openai, make_llm):
    fake_openai.default = Behaviour.error(500)
    llm = make_llm(LLM_MAX_RETRIES=0, LLM_CONCURRENCY=1)
    now = [0.0]  # the breaker's clock, moved by the test instead of sleeping
    llm.client.breaker = CircuitBreaker(failure_threshold=3, reset_timeout=0.5, clock=lambda: now[0])

    results = llm.classify_many([f"comentário {i}" for i in range(6)])

    assert fake_openai.request_count == 3  # the breaker opened: the last three never reached the server
    assert all("fallback" in r.modelo for r in results)
    assert [r.modelo.endswith("circuito aberto)") for r in results] == [False] * 3 + [True] * 3
    assert llm.breaker.state == CircuitBreaker.OPEN
    assert llm.usage["circuit_open"] == 3

    fake_openai.default = Behaviour.ok()
    [still_open] = llm.classify_many(["que pedrada"])
    assert fake_openai.request_count == 3
    assert still_open.modelo.endswith("circuito aberto)")

    now[0] += 0.55
    assert llm.breaker.state == CircuitBreaker.HALF_OPEN
    results = llm.classify_many(["que pedrada", "que refrão", "que batida"])  # trial succeeds, circuit closes
    assert fake_openai.request_count == 6
    assert all(r.modelo == f"openai:{MODEL}" for r in results)
    assert llm.breaker.state == CircuitBreaker.CLOSED


def test_failed_trial_reopens_the_circuit(fake_openai, make_llm):
    fake_openai.default = Behaviour.error(503)
    llm = make_llm(LLM_MAX_RETRIES=0, LLM_CONCURRENCY=1)
    now = [0.0]
    llm.client.breaker = CircuitBreaker(failure_threshold=2, reset_timeout=0.3, clock=lambda: now[0])
    llm.classify_many(["a", "b"])
    assert llm.breaker.state == CircuitBreaker.OPEN

    now[0] += 0.35
    llm.classify_many(["c", "d"])  # c is the trial and fails; d is skipped without a call

    assert fake_openai.request_count == 3
    assert llm.breaker.state == CircuitBreaker.OPEN


def test_breaker_unit_behaviour():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=10, clock=lambda: now[0])

    breaker.record_failure()
    breaker.record_success()  # a success resets the run of failures
    breaker.record_failure()
    assert breaker.allow() and breaker.state == CircuitBreaker.CLOSED
    breaker.record_failure()
    assert breaker.state == CircuitBreaker.OPEN and not breaker.allow()

    now[0] = 10.0
    assert breaker.allow()  # the one trial call
    assert not breaker.allow()  # others wait while the trial is in flight
    breaker.record_failure()
    assert breaker.state == CircuitBreaker.OPEN and not breaker.allow()

    now[0] = 20.0
    assert breaker.allow()
    now[0] = 30.0
    assert breaker.allow()  # a trial that never reported back does not wedge the breaker
    breaker.record_success()
    assert breaker.state == CircuitBreaker.CLOSED and breaker.allow() and breaker.allow()


# -------------------------------------------------------------------------------------- concurrency, order


def test_batch_concurrency_is_bounded_and_order_preserved(fake_openai, make_llm):
    fake_openai.default = Behaviour.ok(delay=0.15)
    texts = [
        "o modo offline é ruim",
        "quando sai o álbum?",
        "deviam lançar versão acústica",
        "sigam meu canal",
        "que refrão lindo",
        "o ingresso tá caro, esperava mais",
        "que tal um show em Manaus",
        "alguém sabe o nome da música?",
        "batida absurda",
        "promo de fones http://x.y",
        "podia ser melhor",
        "autotune na medida",
    ]
    llm = make_llm(LLM_CONCURRENCY=3)

    results = llm.classify_many(texts)

    assert [r.categoria for r in results] == [keyword_answer(t)[0] for t in texts]
    assert fake_openai.max_in_flight == 3  # parallel (three at once), never above LLM_CONCURRENCY


def test_concurrency_bound_holds_across_simultaneous_batches(fake_openai, make_llm):
    fake_openai.default = Behaviour.ok(delay=0.1)
    llm = make_llm(LLM_CONCURRENCY=2)
    outputs: list[list[Classification]] = []

    def run(tag: str) -> None:
        outputs.append(llm.classify_many([f"{tag} que pedrada {i}" for i in range(4)]))

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert fake_openai.request_count == 12
    assert fake_openai.max_in_flight == 2
    assert all(r.modelo == f"openai:{MODEL}" for out in outputs for r in out)


def test_partial_failure_falls_back_only_for_failed_items(fake_openai, make_llm):
    fake_openai.default = Behaviour.ok()
    local = StubLocal()
    llm = make_llm(fallback=local, LLM_MAX_RETRIES=0, LLM_CONCURRENCY=1)
    fake_openai.script(Behaviour.ok(), Behaviour.error(500), Behaviour.ok(), Behaviour.invalid_json())

    results = llm.classify_many(["que pedrada", "que refrão", "deviam lançar", "quando sai?"])

    assert [r.modelo.split(" ")[0] for r in results] == [f"openai:{MODEL}", "local:stub-1"] * 2
    assert [r.categoria for r in results] == ["ELOGIO", "CRÍTICA", "SUGESTÃO", "CRÍTICA"]
    assert local.calls == [["que refrão", "quando sai?"]]  # one vectorised call for the failed items


# ------------------------------------------------------------------------------------------------ metrics


def test_token_counters_and_usage_increase(fake_openai, make_llm):
    labels_prompt = {"model": MODEL, "kind": "prompt"}
    labels_completion = {"model": MODEL, "kind": "completion"}
    before_prompt = sample("alumusic_llm_tokens_total", labels_prompt)
    before_completion = sample("alumusic_llm_tokens_total", labels_completion)
    before_ok = sample("alumusic_llm_calls_total", {"model": MODEL, "outcome": "ok"})
    llm = make_llm()

    llm.classify_many(["que pedrada", "quando sai?"])

    usage = llm.usage
    assert usage["ok"] == 2 and usage["requests"] == 2
    assert usage["prompt_tokens"] > 1000  # system prompt + few-shot examples, twice
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert sample("alumusic_llm_tokens_total", labels_prompt) - before_prompt == usage["prompt_tokens"]
    assert sample("alumusic_llm_tokens_total", labels_completion) - before_completion == usage["completion_tokens"]
    assert sample("alumusic_llm_calls_total", {"model": MODEL, "outcome": "ok"}) - before_ok == 2


def test_fallback_and_circuit_open_are_counted(fake_openai, make_llm):
    fake_openai.default = Behaviour.error(500)
    labels = {"model": MODEL, "outcome": "circuit_open"}
    before_open = sample("alumusic_llm_calls_total", labels)
    before_fallback = sample("alumusic_llm_calls_total", {"model": MODEL, "outcome": "fallback"})
    before_error = sample("alumusic_llm_calls_total", {"model": MODEL, "outcome": "error"})

    make_llm(LLM_MAX_RETRIES=0, LLM_CONCURRENCY=1, LLM_CIRCUIT_FAILURES=1).classify_many(["a", "b", "c"])

    assert sample("alumusic_llm_calls_total", labels) - before_open == 2
    assert sample("alumusic_llm_calls_total", {"model": MODEL, "outcome": "fallback"}) - before_fallback == 3
    assert sample("alumusic_llm_calls_total", {"model": MODEL, "outcome": "error"}) - before_error == 1


# ------------------------------------------------------------------------------------------------ hibrido


def make_hybrid(fake: FakeOpenAI, local: Classifier, redis_client: Any = None, **config: Any) -> HybridClassifier:
    classifier = build_llm_classifier("hibrido", llm_config(fake, **config), fallback=local, redis_client=redis_client)
    assert isinstance(classifier, HybridClassifier)
    return classifier


def test_hibrido_sends_only_low_confidence_items(fake_openai):
    local = StubLocal()
    hybrid = make_hybrid(fake_openai, local, REVIEW_THRESHOLD=0.6)
    texts = ["que pedrada conf=0.95", "quando sai? conf=0.41", "hino conf=0.60", "deviam lançar conf=0.59"]

    results = hybrid.classify_many(texts)

    assert sorted(fake_openai.comments) == sorted([texts[1], texts[3]])
    assert [r.modelo for r in results] == ["local:stub-1", f"openai:{MODEL}", "local:stub-1", f"openai:{MODEL}"]
    assert [r.categoria for r in results] == ["CRÍTICA", "DÚVIDA", "CRÍTICA", "SUGESTÃO"]
    assert local.calls == [texts]  # the local model saw everything once, no second fallback call
    hybrid.llm.close()


def test_hibrido_respects_the_request_budget_least_confident_first(fake_openai):
    hybrid = make_hybrid(fake_openai, StubLocal(), LLM_REQUEST_BUDGET=2)
    texts = ["a conf=0.50", "b conf=0.10", "c conf=0.30", "d conf=0.20", "e conf=0.99"]

    results = hybrid.classify_many(texts)

    assert sorted(fake_openai.comments) == ["b conf=0.10", "d conf=0.20"]
    assert [r.modelo.startswith("openai:") for r in results] == [False, True, False, True, False]
    assert results[0].modelo == "local:stub-1"  # over budget: the local result, untouched
    assert hybrid.usage["llm_items"] == 2 and hybrid.usage["over_budget"] == 2
    hybrid.llm.close()


def test_hibrido_keeps_local_result_when_the_llm_fails(fake_openai):
    fake_openai.default = Behaviour.error(500)
    hybrid = make_hybrid(fake_openai, StubLocal(), LLM_MAX_RETRIES=0)

    [kept] = hybrid.classify_many(["hmm conf=0.20"])

    assert kept.categoria == "CRÍTICA" and kept.confianca == 0.2
    assert kept.modelo == "local:stub-1 (fallback: openai indisponível)"
    hybrid.llm.close()


def test_hibrido_daily_budget_in_process(fake_openai):
    hybrid = make_hybrid(fake_openai, StubLocal(), LLM_DAILY_BUDGET=3)
    low = ["x conf=0.1", "y conf=0.2"]

    first = hybrid.classify_many(low)
    second = hybrid.classify_many(low)
    third = hybrid.classify_many(low)

    assert fake_openai.request_count == 3
    assert [r.modelo.startswith("openai:") for r in first + second + third] == [True, True, True, False] + [False] * 2
    assert hybrid.daily_budget.used_today() == 3
    hybrid.llm.close()


def test_hibrido_daily_budget_is_shared_through_redis(fake_openai):
    import redis

    url = services.redis_url()
    services.check_redis(url)
    client = redis.Redis.from_url(url)
    prefix = f"alumusic:test:{uuid.uuid4().hex}"
    hybrids = [make_hybrid(fake_openai, StubLocal(), LLM_DAILY_BUDGET=3) for _ in range(2)]
    for hybrid in hybrids:  # two processes sharing one Redis
        hybrid.daily_budget = DailyLLMBudget(3, client, key_prefix=prefix)
    try:
        a = hybrids[0].classify_many(["x conf=0.1", "y conf=0.2"])
        b = hybrids[1].classify_many(["z conf=0.1", "w conf=0.2"])

        assert fake_openai.request_count == 3
        assert sum(r.modelo.startswith("openai:") for r in a + b) == 3
        key = hybrids[0].daily_budget.key()
        assert key.startswith(prefix) and int(client.get(key)) == 3
        assert 0 < client.ttl(key) <= 2 * 24 * 3600
    finally:
        client.delete(*client.keys(f"{prefix}:*") or ["-"])
        for hybrid in hybrids:
            hybrid.llm.close()


def test_daily_budget_redis_reservation_never_overshoots():
    import redis

    url = services.redis_url()
    services.check_redis(url)
    client = redis.Redis.from_url(url)
    prefix = f"alumusic:test:{uuid.uuid4().hex}"
    budget = DailyLLMBudget(10, client, key_prefix=prefix)
    granted: list[int] = []
    lock = threading.Lock()

    def reserve() -> None:
        for _ in range(5):
            n = budget.reserve(3)
            with lock:
                granted.append(n)

    threads = [threading.Thread(target=reserve) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sum(granted) == 10
        assert budget.used_today() == 10
    finally:
        client.delete(budget.key())


# ---------------------------------------------------------------------------------------- factory, prompt


def test_build_llm_classifier_returns_the_right_provider(fake_openai):
    local = StubLocal()
    openai_provider = build_llm_classifier("openai", llm_config(fake_openai), fallback=local)
    hybrid = build_llm_classifier("hibrido", llm_config(fake_openai), fallback=local)
    try:
        assert isinstance(openai_provider, OpenAIClassifier) and openai_provider.name == "openai"
        assert openai_provider.fallback is local
        assert isinstance(hybrid, HybridClassifier) and hybrid.name == "hibrido" and hybrid.local is local
        assert isinstance(openai_provider, Classifier) and isinstance(hybrid, Classifier)
        with pytest.raises(ValueError):
            build_llm_classifier("local", llm_config(fake_openai), fallback=local)
    finally:
        openai_provider.close()
        hybrid.llm.close()


def _csv_rows(paths: list[Path]) -> dict[str, str]:
    rows: dict[str, str] = {}
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rows[row["texto"].strip()] = row.get("categoria", "")
    return rows


def test_few_shot_examples_come_from_training_data_only():
    prompt = load_prompt()
    train = _csv_rows(sorted((DATA_DIR / "train").glob("*.csv")))
    held_out = _csv_rows(sorted((DATA_DIR / "eval").glob("*.csv")))

    assert 8 <= len(prompt.examples) <= 16
    assert {e.answer.categoria for e in prompt.examples} == set(CATEGORIES)
    for example in prompt.examples:
        assert example.texto not in held_out, f"eval row used as a few-shot example: {example.texto!r}"
        assert train.get(example.texto) == example.answer.categoria, f"not a training row: {example.texto!r}"


def test_prompt_tag_codes_are_all_in_the_taxonomy():
    prompt = load_prompt()
    codes = re.findall(r"^- ([a-z]+_[a-z_]+):", prompt.system, flags=re.MULTILINE)
    example_codes = {code for e in prompt.examples for code in e.answer.tags}
    assert len(codes) >= 40 and example_codes <= set(codes)
    from app.classifier import tags

    extractor = tags.TagExtractor.load()
    known = {c for c in codes if [t.codigo for t in extractor.normalize_codes([c])] == [c]}
    assert known == set(codes), f"prompt codes missing from the taxonomy: {sorted(set(codes) - known)}"
    assert (PROMPTS_DIR / "classify_v1.md").is_file()


# ----------------------------------------------------------------------------------------- real local model


def test_fallback_to_the_real_local_model(fake_openai, request):
    model_dir = request.getfixturevalue("model_dir")  # trained once per session (tests/conftest.py)
    fake_openai.default = Behaviour.error(503)
    provider = build_llm_classifier("openai", llm_config(fake_openai, MODEL_DIR=model_dir, LLM_MAX_RETRIES=0))
    try:
        results = provider.classify_many(["que pedrada, hino demais 🔥🔥🔥", "quando sai o álbum novo?"])
    finally:
        provider.close()  # type: ignore[attr-defined]

    for result in results:
        assert re.fullmatch(r"local:\S+ \(fallback: openai indisponível\)", result.modelo), result.modelo
        assert result.categoria in CATEGORIES and 0.0 <= result.confianca <= 1.0
