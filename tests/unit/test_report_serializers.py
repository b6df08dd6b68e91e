"""The report's wire shapes: the envelope and charts match the published schema, flat rows and CSV are what BI
tools read without configuration, windows follow the configured time zone and ISO weeks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import orjson
import pytest

from app.cache import FileStore, params_hash
from app.schemas.reports import ReportFilters, ReportOut
from app.serializers.reports import chart_csv, chart_json, envelope, flat_rows
from app.services.reports import Chart, Report, Windows
from app.tasks.schedule import report_refresh_entry
from app.views.public import _etag_matches

NOW = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)  # 23:30 on Nov 30 in São Paulo (UTC-3)


def _chart(**overrides) -> Chart:
    values = dict(
        id="volume_diario_por_categoria",
        titulo="Volume",
        descricao="d",
        tipo="linhas",
        columns=("dia", "categoria", "comentarios"),
        rows=[
            {"dia": "2026-11-29", "categoria": "ELOGIO", "comentarios": 3},
            {"dia": "2026-11-30", "categoria": "ELOGIO", "comentarios": 1},
            {"dia": "2026-11-30", "categoria": "CRÍTICA", "comentarios": 2},
        ],
        label="dia",
        values=("comentarios",),
        series_by="categoria",
        labels=["2026-11-29", "2026-11-30"],
    )
    values.update(overrides)
    return Chart(**values)


def test_windows_use_the_report_time_zone_and_iso_weeks():
    w = Windows.at(NOW, "America/Sao_Paulo")
    assert w.today == date(2026, 11, 30)  # still Monday evening locally
    assert w.iso_week == "2026-W49"
    assert w.week_start == date(2026, 11, 30)
    assert w.day_start(date(2026, 11, 30)) == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    assert w.last_7_days[0] == date(2026, 11, 24) and w.last_7_days[-1] == w.today
    assert Windows.at(NOW, "UTC").iso_week == "2026-W49" and Windows.at(NOW, "UTC").today == date(2026, 12, 1)


def test_chart_pivots_rows_into_labels_and_series_with_nulls_for_gaps():
    out = chart_json(_chart(), {"artista": None, "album": None})
    assert out["labels"] == ["2026-11-29", "2026-11-30"]
    assert out["series"] == [
        {"nome": "ELOGIO", "valores": [3, 1]},
        {"nome": "CRÍTICA", "valores": [None, 2]},
    ]
    assert out["json_url"] == "/relatorio/semana/volume_diario_por_categoria.json"
    filtered = chart_json(_chart(), {"artista": "Lua Serena", "album": None})
    assert filtered["csv_url"] == "/relatorio/semana/volume_diario_por_categoria.csv?artista=Lua+Serena"


def test_value_columns_become_named_series():
    chart = _chart(
        columns=("categoria", "media", "pct"),
        rows=[{"categoria": "ELOGIO", "media": 0.9, "pct": 5.0}],
        label="categoria",
        values=("media", "pct"),
        series_by=None,
        series_names={"media": "Confiança média"},
        labels=["ELOGIO", "SPAM"],
    )
    out = chart_json(chart, {})
    assert out["series"] == [
        {"nome": "Confiança média", "valores": [0.9, None]},
        {"nome": "pct", "valores": [5.0, None]},
    ]


def test_envelope_matches_the_published_schema():
    w = Windows.at(NOW, "America/Sao_Paulo")
    report = Report(windows=w, filters=ReportFilters(artista=" Lua  Serena "), charts=[_chart()])
    data = orjson.loads(orjson.dumps(envelope(report, NOW, NOW)))
    parsed = ReportOut.model_validate(data)
    assert parsed.semana == "2026-W49" and data["gerado_em"] == "2026-12-01T02:30:00Z"
    assert set(data["graficos"]["volume_diario_por_categoria"]) >= {"id", "titulo", "descricao", "tipo", "labels",
                                                                     "series"}  # fmt: skip
    assert data["filtros"] == {"artista": "Lua  Serena", "album": None}


def test_flat_rows_have_every_column_in_every_row_and_utc_timestamps():
    chart = _chart(
        columns=("hora", "comentarios", "extra"),
        rows=[{"hora": datetime(2026, 12, 1, 1, tzinfo=UTC), "comentarios": 2}],
        label="hora",
        series_by=None,
        labels=None,
    )
    rows = flat_rows(chart)
    assert rows == [{"hora": "2026-12-01T01:00:00Z", "comentarios": 2, "extra": None}]


def test_csv_has_a_header_quotes_where_needed_neutralises_formulas_and_no_trailing_blank_line():
    chart = _chart(
        columns=("tag", "explicacao", "citacoes", "alerta"),
        rows=[
            {"tag": "=cmd|' /C calc'!A0", "explicacao": 'vírgula, e "aspas"', "citacoes": 3, "alerta": True},
            {"tag": "show_duracao", "explicacao": None, "citacoes": 0.5, "alerta": False},
        ],
        label="tag",
        series_by=None,
        labels=None,
    )
    raw = chart_csv(chart)
    assert not raw.endswith(b"\n") and not raw.startswith("\ufeff".encode())
    parsed = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    assert parsed[0] == ["tag", "explicacao", "citacoes", "alerta"]
    assert parsed[1] == ["'=cmd|' /C calc'!A0", 'vírgula, e "aspas"', "3", "true"]
    assert parsed[2] == ["show_duracao", "", "0.5", "false"]


def test_if_none_match_is_compared_weakly():
    assert _etag_matches('W/"abc"', '"abc"')
    assert _etag_matches('"x", "abc"', '"abc"')
    assert _etag_matches("*", '"abc"')
    assert not _etag_matches('"abd"', '"abc"')


def test_cache_keys_hash_normalised_params():
    assert params_hash({"artista": "lua", "album": None}) == params_hash({"album": None, "artista": "lua"})
    assert params_hash({"artista": "lua"}) != params_hash({"artista": "sol"})
    assert ReportFilters(artista=" Lua  SERENA").cache_params() == ReportFilters(artista="lua serena").cache_params()


def test_file_store_expires_entries_and_locks_exclusively(tmp_path):
    store = FileStore(tmp_path)
    store.set("k", b"v", ttl=60)
    assert store.get("k") == b"v"
    store.set("old", b"v", ttl=-1)
    assert store.get("old") is None
    assert store.add("lock", b"1", ttl=60) and not store.add("lock", b"2", ttl=60)
    store.delete("lock")
    assert store.add("lock", b"3", ttl=-1)  # an expired lock (a killed holder) is taken over
    assert store.add("lock", b"4", ttl=60)
    store.mark("set", "a", ttl=60)
    store.mark("set", "b", ttl=60)
    assert sorted(store.members("set", since=0)) == ["a", "b"]


@pytest.mark.parametrize(("refresh", "lead", "every"), [(60, 5, 55.0), (10, 0, 10.0), (3, 5, 1.0)])
def test_beat_refreshes_every_feed_before_the_snapshot_expires(refresh, lead, every):
    entry = report_refresh_entry({"REPORT_REFRESH_SECONDS": refresh, "REPORT_REFRESH_LEAD_SECONDS": lead})
    assert entry["task"] == "app.tasks.reports.refresh_reports"
    assert entry["schedule"] == every
    assert entry["options"] == {"queue": "reports", "expires": every}
