"""End to end through NGINX (HTTPS, real certificate check) -> gunicorn -> PostgreSQL/Redis, with a real Celery worker
and beat: the README's user path, request ids, the edge's redirect and size limit, retraining on the worker, metrics.

The stack (tests/e2e/conftest.py) is started once for the module; tests run in file order and share it.
"""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.support.texts import VAGUE_COMMENTS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

CATEGORIES = {"ELOGIO", "CRÍTICA", "SUGESTÃO", "DÚVIDA", "SPAM"}
CRASH_TAG = "app_estabilidade"
RETRAIN_TIMEOUT = 180.0

# (texto, artista, album, alvo). The first three are app crashes: their tag is certain (data/taxonomy.yaml).
# fmt: off
COMMENTS: list[tuple[str, str | None, str | None, str | None]] = [
    ("O app trava toda hora quando abro a biblioteca, impossível ouvir o disco novo", "Lua Serena", "Maré Alta",
     "plataforma"),
    ("O aplicativo fecha sozinho toda vez que tento baixar o álbum", "MC Trovão", "Baile do Morro Vol. 2",
     "plataforma"),
    ("Depois da última atualização o app ficou cheio de bug, não consigo nem dar play", "Banda Aurora",
     "Céu de Vidro", "plataforma"),
    ("Que hino! A batida desse feat é absurda, não paro de ouvir", "Lua Serena", "Maré Alta", "musica"),
    ("O refrão gruda na cabeça, melhor música do ano fácil", "Duda Ventura", "Verão Sem Fim", "musica"),
    ("A letra é profunda demais, fala de perda de um jeito lindo", "Banda Aurora", "Céu de Vidro", "musica"),
    ("O autotune na voz estragou a música inteira, parece um robô cantando", "MC Trovão", "Baile do Morro Vol. 2",
     "musica"),
    ("A mixagem do álbum tá horrível, a voz some atrás dos instrumentos", "Banda Aurora", "Céu de Vidro", "album"),
    ("O clipe tem uma fotografia incrível, cada cena parece um quadro", "Lua Serena", "Maré Alta", "clipe"),
    ("A coreografia do clipe ficou fraca comparada com a do anterior", "Duda Ventura", "Verão Sem Fim", "clipe"),
    ("O show atrasou duas horas e ninguém da organização explicou nada", "Banda Aurora", None, "show"),
    ("Show curto demais, pagar 300 reais pra ver 50 minutos é sacanagem", "MC Trovão", None, "show"),
    ("O som do show estava embolado, não dava pra entender uma palavra", "Lua Serena", None, "show"),
    ("Quando sai a versão acústica de Maré Alta?", "Lua Serena", "Maré Alta", "album"),
    ("Alguém sabe se vai ter turnê no Nordeste esse ano?", "Banda Aurora", None, "artista"),
    ("Deviam criar um modo offline que funcione de verdade, no metrô não toca nada", None, None, "plataforma"),
    ("Seria incrível um feat dela com a Banda Aurora no próximo álbum", "Duda Ventura", None, "artista"),
    ("Ganhe 10 mil seguidores grátis! Acesse meu perfil e clique no link da bio", None, None, None),
    ("PROMOÇÃO imperdível de fones, use o cupom DESCONTO50 no link", "Duda Ventura", None, "artista"),
    ("A capa do álbum novo é linda, combina demais com o conceito", "Duda Ventura", "Verão Sem Fim", "album"),
]
# fmt: on
CRASH_TEMPLATES = 3
ROUNDS = 10  # 20 comments x 10 = a batch of 200


