"""Comments: ingest (classify + persist, idempotent, all or nothing), query, history and curator corrections."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from app.classifier import Classification, Classifier, classify_with_names, get_classifier
from app.classifier.taxonomy import known_codes
from app.errors import BadRequest, Conflict, NotFound, ValidationFailed
from app.extensions import db
from app.models.catalog import name_key
from app.models.comment import ClassificationEvent, Comment, CommentTag
from app.models.user import User
from app.schemas.comments import CommentFilters, CommentIn, CorrectionIn
from app.serializers.comments import TAG_SEPARATOR, comment_json, comment_wire, history_json
from app.services import catalog, driver_sql, queries
from app.services.queries import comments_select, one_of
from app.tasks.dispatch import background_is_eager, dispatch_quietly

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestResult:
    items: list[dict[str, Any]]
    created: int
    # New comments the fast path was unsure about: an asynchronous second opinion revisits them.
    to_refine: list[uuid.UUID] = field(default_factory=list)

    @property
    def all_existing(self) -> bool:
        return self.created == 0


def ingest(items: Sequence[CommentIn], classifier: Classifier | None = None) -> IngestResult:
    """Classify and store a batch in one transaction; re-posted ids return what is stored."""
    given = [str(i.id) for i in items if i.id is not None]
    dupes = sorted(k for k, n in Counter(given).items() if n > 1)
    if dupes:
        raise BadRequest("Ids duplicados no mesmo lote.", {"ids_duplicados": dupes})
    for attempt in (1, 2):
        try:
            result = stage_batch(items, classifier or get_classifier())
            db.session.commit()
            schedule_refinement(result.to_refine)
            return result
        except IntegrityError:
            # A concurrent request stored one of these ids between our lookup and insert: look again once.
            db.session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def stage_batch(
    items: Sequence[CommentIn],
    classifier: Classifier,
    *,
    unseen: Collection[uuid.UUID] = (),
    with_items: bool = True,
    classified: Mapping[uuid.UUID, Classification] | None = None,
) -> IngestResult:
    """Classify the new items and add them to the session's transaction; the caller commits (ingest, imports).

    Raises Conflict for ids already stored with another text. Duplicate ids inside `items` are the caller's to
    refuse (an IntegrityError at flush otherwise). `unseen`: ids the caller knows are not stored (an import's
    derived ids in a chunk never committed), not looked up; the primary key still refuses a wrong guess
    (IntegrityError, which callers retry with a full lookup). `with_items=False`: no wire JSON is built (imports
    only count). `classified`: answers already computed by id (an import classifies its next chunk while this
    one is written); new items without one are classified here."""
    ids = [item.id or uuid.uuid4() for item in items]
    stored, catalog_rows, tags_flagged = _look_up(
        [item.id for item in items if item.id is not None and item.id not in unseen], items
    )
    conflicts = [str(i) for i, item in zip(ids, items, strict=True) if i in stored and stored[i] != item.texto]
    if conflicts:
        if tags_flagged:
            driver_sql.own_tags_flag_off()  # callers go on in this transaction (imports)
        raise Conflict("Já existe comentário com este id e outro texto.", {"ids": conflicts})

    new = [(i, item) for i, item in zip(ids, items, strict=True) if i not in stored]
    out_by_id: dict[uuid.UUID, dict[str, Any]] = {}
    if with_items and stored:
        found = db.session.scalars(select(Comment).where(Comment.id.in_(list(stored))))
        out_by_id = {c.id: comment_json(c) for c in found}
    to_refine: list[uuid.UUID] = []
    if new:
        created, to_refine = _store_new(new, classifier, with_items, classified or {}, catalog_rows, tags_flagged)
        out_by_id.update(created)
    elif tags_flagged:
        driver_sql.own_tags_flag_off()  # nothing written: no tag INSERT may skip its triggers
    items_out = [out_by_id[i] for i in ids] if with_items else []
    return IngestResult(items=items_out, created=len(new), to_refine=to_refine)


def stored_texts(ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The stored text of each of these ids that exists (two columns: no comment objects for a lookup)."""
    if not ids:
        return {}
    conn = driver_sql.connection()
    if conn is not None:
        return dict(driver_sql.rows(conn, _STORED_TEXTS_SQL, (driver_sql.text_array(ids),)))
    return dict(db.session.execute(select(Comment.id, Comment.text).where(one_of(Comment.id, ids))).tuples().all())


