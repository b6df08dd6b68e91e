"""/api/stakeholders: who receives the weekly summary besides SUMMARY_RECIPIENTS (admin only)."""

from __future__ import annotations

from app.api.base import BaseResource, roles_required
from app.schemas.common import parse, read_json_body
from app.schemas.summaries import StakeholderIn, StakeholderOut
from app.serializers.summaries import stakeholder_json
from app.services import summaries
from app.utils.json import json_response


class StakeholderList(BaseResource):
    openapi = {
        "get": {"summary": "Stakeholders que recebem o resumo semanal", "response": StakeholderOut,
                "response_list": True},
        "post": {"summary": "Adiciona (ou reativa) um stakeholder", "body": StakeholderIn,
                 "response": StakeholderOut, "status": 201, "errors": [409, 415, 422]},
    }  # fmt: skip

    @roles_required()
    def get(self):
        return json_response([stakeholder_json(p) for p in summaries.list_stakeholders()])

    @roles_required()
    def post(self):
        body = parse(StakeholderIn, read_json_body())
        return json_response(stakeholder_json(summaries.add_stakeholder(body.email, body.nome)), 201)


class StakeholderDetail(BaseResource):
    openapi = {"delete": {"summary": "Deixa de enviar o resumo a este stakeholder (mantido no histórico)",
                          "response": StakeholderOut, "errors": [404]}}  # fmt: skip

    @roles_required()
    def delete(self, stakeholder_id: str):
        return json_response(stakeholder_json(summaries.remove_stakeholder(stakeholder_id)))
