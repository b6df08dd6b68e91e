"""POST/GET /api/importacoes on PostgreSQL (eager Celery: the job runs inside the request): good rows imported, bad
rows reported with their line numbers, idempotent re-imports, a crash mid-job resumed exactly, and every kind of
bad upload refused with a 4xx envelope and nothing written."""

from __future__ import annotations

import io
import uuid

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models.comment import Comment
from app.models.job import ImportJob


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return db.session.scalar(select(func.count(Comment.id))), db.session.scalar(select(func.count(ImportJob.id)))


def upload(client, headers, content: bytes, filename: str, **form):
    data = {"arquivo": (io.BytesIO(content), filename), **form}
    return client.post("/api/importacoes", data=data, headers=headers, content_type="multipart/form-data")


def job(client, headers, resp) -> dict:
    assert resp.status_code == 202, resp.get_data(as_text=True)
    body = resp.get_json()
    assert resp.headers["Location"] == body["url"] == f"/api/importacoes/{body['id']}"
    got = client.get(body["url"], headers=headers)
    assert got.status_code == 200
    return got.get_json()


def test_json_list_is_imported_and_pollable(client, role_auth):
    rows = [{"texto": "Que hino, amei o refrão"}, {"texto": "O app trava toda hora", "alvo": "plataforma"}]
    resp = client.post("/api/importacoes", json=rows, headers=role_auth["ingestao"])
    assert resp.get_json()["status"] in ("pendente", "concluida")

    body = job(client, role_auth["ingestao"], resp)

    assert body["status"] == "concluida"
    assert body["contagens"] == {"total": 2, "processados": 2, "criados": 2, "ja_existentes": 0, "falhas": 0}
    assert body["erros"] == [] and body["concluido_em"] and body["formato"] == "json"
    listed = client.get("/api/comentarios?q=refrão", headers=role_auth["leitor"]).get_json()
    assert listed["total"] == 1 and listed["items"][0]["categoria"] == "ELOGIO"


def test_csv_with_bad_rows_imports_the_good_ones_and_lists_the_bad(app, client, role_auth):
    csv_text = (
        "texto,artista,alvo,publicado_em\n"  # line 1
        "A batida desse feat é absurda,Lua Serena,musica,2026-11-20T10:00:00-03:00\n"  # 2 ok
        ",Lua Serena,musica,\n"  # 3 empty text
        '"Quando sai a versão\nacústica?",Banda Aurora,album,\n'  # 4-5 ok (quoted newline)
        "Show curto demais,MC Trovão,foguete,\n"  # 6 bad alvo
        "O som do show estava embolado,,show,ontem\n"  # 7 bad date
        "\n"  # 8 blank: skipped
        "Deviam criar um modo offline,,plataforma,\n"  # 9 ok
    )
    body = job(client, role_auth["ingestao"], upload(client, role_auth["ingestao"], csv_text.encode(), "lote.csv"))

    assert body["status"] == "concluida"
    assert body["contagens"] == {"total": 6, "processados": 6, "criados": 3, "ja_existentes": 0, "falhas": 3}
    assert [e["linha"] for e in body["erros"]] == [3, 6, 7]
    assert "texto" in body["erros"][0]["mensagem"] and "alvo" in body["erros"][1]["mensagem"]
    assert "publicado_em" in body["erros"][2]["mensagem"]
    assert counts(app)[0] == 3
    feat = client.get("/api/comentarios?artista=lua serena", headers=role_auth["leitor"]).get_json()["items"]
    assert [c["publicado_em"] for c in feat] == ["2026-11-20T13:00:00Z"]


