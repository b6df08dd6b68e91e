"""Bulk import: an upload becomes a job row; a worker classifies and stores it in chunks.

Choices (README "Importação em massa"):
- The upload is checked as a whole before anything is written (size, text/UTF-8, format, CSV header); then each
  row is validated on its own: good rows are imported, bad rows are reported with their line number.
- One transaction per chunk holds the chunk's comments AND the job's counters, so after a crash the job resumes
  exactly after the last committed chunk. Rows without an id get one derived from (job id, line), so re-running a
  chunk finds them stored instead of duplicating them: idempotent by comment id.
- A worker owns a job through a heartbeat; a job whose heartbeat is older than IMPORT_STALE_SECONDS is taken over
  (worker killed), and a counter update only lands if nobody else moved the job meanwhile.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from flask import current_app
from pydantic import ValidationError
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.classifier import Classification, Classifier, get_classifier
from app.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from app.extensions import db
from app.models.job import IMPORT_FORMATS, ImportJob, JobStatus
from app.schemas.comments import CommentIn
from app.schemas.imports import INPUT_COLUMNS
from app.serializers.comments import CSV_COLUMNS
from app.services.comments import classify_items, schedule_refinement, stage_batch, stored_texts
from app.tasks.dispatch import dispatch

log = logging.getLogger(__name__)

RUN_TASK = "app.tasks.imports.run_import"
# A job that keeps failing (a poison file, a bug) stops being retried after this many attempts.
MAX_ATTEMPTS = 5
# Columns an export carries besides the input ones: a CSV exported here can be imported back (they are ignored).
_IGNORED_COLUMNS = frozenset(CSV_COLUMNS) - set(INPUT_COLUMNS)

# One parsed row: (line number, the row's fields or None, the error message when it could not be read).
Row = tuple[int, dict[str, Any] | None, str | None]
Progress = Callable[[ImportJob], None]


@dataclass(frozen=True, slots=True)
class Upload:
    format: str
    data: bytes
    filename: str | None = None


# --------------------------------------------------------------------------------------------------------------
# Reading a file
# --------------------------------------------------------------------------------------------------------------


def format_for(filename: str | None, mimetype: str | None) -> str | None:
    """The import format from a file name's extension, else from its content type."""
    name = (filename or "").lower()
    for ext, fmt in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json")):
        if name.endswith(ext):
            return fmt
    return {
        "text/csv": "csv",
        "application/csv": "csv",
        "application/json": "json",
        "application/jsonl": "jsonl",
        "application/x-ndjson": "jsonl",
        "application/x-jsonlines": "jsonl",
        "application/jsonlines": "jsonl",
    }.get((mimetype or "").lower())


def _text(data: bytes) -> str:
    if not data.strip():
        raise BadRequest("O arquivo está vazio.")
    if b"\x00" in data:
        raise UnsupportedMediaType("O arquivo parece binário; envie CSV, JSONL ou uma lista JSON em UTF-8.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedMediaType(
            "O arquivo não está em UTF-8.", {"posicao": exc.start, "dica": "salve o CSV como UTF-8"}
        ) from None


def _csv_dialect(text: str) -> str:
    # Spreadsheets set to pt-BR save CSV with ";" (the comma is the decimal separator there).
    first = text.split("\n", 1)[0]
    return ";" if ";" in first and "," not in first else ","


def _csv_header(text: str) -> list[str]:
    header = next(csv.reader(io.StringIO(text), delimiter=_csv_dialect(text)), [])
    columns = [c.strip().lower() for c in header]
    if "texto" not in columns:
        raise ValidationFailed(
            "O CSV precisa de um cabeçalho com a coluna 'texto'.", {"colunas": columns, "aceitas": list(INPUT_COLUMNS)}
        )
    unknown = [c for c in columns if c not in INPUT_COLUMNS and c not in _IGNORED_COLUMNS]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if unknown or repeated:
        raise ValidationFailed(
            "Cabeçalho do CSV com colunas desconhecidas ou repetidas.",
            {"desconhecidas": unknown, "repetidas": repeated, "aceitas": list(INPUT_COLUMNS)},
        )
    return columns


