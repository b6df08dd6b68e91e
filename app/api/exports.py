"""/api/comentarios/export: the filtered comments as a streamed CSV download."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, current_app, stream_with_context

from app.api.base import ALL_READERS, BaseResource, query_args, roles_required
from app.schemas.comments import CommentFilters
from app.schemas.common import parse
from app.services.exports import stream_csv

_TRUE = ("1", "true", "sim", "yes")


class CommentExport(BaseResource):
    openapi = {
        "get": {
            "summary": "Exporta os comentários filtrados em CSV (streaming, UTF-8; ?bom=1 para o Excel)",
            "query": CommentFilters,
            "produces": "text/csv",
        }
    }

    @roles_required(*ALL_READERS)
    def get(self):
        args = query_args(multi=("categoria", "tag"))
        bom = str(args.pop("bom", "")).lower() in _TRUE
        filters = parse(CommentFilters, args)
        fetch = current_app.config["EXPORT_FETCH_ROWS"]
        name = f"comentarios-{datetime.now(UTC):%Y-%m-%d-%H%M%S}.csv"
        return Response(
            stream_with_context(stream_csv(filters, bom=bom, fetch_rows=fetch)),
            mimetype="text/csv",
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                # Rows leave as the cursor yields them: no proxy buffering, never cached (it is private data).
                "X-Accel-Buffering": "no",
                "Cache-Control": "no-store",
            },
        )
