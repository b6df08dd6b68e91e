"""End to end through NGINX (HTTPS): a bulk import completing on the real Celery worker, and the CSV export
streamed through the edge without buffering. Shares the stack of tests/e2e/conftest.py."""

from __future__ import annotations

import csv
import io
import time

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

IMPORT_TIMEOUT = 120.0
MARKER = "importado-e2e"


def _headers(stack) -> dict[str, str]:
    user, password = stack.admin
    resp = stack.session().post(stack.url("/api/auth/login"), json={"username": user, "password": password}, timeout=10)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def test_import_through_nginx_completes_on_the_worker(stack):
    sess, headers = stack.session(), _headers(stack)
    lines = ["texto,artista,alvo"]
    lines += [f"{MARKER} {n}: o refrão dessa música é lindo demais,Lua Serena,musica" for n in range(300)]
    lines += [",Lua Serena,musica", f"{MARKER} alvo errado,Lua Serena,foguete"]  # lines 302 and 303
    files = {"arquivo": ("lote.csv", "\n".join(lines).encode(), "text/csv")}

    resp = sess.post(stack.url("/api/importacoes"), files=files, headers=headers, timeout=30)

    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert resp.headers["Location"] == body["url"] and body["total"] == 302
    deadline = time.monotonic() + IMPORT_TIMEOUT
    while True:
        job = sess.get(stack.url(body["url"]), headers=headers, timeout=10).json()
        if job["status"] in ("concluida", "falhou") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job["status"] == "concluida", job
    assert job["contagens"] == {"total": 302, "processados": 302, "criados": 300, "ja_existentes": 0, "falhas": 2}
    assert [e["linha"] for e in job["erros"]] == [302, 303]
    assert job["tarefa"]  # the Celery task id that ran it
    assert "run_import" in stack.procs["worker"].text()


def test_export_streams_through_nginx_unbuffered(stack):
    sess, headers = stack.session(), _headers(stack)
    with sess.get(stack.url(f"/api/comentarios/export?q={MARKER}&bom=1"), headers=headers, stream=True,
                  timeout=30) as resp:  # fmt: skip
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers["Content-Disposition"].startswith('attachment; filename="comentarios-')
        # Streamed: no length known up front, chunks pass through NGINX as gunicorn writes them.
        assert "Content-Length" not in resp.headers
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        raw = b"".join(resp.iter_content(chunk_size=None))
    text = raw.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 300  # the imported rows (the one with a bad alvo was not stored)
    assert {r["artista"] for r in rows} == {"Lua Serena"}
    assert all(r["categoria"] for r in rows)


def test_import_bad_upload_through_nginx_is_an_envelope(stack):
    sess, headers = stack.session(), _headers(stack)
    files = {"arquivo": ("foto.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "text/csv")}
    resp = sess.post(stack.url("/api/importacoes"), files=files, headers=headers, timeout=30)
    assert resp.status_code == 415
    assert resp.json()["erro"]["codigo"] == "tipo_de_midia_nao_suportado"
