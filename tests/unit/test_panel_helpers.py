"""The curator panel's pure helpers: accent folding, highlighting, safe next=, keyset cursors, filter URLs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from werkzeug.datastructures import MultiDict

from app.auth.session import safe_next
from app.services.queries import Cursor, fold, keyset_condition
from app.views.curation import filter_query, highlight, read_filters


def test_fold_strips_accents_and_case():
    assert fold("CRÍTICA Sugestão DÚVIDA ação") == "critica sugestao duvida acao"


@pytest.mark.parametrize(
    ("text", "query", "expected"),
    [
        ("Uma CRÍTICA justa", "critica", "Uma <mark>CRÍTICA</mark> justa"),
        ("critica e Crítica", "CRÍTICA", "<mark>critica</mark> e <mark>Crítica</mark>"),
        ("<b>crítica</b>", "critica", "&lt;b&gt;<mark>crítica</mark>&lt;/b&gt;"),
        ("nada aqui", "critica", "nada aqui"),
        ("sem busca", None, "sem busca"),
    ],
)
def test_highlight_marks_every_match_and_escapes_the_rest(text, query, expected):
    assert str(highlight(text, query)) == expected


def test_highlight_with_decomposed_accents():
    text = "Cri\u0301tica"  # "Crítica" with a combining accent
    assert str(highlight(text, "critica")) == f"<mark>{text}</mark>"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/curadoria/revisar", "/curadoria/revisar"),
        ("/curadoria?q=a&categoria=SPAM", "/curadoria?q=a&categoria=SPAM"),
        ("https://elsewhere.example", "/d"),
        ("//elsewhere.example", "/d"),
        ("/\\elsewhere.example", "/d"),
        ("http:/elsewhere", "/d"),
        ("javascript:alert(1)", "/d"),
        ("/curadoria\r\nSet-Cookie: x", "/d"),
        ("", "/d"),
        (None, "/d"),
    ],
)
def test_safe_next_only_allows_paths_on_this_site(target, expected):
    assert safe_next(target, "/d") == expected


def test_cursor_round_trips_and_rejects_garbage():
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    cid = uuid.uuid4()
    token = Cursor(when, cid).encode()
    assert Cursor.decode(token, "-classificado_em") == Cursor(when, cid)
    assert Cursor.decode(Cursor(0.25, cid).encode(), "confianca") == Cursor(0.25, cid)
    for bad in ("", "x", "bm90IGpzb24", Cursor("not a date", cid).encode()):
        assert Cursor.decode(bad, "-classificado_em") is None


def test_keyset_direction_follows_the_ordering():
    cursor = Cursor(0.5, uuid.uuid4())
    assert ">" in str(keyset_condition("confianca", cursor))
    assert "<" in str(keyset_condition("-confianca", cursor))
    assert "<" in str(keyset_condition("confianca", cursor, backwards=True))


def test_filters_from_the_url_ignore_empty_fields_and_round_trip():
    args = MultiDict([("categoria", "CRITICA"), ("categoria", ""), ("q", " show "), ("artista", ""), ("tag", "a,b")])
    filters, errors = read_filters(args)
    assert errors == []
    assert filters.categoria == ["CRÍTICA"] and filters.q == "show" and filters.tag == ["a", "b"]
    assert filter_query(filters) == [("categoria", "CRÍTICA"), ("tag", "a"), ("tag", "b"), ("q", "show")]


def test_invalid_filters_come_back_as_messages():
    filters, errors = read_filters(MultiDict([("confianca_min", "2"), ("q", "ok")]))
    assert filters.q is None  # nothing half-applied
    assert [e["campo"] for e in errors] == ["confianca_min"]
