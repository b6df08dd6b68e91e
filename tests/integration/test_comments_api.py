"""POST/GET/PATCH /api/comentarios on PostgreSQL: the wire contract, idempotency, atomicity and the listing filters."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from app.classifier.base import CATEGORIES

URL = "/api/comentarios"


@pytest.fixture
def api(client, role_auth):
    """Small helpers that talk to the API as the right role."""

    class Api:
        def post(self, body, role="ingestao"):
            return client.post(URL, json=body, headers=role_auth[role])

        def created(self, body):
            resp = self.post(body)
            assert resp.status_code == 201, resp.get_data(as_text=True)
            return resp.get_json()

        def list(self, role="leitor", **params):
            return client.get(URL, query_string=params, headers=role_auth[role])

        def ids(self, **params):
            resp = self.list(**params)
            assert resp.status_code == 200, resp.get_data(as_text=True)
            return [item["id"] for item in resp.get_json()["items"]]

        def total(self, **params):
            return self.list(**params).get_json()["total"]

        def get(self, comment_id, role="leitor"):
            return client.get(f"{URL}/{comment_id}", headers=role_auth[role])

        def history(self, comment_id):
            return client.get(f"{URL}/{comment_id}/historico", headers=role_auth["leitor"])

        def patch(self, comment_id, body, role="curador"):
            return client.patch(f"{URL}/{comment_id}", json=body, headers=role_auth[role])

    return Api()


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def assert_error(resp, status: int, codigo: str | None = None) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    erro = resp.get_json()["erro"]
    assert set(erro) == {"codigo", "mensagem", "detalhes"}
    if codigo:
        assert erro["codigo"] == codigo
    return erro


def fields(erro: dict) -> list[str]:
    return [d["campo"] for d in erro["detalhes"]]


# --- POST: the contract ----------------------------------------------------------------------------------------


def test_single_comment_returns_201_with_every_contract_field(api, client, role_auth):
    resp = api.post(
        {
            "texto": "   Que música maravilhosa, amei demais!   ",
            "artista": "Lua Serena",
            "album": "Maré Alta",
            "alvo": "musica",
            "publicado_em": "2026-01-10T05:00:00-03:00",
        }
    )

    assert resp.status_code == 201
    body = resp.get_json()
    assert set(body) == {
        "id",
        "texto",
        "categoria",
        "tags_funcionalidades",
        "confianca",
        "artista",
        "album",
        "alvo",
        "publicado_em",
        "classificado_em",
        "modelo",
    }
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["texto"] == "Que música maravilhosa, amei demais!"
    assert body["categoria"] in CATEGORIES
    assert isinstance(body["tags_funcionalidades"], list)
    for tag in body["tags_funcionalidades"]:
        assert set(tag) == {"codigo", "explicacao"}
        assert re.fullmatch(r"[a-z]+_[a-z_]+", tag["codigo"]) and tag["explicacao"]
    assert isinstance(body["confianca"], float) and 0 <= body["confianca"] <= 1
    assert (body["artista"], body["album"], body["alvo"]) == ("Lua Serena", "Maré Alta", "musica")
    assert when(body["publicado_em"]) == datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    assert abs((when(body["classificado_em"]) - datetime.now(UTC)).total_seconds()) < 60
    assert isinstance(body["modelo"], str) and body["modelo"]

    assert resp.headers["Location"].endswith(f"{URL}/{body['id']}")
    stored = client.get(resp.headers["Location"], headers=role_auth["leitor"])
    assert stored.status_code == 200
    assert stored.get_json() == body


def test_optional_fields_may_be_absent_and_a_given_id_is_kept(api):
    given = str(uuid.uuid4())

    body = api.created({"id": given, "texto": "Quando sai o novo álbum?"})

    assert body["id"] == given
    assert body["artista"] is None and body["album"] is None and body["alvo"] is None
    assert body["publicado_em"] is None


def test_a_list_returns_a_list_in_input_order(api):
    texts = [f"Comentário número {n} sobre o show de ontem" for n in range(12)]
    ids = [str(uuid.uuid4()) for _ in texts]

    resp = api.post([{"id": i, "texto": t} for i, t in zip(ids, texts, strict=True)])

    assert resp.status_code == 201
    body = resp.get_json()
    assert isinstance(body, list)
    assert [item["id"] for item in body] == ids
    assert [item["texto"] for item in body] == texts
    assert "Location" not in resp.headers
    assert api.total() == 12


def test_a_list_of_one_is_still_a_list(api):
    assert isinstance(api.created([{"texto": "Amei o clipe novo!"}]), list)


@pytest.mark.parametrize(
    ("texto", "categoria"),
    [
        ("Que música maravilhosa, amei demais! Perfeita do começo ao fim!", "ELOGIO"),
        ("Ganhe dinheiro fácil! Clique no link http://promo.example.com e sigam meu canal", "SPAM"),
    ],
)
def test_an_unmistakable_comment_gets_the_obvious_category(api, texto, categoria):
    assert api.created({"texto": texto})["categoria"] == categoria


# --- idempotency -----------------------------------------------------------------------------------------------


def test_reposting_same_id_and_text_returns_the_stored_result_with_200(api):
    cid = str(uuid.uuid4())
    first = api.created({"id": cid, "texto": "A batida dessa faixa é viciante"})

    again = api.post({"id": cid, "texto": "  A batida dessa faixa é viciante  "})

    assert again.status_code == 200
    assert again.get_json() == first  # same classificado_em: not classified again
    assert api.total() == 1
    assert len(api.history(cid).get_json()) == 1


def test_same_id_with_another_text_is_409_and_changes_nothing(api):
    cid = str(uuid.uuid4())
    first = api.created({"id": cid, "texto": "Texto original do ouvinte"})

    resp = api.post({"id": cid, "texto": "Outro texto com o mesmo id"})

    erro = assert_error(resp, 409, "conflito")
    assert cid in str(erro["detalhes"])
    assert api.get(cid).get_json() == first
    assert api.total() == 1


def test_duplicate_ids_in_one_batch_are_400_and_nothing_is_written(api):
    cid = str(uuid.uuid4())
    batch = [{"id": cid, "texto": "primeiro"}, {"texto": "sem id"}, {"id": cid.upper(), "texto": "segundo"}]

    erro = assert_error(api.post(batch), 400)

    assert cid in str(erro["detalhes"])
    assert api.total() == 0


def test_a_batch_mixing_stored_and_new_comments_returns_stored_results_unchanged(api):
    old = api.created({"id": str(uuid.uuid4()), "texto": "Já estava aqui"})
    new_id = str(uuid.uuid4())

    resp = api.post([{"id": new_id, "texto": "Comentário novo"}, {"id": old["id"], "texto": "Já estava aqui"}])

    assert resp.status_code == 201
    body = resp.get_json()
    assert [b["id"] for b in body] == [new_id, old["id"]]
    assert body[1] == old
    assert api.total() == 2


# --- atomicity -------------------------------------------------------------------------------------------------


def test_one_invalid_item_rejects_the_whole_batch(api):
    batch = [{"texto": f"comentário válido {n}"} for n in range(10)]
    batch[7]["texto"] = "x" * 5001

    erro = assert_error(api.post(batch), 422, "validacao")

    assert fields(erro) == ["7.texto"]
    assert api.total() == 0


def test_a_conflicting_id_inside_a_new_batch_rejects_the_whole_batch(api):
    stored = api.created({"id": str(uuid.uuid4()), "texto": "original"})
    batch = [{"texto": f"novo {n}"} for n in range(5)]
    batch.insert(3, {"id": stored["id"], "texto": "texto diferente"})

    assert_error(api.post(batch), 409, "conflito")

    assert api.total() == 1
    assert api.get(stored["id"]).get_json()["texto"] == "original"


def test_batch_over_the_sync_limit_is_413_and_stores_nothing(app_factory, role_auth):
    small = app_factory(SYNC_BATCH_LIMIT=5).test_client()
    headers = role_auth["ingestao"]

    resp = small.post(URL, json=[{"texto": f"comentário {n}"} for n in range(6)], headers=headers)

    erro = assert_error(resp, 413, "carga_muito_grande")
    assert erro["detalhes"]["limite"] == 5 and erro["detalhes"]["recebidos"] == 6
    assert small.get(URL, headers=role_auth["leitor"]).get_json()["total"] == 0
    assert small.post(URL, json=[{"texto": f"comentário {n}"} for n in range(5)], headers=headers).status_code == 201


def test_default_sync_limit_is_1000(api):
    erro = assert_error(api.post([{"texto": "oi"}] * 1001), 413)
    assert erro["detalhes"]["limite"] == 1000


def test_empty_list_is_422(api):
    assert_error(api.post([]), 422, "validacao")


# --- artists and albums ----------------------------------------------------------------------------------------


def test_artists_and_albums_are_stored_once_whatever_the_spelling(app, api):
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models.catalog import Album, Artist

    first = api.created(
        [
            {"texto": "Amei o show", "artista": " anitta ", "album": "Funk Generation"},
            {"texto": "Que hino", "artista": "Anitta", "album": "funk  generation"},
        ]
    )
    later = api.created({"texto": "Quando sai turnê?", "artista": "ANITTA"})
    api.created({"texto": "Outro artista", "artista": "Lua Serena", "album": "Funk Generation"})

    assert first[0]["artista"] == first[1]["artista"] == later["artista"]
    assert first[0]["album"] == first[1]["album"]
    # A new name is stored as first spelled in the batch (spaces tidied), whatever the batch's other spellings.
    assert (first[0]["artista"], first[0]["album"]) == ("anitta", "Funk Generation")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Artist)) == 2
        # The same title by two artists is two albums.
        assert db.session.scalar(select(func.count()).select_from(Album)) == 2
    found = api.ids(artista="ANITTA")
    assert sorted(found) == sorted([first[0]["id"], first[1]["id"], later["id"]])


# Names the PostgreSQL lookups pass inside one array literal: quotes, backslashes, commas, braces, NULL-like words.
AWKWARD_NAMES = ['Guns N\' "Roses"', "AC\\DC", "Earth, Wind & Fire", "{Braces}", "NULL", "   ", "Ünïcödé ãé"]


@pytest.mark.parametrize("name", [n for n in AWKWARD_NAMES if n.strip()])
def test_awkward_artist_and_album_names_are_found_again_on_the_next_ingest(app, api, name):
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models.catalog import Album, Artist

    first = api.created({"texto": "Amei o show", "artista": name, "album": name})
    again = api.created([{"texto": "Que hino", "artista": name, "album": name}, {"texto": "Outro", "artista": "x"}])

    assert first["artista"] == again[0]["artista"] == name
    assert first["album"] == again[0]["album"] == name
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Artist.name == name)) == 1
        assert db.session.scalar(select(func.count()).where(Album.title == name)) == 1
    assert sorted(api.ids(artista=name)) == sorted([first["id"], again[0]["id"]])


AWKWARD_TEXTS = ["tab\taqui", "linha\nnova", "cr\rlf\r\n", "barra \\ invertida", "\\N", "\\.", "fim \\", "🔥 ação"]


def test_awkward_texts_are_stored_and_read_back_exactly(app, api):
    """Ingest writes with COPY's text format: its reserved characters must come back as they were sent."""
    from app.extensions import db
    from app.models.comment import Comment

    sent = [{"texto": f"Amei o show {t} de novo", "alvo": "show"} for t in AWKWARD_TEXTS]
    created = api.created(sent)
    assert [c["texto"] for c in created] == [s["texto"] for s in sent]
    with app.app_context():
        for out, item in zip(created, sent, strict=True):
            comment = db.session.get(Comment, uuid.UUID(out["id"]))
            assert comment.text == item["texto"]
            assert comment.target == "show"
            assert comment.tag_codes == ("|".join(t.code for t in comment.tags) or None)
    assert [api.get(c["id"]).get_json()["texto"] for c in created] == [s["texto"] for s in sent]
    for out in created:
        (event,) = api.history(out["id"]).get_json()
        assert event["tags_funcionalidades"] == out["tags_funcionalidades"]