def _unaccent(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def build_batch() -> list[dict[str, Any]]:
    """200 items in a known order; even positions carry their own id, odd ones let the server generate it."""
    now = datetime.now(UTC)
    batch = []
    for round_ in range(ROUNDS):
        for n, (text, artist, album, target) in enumerate(COMMENTS):
            item: dict[str, Any] = {"texto": f"{text} #{round_ + 1}"}
            if len(batch) % 2 == 0:
                item["id"] = str(uuid.uuid4())
            if artist:
                item["artista"] = artist
            if album:
                item["album"] = album
            if target:
                item["alvo"] = target
            if n % 3 == 0:
                item["publicado_em"] = (now - timedelta(hours=n + round_)).isoformat()
            batch.append(item)
    return batch


def is_crash(text: str) -> bool:
    return any(text.startswith(c[0]) for c in COMMENTS[:CRASH_TEMPLATES])


class Api:
    """requests against the stack's HTTPS address, with a bearer token and a default timeout."""

    def __init__(self, stack, token: str | None = None):
        self.stack = stack
        self.session = stack.session()
        self.token = token

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.stack.url(path), headers=headers, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)


def login(stack, username: str, password: str) -> Api:
    resp = Api(stack).post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body["access_token"] and body["refresh_token"] and body["access_token"] != body["refresh_token"]
    return Api(stack, body["access_token"])


