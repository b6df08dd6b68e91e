"""/api/resumos: the stored weekly summaries (read roles), newest first."""

from __future__ import annotations

from flask import current_app

from app.api.base import ALL_READERS, BaseResource, link_header, page_params, roles_required
from app.schemas.summaries import SummaryDetailOut, SummaryOut
from app.serializers.summaries import summary_json
from app.services import summaries
from app.utils.json import json_response


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
            "errors": [404, 422],
        }
    }

    @roles_required(*ALL_READERS)
    def get(self, semana: str):
        return json_response(summary_json(summaries.get_summary(semana), full=True))