def test_text_array_round_trips_every_awkward_value(app):
    from sqlalchemy import text

    from app.extensions import db
    from app.services import driver_sql

    values = [*AWKWARD_NAMES, "", "a\\\\b", 'x"', "\\", 'vírgula,"aspas"\\barra{}']
    with app.app_context():
        conn = driver_sql.connection()
        assert conn is not None, "the suite runs on PostgreSQL through psycopg"
        assert driver_sql.rows(conn, "SELECT %s::text[]", (driver_sql.text_array(values),)) == [(values,)]
        ids = [uuid.uuid4() for _ in range(3)]
        assert db.session.execute(text("SELECT CAST(:a AS uuid[])"), {"a": driver_sql.text_array(ids)}).scalar() == ids
        db.session.rollback()


def test_lookups_sent_together_answer_each_in_order_and_fail_like_one_statement(app, api):
    """Ingest sends its id, artist and album lookups in one round trip (driver_sql.rows_of_each): each statement
    gets its own rows, in order, inside the session's transaction; a failing one raises as SQLAlchemy would."""
    from sqlalchemy.exc import DataError

    from app.extensions import db
    from app.services import catalog, driver_sql

    stored = api.created({"texto": "Que álbum!", "artista": "Banda  Lunar", "album": "Noite Clara"})
    with app.app_context():
        conn = driver_sql.connection()
        rows = driver_sql.rows_of_each(
            conn,
            [
                ("SELECT id, text FROM comments WHERE id = ANY(%s::uuid[])", (driver_sql.text_array([stored["id"]]),)),
                catalog.artists_statement(catalog.artist_keys(["banda lunar", "Ninguém"])),
                catalog.albums_statement(catalog.album_keys([("Banda Lunar", "noite  clara")])),
            ],
        )
        assert [[(str(i), t) for i, t in rows[0]], [r[2] for r in rows[1]], [r[3] for r in rows[2]]] == [
            [(stored["id"], "Que álbum!")],
            ["Banda Lunar"],
            ["Noite Clara"],
        ]
        with pytest.raises(DataError):
            driver_sql.rows_of_each(conn, [("SELECT 1", ()), ("SELECT %s::uuid", ("não é uuid",))])
        db.session.rollback()
        assert driver_sql.rows(driver_sql.connection(), "SELECT 1", ()) == [(1,)]