_STORED_TEXTS_SQL = "SELECT id, text FROM comments WHERE id = ANY(%s::uuid[])"


def _look_up(
    ids: list[uuid.UUID], items: Sequence[CommentIn]
) -> tuple[dict[uuid.UUID, str], tuple[list[tuple] | None, list[tuple] | None], bool]:
    """`stored_texts(ids)` and, on PostgreSQL, the rows of the batch's artists and albums (for resolve_artists and
    resolve_albums), in one round trip: the three lookups need nothing from each other.

    On PostgreSQL the same round trip sets the flag of `driver_sql.OWN_TAGS_NEXT` ahead of the tag COPY
    (the last value is then True): nothing between here and that COPY inserts into comment_tags, and a batch that
    ends up writing no tags clears the flag again (stage_batch, _store_new)."""
    conn = driver_sql.connection()
    if conn is None:
        return stored_texts(ids), (None, None), False
    artists = catalog.artist_keys(item.artista for item in items if item.artista)
    albums = catalog.album_keys((item.artista, item.album) for item in items if item.album)
    statements = []
    if ids:
        statements.append((_STORED_TEXTS_SQL, (driver_sql.text_array(ids),)))
    if artists:
        statements.append(catalog.artists_statement(artists))
    if albums:
        statements.append(catalog.albums_statement(albums))
    statements.append(driver_sql.OWN_TAGS_NEXT)
    results = iter(driver_sql.rows_of_each(conn, statements))
    stored = dict(next(results)) if ids else {}
    return stored, (next(results) if artists else None, next(results) if albums else None), True


def classify_items(classifier: Classifier, items: Sequence[CommentIn]) -> list[Classification]:
    """The classifier's answer for each item, given the item's artist/album names (masked by classifiers that can)."""
    names = [tuple(n for n in (item.artista, item.album) if n) for item in items]
    results = classify_with_names(classifier, [item.texto for item in items], names)
    if len(results) != len(items):
        raise RuntimeError("classifier returned a different number of results")
    return results


def _store_new(
    new: list[tuple[uuid.UUID, CommentIn]],
    classifier: Classifier,
    with_items: bool = True,
    classified: Mapping[uuid.UUID, Classification] | None = None,
    catalog_rows: tuple[list[tuple] | None, list[tuple] | None] = (None, None),
    tags_flagged: bool = False,
) -> tuple[dict[uuid.UUID, dict[str, Any]], list[uuid.UUID]]:
    classified = classified or {}
    missing = [item for cid, item in new if cid not in classified]
    answers = iter(classify_items(classifier, missing) if missing else [])
    results = [classified[cid] if cid in classified else next(answers) for cid, _ in new]
    refine_candidates = getattr(classifier, "refine_candidates", None)
    to_refine = [new[i][0] for i in refine_candidates(results)] if refine_candidates else []

    artist_rows, album_rows = catalog_rows
    artists = catalog.resolve_artists((item.artista for _, item in new if item.artista), artist_rows)
    albums = catalog.resolve_albums(((item.artista, item.album) for _, item in new if item.album), artists, album_rows)

    now = datetime.now(UTC)
    # PostgreSQL keeps each comment's first answer in its own row until something changes it (migration
    # a1c0ingest006: a trigger writes the `modelo` event then); other databases get the event now.
    with_events = driver_sql.connection() is None
    comment_rows, tag_rows, event_rows, out = [], [], [], {}
    for (cid, item), result in zip(new, results, strict=True):
        artist_key = name_key(item.artista) if item.artista else ""
        artist = artists.get(artist_key) if artist_key else None
        album = albums.get((artist_key, name_key(item.album))) if item.album else None
        codes = [t.codigo for t in result.tags]
        confidence = min(1.0, max(0.0, float(result.confianca)))
        occurred_at = item.publicado_em or now
        comment_rows.append(
            (
                cid,
                item.texto,
                artist.id if artist else None,
                album.id if album else None,
                item.alvo,
                item.publicado_em,
                occurred_at,
                result.categoria,
                confidence,
                result.modelo,
                now,
                now,
                now,
                TAG_SEPARATOR.join(codes) or None,
            )
        )
        tag_rows.extend((cid, code, pos, result.categoria, occurred_at, now) for pos, code in enumerate(codes))
        if with_events:
            event_rows.append((cid, "modelo", result.categoria, confidence, codes, result.modelo, now))
        if with_items:
            out[cid] = comment_wire(
                id=cid,
                text=item.texto,
                category=result.categoria,
                tag_codes=codes,
                confidence=confidence,
                artist=artist.name if artist else None,
                album=album.name if album else None,
                target=item.alvo,
                published_at=item.publicado_em,
                classified_at=now,
                model_version=result.modelo,
            )
    # By id: two batches holding the same new ids in different orders (a retry racing the original, an import
    # and an API client) would each wait on the other's uncommitted row, a deadlock; in one order the later batch
    # waits, fails on the key and is answered from what the first stored (ingest's retry). Artists and albums are
    # inserted before, in key order too (services/catalog.py), so every writer takes its locks in one order.
    comment_rows.sort(key=itemgetter(0))
    driver_sql.copy_rows(Comment.__table__, _COMMENT_COLUMNS, comment_rows)
    # Their codes are in the rows above, their hours logged: _look_up told the triggers so (driver_sql.OWN_TAGS_NEXT)
    # for the tag COPY below; a batch without tags clears that flag.
    if tags_flagged and not tag_rows:
        driver_sql.own_tags_flag_off()
    driver_sql.copy_rows(CommentTag.__table__, _TAG_COLUMNS, tag_rows)
    driver_sql.copy_rows(ClassificationEvent.__table__, _EVENT_COLUMNS, event_rows)
    return out, to_refine