def test_reimporting_the_same_file_with_ids_duplicates_nothing(app, client, role_auth):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    jsonl = "\n".join(f'{{"id": "{i}", "texto": "comentário número {n} sobre o clipe"}}' for n, i in enumerate(ids))
    headers = {**role_auth["ingestao"], "Content-Type": "application/x-ndjson"}
    first = job(client, role_auth["ingestao"], client.post("/api/importacoes", data=jsonl, headers=headers))
    conflicting = jsonl + f'\n{{"id": "{ids[0]}", "texto": "outro texto"}}\nnão é json\n'
    second = job(client, role_auth["ingestao"], client.post("/api/importacoes", data=conflicting, headers=headers))

    assert first["contagens"]["criados"] == 3
    assert second["contagens"] == {"total": 5, "processados": 5, "criados": 0, "ja_existentes": 3, "falhas": 2}
    assert [e["linha"] for e in second["erros"]] == [4, 5]
    assert "repetido" in second["erros"][0]["mensagem"] and "JSON" in second["erros"][1]["mensagem"]
    assert counts(app)[0] == 3


def test_semicolon_csv_from_a_pt_br_spreadsheet(client, role_auth):
    content = "\ufefftexto;artista\nAmei a capa do álbum;Duda Ventura\n".encode()
    body = job(client, role_auth["ingestao"], upload(client, role_auth["ingestao"], content, "planilha.csv"))
    assert body["contagens"]["criados"] == 1


def test_errors_kept_are_capped_but_counted(app_factory, role_auth):
    app = app_factory(IMPORT_MAX_ERRORS=2)
    client = app.test_client()
    rows = [{"texto": ""} for _ in range(5)] + [{"texto": "boa música"}]
    body = job(client, role_auth["ingestao"], client.post("/api/importacoes", json=rows, headers=role_auth["ingestao"]))
    assert body["contagens"]["falhas"] == 5 and len(body["erros"]) == 2 and body["erros_omitidos"] == 3


def test_a_crash_mid_job_resumes_after_the_last_committed_chunk(app_factory, role_auth):
    """The worker dies after two chunks: the job is taken over and ends with exactly the right rows."""
    from app.classifier import get_classifier
    from app.services import imports

    app = app_factory(IMPORT_CHUNK_SIZE=10, IMPORT_STALE_SECONDS=5)
    lines = ["texto"] + [f"comentário {n} sobre o show de ontem" for n in range(45)]
    with app.app_context():
        job_id = imports.create_job(imports.Upload("csv", "\n".join(lines).encode(), "x.csv"), run=False).id
        real = get_classifier()

        class DiesOnThirdChunk:
            calls = 0

            def __getattr__(self, name):
                return getattr(real, name)

            def classify_many(self, texts, **kwargs):
                type(self).calls += 1
                if type(self).calls == 3:
                    raise KeyboardInterrupt("worker killed")
                return real.classify_many(texts)

        with pytest.raises(KeyboardInterrupt):
            imports.run_job(job_id, classifier=DiesOnThirdChunk())
        db.session.rollback()
        half = imports.get_job(job_id)
        assert (half.status, half.processed, half.created) == ("processando", 20, 20)
        # Its heartbeat is fresh: nobody may take it over yet.
        assert imports.run_job(job_id) is None
        half.heartbeat_at = half.heartbeat_at.replace(year=2000)
        db.session.commit()

        done = imports.run_job(job_id)

        assert (done.status, done.processed, done.created, done.existing, done.failed) == ("concluida", 45, 45, 0, 0)
        assert done.attempts == 2
        assert db.session.scalar(select(func.count(Comment.id))) == 45


def test_a_row_stored_meanwhile_under_its_derived_id_is_counted_once(app, client, role_auth):
    """Rows without an id are not looked up before the first write of their chunk (their id is derived from the
    job and line, so only this job can have stored them); if something did store one meanwhile, the chunk is
    rolled back and written again with a lookup: nothing duplicated, nothing lost, counts exact."""
    from app.services import imports

    lines = ["texto"] + [f"comentário {n} sobre o novo single" for n in range(6)]
    with app.app_context():
        job_id = imports.create_job(imports.Upload("csv", "\n".join(lines).encode(), "x.csv"), run=False).id
    taken = {"id": str(uuid.uuid5(job_id, "3")), "texto": lines[2]}  # line 3 of the file holds lines[2]
    assert client.post("/api/comentarios", json=taken, headers=role_auth["ingestao"]).status_code == 201

    with app.app_context():
        done = imports.run_job(job_id)
        assert (done.status, done.processed, done.created, done.existing, done.failed) == ("concluida", 6, 5, 1, 0)
        assert db.session.scalar(select(func.count(Comment.id))) == 6


