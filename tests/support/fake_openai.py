"""An OpenAI-compatible chat-completions HTTP server for tests, and the `fake_openai` pytest fixture.

A real `ThreadingHTTPServer` on 127.0.0.1 (port 0) in a background thread, so the real `openai` client talks
HTTP to it. Each request consumes the next scripted `Behaviour` (then `default`): a correct keyword-based answer,
invalid JSON, an unknown category, an out-of-range confidence, an HTTP error (optionally with Retry-After) or
a delay longer than the client's timeout. Requests are recorded with their bodies and arrival times, the
largest number of requests in flight is tracked, and answers carry realistic `usage` token counts.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
UNKNOWN_TAG = "tag_inexistente"

# (category, keywords) checked in order; the first match wins, ELOGIO otherwise.
_CATEGORY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SPAM", ("http", "link na bio", "sigam", "meu canal", "promo")),
    ("SUGESTÃO", ("deviam", "seria top", "coloca", "que tal", "podiam")),
    ("DÚVIDA", ("?",)),
    ("CRÍTICA", ("ruim", "horrível", "chato", "podia ser melhor", "esperava mais")),
)
_TAG_RULES: dict[str, str] = {
    "offline": "app_modo_offline",
    "batida": "musica_batida",
    "refrão": "musica_refrao",
    "ingresso": "show_ingresso",
    "autotune": "feat_autotune",
    "inventad": UNKNOWN_TAG,  # a code the taxonomy does not know: the client must drop it
}


def keyword_answer(text: str) -> tuple[str, list[str]]:
    """The deterministic (categoria, tags) the fake answers for `text`, so tests can predict it."""
    lowered = text.lower()
    category = next((cat for cat, words in _CATEGORY_RULES if any(w in lowered for w in words)), "ELOGIO")
    tags = [code for word, code in _TAG_RULES.items() if word in lowered]
    return category, tags


def comment_from_messages(messages: list[dict[str, Any]]) -> str:
    """The comment in the last user message (between the <<< >>> markers when present)."""
    content = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    if isinstance(content, list):  # content parts
        content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    if "<<<" in content and ">>>" in content:
        content = content.split("<<<", 1)[1].rsplit(">>>", 1)[0]
    return content.strip()


@dataclass(frozen=True)
class Behaviour:
    """What the fake does with one request."""

    kind: str = "ok"  # ok | ok_unaccented | invalid_json | unknown_category | bad_confidence | status | content
    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0
    content: str = ""  # kind "content": the assistant message, verbatim (summaries, Q&A)

    @classmethod
    def ok(cls, delay: float = 0.0) -> Behaviour:
        return cls("ok", delay=delay)

    @classmethod
    def ok_unaccented(cls) -> Behaviour:
        """A correct answer with the category spelled without accents (CRITICA, SUGESTAO, DUVIDA)."""
        return cls("ok_unaccented")

    @classmethod
    def invalid_json(cls) -> Behaviour:
        return cls("invalid_json")

    @classmethod
    def unknown_category(cls) -> Behaviour:
        return cls("unknown_category")

    @classmethod
    def bad_confidence(cls) -> Behaviour:
        return cls("bad_confidence")

    @classmethod
    def error(cls, status: int = 500, retry_after: float | None = None) -> Behaviour:
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def reply(cls, content: str, delay: float = 0.0) -> Behaviour:
        """Answer with exactly `content` as the assistant message (free text or a JSON string)."""
        return cls("content", content=content, delay=delay)

    @classmethod
    def slow(cls, seconds: float) -> Behaviour:
        """Answer correctly, but only after `seconds` (longer than the client timeout: it gives up first)."""
        return cls("ok", delay=seconds)


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]  # names lower-cased
    received_at: float  # time.monotonic()
    behaviour: Behaviour
    comment: str = field(init=False)

    def __post_init__(self) -> None:
        self.comment = comment_from_messages(self.body.get("messages") or [])


class FakeOpenAI:
    """The server. Use as the `fake_openai` fixture, or `with FakeOpenAI() as fake:`."""

    def __init__(self) -> None:
        self.default = Behaviour.ok()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._script: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False  # slow handlers must not hold up stop()
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # -- scripting and inspection ---------------------------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, in arrival order; `default` applies afterwards."""
        with self._lock:
            self._script.extend(behaviours)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def comments(self) -> list[str]:
        """The comments received, in arrival order."""
        with self._lock:
            return [r.comment for r in self.requests]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()
            self.max_in_flight = self.in_flight
            self.default = Behaviour.ok()

    def _begin(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Behaviour:
        with self._lock:
            behaviour = self._script.popleft() if self._script else self.default
            self.requests.append(RecordedRequest(path, body, headers, time.monotonic(), behaviour))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return behaviour

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        fake: FakeOpenAI = self.server.fake  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if path not in CHAT_PATHS:
            self._send_json(404, {"error": {"message": f"unknown path {path}", "type": "invalid_request_error"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        behaviour = fake._begin(path, body, {k.lower(): v for k, v in self.headers.items()})
        try:
            if behaviour.delay:
                fake._stopping.wait(behaviour.delay)
            if behaviour.kind == "status":
                headers = {} if behaviour.retry_after is None else {"Retry-After": f"{behaviour.retry_after:g}"}
                error = {"message": f"fake error {behaviour.status}", "type": "server_error", "code": None}
                self._send_json(behaviour.status, {"error": error}, headers)
            else:
                self._send_json(200, _completion(body, behaviour))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) before we answered
        finally:
            fake._end()

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_fake_{time.monotonic_ns()}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


_UNACCENTED = {"CRÍTICA": "CRITICA", "SUGESTÃO": "SUGESTAO", "DÚVIDA": "DUVIDA"}


def _answer_content(comment: str, kind: str) -> str:
    category, tags = keyword_answer(comment)
    answer: dict[str, Any] = {"categoria": category, "confianca": 0.91, "tags": tags}
    if kind == "ok_unaccented":
        answer["categoria"] = _UNACCENTED.get(category, category)
    elif kind == "unknown_category":
        answer["categoria"] = "NEUTRO"
    elif kind == "bad_confidence":
        answer["confianca"] = 1.7
    elif kind == "invalid_json":
        return '{"categoria": "ELOGIO", "confianca": 0.9, "tags": ['  # cut short
    return json.dumps(answer, ensure_ascii=False)


def _tokens(text: str) -> int:
    """A rough tokenizer: about four characters a token, as for Portuguese/English with BPE."""
    return max(1, len(text) // 4)


def _completion(body: dict[str, Any], behaviour: Behaviour) -> dict[str, Any]:
    messages = body.get("messages") or []
    if behaviour.kind == "content":
        content = behaviour.content
    else:
        content = _answer_content(comment_from_messages(messages), behaviour.kind)
    prompt_tokens = sum(_tokens(str(m.get("content") or "")) + 4 for m in messages) + 3
    completion_tokens = _tokens(content)
    return {
        "id": f"chatcmpl-fake{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started FakeOpenAI, stopped after the test."""
    with FakeOpenAI() as server:
        yield server