# Column order of the rows _store_new builds (tuples: no per-row dict for three tables).
_COMMENT_COLUMNS = (
    "id",
    "text",
    "artist_id",
    "album_id",
    "target",
    "published_at",
    "occurred_at",
    "category",
    "confidence",
    "model_version",
    "classified_at",
    "created_at",
    "updated_at",
    "tag_codes",
)
_TAG_COLUMNS = ("comment_id", "code", "position", "category", "occurred_at", "classified_at")
_EVENT_COLUMNS = ("comment_id", "source", "category", "confidence", "tags", "model_version", "created_at")


def schedule_refinement(comment_ids: list[uuid.UUID]) -> None:
    """Queue the second opinion for unsure comments, after commit. Only with a real broker: eagerly it would run
    inside the request at ~60 comments/s. A broker failure never fails the ingest (the comments are stored)."""
    if not comment_ids or background_is_eager():
        return
    for start in range(0, len(comment_ids), REFINE_CHUNK):
        chunk = [str(c) for c in comment_ids[start : start + REFINE_CHUNK]]
        # A short argsrepr: Celery would otherwise build a "safe repr" of every id for the message headers
        # (~20% of this publish's CPU, on every ingest request with an unsure comment).
        summary = f"({len(chunk)} comentários)"
        task = "app.tasks.classification.refine_low_confidence"
        if dispatch_quietly(task, chunk, argsrepr=summary, kwargsrepr="{}") is None:
            log.warning("could not queue the second opinion for %d comments", len(comment_ids))
            return


REFINE_CHUNK = 200