def test_concurrent_batches_naming_the_same_new_artists_and_albums_in_any_order_all_succeed(app):
    """Batches arriving together that name the same new artists and albums, each in its own order, all commit: the
    new rows are inserted in one order (by key), so two transactions never wait on each other's rows in opposite
    orders (a deadlock, answered as a 503, was seen at the start of an ingest benchmark with 5 workers)."""
    import random
    import threading

    from sqlalchemy import func, select

    from app.extensions import db
    from app.models.catalog import Album, Artist
    from app.services.catalog import resolve_albums, resolve_artists

    threads, rounds, names = 4, 10, 200
    barrier = threading.Barrier(threads)
    failures: list[str] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        with app.app_context():
            for r in range(rounds):
                artists = [f"Artista {r}-{i}" for i in range(names)]
                pairs = [(a, f"Disco {r}-{i}") for i, a in enumerate(artists)]
                rng.shuffle(artists)
                rng.shuffle(pairs)
                barrier.wait(timeout=60)
                try:
                    resolve_albums(pairs, resolve_artists(artists))
                    db.session.commit()
                except Exception as exc:  # any failure is the finding
                    db.session.rollback()
                    failures.append(f"round {r}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            db.session.remove()

    pool = [threading.Thread(target=worker, args=(seed,)) for seed in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=300)
    assert failures == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Artist)) == rounds * names
        assert db.session.scalar(select(func.count()).select_from(Album)) == rounds * names


