"""/api/insights/perguntar: questions answered from the recent weekly summaries, citing their weeks."""

from __future__ import annotations

from app.api.base import ALL_READERS, BaseResource, roles_required
from app.schemas.common import parse, read_json_body
from app.schemas.summaries import AnswerOut, QuestionIn
from app.services import insights
from app.utils.json import json_response


class InsightsQuestion(BaseResource):
    openapi = {
        "post": {
            "summary": "Pergunta respondida a partir dos 3 resumos semanais mais recentes (até 8 semanas), "
            "com as semanas citadas; resposta de no máximo 150 palavras",
            "body": QuestionIn,
            "response": AnswerOut,
            "errors": [404, 415, 422],
        }
    }

    @roles_required(*ALL_READERS)
    def post(self):
        question = parse(QuestionIn, read_json_body())
        return json_response(insights.ask(question.pergunta).as_json())