def refine(comment_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    """Second opinion (local model + e5 embeddings) on comments still carrying their fast-path label.

    Comments corrected by a curator or already refined are left alone (idempotent). A changed answer updates the
    comment and adds a `modelo` event to its history.
    """
    from app.classifier.local import LocalClassifier

    classifier = get_classifier("local")
    if not isinstance(classifier, LocalClassifier) or not classifier.second_opinion_available:
        return {"revistos": 0, "alterados": 0}
    stmt = select(Comment).where(Comment.id.in_(list(comment_ids)), Comment.model_version.like("local:%"))
    comments = [c for c in db.session.scalars(stmt).unique() if not c.model_version.endswith("+e5")]
    if not comments:
        return {"revistos": 0, "alterados": 0}
    results = classifier.classify_many([c.text for c in comments], second_opinion=True)
    now = datetime.now(UTC)
    changed = 0
    events = []
    for comment, result in zip(comments, results, strict=True):
        if not result.modelo.endswith("+e5"):
            continue  # the second opinion did not look at it (confident enough after all)
        if result.categoria != comment.category:
            changed += 1
        codes = [t.codigo for t in result.tags]
        comment.category = result.categoria
        comment.confidence = min(1.0, max(0.0, float(result.confianca)))
        comment.model_version = result.modelo
        comment.classified_at = now
        if codes != [t.code for t in comment.tags]:  # e.g. refined into SPAM: spam carries no feature tags
            db.session.flush()  # the update before the tags: it keeps the first answer with its tags (history)
            db.session.execute(delete(CommentTag).where(CommentTag.comment_id == comment.id))
            db.session.add_all(CommentTag(comment_id=comment.id, code=c, position=p) for p, c in enumerate(codes))
        events.append(
            ClassificationEvent(
                comment_id=comment.id,
                source="modelo",
                category=result.categoria,
                confidence=comment.confidence,
                tags=codes,
                model_version=result.modelo,
                note="segunda opinião (embeddings e5) para comentário de baixa confiança",
                created_at=now,
            )
        )
    # The updates first: on PostgreSQL they copy each comment's first answer into its history (keep_first_answer).
    db.session.flush()
    db.session.add_all(events)
    db.session.commit()
    return {"revistos": len(comments), "alterados": changed}


def get(comment_id: uuid.UUID) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("Comentário não encontrado.")
    return comment


def search(filters: CommentFilters, page: int, per_page: int) -> tuple[list[Comment], int]:
    """One page of comments and the total that match."""
    offset = (page - 1) * per_page
    if queries.tag_driven(filters):
        # Count and page ids from the tag index alone (app.services.queries: "Pages picked from tag rows").
        total = queries.tag_count(filters)
        rows = list(db.session.scalars(queries.tag_page(filters, per_page, offset)).unique()) if offset < total else []
        return rows, total
    stmt = comments_select(filters)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = list(db.session.scalars(stmt.limit(per_page).offset(offset)).unique())
    return rows, total


def history(comment_id: uuid.UUID) -> list[dict[str, Any]]:
    """The comment's classifications and corrections, oldest first."""
    comment = get(comment_id)
    stmt = (
        select(ClassificationEvent)
        .where(ClassificationEvent.comment_id == comment_id)
        .order_by(ClassificationEvent.created_at, ClassificationEvent.id)
    )
    events = list(db.session.scalars(stmt).unique())
    return [history_json(e) for e in events or [first_answer(comment)]]


def first_answer(comment: Comment) -> ClassificationEvent:
    """The `modelo` event an unchanged comment's row stands for (not added to the session).

    On PostgreSQL ingest writes no event: until something changes the comment, its row is its first and only
    answer, and a trigger copies it into the history before the first change (migration a1c0ingest006)."""
    return ClassificationEvent(
        comment_id=comment.id,
        source="modelo",
        category=comment.category,
        confidence=comment.confidence,
        tags=[t.code for t in comment.tags],
        model_version=comment.model_version,
        created_at=comment.classified_at,
    )


def correct(comment_id: uuid.UUID, correction: CorrectionIn, curator: User) -> Comment:
    """Apply a curator's correction of category and/or tags, recorded in the history."""
    if correction.categoria is None and correction.tags_funcionalidades is None:
        raise ValidationFailed("Informe 'categoria' e/ou 'tags_funcionalidades'.")
    comment = get(comment_id)
    codes = None
    if correction.tags_funcionalidades is not None:
        codes = list(dict.fromkeys(correction.tags_funcionalidades))
        unknown = [c for c in codes if c not in known_codes()]
        if unknown:
            raise ValidationFailed("Tags fora da taxonomia.", {"tags_desconhecidas": unknown})
    now = datetime.now(UTC)
    if correction.categoria is not None:
        comment.category = correction.categoria
    comment.confidence = 1.0
    comment.model_version = f"curador:{curator.username}"
    comment.classified_at = now
    # The update first, before the tags and the event: on PostgreSQL it copies the first answer, with its tags, into
    # the history (migration a1c0ingest006).
    db.session.flush()
    if codes is not None:
        db.session.execute(delete(CommentTag).where(CommentTag.comment_id == comment.id))
        db.session.expire(comment, ["tags"])
        db.session.add_all(CommentTag(comment_id=comment.id, code=c, position=p) for p, c in enumerate(codes))
    db.session.add(
        ClassificationEvent(
            comment_id=comment.id,
            source="curador",
            category=comment.category,
            confidence=None,
            tags=codes if codes is not None else [t.code for t in comment.tags],
            model_version=None,
            user_id=curator.id,
            note=correction.motivo,
            created_at=now,
        )
    )
    db.session.commit()
    db.session.refresh(comment)
    return comment