def test_concurrent_batches_resending_the_same_new_ids_in_any_order_all_succeed(app):
    """Two clients sending the same new comments at once, in different orders (a retry racing the original, an
    import and an API client): both answer with the stored comments, none fails, nothing is stored twice."""
    import threading

    from sqlalchemy import func, select

    from app.extensions import db
    from app.models.comment import Comment
    from app.schemas.comments import CommentIn
    from app.services import comments

    rounds, size = 8, 150
    barrier = threading.Barrier(2)
    failures: list[str] = []
    answered: list[int] = []

    def client(reverse: bool) -> None:
        with app.app_context():
            for r in range(rounds):
                items = [
                    CommentIn(id=uuid.UUID(int=(r + 1) << 64 | i), texto=f"Amei o show {r}.{i}") for i in range(size)
                ]
                if reverse:
                    items.reverse()
                barrier.wait(timeout=60)
                try:
                    answered.append(len(comments.ingest(items).items))
                except Exception as exc:  # any failure is the finding
                    db.session.rollback()
                    failures.append(f"round {r}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
            db.session.remove()

    pool = [threading.Thread(target=client, args=(reverse,)) for reverse in (False, True)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=300)
    assert failures == []
    assert answered == [size] * (2 * rounds)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Comment)) == rounds * size