def test_unknown_import_id_is_404(client, role_auth):
    for job_id in (str(uuid.uuid4()), "nao-e-um-uuid"):
        resp = client.get(f"/api/importacoes/{job_id}", headers=role_auth["ingestao"])
        assert resp.status_code == 404
        assert resp.get_json()["erro"]["codigo"] == "nao_encontrado"


BAD_UPLOADS = [
    pytest.param("multipart", b"", "vazio.csv", 400, "requisicao_invalida", id="0-byte file"),
    pytest.param("multipart", b"  \n\n", "brancos.csv", 400, "requisicao_invalida", id="blank file"),
    pytest.param("multipart", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "foto.csv", 415, None, id="binary file"),
    pytest.param("multipart", "texto\nolá".encode("latin-1"), "latin1.csv", 415, None, id="not UTF-8"),
    pytest.param("multipart", b"comentario,artista\nbom,X\n", "x.csv", 422, "validacao", id="CSV without texto"),
    pytest.param("multipart", b"texto,nota\nbom,10\n", "x.csv", 422, "validacao", id="unknown CSV column"),
    pytest.param("multipart", b"texto\n", "so-cabecalho.csv", 422, "validacao", id="header only"),
    pytest.param("multipart", b"texto\nbom\n", "x.xlsx", 415, None, id="unknown file type"),
    pytest.param("json", b"", None, 400, "requisicao_invalida", id="empty JSON body"),
    pytest.param("json", b"[]", None, 422, "validacao", id="empty JSON list"),
    pytest.param("json", b'{"texto": "um objeto"}', None, 422, "validacao", id="JSON object, not a list"),
    pytest.param("json", b"[{", None, 400, "requisicao_invalida", id="malformed JSON"),
    pytest.param("text/plain", b"texto\nbom\n", None, 415, None, id="wrong content type"),
]


@pytest.mark.parametrize(("kind", "content", "filename", "status", "code"), BAD_UPLOADS)
def test_bad_uploads_are_refused_and_nothing_is_written(app, client, role_auth, kind, content, filename, status, code):
    headers = role_auth["ingestao"]
    if kind == "multipart":
        resp = upload(client, headers, content, filename)
    else:
        mimetype = "application/json" if kind == "json" else kind
        resp = client.post("/api/importacoes", data=content, headers={**headers, "Content-Type": mimetype})

    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["erro"]
    assert error["mensagem"]
    if code:
        assert error["codigo"] == code
    assert counts(app) == (0, 0)


def test_multipart_without_the_file_field(client, role_auth, app):
    resp = client.post(
        "/api/importacoes", data={"outro": "x"}, headers=role_auth["ingestao"], content_type="multipart/form-data"
    )
    assert resp.status_code == 400 and "arquivo" in resp.get_json()["erro"]["mensagem"]
    assert counts(app) == (0, 0)


def test_a_file_over_the_size_limit_is_413(app_factory, role_auth):
    app = app_factory(IMPORT_MAX_BYTES=2048)
    client = app.test_client()
    big = ("texto\n" + "um comentário qualquer sobre o disco\n" * 200).encode()
    for resp in (
        upload(client, role_auth["ingestao"], big, "grande.csv"),
        client.post("/api/importacoes", data=big, headers={**role_auth["ingestao"], "Content-Type": "text/csv"}),
    ):
        assert resp.status_code == 413
        assert resp.get_json()["erro"]["codigo"] == "carga_muito_grande"
    assert counts(app) == (0, 0)


def test_broker_down_is_503_and_leaves_no_job(app_factory, role_auth):
    app = app_factory(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
    resp = app.test_client().post("/api/importacoes", json=[{"texto": "bom"}], headers=role_auth["ingestao"])
    assert resp.status_code == 503
    assert resp.get_json()["erro"]["codigo"] == "dependencia_indisponivel"
    assert counts(app) == (0, 0)
