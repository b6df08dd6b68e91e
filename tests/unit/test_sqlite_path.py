"""The embedded path (`make run` without services): SQLite migrated by the same migrations, the API end to end,
and the demo seed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect

from app.config import DATA_DIR
from tests.conftest import login, make_user

URL = "/api/comentarios"


def _headers(client, username: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(client, username)['access_token']}"}


def test_migrations_create_every_table_on_sqlite(sqlite_app):
    from app.extensions import db

    with sqlite_app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert tables == {t.name for t in db.metadata.sorted_tables} | {"alembic_version"}


def test_ingest_list_correct_and_read_history_on_sqlite(sqlite_app):
    client = sqlite_app.test_client()
    for username, role in (("servico", "ingestao"), ("curadora", "curador"), ("analista", "leitor")):
        make_user(sqlite_app, username, role)
    ingest, curator, reader = (_headers(client, u) for u in ("servico", "curadora", "analista"))

    batch = [
        {
            "texto": "Que hino! A batida não sai da cabeça",
            "artista": "Lua Serena",
            "publicado_em": "2026-01-10T08:00:00Z",
        },
        {
            "texto": "o show acabou cedo demais",
            "artista": " lua serena ",
            "alvo": "show",
            "publicado_em": "2026-01-10T23:30:00Z",
        },
        {"texto": "Quando sai o álbum novo?", "artista": "MC Trovão", "publicado_em": "2026-01-11T09:00:00Z"},
    ]
    created = client.post(URL, json=batch, headers=ingest)
    assert created.status_code == 201
    rows = created.get_json()
    assert [r["texto"] for r in rows] == [b["texto"] for b in batch]
    assert rows[0]["artista"] == rows[1]["artista"]

    again = client.post(URL, json=[{**batch[0], "id": rows[0]["id"]}], headers=ingest)
    assert again.status_code == 200
    assert again.get_json() == [rows[0]]

    listed = client.get(URL, query_string={"artista": "LUA SERENA", "ordenar": "publicado_em"}, headers=reader)
    assert listed.status_code == 200
    assert [i["id"] for i in listed.get_json()["items"]] == [rows[0]["id"], rows[1]["id"]]
    day = client.get(URL, query_string={"ate": "2026-01-10"}, headers=reader).get_json()
    assert {i["id"] for i in day["items"]} == {rows[0]["id"], rows[1]["id"]}
    assert client.get(URL, query_string={"alvo": "show"}, headers=reader).get_json()["total"] == 1

    target = rows[2]["id"]
    corrected = client.patch(
        f"{URL}/{target}", json={"categoria": "sugestao", "motivo": "pede lançamento"}, headers=curator
    )
    assert corrected.status_code == 200
    assert corrected.get_json()["categoria"] == "SUGESTÃO"
    assert [
        i["id"] for i in client.get(URL, query_string={"categoria": "SUGESTAO"}, headers=reader).get_json()["items"]
    ] == [target]

    history = client.get(f"{URL}/{target}/historico", headers=reader).get_json()
    assert [(e["fonte"], e["usuario"]) for e in history] == [("modelo", None), ("curador", "curadora")]
    assert history[0]["categoria"] == rows[2]["categoria"]
    assert history[1]["categoria"] == "SUGESTÃO" and history[1]["motivo"] == "pede lançamento"


def test_seed_demo_loads_the_demo_file_once(sqlite_app):
    demo = json.loads((DATA_DIR / "demo.json").read_text(encoding="utf-8"))
    runner = sqlite_app.test_cli_runner()

    first = runner.invoke(args=["seed", "demo"])
    second = runner.invoke(args=["seed", "demo"])

    assert first.exit_code == 0, first.output
    assert f"{len(demo)} novos, 0 já existiam" in first.output
    assert second.exit_code == 0, second.output
    assert f"0 novos, {len(demo)} já existiam" in second.output

    client = sqlite_app.test_client()
    make_user(sqlite_app, "analista", "leitor")
    listed = client.get(
        URL, query_string={"per_page": 500, "ordenar": "publicado_em"}, headers=_headers(client, "analista")
    ).get_json()
    assert listed["total"] == len(demo)
    assert {i["id"] for i in listed["items"]} == {row["id"] for row in demo}
    # Dated relative to now, so the weekly report has recent data.
    oldest = datetime.fromisoformat(listed["items"][0]["publicado_em"])
    assert datetime.now(UTC) - oldest < timedelta(days=31)


def test_export_on_sqlite_gives_each_row_its_own_tags_in_order(sqlite_app):
    """`make run`'s export: each row carries its own comment's tags, in the model's order, after a curator's edit
    too (a tag subquery that lost its correlation once gave every row every tag in the database)."""
    import csv
    import io

    client = sqlite_app.test_client()
    make_user(sqlite_app, "servico", "ingestao")
    make_user(sqlite_app, "curadora", "curador")
    ingest, curator = _headers(client, "servico"), _headers(client, "curadora")
    batch = [
        {"texto": "app travando toda hora, péssimo"},
        {"texto": "O show foi incrível, mas o som estava baixo e o ingresso caro"},
        {"texto": "Quando sai o álbum novo?"},
    ]
    rows = client.post(URL, json=batch, headers=ingest).get_json()
    assert rows[0]["tags_funcionalidades"] and len(rows[1]["tags_funcionalidades"]) >= 2
    edited = client.patch(
        f"{URL}/{rows[1]['id']}", json={"tags_funcionalidades": ["show_som", "app_estabilidade"]}, headers=curator
    )
    assert edited.status_code == 200
    expected = {r["id"]: "|".join(t["codigo"] for t in r["tags_funcionalidades"]) for r in rows}
    expected[rows[1]["id"]] = "show_som|app_estabilidade"

    resp = client.get(f"{URL}/export", headers=curator)
    assert resp.status_code == 200
    exported = {r["id"]: r["tags_funcionalidades"] for r in csv.DictReader(io.StringIO(resp.get_data(as_text=True)))}
    assert exported == expected