# --- listing ---------------------------------------------------------------------------------------------------


def test_listing_shape_and_headers(api):
    api.created([{"texto": f"comentário {n}"} for n in range(3)])

    resp = api.list()

    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"items", "total", "page", "per_page"}
    assert body["total"] == 3 and body["page"] == 1 and body["per_page"] == 50
    assert len(body["items"]) == 3
    assert 'rel="last"' in resp.headers["Link"]


@pytest.fixture
def labelled(api):
    """Three comments corrected by a curator to ELOGIO, CRÍTICA and DÚVIDA (labels independent of the model)."""
    out = {}
    for texto, categoria in [("o show foi bom", "ELOGIO"), ("o som estava ruim", "CRITICA"), ("tem show?", "duvida")]:
        cid = api.created({"texto": texto})["id"]
        assert api.patch(cid, {"categoria": categoria}).status_code == 200
        out[texto] = cid
    return out


@pytest.mark.parametrize(
    ("categoria", "expected"),
    [
        ("CRÍTICA", ["o som estava ruim"]),
        ("critica", ["o som estava ruim"]),
        ("CRITICA,DUVIDA", ["o som estava ruim", "tem show?"]),
        (["ELOGIO", "DÚVIDA"], ["o show foi bom", "tem show?"]),
        ("SPAM", []),
    ],
)
def test_filter_by_category_accepts_accents_lists_and_repeats(api, labelled, categoria, expected):
    assert sorted(api.ids(categoria=categoria)) == sorted(labelled[t] for t in expected)


def test_items_always_carry_the_accented_category(api, labelled):
    items = api.list(categoria="critica,duvida").get_json()["items"]
    assert sorted(i["categoria"] for i in items) == ["CRÍTICA", "DÚVIDA"]


def test_unknown_category_filter_is_422(api):
    erro = assert_error(api.list(categoria="NEUTRO"), 422, "validacao")
    assert fields(erro) == ["categoria.0"]


def test_filter_by_artist_album_and_target(api):
    rows = api.created(
        [
            {"texto": "a", "artista": "Lua Serena", "album": "Maré Alta", "alvo": "musica"},
            {"texto": "b", "artista": "Lua Serena", "alvo": "show"},
            {"texto": "c", "artista": "MC Trovão", "album": "Baile do Futuro", "alvo": "clipe"},
            {"texto": "d"},
        ]
    )
    a, b, c, _ = (r["id"] for r in rows)

    assert sorted(api.ids(artista="lua  serena")) == sorted([a, b])
    assert api.ids(album="MARÉ ALTA") == [a]
    assert api.ids(alvo="clipe") == [c]
    assert sorted(api.ids(artista="Lua Serena", alvo="show")) == [b]
    assert api.ids(artista="Ninguém") == []
    assert_error(api.list(alvo="podcast"), 422)


def test_text_search_is_case_insensitive_and_wildcards_are_literal(api):
    rows = api.created(
        [
            {"texto": "Adorei 100% o show"},
            {"texto": "o show_ao_vivo foi top"},
            {"texto": "SHOWZAÇO demais"},
            {"texto": "nada a ver com isso"},
        ]
    )
    percent, underscore, upper, _ = (r["id"] for r in rows)

    assert sorted(api.ids(q="show")) == sorted([percent, underscore, upper])
    assert api.ids(q="%") == [percent]
    assert api.ids(q="100%") == [percent]
    assert api.ids(q="_") == [underscore]
    assert api.ids(q="w_a") == [underscore]
    assert api.ids(q="s%w") == []