def assert_envelope(resp: requests.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    erro = resp.json()["erro"]
    assert isinstance(erro["mensagem"], str) and erro["mensagem"]
    if code is not None:
        assert erro["codigo"] == code, erro
    return erro


@pytest.fixture(scope="module")
def admin(stack) -> Api:
    return login(stack, *stack.admin)


# --------------------------------------------------------------------------------------------------------------
# 1. The README user path
# --------------------------------------------------------------------------------------------------------------


def test_readme_user_path(stack, admin):
    # The admin creates a service account and a curator (no open registration).
    suffix = secrets.token_hex(3)
    accounts = {}
    for role in ("ingestao", "curador"):
        username, password = f"{role}_{suffix}", secrets.token_urlsafe(18)
        resp = admin.post("/api/auth/register", json={"username": username, "password": password, "role": role})
        assert resp.status_code == 201, resp.text
        created = resp.json()
        assert created["username"] == username and created["role"] == role and created["active"] is True
        accounts[role] = login(stack, username, password)
    ingest, curator = accounts["ingestao"], accounts["curador"]
    curator_name = f"curador_{suffix}"

    # Least privilege: the service account may only post; a curator may not post.
    assert_envelope(ingest.get("/api/comentarios"), 403)
    assert_envelope(curator.post("/api/comentarios", json={"texto": "oi"}), 403)

    # A batch of 200 varied comments: 201, same order, every field in the wire shape.
    batch = build_batch()
    resp = ingest.post("/api/comentarios", json=batch, timeout=90)
    assert resp.status_code == 201, resp.text[:2000]
    items = resp.json()
    assert isinstance(items, list) and len(items) == len(batch) == 200
    for position, (sent, got) in enumerate(zip(batch, items, strict=True)):
        assert got["texto"] == sent["texto"], position
        if "id" in sent:
            assert got["id"] == sent["id"], position
        else:
            assert uuid.UUID(got["id"]).version == 4, position
        assert got["categoria"] in CATEGORIES, got
        assert 0.0 <= got["confianca"] <= 1.0, got
        assert got["artista"] == sent.get("artista") and got["album"] == sent.get("album"), got
        assert got["alvo"] == sent.get("alvo"), got
        assert got["modelo"] and got["classificado_em"], got
        for tag in got["tags_funcionalidades"]:
            assert set(tag) == {"codigo", "explicacao"} and tag["codigo"] and tag["explicacao"], tag
        if "publicado_em" in sent:
            assert datetime.fromisoformat(got["publicado_em"]) == datetime.fromisoformat(sent["publicado_em"])
    assert len({i["id"] for i in items}) == 200
    by_id = {i["id"]: i for i in items}

    crash_ids = {i["id"] for i in items if is_crash(i["texto"])}
    assert len(crash_ids) == CRASH_TEMPLATES * ROUNDS
    for cid in crash_ids:
        assert CRASH_TAG in [t["codigo"] for t in by_id[cid]["tags_funcionalidades"]], by_id[cid]

    # The curator lists them by category (unaccented spelling accepted, accented emitted)...
    counts = Counter(i["categoria"] for i in items)
    category, expected = counts.most_common(1)[0]
    resp = curator.get("/api/comentarios", params={"categoria": _unaccent(category), "per_page": 500})
    assert resp.status_code == 200, resp.text[:2000]
    page = resp.json()
    assert page["total"] == expected and len(page["items"]) == expected, (category, counts, page["total"])
    assert page["page"] == 1 and page["per_page"] == 500
    assert resp.headers["X-Total-Count"] == str(expected)
    assert {i["categoria"] for i in page["items"]} == {category}
    assert {i["id"] for i in page["items"]} == {i["id"] for i in items if i["categoria"] == category}

    # ...and by tag, paginated (Link header to the next page).
    tagged = {i["id"] for i in items if CRASH_TAG in [t["codigo"] for t in i["tags_funcionalidades"]]}
    assert crash_ids <= tagged
    seen: list[str] = []
    for number in (1, 2):
        resp = curator.get("/api/comentarios", params={"tag": CRASH_TAG, "per_page": 20, "page": number})
        assert resp.status_code == 200, resp.text[:2000]
        page = resp.json()
        assert page["total"] == len(tagged) and page["page"] == number
        if number == 1:
            assert 'rel="next"' in resp.headers.get("Link", ""), resp.headers
        seen += [i["id"] for i in page["items"]]
        for item in page["items"]:
            assert CRASH_TAG in [t["codigo"] for t in item["tags_funcionalidades"]], item
    assert len(seen) == len(set(seen)) == min(40, len(tagged))
    assert set(seen) <= tagged

    # A correction by the curator, kept in the history after the model's classification.
    target = by_id[items[0]["id"]]
    assert is_crash(target["texto"])
    new_category = "SUGESTÃO" if target["categoria"] != "SUGESTÃO" else "CRÍTICA"
    correction = {"categoria": new_category, "tags_funcionalidades": [CRASH_TAG, "app_modo_offline"],
                  "motivo": "revisão da curadoria: pede para o app parar de travar"}  # fmt: skip
    resp = curator.patch(f"/api/comentarios/{target['id']}", json=correction)
    assert resp.status_code == 200, resp.text
    corrected = resp.json()
    assert corrected["id"] == target["id"] and corrected["texto"] == target["texto"]
    assert corrected["categoria"] == new_category
    assert [t["codigo"] for t in corrected["tags_funcionalidades"]] == [CRASH_TAG, "app_modo_offline"]
    assert corrected["confianca"] == 1.0
    assert corrected["modelo"] == f"curador:{curator_name}"
    assert ingest.patch(f"/api/comentarios/{target['id']}", json=correction).status_code == 403

    resp = curator.get(f"/api/comentarios/{target['id']}")
    assert resp.status_code == 200 and resp.json()["categoria"] == new_category, resp.text

    resp = curator.get(f"/api/comentarios/{target['id']}/historico")
    assert resp.status_code == 200, resp.text
    history = resp.json()
    assert [e["fonte"] for e in history] == ["modelo", "curador"], history
    model_event, curator_event = history
    assert model_event["categoria"] == target["categoria"] and model_event["modelo"] == target["modelo"]
    assert model_event["usuario"] is None
    assert model_event["tags_funcionalidades"] == target["tags_funcionalidades"]
    assert curator_event["categoria"] == new_category and curator_event["usuario"] == curator_name
    assert curator_event["motivo"] == correction["motivo"] and curator_event["modelo"] is None
    assert [t["codigo"] for t in curator_event["tags_funcionalidades"]] == [CRASH_TAG, "app_modo_offline"]
    assert datetime.fromisoformat(model_event["em"]) <= datetime.fromisoformat(curator_event["em"])


# --------------------------------------------------------------------------------------------------------------
# 2. X-Request-ID from the edge to the app's logs
# --------------------------------------------------------------------------------------------------------------


def _web_records_for(stack, request_id: str, timeout: float = 10.0) -> list[dict]:
    """JSON lines of the web process (gunicorn access + app logs) carrying this request id."""
    deadline = time.monotonic() + timeout
    while True:
        records = [r for r in stack.json_lines("web") if r.get("request_id") == request_id]
        loggers = {r.get("logger") for r in records}
        if {"gunicorn.access", "alumusic.access"} <= loggers or time.monotonic() >= deadline:
            return records
        time.sleep(0.2)


def test_request_id_generated_and_propagated(stack, admin):
    first = admin.get("/api/auth/me")
    second = admin.get("/api/auth/me")
    assert first.status_code == second.status_code == 200
    generated = first.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated), generated  # NGINX's $request_id, one value only
    assert second.headers["X-Request-ID"] != generated

    mine = f"e2e-{uuid.uuid4().hex}"
    resp = admin.get("/api/auth/me", headers={"X-Request-ID": mine})
    assert resp.status_code == 200 and resp.headers["X-Request-ID"] == mine

    # Something that could forge a log line is replaced, not echoed.
    odd = admin.get("/api/auth/me", headers={"X-Request-ID": "forjado {json} com espaços"})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"]), odd.headers

    for request_id in (generated, mine):
        records = _web_records_for(stack, request_id)
        by_logger = {r.get("logger"): r for r in records}
        assert "gunicorn.access" in by_logger and "alumusic.access" in by_logger, (request_id, records)
        access = by_logger["gunicorn.access"]
        assert access["path"] == "/api/auth/me" and access["status"] == 200 and access["method"] == "GET", access
        assert by_logger["alumusic.access"]["path"] == "/api/auth/me", by_logger["alumusic.access"]
    nginx_log = stack.nginx_logs["access"].read_text(encoding="utf-8")
    assert f'"request_id":"{mine}"' in nginx_log


