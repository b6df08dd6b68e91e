"""The wire shape lives in one module: it must satisfy the published schema, and CSV must follow it."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime

from app.schemas.comments import CommentOut
from app.serializers.comments import CSV_COLUMNS, comment_wire, csv_row, neutralise_cell


def _sample(**overrides):
    values = dict(
        id=uuid.uuid4(),
        text='=HYPERLINK("http://x") o show foi ótimo',
        category="ELOGIO",
        tag_codes=["show_duracao"],
        confidence=0.91234,
        artist="Lua Serena",
        album=None,
        target="show",
        published_at=None,
        classified_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        model_version="local:test",
    )
    values.update(overrides)
    return values


def test_comment_json_validates_against_the_published_schema():
    wire = comment_wire(**_sample())
    parsed = CommentOut.model_validate(wire)
    assert set(wire) == set(CommentOut.model_fields)
    assert parsed.tags_funcionalidades[0].codigo == "show_duracao"
    assert parsed.tags_funcionalidades[0].explicacao  # explanation comes from the taxonomy
    assert wire["confianca"] == 0.9123


def test_csv_columns_are_the_json_fields_in_order():
    assert list(CSV_COLUMNS) == list(CommentOut.model_fields)


def test_csv_row_neutralises_formulas_and_joins_tags():
    v = _sample(tag_codes=["show_duracao", "audio_mixagem"], artist="@admin", album="-1+2")
    row = csv_row(
        v["id"], v["text"], v["category"], v["tag_codes"], v["confidence"], v["artist"], v["album"],
        v["target"], v["published_at"], v["classified_at"], v["model_version"],
    )  # fmt: skip
    out = io.StringIO()
    csv.writer(out).writerow(row)
    back = next(csv.reader(io.StringIO(out.getvalue())))
    assert back[1].startswith("'=")
    assert back[3] == "show_duracao|audio_mixagem"
    assert back[5] == "'@admin" and back[6] == "'-1+2"
    assert back[8] == "" and back[9] == "2026-11-30T12:00:00Z"


def test_neutralise_leaves_plain_text_alone():
    for text in ("boa música", "1+1", "'já citado"):
        assert neutralise_cell(text) == text
    for text in ("=1+1", "+55 11", "-x", "@y", "\tz", "\rw"):
        assert neutralise_cell(text).startswith("'")