def test_date_filters_accept_dates_and_datetimes(api):
    stamps = ["2026-01-09T23:30:00Z", "2026-01-10T08:00:00Z", "2026-01-10T23:59:00Z", "2026-01-11T00:30:00Z"]
    ids = [api.created({"texto": f"comentário em {s}", "publicado_em": s})["id"] for s in stamps]
    before, morning, night, after = ids

    assert sorted(api.ids(desde="2026-01-10")) == sorted([morning, night, after])
    assert sorted(api.ids(ate="2026-01-10")) == sorted([before, morning, night])  # the whole day
    assert sorted(api.ids(desde="2026-01-10", ate="2026-01-10")) == sorted([morning, night])
    assert sorted(api.ids(desde="2026-01-10T09:00:00Z")) == sorted([night, after])
    assert sorted(api.ids(ate="2026-01-10T08:00:00Z")) == sorted([before, morning])  # inclusive
    assert sorted(api.ids(desde="2026-01-10T05:00:00-03:00", ate="2026-01-10T20:59:00-03:00")) == sorted(
        [morning, night]
    )
    assert_error(api.list(desde="ontem"), 422)
    assert_error(api.list(ate="2026-02-30"), 422)


def test_confidence_filters(api):
    rows = api.created(
        [
            {"texto": "amei"},
            {"texto": "Ganhe dinheiro fácil! Clique no link http://promo.example.com e sigam meu canal"},
            {"texto": "Que show incrível, melhor noite da minha vida"},
            {"texto": "o som estava ok, mas podia ser melhor"},
        ]
    )
    by_confidence = sorted(rows, key=lambda r: r["confianca"])
    values = [r["confianca"] for r in by_confidence]
    assert len(set(values)) >= 2, values
    cut = next(i for i in range(1, len(values)) if values[i] > values[i - 1])
    threshold = (values[cut - 1] + values[cut]) / 2

    assert sorted(api.ids(confianca_min=threshold)) == sorted(r["id"] for r in by_confidence[cut:])
    assert sorted(api.ids(confianca_max=threshold)) == sorted(r["id"] for r in by_confidence[:cut])
    assert api.ids(confianca_min=0, confianca_max=1) and api.total(confianca_min=0, confianca_max=1) == 4
    assert_error(api.list(confianca_min="1.5"), 422)
    assert_error(api.list(confianca_max="alta"), 422)


def test_ordering_is_allow_listed(api):
    stamps = ["2026-01-03T10:00:00Z", "2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z"]
    rows = api.created([{"texto": f"comentário {n}", "publicado_em": s} for n, s in enumerate(stamps)])
    chronological = [rows[1]["id"], rows[2]["id"], rows[0]["id"]]

    assert api.ids(ordenar="publicado_em") == chronological
    assert api.ids(ordenar="-publicado_em") == chronological[::-1]
    confidences = [i["confianca"] for i in api.list(ordenar="confianca").get_json()["items"]]
    assert confidences == sorted(confidences)
    for bad in ("texto", "id; DROP TABLE comments", "-senha"):
        erro = assert_error(api.list(ordenar=bad), 422, "validacao")
        assert fields(erro) == ["ordenar"]


def _links(resp) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>;\s*rel="(\w+)"', resp.headers.get("Link", ""))}