# --------------------------------------------------------------------------------------------------------------
# 3. The edge: HTTP -> HTTPS, and NGINX's own 413 in the API envelope
# --------------------------------------------------------------------------------------------------------------


def test_http_redirects_to_https_except_health(stack):
    plain = stack.session()
    resp = plain.get(f"{stack.http_base}/api/comentarios?categoria=SPAM", allow_redirects=False, timeout=10)
    assert resp.status_code == 301, resp.text
    assert resp.headers["Location"] == f"https://127.0.0.1:{stack.https_port}/api/comentarios?categoria=SPAM"
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-ID"])

    resp = plain.get(f"{stack.http_base}/ready", allow_redirects=False, timeout=10)
    assert resp.status_code == 301

    resp = plain.get(f"{stack.http_base}/health", allow_redirects=False, timeout=10)
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}

    # Over HTTPS the edge adds its security headers.
    resp = Api(stack).get("/health")
    assert resp.status_code == 200
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" in resp.headers


def test_body_over_the_limit_is_a_413_envelope_from_nginx(stack, admin):
    body = b"[" + b'{"texto":"' + b"a" * (21 * 1024 * 1024) + b'"}]'  # ~21 MiB, over client_max_body_size 20m
    resp = admin.post("/api/comentarios", data=body, headers={"Content-Type": "application/json"}, timeout=60)
    erro = assert_envelope(resp, 413, "carga_muito_grande")
    assert erro["detalhes"]["request_id"] == resp.headers["X-Request-ID"]
    # NGINX answered alone: gunicorn never saw this request.
    records = [r for r in stack.json_lines("web") if r.get("request_id") == resp.headers["X-Request-ID"]]
    assert records == []


# --------------------------------------------------------------------------------------------------------------
# 4. Celery: retraining runs on the real worker; one beat shares the broker
# --------------------------------------------------------------------------------------------------------------