def _csv_rows(text: str) -> Iterator[Row]:
    columns = _csv_header(text)
    reader = csv.reader(io.StringIO(text), delimiter=_csv_dialect(text))
    next(reader)
    end = reader.line_num
    wanted = [(i, c) for i, c in enumerate(columns) if c in INPUT_COLUMNS]
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield end + 1, None, f"CSV malformado: {exc}"
            return
        start, end = end + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(columns):
            yield start, None, f"a linha tem {len(values)} colunas; o cabeçalho tem {len(columns)}"
            continue
        row = {}
        for i, column in wanted:
            value = values[i].strip() if i < len(values) else ""
            # An empty cell is an absent optional field (texto stays "" and fails as too short).
            if value or column == "texto":
                row[column] = value
        yield start, row, None


def _jsonl_rows(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            yield number, None, "JSON malformado nesta linha"
            continue
        if not isinstance(value, dict):
            yield number, None, "cada linha deve ser um objeto JSON"
            continue
        yield number, value, None


def _json_list(text: str) -> list[Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("JSON malformado.", {"posicao": exc.pos}) from None
    if not isinstance(value, list):
        raise ValidationFailed("Envie uma lista JSON de comentários.")
    return value


def _json_rows(text: str) -> Iterator[Row]:
    for number, value in enumerate(_json_list(text), start=1):
        if isinstance(value, dict):
            yield number, value, None
        else:
            yield number, None, "cada item da lista deve ser um objeto JSON"


def iter_rows(fmt: str, data: bytes) -> Iterator[Row]:
    """Every data row of the file in order, with its line number (JSON list: its 1-based position)."""
    text = _text(data)
    if fmt == "csv":
        return _csv_rows(text)
    if fmt == "jsonl":
        return _jsonl_rows(text)
    return _json_rows(text)


def check_upload(upload: Upload) -> int:
    """Refuse a file that cannot be imported at all (4xx, nothing written); returns its number of data rows."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    if len(upload.data) > limit:
        raise PayloadTooLarge(f"O arquivo excede o limite de {limit} bytes.", {"limite_bytes": limit})
    if upload.format not in IMPORT_FORMATS:
        raise UnsupportedMediaType("Formato não suportado: envie CSV, JSONL ou uma lista JSON.")
    total = sum(1 for _ in iter_rows(upload.format, upload.data))
    if total == 0:
        raise ValidationFailed("O arquivo não tem linhas de dados.")
    return total


# --------------------------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------------------------


def create_job(upload: Upload, user_id: int | None = None, *, run: bool = True) -> ImportJob:
    """Store the upload as a pending job and hand it to the `imports` queue (run=False: the caller runs it)."""
    total = check_upload(upload)
    job = ImportJob(
        format=upload.format,
        filename=(upload.filename or "")[:255] or None,
        payload=upload.data,
        total=total,
        status=JobStatus.PENDENTE.value,
        errors=[],
        user_id=user_id,
    )
    db.session.add(job)
    db.session.commit()
    if not run:
        return job
    try:
        result = dispatch(RUN_TASK, str(job.id))
    except AppError:
        # The client is told to retry: do not leave a job nobody will run (nor a twin when the retry lands).
        db.session.delete(job)
        db.session.commit()
        raise
    job = get_job(job.id)  # eager mode already ran it
    if job.task_id is None:
        job.task_id = result.id
        db.session.commit()
    return job


def get_job(job_id: uuid.UUID) -> ImportJob:
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    if job is None:
        raise NotFound("Importação não encontrada.")
    return job


def _claim(job_id: uuid.UUID, task_id: str | None) -> bool:
    """Take the job if it is pending, or running with a stale heartbeat (its worker died). Atomic."""
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=current_app.config["IMPORT_STALE_SECONDS"])
    result = db.session.execute(
        update(ImportJob)
        .where(
            ImportJob.id == job_id,
            or_(
                ImportJob.status == JobStatus.PENDENTE.value,
                and_(
                    ImportJob.status == JobStatus.PROCESSANDO.value,
                    or_(ImportJob.heartbeat_at.is_(None), ImportJob.heartbeat_at < stale),
                ),
            ),
        )
        .values(
            status=JobStatus.PROCESSANDO.value,
            attempts=ImportJob.attempts + 1,
            heartbeat_at=now,
            started_at=db.func.coalesce(ImportJob.started_at, now),
            task_id=db.func.coalesce(task_id, ImportJob.task_id),
        )
    )
    db.session.commit()
    return result.rowcount == 1


def _finish(job_id: uuid.UUID, status: JobStatus, message: str | None = None) -> None:
    now = datetime.now(UTC)
    db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(status=status.value, message=message, finished_at=now, heartbeat_at=now, payload=None)
    )
    db.session.commit()


def fail_job(job_id: uuid.UUID, message: str) -> None:
    """Mark a job failed (the task gave up on it); what was committed stays imported."""
    db.session.rollback()
    _finish(job_id, JobStatus.FALHOU, message[:500])


def _row_error(exc: ValidationError) -> str:
    from app.errors import validation_details

    return "; ".join(f"{d['campo']}: {d['mensagem']}" for d in validation_details(exc))


@dataclass(slots=True)
class _Chunk:
    rows: list[Row]
    items: list[CommentIn]
    lines: list[int]
    errors: list[dict[str, Any]]
    # Ids first seen in this chunk (forgotten again if the chunk is rolled back and prepared anew).
    new_ids: list[uuid.UUID]
    # Ids derived from (job, line) here, not given by the file: never stored unless this chunk was committed.
    derived: set[uuid.UUID]
    # The classifier's answers by id, computed in the background while the previous chunk is written.
    classified: Future[dict[uuid.UUID, Classification]] | None = None


def _prepare(job_id: uuid.UUID, rows: list[Row], seen: dict[uuid.UUID, int]) -> _Chunk:
    chunk = _Chunk(rows=rows, items=[], lines=[], errors=[], new_ids=[], derived=set())
    for line, row, error in rows:
        if row is None:
            chunk.errors.append({"linha": line, "mensagem": error})
            continue
        try:
            item = CommentIn.model_validate(row)
        except ValidationError as exc:
            chunk.errors.append({"linha": line, "mensagem": _row_error(exc)})
            continue
        if item.id is None:
            # Derived, not random: the same row of the same job always gets the same id (safe to re-run).
            item = item.model_copy(update={"id": uuid.uuid5(job_id, str(line))})
            chunk.derived.add(item.id)
        first = seen.get(item.id)
        if first is not None and first != line:
            chunk.errors.append({"linha": line, "mensagem": f"id repetido no arquivo (primeiro na linha {first})"})
            continue
        seen[item.id] = line
        chunk.new_ids.append(item.id)
        chunk.items.append(item)
        chunk.lines.append(line)
    return chunk


def _stage(chunk: _Chunk, classifier: Classifier, fresh: bool) -> tuple[int, list[uuid.UUID]]:
    """Classify and add the chunk's good rows to the transaction; rows that conflict with a stored comment
    (same id, other text) become row errors. Returns (created, comments to refine).

    `fresh`: the chunk starts at the job's committed restart point, so its derived ids cannot be stored yet
    (chunks commit with the job's counters) and are not looked up; ids given by the file always are."""
    while chunk.items:
        try:
            result = stage_batch(
                chunk.items,
                classifier,
                unseen=chunk.derived if fresh else (),
                with_items=False,
                classified=chunk.classified.result() if chunk.classified else None,
            )
            return result.created, result.to_refine
        except Conflict as exc:
            clashing = set((exc.details or {}).get("ids", []))
            keep = [(i, n) for i, n in zip(chunk.items, chunk.lines, strict=True) if str(i.id) not in clashing]
            for item, line in zip(chunk.items, chunk.lines, strict=True):
                if str(item.id) in clashing:
                    chunk.errors.append({"linha": line, "mensagem": "já existe comentário com este id e outro texto"})
            chunk.items = [i for i, _ in keep]
            chunk.lines = [n for _, n in keep]
    return 0, []


def _classify_ahead(
    pool: ThreadPoolExecutor, classifier: Classifier, chunk: _Chunk
) -> Future[dict[uuid.UUID, Classification]]:
    """Start classifying the chunk's rows that are not stored yet (ids given by the file are looked up first, so
    re-importing an export costs no classification). Only a head start: stage_batch looks ids up again when it
    writes and classifies anything this missed."""
    stored = stored_texts([i.id for i in chunk.items if i.id not in chunk.derived])
    todo = [item for item in chunk.items if item.id not in stored]
    return pool.submit(lambda: dict(zip((i.id for i in todo), classify_items(classifier, todo), strict=True)))


def _commit_chunk(job: ImportJob, chunk: _Chunk, classifier: Classifier, cap: int, fresh: bool) -> bool:
    """The chunk's comments and the job's counters in one transaction. False: another worker moved the job."""
    created, to_refine = _stage(chunk, classifier, fresh)
    chunk.errors.sort(key=lambda e: e["linha"])
    errors = list(job.errors or [])
    errors.extend(chunk.errors[: max(0, cap - len(errors))])
    result = db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id, ImportJob.processed == job.processed)
        .values(
            processed=job.processed + len(chunk.rows),
            created=job.created + created,
            existing=job.existing + len(chunk.items) - created,
            failed=job.failed + len(chunk.errors),
            errors=errors,
            heartbeat_at=datetime.now(UTC),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    db.session.commit()
    schedule_refinement(to_refine)
    return True


def run_job(
    job_id: uuid.UUID,
    *,
    task_id: str | None = None,
    classifier: Classifier | None = None,
    progress: Progress | None = None,
) -> ImportJob | None:
    """Process a job to the end from where it stopped. None when another worker owns it or it is finished."""
    if not _claim(job_id, task_id):
        return None
    job = get_job(job_id)
    if job.attempts > MAX_ATTEMPTS:
        _finish(job_id, JobStatus.FALHOU, f"desistimos após {MAX_ATTEMPTS} tentativas")
        return get_job(job_id)
    cfg = current_app.config
    size, cap = cfg["IMPORT_CHUNK_SIZE"], cfg["IMPORT_MAX_ERRORS"]
    classifier = classifier or get_classifier()
    data = job.payload or b""
    rows = iter_rows(job.format, data)
    seen: dict[uuid.UUID, int] = {}
    skipped: list[Row] = []
    for _ in range(job.processed):  # already committed by an earlier attempt; their ids still count as seen
        skipped.append(next(rows))
    _prepare(job.id, skipped, seen)
    del skipped
    # Two chunks in flight: while one is written (mostly waiting for PostgreSQL, which runs on another core) the
    # next one is classified in a helper thread. Writes, commits and the restart point stay strictly in order.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-classify") as ahead:

        def next_chunk() -> tuple[list[Row], _Chunk] | None:
            batch = [row for _, row in zip(range(size), rows, strict=False)]
            if not batch:
                return None
            chunk = _prepare(job.id, batch, seen)
            chunk.classified = _classify_ahead(ahead, classifier, chunk)
            return batch, chunk

        current = next_chunk()
        while current is not None:
            batch, chunk = current
            following = next_chunk()
            for attempt in (1, 2):
                try:
                    # A retry looks every id up: the IntegrityError says one of them was stored meanwhile.
                    if not _commit_chunk(job, chunk, classifier, cap, fresh=attempt == 1):
                        log.warning("import %s was taken over by another worker; stopping here", job_id)
                        return None
                    break
                except IntegrityError:
                    # A concurrent request stored one of these ids meanwhile: run the chunk again once.
                    db.session.rollback()
                    if attempt == 2:
                        raise
                    for cid in chunk.new_ids:
                        seen.pop(cid, None)
                    chunk = _prepare(job.id, batch, seen)
            job = get_job(job_id)
            if progress:
                progress(job)
            current = following
    _finish(job_id, JobStatus.CONCLUIDA)
    job = get_job(job_id)
    if progress:
        progress(job)
    return job


def stalled_jobs() -> list[uuid.UUID]:
    """Jobs nobody is working on: pending or running with an old heartbeat (their worker died)."""
    stale = datetime.now(UTC) - timedelta(seconds=current_app.config["IMPORT_STALE_SECONDS"])
    stmt = select(ImportJob.id).where(
        or_(ImportJob.status == JobStatus.PENDENTE.value, ImportJob.status == JobStatus.PROCESSANDO.value),
        or_(ImportJob.heartbeat_at.is_(None), ImportJob.heartbeat_at < stale),
        ImportJob.created_at < stale,
    )
    return list(db.session.scalars(stmt))


def resume_stalled() -> list[str]:
    """Queue every stalled job again (the Beat sweep); the claim makes a duplicate message harmless."""
    ids = [str(i) for i in stalled_jobs()]
    for job_id in ids:
        dispatch(RUN_TASK, job_id)
    return ids
