"""GET /api/comentarios/export on PostgreSQL: the listing's filters, a streamed CSV download a spreadsheet opens
safely (formula cells neutralised, tags joined by `|`, optional BOM), for readers only."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from app.extensions import db
from app.serializers.comments import CSV_COLUMNS

COMMENTS = [
    {"texto": "O app trava toda hora quando abro a biblioteca", "artista": "Lua Serena", "alvo": "plataforma"},
    {"texto": '=HYPERLINK("http://mal.example","clique") que hino', "artista": "Lua Serena", "alvo": "musica"},
    {"texto": "+55 11 9999 ganhe seguidores grátis no link", "artista": "MC Trovão"},
    {"texto": "@todos o show foi incrível, melhor noite do ano", "artista": "Banda Aurora", "alvo": "show"},
    {"texto": "-quando sai a versão acústica?", "artista": "Banda Aurora", "alvo": "album"},
]


@pytest.fixture
def stored(client, role_auth):
    resp = client.post("/api/comentarios", json=COMMENTS, headers=role_auth["ingestao"])
    assert resp.status_code == 201
    return resp.get_json()


def read_csv(resp) -> list[dict[str, str]]:
    text = resp.get_data(as_text=True)
    assert text.endswith("\n") and not text.endswith("\n\n")  # no trailing blank line
    return list(csv.DictReader(io.StringIO(text)))


def test_export_is_a_streamed_dated_csv_attachment(client, role_auth, stored):
    resp = client.get("/api/comentarios/export", headers=role_auth["leitor"])

    assert resp.status_code == 200
    assert resp.is_streamed
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="comentarios-20') and disposition.endswith('.csv"')
    assert resp.headers["X-Accel-Buffering"] == "no" and resp.headers["Cache-Control"] == "no-store"
    rows = read_csv(resp)
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert sorted(r["id"] for r in rows) == sorted(c["id"] for c in stored)
    by_id = {c["id"]: c for c in stored}
    for row in rows:
        api = by_id[row["id"]]
        assert row["categoria"] == api["categoria"]
        assert row["tags_funcionalidades"] == "|".join(t["codigo"] for t in api["tags_funcionalidades"])
        assert float(row["confianca"]) == pytest.approx(api["confianca"], abs=1e-4)


def test_formula_cells_are_neutralised(client, role_auth, stored):
    rows = read_csv(client.get("/api/comentarios/export", headers=role_auth["curador"]))
    texts = {r["texto"] for r in rows}
    assert '\'=HYPERLINK("http://mal.example","clique") que hino' in texts
    assert "'+55 11 9999 ganhe seguidores grátis no link" in texts
    assert "'@todos o show foi incrível, melhor noite do ano" in texts
    assert "'-quando sai a versão acústica?" in texts
    assert not any(t.startswith(("=", "+", "-", "@")) for t in texts)


def test_export_uses_the_listing_filters(client, role_auth, stored):
    query = "artista=lua serena&alvo=plataforma"
    listed = client.get(f"/api/comentarios?{query}", headers=role_auth["leitor"]).get_json()["items"]
    rows = read_csv(client.get(f"/api/comentarios/export?{query}", headers=role_auth["leitor"]))
    assert [r["id"] for r in rows] == [c["id"] for c in listed] and len(rows) == 1
    tagged = read_csv(client.get("/api/comentarios/export?tag=app_estabilidade", headers=role_auth["leitor"]))
    assert [r["texto"] for r in tagged] == [COMMENTS[0]["texto"]]


def test_bom_for_excel_and_an_empty_result_keeps_the_header(client, role_auth, stored):
    resp = client.get("/api/comentarios/export?bom=1&q=nada-parecido", headers=role_auth["leitor"])
    raw = resp.get_data()
    assert raw.startswith("\ufeff".encode())
    assert raw.decode("utf-8-sig") == ",".join(CSV_COLUMNS) + "\n"


def test_bad_filter_is_422_envelope_not_a_broken_download(client, role_auth):
    resp = client.get("/api/comentarios/export?categoria=FELIZ", headers=role_auth["leitor"])
    assert resp.status_code == 422
    assert resp.get_json()["erro"]["codigo"] == "validacao"


def test_export_route_is_not_taken_for_a_comment_id(client, role_auth, stored):
    """`/comentarios/export` and `/comentarios/<id>` coexist: neither swallows the other."""
    one = client.get(f"/api/comentarios/{stored[0]['id']}", headers=role_auth["leitor"])
    assert one.status_code == 200 and one.get_json()["id"] == stored[0]["id"]
    export = client.get("/api/comentarios/export", headers=role_auth["leitor"])
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert len(read_csv(export)) == len(stored)  # consumed: the stream's cursor and transaction end here
    assert client.patch(
        "/api/comentarios/export", json={"categoria": "ELOGIO"}, headers=role_auth["curador"]
    ).status_code in (404, 405)


def test_ingestion_accounts_cannot_export(client, role_auth):
    resp = client.get("/api/comentarios/export", headers=role_auth["ingestao"])
    assert resp.status_code == 403
    assert client.get("/api/comentarios/export").status_code == 401


def test_postgresql_copy_formats_every_cell_like_the_serializer(app, client, role_auth, stored):
    """The fast path (cells formatted in SQL) and csv_row (the one serializer) agree cell for cell."""
    from app.models.comment import Comment
    from app.serializers.comments import comment_csv_row

    rows = read_csv(client.get("/api/comentarios/export", headers=role_auth["leitor"]))
    with app.app_context():
        expected = {str(c.id): comment_csv_row(c) for c in db.session.scalars(select(Comment)).unique()}
    assert len(rows) == len(expected)
    for row in rows:
        assert list(row.values()) == expected[row["id"]]


def test_tag_category_period_filter_follows_corrections(client, role_auth, stored):
    """The tag rows' copies of category/date (the fast path of tag + categoria + period) follow a correction."""
    crash = next(c for c in stored if any(t["codigo"] == "app_estabilidade" for t in c["tags_funcionalidades"]))
    query = f"tag=app_estabilidade&categoria={crash['categoria']}&desde=2000-01-01&ate=2100-01-01"

    def ids(url: str) -> list[str]:
        return [c["id"] for c in client.get(url, headers=role_auth["leitor"]).get_json()["items"]]

    assert crash["id"] in ids(f"/api/comentarios?{query}")
    other = "SUGESTÃO" if crash["categoria"] != "SUGESTÃO" else "DÚVIDA"
    resp = client.patch(f"/api/comentarios/{crash['id']}", json={"categoria": other}, headers=role_auth["curador"])
    assert resp.status_code == 200

    assert crash["id"] not in ids(f"/api/comentarios?{query}")
    moved = query.replace(f"categoria={crash['categoria']}", f"categoria={other}")
    assert ids(f"/api/comentarios?{moved}") == [crash["id"]]
    assert [r["id"] for r in read_csv(client.get(f"/api/comentarios/export?{moved}", headers=role_auth["leitor"]))] == [
        crash["id"]
    ]