def test_retraining_runs_on_the_worker_and_one_beat_shares_its_broker(stack, admin):
    resp = admin.get("/api/modelos")
    assert resp.status_code == 200, resp.text
    before = resp.json()
    active_before = before["ativo"]
    assert active_before and before["provedor"] == "local"
    known = {v["version"] for v in before["versoes"]}

    resp = admin.post("/api/modelos/retreinar")
    assert resp.status_code == 202, resp.text
    scheduled = resp.json()
    assert scheduled["status"] == "agendado" and "resultado" not in scheduled  # queued, not run in the web process
    task_id = scheduled["tarefa"]
    uuid.UUID(task_id)

    deadline = time.monotonic() + RETRAIN_TIMEOUT
    challenger = None
    while challenger is None:
        assert stack.procs["worker"].alive, "the Celery worker died"
        failure = [line for line in stack.procs["worker"].text().splitlines() if f"[{task_id}] raised" in line]
        assert not failure, f"the retraining task failed on the worker: {failure[0]}"
        resp = admin.get("/api/modelos")
        assert resp.status_code == 200, resp.text
        models = resp.json()
        fresh = [v for v in models["versoes"] if v["version"] not in known and v.get("promotion")]
        if fresh:
            challenger = fresh[0]
            break
        assert time.monotonic() < deadline, f"no challenger with a promotion decision after {RETRAIN_TIMEOUT:.0f}s"
        time.sleep(3)

    decision = challenger["promotion"]
    assert decision["challenger"] == challenger["version"]
    assert decision["active_before"] == active_before
    assert isinstance(decision["promoted"], bool) and decision["reason"]
    assert challenger["extra_rows"] >= 1  # the curator's correction from the user path fed the retraining
    assert challenger["metricas"]["eval"]["macro_f1"] is not None
    assert models["ativo"] == (challenger["version"] if decision["promoted"] else active_before)

    task = rf"app\.tasks\.training\.retrain_with_corrections\[{re.escape(task_id)}\]"
    stack.wait_for_log("worker", task + r" received")
    stack.wait_for_log("worker", task + r" succeeded in")

    # Exactly one beat, alive, on the same broker as the worker.
    beat = stack.procs["beat"]
    assert beat.alive, "celery beat exited"
    stack.wait_for_log("beat", r"beat: Starting")
    # Celery masks credentials as ":**@" even when there are none.
    where = re.escape(stack.redis.url.split("://", 1)[1].rsplit("@", 1)[-1])
    stack.wait_for_log("beat", rf"\. broker -> redis://(?::\*\*@)?{where}$")
    stack.wait_for_log("worker", rf"\.> transport: +redis://(?::\*\*@)?{where}$")


def test_unsure_comments_get_a_second_opinion_on_the_worker(stack, admin):
    """The fast path answers at once; the worker's e5 second opinion then refines what it was unsure about."""
    vague = VAGUE_COMMENTS
    batch = [{"texto": f"{text} {secrets.token_hex(2)}"} for text in vague]
    resp = admin.post("/api/comentarios", json=batch)
    assert resp.status_code == 201, resp.text
    fast = {item["id"]: item for item in resp.json()}
    assert all("+e5" not in item["modelo"] for item in fast.values())  # the request itself stays on the fast path

    deadline = time.monotonic() + 120
    refined: dict[str, dict] = {}
    while not refined:
        assert stack.procs["worker"].alive, "the Celery worker died"
        for cid in fast:
            item = admin.get(f"/api/comentarios/{cid}").json()
            if item["modelo"].endswith("+e5"):
                refined[cid] = item
        assert refined or time.monotonic() < deadline, "no comment was refined by the worker within 120 s"
        time.sleep(2)

    cid, item = next(iter(refined.items()))
    history = admin.get(f"/api/comentarios/{cid}/historico").json()
    assert [e["fonte"] for e in history] == ["modelo", "modelo"]
    assert history[0]["modelo"] == fast[cid]["modelo"] and history[1]["modelo"] == item["modelo"]
    assert history[1]["categoria"] == item["categoria"]
    stack.wait_for_log("worker", r"app\.tasks\.classification\.refine_low_confidence\[[0-9a-f-]+\] succeeded")


# --------------------------------------------------------------------------------------------------------------
# 5. Prometheus metrics through the edge
# --------------------------------------------------------------------------------------------------------------


def test_metrics_through_nginx(stack):
    resp = Api(stack).get("/metrics")
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["Content-Type"].startswith("text/plain"), resp.headers
    assert "# TYPE alumusic_http_requests_total counter" in resp.text
    assert "alumusic_http_request_seconds" in resp.text
