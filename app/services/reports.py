"""The weekly report's aggregates: one SQL query per chart over indexed time windows, no comment row in Python.

Every window is computed in one configured time zone (REPORT_TIMEZONE): "the last 7 days" are the 7 local
calendar days ending today, weeks are ISO weeks starting on a local Monday, "48 h" is a rolling window. Window
bounds are computed here as UTC instants and passed as parameters, so PostgreSQL uses the `occurred_at` indexes.
Only aggregates (a few hundred rows at most, whatever the table size) come back to Python, where they are laid
out as tidy rows; `app/serializers/reports.py` turns those into the chart shape, flat JSON rows and CSV.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session

from app.classifier.base import CATEGORIES
from app.classifier.taxonomy import explain
from app.models.catalog import Album, Artist
from app.schemas.reports import ReportFilters
from app.services.report_rollup import day_cells, filter_conditions, fold, hour_counts, tag_counts, uses_rollup
from app.services.report_windows import Windows, as_date, as_utc_hour, local_day

__all__ = ["CHARTS", "Chart", "Report", "Windows", "compute_report", "local_day"]

CRITICA = "CRÍTICA"
ELOGIO = "ELOGIO"
RELEASE_DAYS = 30  # D0..D30 after a release


@dataclass(frozen=True)
class Chart:
    """One chart as tidy rows plus how to pivot them into labels/series."""

    id: str
    titulo: str
    descricao: str
    tipo: str  # barras, barras_empilhadas, linhas
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    label: str  # the column whose values are the x-axis labels
    values: tuple[str, ...]  # value columns; with `series_by`, exactly one
    series_by: str | None = None  # the column whose values name the series
    series_names: Mapping[str, str] = field(default_factory=dict)  # value column -> series name (no series_by)
    labels: list[Any] | None = None  # fixed label order (otherwise first-seen order)
    extra: dict[str, Any] = field(default_factory=dict)


def pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


# --- the window cube ------------------------------------------------------------------------------------------------
# Five of the charts read the same comments (the last 5 weeks) by day, artist and category. One query over the
# day cells (rollups for closed days and hours plus the open hour's raw rows, or raw rows only:
# app/services/report_rollup.py) fills a temporary table of a few thousand rows, and those charts are small
# GROUP BYs over it. The table lives in the report's transaction only.
_cube_metadata = MetaData()
CUBE = Table(
    "report_window_cube",
    _cube_metadata,
    Column("dia", Date),
    Column("artist_id", Integer),
    Column("category", String(20)),
    Column("n", Integer),
    Column("conf_sum", Float),
    Column("below", Integer),
    prefixes=["TEMPORARY"],
)


def cube_start(w: Windows) -> date:
    """The first local day any cube chart needs: 4 ISO weeks before this one, 14 days for hype, D0 of a release."""
    return min(w.week_start - timedelta(weeks=4), w.last_7_days[0] - timedelta(days=7), w.today - timedelta(days=30))


def build_cube(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> None:
    cells = day_cells(session, w, cube_start(w), filter_conditions(f), float(cfg["REVIEW_THRESHOLD"])).subquery()
    # Albums summed away: the cube charts group by day, artist and category only (3x fewer rows to scan).
    c = cells.c
    rows = select(c.dia, c.artist_id, c.category, func.sum(c.n), func.sum(c.conf_sum), func.sum(c.below)).group_by(
        c.dia, c.artist_id, c.category
    )
    connection = session.connection()
    CUBE.drop(connection, checkfirst=True)
    CUBE.create(connection)
    session.execute(CUBE.insert().from_select([c.name for c in CUBE.columns], rows))


# --- the charts ---------------------------------------------------------------------------------------------------
def categorias_por_artista(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> Chart:
    c = CUBE.c
    where = [c.dia >= w.last_7_days[0], c.artist_id.is_not(None)]
    total = func.sum(c.n).label("total")
    top = (
        select(c.artist_id, total)
        .where(*where)
        .group_by(c.artist_id)
        .order_by(total.desc(), c.artist_id)
        .limit(cfg["REPORT_TOP_ARTISTS"])
        .cte("top_artists")
    )
    counts = session.execute(
        select(Artist.name, c.category, func.sum(c.n), top.c.total)
        .join(top, top.c.artist_id == c.artist_id)
        .join(Artist, Artist.id == c.artist_id)
        .where(*where)
        .group_by(Artist.name, c.category, top.c.total)
        .order_by(top.c.total.desc(), Artist.name)
    ).all()
    artists = list(dict.fromkeys(name for name, *_ in counts))
    by_key = {(name, cat): n for name, cat, n, _ in counts}
    rows = [{"artista": a, "categoria": c, "comentarios": by_key.get((a, c), 0)} for a in artists for c in CATEGORIES]
    return Chart(
        id="categorias_por_artista",
        titulo="Categorias por artista (últimos 7 dias)",
        descricao=f"Comentários por categoria dos {cfg['REPORT_TOP_ARTISTS']} artistas mais comentados "
        "nos últimos 7 dias.",
        tipo="barras_empilhadas",
        columns=("artista", "categoria", "comentarios"),
        rows=rows,
        label="artista",
        values=("comentarios",),
        series_by="categoria",
        labels=artists,
    )


def evolucao_criticas_pos_lancamento(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> Chart:
    oldest = w.today - timedelta(days=RELEASE_DAYS)
    release_query = (
        select(Album.id, Album.title, Album.release_date, Artist.name)
        .outerjoin(Artist, Artist.id == Album.artist_id)
        .where(Album.release_date.is_not(None), Album.release_date >= oldest, Album.release_date <= w.today)
        .order_by(Album.release_date.desc(), Album.id)
        .limit(cfg["REPORT_RECENT_RELEASES"])
    )
    if f.artista:
        release_query = release_query.where(Artist.name_key == f.artista_key)
    if f.album:
        release_query = release_query.where(Album.title_key == f.album_key)
    releases = session.execute(release_query).all()
    counts: dict[tuple[int, date], int] = {}
    if releases:
        # Every CRITICA of those albums (not only the filtered artist's comments), hence no filter on the cube.
        ids = [r.id for r in releases]
        cells = day_cells(
            session,
            w,
            min(r.release_date for r in releases),
            lambda cols: [cols.album_id.in_(ids), cols.category == CRITICA],
            float(cfg["REVIEW_THRESHOLD"]),
        ).subquery()
        for album_id, dia, n in session.execute(
            select(cells.c.album_id, cells.c.dia, func.sum(cells.c.n)).group_by(cells.c.album_id, cells.c.dia)
        ):
            counts[(album_id, as_date(dia))] = int(n)
    rows = []
    for r in releases:
        for offset in range(min(RELEASE_DAYS, (w.today - r.release_date).days) + 1):
            day_ = r.release_date + timedelta(days=offset)
            rows.append(
                {
                    "album": r.title,
                    "artista": r.name,
                    "lancamento": r.release_date.isoformat(),
                    "dia_apos_lancamento": offset,
                    "data": day_.isoformat(),
                    "criticas": counts.get((r.id, day_), 0),
                }
            )
    for row in rows:
        row["serie"] = f"{row['album']} ({row['artista']})" if row["artista"] else row["album"]
    return Chart(
        id="evolucao_criticas_pos_lancamento",
        titulo="Críticas após cada lançamento (D0 a D30)",
        descricao="Comentários CRÍTICA por dia desde a data de cada lançamento recente (até 30 dias atrás).",
        tipo="linhas",
        columns=("album", "artista", "lancamento", "dia_apos_lancamento", "data", "criticas"),
        rows=rows,
        label="dia_apos_lancamento",
        values=("criticas",),
        series_by="serie",
        labels=list(range(RELEASE_DAYS + 1)),
        extra={"label_format": "D{}"},
    )


def top_tags_48h(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> Chart:
    cells = tag_counts(session, w, w.now - timedelta(hours=48), filter_conditions(f)).subquery()
    citations = func.sum(cells.c.n).label("citacoes")
    result = session.execute(
        select(cells.c.code, citations)
        .group_by(cells.c.code)
        .order_by(citations.desc(), cells.c.code)
        .limit(cfg["REPORT_TOP_TAGS"])
    ).all()
    rows = [{"tag": code, "explicacao": explain(code), "citacoes": int(n)} for code, n in result]
    return Chart(
        id="top_tags_48h",
        titulo="Tags mais citadas (últimas 48 h)",
        descricao=f"As {cfg['REPORT_TOP_TAGS']} tags de funcionalidade mais citadas nas últimas 48 horas.",
        tipo="barras",
        columns=("tag", "explicacao", "citacoes"),
        rows=rows,
        label="tag",
        values=("citacoes",),
        series_names={"citacoes": "Citações"},
    )


def volume_diario_por_categoria(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> Chart:
    days = w.last_7_days
    c = CUBE.c
    counts = {
        (as_date(d), cat): int(n)
        for d, cat, n in session.execute(
            select(c.dia, c.category, func.sum(c.n)).where(c.dia >= days[0]).group_by(c.dia, c.category)
        )
    }
    rows = [
        {"dia": d.isoformat(), "categoria": c, "comentarios": counts.get((d, c), 0)} for d in days for c in CATEGORIES
    ]
    return Chart(
        id="volume_diario_por_categoria",
        titulo="Volume diário por categoria (últimos 7 dias)",
        descricao="Comentários por dia (no fuso do relatório) e categoria nos últimos 7 dias.",
        tipo="linhas",
        columns=("dia", "categoria", "comentarios"),
        rows=rows,
        label="dia",
        values=("comentarios",),
        series_by="categoria",
        labels=[d.isoformat() for d in days],
    )


def confianca_media_por_categoria(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> Chart:
    threshold = float(cfg["REVIEW_THRESHOLD"])
    c = CUBE.c
    result = session.execute(
        select(c.category, func.sum(c.conf_sum) / func.sum(c.n), func.sum(c.below), func.sum(c.n))
        .where(c.dia >= w.last_7_days[0])
        .group_by(c.category)
    ).all()
    by_cat = {cat: (avg, low, n) for cat, avg, low, n in result}
    rows = []
    for cat in CATEGORIES:
        avg, low, n = by_cat.get(cat, (None, 0, 0))
        rows.append(
            {
                "categoria": cat,
                "confianca_media": round(float(avg), 4) if avg is not None else None,
                "abaixo_do_limiar_pct": pct(low or 0, n),
                "comentarios": int(n),
                "limiar": threshold,
            }
        )
    return Chart(
        id="confianca_media_por_categoria",
        titulo="Confiança média por categoria (últimos 7 dias)",
        descricao=f"Confiança média do classificador por categoria e % de comentários abaixo do limiar de "
        f"revisão ({threshold:g}).",
        tipo="barras",
        columns=("categoria", "confianca_media", "abaixo_do_limiar_pct", "comentarios", "limiar"),
        rows=rows,
        label="categoria",
        values=("confianca_media", "abaixo_do_limiar_pct"),
        series_names={"confianca_media": "Confiança média", "abaixo_do_limiar_pct": "% abaixo do limiar"},
        labels=list(CATEGORIES),
        extra={"limiar": threshold},
    )


def hype_por_artista(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> Chart:
    c = CUBE.c
    current = c.dia >= w.last_7_days[0]
    praise = c.category == ELOGIO
    volume = func.sum(case((current, c.n), else_=0)).label("volume")
    result = session.execute(
        select(
            Artist.name,
            volume,
            func.sum(case((and_(current, praise), c.n), else_=0)),
            func.sum(case((current, 0), else_=c.n)),
            func.sum(case((and_(~current, praise), c.n), else_=0)),
        )
        .join(Artist, Artist.id == c.artist_id)
        .where(c.dia >= w.last_7_days[0] - timedelta(days=7))
        .group_by(Artist.name)
        .order_by(volume.desc(), Artist.name)
        .limit(cfg["REPORT_TOP_ARTISTS"])
    ).all()
    rows = [
        {
            "artista": name,
            "comentarios_7d": n,
            "comentarios_7d_anteriores": n_prev,
            "variacao_volume_pct": pct(n - n_prev, n_prev),
            "elogios_pct": pct(praised, n),
            "elogios_pct_anteriores": pct(praised_prev, n_prev),
        }
        for name, n, praised, n_prev, praised_prev in result
        if n
    ]
    return Chart(
        id="hype_por_artista",
        titulo="Hype por artista (7 dias contra os 7 anteriores)",
        descricao="Participação de ELOGIO nos comentários de cada artista e a variação do volume nos últimos 7 "
        "dias contra os 7 dias anteriores.",
        tipo="barras",
        columns=(
            "artista",
            "comentarios_7d",
            "comentarios_7d_anteriores",
            "variacao_volume_pct",
            "elogios_pct",
            "elogios_pct_anteriores",
        ),
        rows=rows,
        label="artista",
        values=("elogios_pct", "variacao_volume_pct"),
        series_names={"elogios_pct": "% de elogios", "variacao_volume_pct": "Variação do volume (%)"},
    )


def deriva_categorias(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> Chart:
    threshold = float(cfg["REPORT_DRIFT_THRESHOLD"])
    c = CUBE.c
    this_week = c.dia >= w.week_start
    result = session.execute(
        select(c.category, func.sum(case((this_week, c.n), else_=0)), func.sum(case((this_week, 0), else_=c.n)))
        .where(c.dia >= w.week_start - timedelta(weeks=4))
        .group_by(c.category)
    ).all()
    by_cat = {cat: (int(n), int(base)) for cat, n, base in result}
    total_now = sum(n for n, _ in by_cat.values())
    total_base = sum(b for _, b in by_cat.values())
    rows = []
    for cat in CATEGORIES:
        n, base = by_cat.get(cat, (0, 0))
        share, share_base = pct(n, total_now), pct(base, total_base)
        shift = round(share - share_base, 2) if share is not None and share_base is not None else None
        rows.append(
            {
                "categoria": cat,
                "participacao_semana_pct": share,
                "participacao_4_semanas_pct": share_base,
                "desvio_pontos": shift,
                "alerta": shift is not None and abs(shift) > threshold,
                "comentarios_semana": n,
                "comentarios_4_semanas": base,
            }
        )
    return Chart(
        id="deriva_categorias",
        titulo="Deriva de categorias (semana ISO contra as 4 anteriores)",
        descricao=f"Participação de cada categoria nesta semana ISO contra as quatro semanas anteriores; desvio em "
        f"pontos percentuais, com alerta acima de {threshold:g} pontos.",
        tipo="barras",
        columns=(
            "categoria",
            "participacao_semana_pct",
            "participacao_4_semanas_pct",
            "desvio_pontos",
            "alerta",
            "comentarios_semana",
            "comentarios_4_semanas",
        ),
        rows=rows,
        label="categoria",
        values=("participacao_semana_pct", "participacao_4_semanas_pct", "desvio_pontos"),
        series_names={
            "participacao_semana_pct": "Esta semana (%)",
            "participacao_4_semanas_pct": "4 semanas anteriores (%)",
            "desvio_pontos": "Desvio (p.p.)",
        },
        labels=list(CATEGORIES),
        extra={"limiar_pontos": threshold, "alertas": [r["categoria"] for r in rows if r["alerta"]]},
    )


def comentarios_por_hora(session: Session, w: Windows, f: ReportFilters, cfg: Mapping[str, Any]) -> Chart:
    end_hour = w.now.replace(minute=0, second=0, microsecond=0)
    hours = [end_hour - timedelta(hours=n) for n in range(47, -1, -1)]
    cells = hour_counts(session, w, hours[0], filter_conditions(f)).subquery()
    counts: dict[datetime, int] = {}
    for hour, n in session.execute(select(cells.c.hora, func.sum(cells.c.n)).group_by(cells.c.hora)):
        counts[as_utc_hour(hour)] = int(n)
    rows = [{"hora": h, "comentarios": counts.get(h, 0)} for h in hours]
    return Chart(
        id="comentarios_por_hora",
        titulo="Comentários por hora (últimas 48 h)",
        descricao="Comentários recebidos por hora nas últimas 48 horas (horas em UTC, ISO-8601).",
        tipo="linhas",
        columns=("hora", "comentarios"),
        rows=rows,
        label="hora",
        values=("comentarios",),
        series_names={"comentarios": "Comentários"},
        labels=hours,
    )


ChartBuilder = Callable[[Session, Windows, ReportFilters, Mapping[str, Any]], Chart]
CHARTS: dict[str, ChartBuilder] = {
    "categorias_por_artista": categorias_por_artista,
    "evolucao_criticas_pos_lancamento": evolucao_criticas_pos_lancamento,
    "top_tags_48h": top_tags_48h,
    "volume_diario_por_categoria": volume_diario_por_categoria,
    "confianca_media_por_categoria": confianca_media_por_categoria,
    "hype_por_artista": hype_por_artista,
    "deriva_categorias": deriva_categorias,
    "comentarios_por_hora": comentarios_por_hora,
}


@dataclass(frozen=True)
class Report:
    windows: Windows
    filters: ReportFilters
    charts: list[Chart]


def compute_report(
    session: Session,
    filters: ReportFilters,
    cfg: Mapping[str, Any],
    now: datetime | None = None,
    rollup: bool | None = None,
) -> Report:
    """Every chart for `filters` as of `now`, in one REPEATABLE READ transaction (one consistent view).

    With the rollups (default on PostgreSQL), they are folded first (their own committed transaction). The report's
    transaction is rolled back at the end: nothing else is written, and the temporary cube goes with it.
    `rollup=False` reads raw rows only (the reference the consistency test compares against).
    """
    use_rollup = uses_rollup(session) if rollup is None else rollup
    windows = Windows.at(now or datetime.now(UTC), cfg["REPORT_TIMEZONE"], rollup=use_rollup)
    if use_rollup:
        fold(session, windows, cfg)
    session.rollback()  # SET TRANSACTION must be the first statement of the transaction
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        build_cube(session, windows, filters, cfg)
        charts = [build(session, windows, filters, cfg) for build in CHARTS.values()]
    finally:
        session.rollback()
    return Report(windows=windows, filters=filters, charts=charts)
