"""The report's wire shapes in one place: the envelope, one chart, flat rows for BI tools and CSV.

Chart: `{"id","titulo","descricao","tipo","labels","series":[{"nome","valores"}]}` (SPEC §1) plus the URLs of its
flat feeds. Flat rows (`/relatorio/semana/<id>.json`): a bare array, every column in every row (null rather than
missing), snake_case keys, numbers as numbers, ISO-8601 UTC timestamps. CSV: the same columns, header row,
comma, UTF-8, quoted where needed, no trailing blank line, cells neutralised against formula injection.
`tests/unit/test_report_serializers.py` checks these against app/schemas/reports.py.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from app.serializers.comments import neutralise_cell
from app.services.reports import Chart, Report

FEED_PATH = "/relatorio/semana"
UTF8_BOM = "\ufeff".encode()


def iso_utc(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def feed_url(chart_id: str, suffix: str, filters: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in filters.items() if v})
    return f"{FEED_PATH}/{chart_id}.{suffix}" + (f"?{query}" if query else "")


def _label(chart: Chart, value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    fmt = chart.extra.get("label_format")
    return fmt.format(value) if fmt else value


def chart_json(chart: Chart, filters: dict[str, str | None]) -> dict[str, Any]:
    """Pivot the tidy rows into labels and series (null where a label has no value)."""
    labels = chart.labels if chart.labels is not None else list(dict.fromkeys(r[chart.label] for r in chart.rows))
    index = {label: i for i, label in enumerate(labels)}
    series: list[dict[str, Any]] = []
    if chart.series_by:
        (value_col,) = chart.values
        by_name: dict[str, list[Any]] = {}
        for row in chart.rows:
            values = by_name.setdefault(str(row[chart.series_by]), [None] * len(labels))
            if row[chart.label] in index:
                values[index[row[chart.label]]] = row[value_col]
        series = [{"nome": name, "valores": values} for name, values in by_name.items()]
    else:
        for value_col in chart.values:
            values = [None] * len(labels)
            for row in chart.rows:
                if row[chart.label] in index:
                    values[index[row[chart.label]]] = row[value_col]
            series.append({"nome": chart.series_names.get(value_col, value_col), "valores": values})
    extra = {k: v for k, v in chart.extra.items() if k != "label_format"}
    return {
        "id": chart.id,
        "titulo": chart.titulo,
        "descricao": chart.descricao,
        "tipo": chart.tipo,
        "labels": [_label(chart, label) for label in labels],
        "series": series,
        "json_url": feed_url(chart.id, "json", filters),
        "csv_url": feed_url(chart.id, "csv", filters),
        "extra": extra,
    }


def envelope(report: Report, generated_at: datetime, valid_until: datetime) -> dict[str, Any]:
    filters = report.filters.cache_params()
    shown = {"artista": report.filters.artista, "album": report.filters.album}
    return {
        "semana": report.windows.iso_week,
        "gerado_em": iso_utc(generated_at),
        "valido_ate": iso_utc(valid_until),
        "fuso_horario": report.windows.tz.key,
        "filtros": shown,
        "graficos": {c.id: chart_json(c, {k: shown[k] if filters[k] else None for k in shown}) for c in report.charts},
    }


def flat_rows(chart: Chart) -> list[dict[str, Any]]:
    """Every column in every row, in column order; timestamps as ISO-8601 UTC."""
    out = []
    for row in chart.rows:
        flat = {}
        for col in chart.columns:
            value = row.get(col)
            flat[col] = iso_utc(value) if isinstance(value, datetime) else value
        out.append(flat)
    return out


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, int | float):
        return repr(value)
    return neutralise_cell(str(value))


def chart_csv(chart: Chart) -> bytes:
    """Header row + one line per flat row, CRLF between lines and none after the last (no trailing blank line)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(chart.columns)
    for row in flat_rows(chart):
        writer.writerow([_csv_cell(row[col]) for col in chart.columns])
    return buffer.getvalue().removesuffix("\r\n").encode("utf-8")