def test_export_follows_a_tag_correction(client, role_auth, stored):
    target = stored[3]
    resp = client.patch(
        f"/api/comentarios/{target['id']}",
        json={"tags_funcionalidades": ["show_duracao", "show_som"]},
        headers=role_auth["curador"],
    )
    assert resp.status_code == 200, resp.get_json()
    rows = {r["id"]: r for r in read_csv(client.get("/api/comentarios/export", headers=role_auth["leitor"]))}
    assert rows[target["id"]]["tags_funcionalidades"] == "show_duracao|show_som"
    resp = client.patch(
        f"/api/comentarios/{target['id']}", json={"tags_funcionalidades": []}, headers=role_auth["curador"]
    )
    rows = {r["id"]: r for r in read_csv(client.get("/api/comentarios/export", headers=role_auth["leitor"]))}
    assert rows[target["id"]]["tags_funcionalidades"] == ""


def test_copy_and_serializer_agree_on_awkward_cells(app, client, role_auth):
    """Cells the API never produces but a database can hold (names and model versions starting with a formula
    character, tab or CR; whole-second, trailing-zero and missing timestamps; confidences at the rounding edge):
    the SQL formatting and csv_row still agree cell for cell, and every such cell is neutralised."""
    from datetime import UTC, datetime

    from app.models.catalog import Album, Artist
    from app.models.comment import Comment
    from app.serializers.comments import comment_csv_row

    awkward = ["=SUM(A1)", "+1 talento", "-menos", "@alguem", "\tcom tab", "\rcom cr", "normal", "'já citado"]
    stamps = [
        datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, 100000, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    confidences = [0.0, 1.0, 0.12345, 0.99995, 0.00005, 0.5, 1 / 3, 0.7 + 0.1]
    with app.app_context():
        for n, name in enumerate(awkward):
            artist = Artist(name=name, name_key=f"k{n}")
            db.session.add(artist)
            db.session.flush()
            album = Album(artist_id=artist.id, artist_key=f"k{n}", title=name, title_key=f"t{n}")
            db.session.add(album)
            db.session.flush()
            stamp = stamps[n % len(stamps)]
            db.session.add(
                Comment(
                    text=f"{name} comentário {n}",
                    artist_id=artist.id,
                    album_id=album.id,
                    published_at=None if n % 3 == 0 else stamp,
                    occurred_at=stamp,
                    category="ELOGIO",
                    confidence=confidences[n],
                    model_version=name,
                    classified_at=stamps[(n + 1) % len(stamps)],
                )
            )
        db.session.commit()
        expected = {str(c.id): comment_csv_row(c) for c in db.session.scalars(select(Comment)).unique()}

    rows = read_csv(client.get("/api/comentarios/export", headers=role_auth["leitor"]))
    assert len(rows) == len(awkward)
    for row in rows:
        assert list(row.values()) == expected[row["id"]]
        for column in ("texto", "artista", "album", "modelo"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), row
    stamps_seen = {r["classificado_em"] for r in rows}
    assert {"2026-03-01T12:00:00Z", "2026-03-01T12:00:00.100000Z", "2026-03-01T12:00:00.000001Z"} <= stamps_seen
    assert {r["confianca"] for r in rows} >= {"0", "1", "0.5"}