def test_pagination_with_link_headers(api, client, role_auth):
    rows = api.created([{"texto": f"página {n}", "publicado_em": f"2026-01-0{n + 1}T10:00:00Z"} for n in range(5)])
    params = {"per_page": 2, "ordenar": "publicado_em", "q": "página"}

    first = api.list(**params)
    body = first.get_json()
    assert body["total"] == 5 and body["page"] == 1 and body["per_page"] == 2
    assert first.headers["X-Total-Count"] == "5"
    links = _links(first)
    assert "prev" not in links
    assert "page=2" in links["next"] and "page=3" in links["last"]
    assert "q=p%C3%A1gina" in links["next"] and "ordenar=publicado_em" in links["next"]

    seen, resp = [], first
    while True:
        seen += [i["id"] for i in resp.get_json()["items"]]
        nxt = _links(resp).get("next")
        if not nxt:
            break
        resp = client.get(nxt, headers=role_auth["leitor"])
        assert resp.status_code == 200
    assert seen == [r["id"] for r in rows]

    last = api.list(page=3, **params)
    assert len(last.get_json()["items"]) == 1
    assert "next" not in _links(last) and "prev" in _links(last)
    assert api.list(page=9, **params).get_json()["items"] == []


@pytest.mark.parametrize(("param", "value"), [("per_page", 501), ("per_page", 0), ("page", 0), ("page", "dois")])
def test_bad_pagination_is_422(api, param, value):
    erro = assert_error(api.list(**{param: value}), 422, "validacao")
    assert fields(erro) == [param]


def test_unknown_query_parameter_is_422(api):
    assert_error(api.list(cor="azul"), 422, "validacao")


# --- detail ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("comment_id", [str(uuid.uuid4()), "nao-e-uuid", "1"])
def test_unknown_or_invalid_id_is_404_envelope(api, comment_id):
    assert_error(api.get(comment_id), 404, "nao_encontrado")
    assert_error(api.history(comment_id), 404, "nao_encontrado")
    assert_error(api.patch(comment_id, {"categoria": "SPAM"}), 404, "nao_encontrado")


# --- history and corrections -----------------------------------------------------------------------------------


def test_history_shows_the_model_then_the_curator_correction(api):
    stored = api.created({"texto": "Deviam lançar uma versão acústica dessa música"})
    cid = stored["id"]

    resp = api.patch(cid, {"categoria": "critica", "motivo": "o ouvinte reclama da versão atual"})

    assert resp.status_code == 200
    assert resp.get_json()["categoria"] == "CRÍTICA"
    events = api.history(cid).get_json()
    assert [e["fonte"] for e in events] == ["modelo", "curador"]
    model, curator = events
    assert model["categoria"] == stored["categoria"]
    assert model["modelo"] == stored["modelo"]
    assert model["confianca"] == stored["confianca"]
    assert model["usuario"] is None
    assert curator["categoria"] == "CRÍTICA"
    assert curator["usuario"] == "user_curador"
    assert curator["motivo"] == "o ouvinte reclama da versão atual"
    assert when(model["em"]) <= when(curator["em"])


def test_correction_is_what_reads_and_filters_return_afterwards(api):
    cid = api.created({"texto": "Que show incrível, melhor noite da minha vida"})["id"]
    assert api.ids(categoria="SPAM") == []

    assert api.patch(cid, {"categoria": "SPAM"}).status_code == 200

    assert api.get(cid).get_json()["categoria"] == "SPAM"
    assert api.ids(categoria="SPAM") == [cid]
    assert api.ids(categoria="ELOGIO") == []


def test_correction_survives_a_repost_of_the_same_comment(api):
    cid = str(uuid.uuid4())
    api.created({"id": cid, "texto": "Que show incrível, melhor noite da minha vida"})
    corrected = api.patch(cid, {"categoria": "SUGESTAO"}).get_json()

    again = api.post({"id": cid, "texto": "Que show incrível, melhor noite da minha vida"})

    assert again.status_code == 200
    assert again.get_json()["categoria"] == "SUGESTÃO"
    assert again.get_json() == corrected
    assert [e["fonte"] for e in api.history(cid).get_json()] == ["modelo", "curador"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"categoria": "NEUTRO"}, 422),
        ({}, 422),
        ({"motivo": "só o motivo"}, 422),
        ({"categoria": "SPAM", "confianca": 0.1}, 422),
        ({"categoria": 5}, 422),
    ],
)
def test_patch_validates_and_invalid_corrections_change_nothing(api, body, status):
    stored = api.created({"texto": "o clipe tem uma fotografia linda"})

    assert_error(api.patch(stored["id"], body), status, "validacao")

    assert api.get(stored["id"]).get_json() == stored
    assert len(api.history(stored["id"]).get_json()) == 1


