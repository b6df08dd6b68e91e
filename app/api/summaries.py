"""/api/resumos: the stored weekly summaries (read roles), newest first."""

from __future__ import annotations

import re

from flask import current_app

from app.api.base import ALL_READERS, BaseResource, link_header, page_params, roles_required
from app.errors import NotFound, ValidationFailed
from app.schemas.summaries import SummaryDetailOut, SummaryOut
from app.serializers.summaries import summary_json
from app.services import summaries
from app.services.weeks import IsoWeek
from app.utils.json import json_response

# An ISO week as the URL names it: exactly `2026-W47` (the document states it, so clients and the fuzzer know).
WEEK_PATTERN = r"^[0-9]{4}-W[0-9]{2}$"


class SummaryList(BaseResource):
    openapi = {"get": {"summary": "Resumos semanais armazenados, da semana mais recente à mais antiga",
                       "paginated": SummaryOut}}  # fmt: skip

    @roles_required(*ALL_READERS)
    def get(self):
        cfg = current_app.config
        page, per_page = page_params(cfg["PAGE_SIZE_DEFAULT"], cfg["PAGE_SIZE_MAX"])
        result = summaries.list_summaries(page, per_page)
        body = {"items": [summary_json(s) for s in result.items], "total": result.total, "page": page,
                "per_page": per_page}  # fmt: skip
        return json_response(body, headers={"Link": link_header(page, per_page, result.total)})


class SummaryDetail(BaseResource):
    openapi = {
        "get": {
            "summary": "O resumo de uma semana ISO (ex.: 2026-W47): texto, agregado e log de envio por destinatário",
            "response": SummaryDetailOut,
            "path": {"semana": {"type": "string", "pattern": WEEK_PATTERN, "example": "2026-W47"}},
            "errors": [404],
        }
    }

    @roles_required(*ALL_READERS)
    def get(self, semana: str):
        # The week names a resource: a URL that is not a week (or a week the year does not have) is a 404, like
        # /api/comentarios/<not an id>. The CLI's --week keeps its 422 (IsoWeek.parse).
        try:
            if not re.fullmatch(WEEK_PATTERN, semana):
                raise ValidationFailed("not a week")
            IsoWeek.parse(semana)
        except ValidationFailed:
            raise NotFound(
                "Não há resumo com esse identificador: use uma semana ISO AAAA-Www (ex.: 2026-W47)."
            ) from None
        return json_response(summary_json(summaries.get_summary(semana), full=True))
