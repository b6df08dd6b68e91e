"""The JSON alias of the public weekly report: GET /api/relatorio/semana (the same snapshot as /relatorio/semana)."""

from __future__ import annotations

from app.api.base import BaseResource, public
from app.schemas.reports import ReportFilters, ReportOut
from app.views.public import json_feed


class WeeklyReport(BaseResource):
    openapi = {
        "get": {
            "summary": "Relatório semanal público (JSON): envelope com os gráficos, recalculado a cada minuto",
            "query": ReportFilters,
            "response": ReportOut,
            "errors": [422, 503],
        }
    }

    @public
    def get(self):
        return json_feed()