def test_patch_needs_a_json_body(api, client, role_auth):
    cid = api.created({"texto": "o clipe tem uma fotografia linda"})["id"]

    resp = client.patch(
        f"{URL}/{cid}",
        data="categoria=SPAM",
        headers=role_auth["curador"],
        content_type="application/x-www-form-urlencoded",
    )

    assert_error(resp, 415)


def test_patch_unknown_tag_code_is_422(api):
    stored = api.created({"texto": "o clipe tem uma fotografia linda"})

    erro = assert_error(api.patch(stored["id"], {"tags_funcionalidades": ["tag_que_nao_existe"]}), 422, "validacao")

    assert "tag_que_nao_existe" in str(erro["detalhes"])
    assert api.get(stored["id"]).get_json() == stored


def test_tag_correction_and_tag_filter(app, api):
    from app.classifier.taxonomy import known_codes

    with app.app_context():
        code = sorted(known_codes())[0]
    tagged, other = (c["id"] for c in api.created([{"texto": "o primeiro"}, {"texto": "o segundo"}]))

    resp = api.patch(tagged, {"tags_funcionalidades": [code]})

    assert resp.status_code == 200
    tags = resp.get_json()["tags_funcionalidades"]
    assert [t["codigo"] for t in tags] == [code] and tags[0]["explicacao"]
    assert api.ids(tag=code) == [tagged]
    assert other not in api.ids(tag=code)
    assert api.history(tagged).get_json()[-1]["tags_funcionalidades"] == tags


def test_tag_category_and_period_listing_follows_corrections_in_order_and_count(app, api):
    """tag + categoria + period is answered from the tag rows' copies of the comment (PostgreSQL): corrections that
    change a comment's category, tags or classification time show up in that listing's order, pages and total
    exactly as in the general query (the same filters plus a confidence bound, which takes the general path)."""
    from app.classifier.taxonomy import known_codes

    with app.app_context():
        first, second = sorted(known_codes())[:2]
    stamps = ["2026-03-10T10:00:00Z", "2026-03-11T10:00:00Z", "2026-03-12T10:00:00Z", "2026-04-01T10:00:00Z"]
    a, b, c, late = (api.created({"texto": f"comentário {s}", "publicado_em": s})["id"] for s in stamps)
    for cid in (a, b, c, late):  # each correction stamps classified_at: a, b, c, late in that order
        body = {"categoria": "CRÍTICA", "tags_funcionalidades": [first, second]}
        assert api.patch(cid, body).status_code == 200
    window = {"categoria": "CRITICA", "tag": [first], "desde": "2026-03-01", "ate": "2026-03-31"}

    def both(**params):
        fast, general = api.list(**params).get_json(), api.list(confianca_min=0, **params).get_json()
        assert [i["id"] for i in fast["items"]] == [i["id"] for i in general["items"]]
        assert fast["total"] == general["total"]
        return [i["id"] for i in fast["items"]], fast["total"]

    assert both(**window) == ([c, b, a], 3)
    assert both(**window, ordenar="classificado_em") == ([a, b, c], 3)
    assert both(**window, ordenar="-publicado_em", per_page=1, page=2) == ([b], 3)
    assert both(**window, per_page=2, page=3) == ([], 3)

    assert api.patch(a, {"categoria": "CRÍTICA"}).status_code == 200  # classified again: now the newest
    assert both(**window) == ([a, c, b], 3)
    assert api.patch(b, {"categoria": "ELOGIO"}).status_code == 200  # leaves the category
    assert both(**window) == ([a, c], 2)
    assert api.patch(c, {"tags_funcionalidades": [first]}).status_code == 200  # loses the second tag
    assert both(**window) == ([c, a], 2)
    assert both(**{**window, "tag": [first, second]}) == ([a], 1)
    assert both(**{**window, "tag": [second]}) == ([a], 1)
    item = api.list(**window).get_json()["items"][0]
    assert item == api.get(c).get_json()  # the same wire shape as the single comment
