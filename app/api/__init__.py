"""The API blueprint and its routing table: every URL mapped to one resource, in one place."""

from __future__ import annotations

from flask import Blueprint
from flask_restful import Api

from app.api import auth, comments, exports, imports, insights, models, reports, stakeholders, summaries


class ApiRouter(Api):
    """Flask-RESTful with its own error handling switched off: every error goes through app.errors."""

    def handle_error(self, e):
        # Re-raise so the app's handlers (app/errors.py) build the one envelope.
        raise e


# (url, resource, endpoint). app.openapi documents exactly these.
ROUTES: list[tuple[str, type, str]] = [
    ("/auth/login", auth.Login, "auth_login"),
    ("/auth/refresh", auth.Refresh, "auth_refresh"),
    ("/auth/logout", auth.Logout, "auth_logout"),
    ("/auth/register", auth.Register, "auth_register"),
    ("/auth/me", auth.Me, "auth_me"),
    ("/comentarios", comments.CommentList, "comments"),
    ("/comentarios/<comment_id>", comments.CommentDetail, "comment_detail"),
    ("/comentarios/<comment_id>/historico", comments.CommentHistory, "comment_history"),
    ("/modelos", models.ModelVersionList, "models"),
    ("/modelos/retreinar", models.ModelRetrain, "models_retrain"),
    # issue 6: pollable retraining jobs
    ("/modelos/tarefas/<job_id>", models.ModelJob, "models_job"),
    # issue 7: imports, export, reports (JSON alias)
    ("/comentarios/export", exports.CommentExport, "comments_export"),
    ("/importacoes", imports.ImportList, "imports"),
    ("/importacoes/<job_id>", imports.ImportDetail, "import_detail"),
    ("/relatorio/semana", reports.WeeklyReport, "weekly_report"),
    # issue 9: summaries, stakeholders, insights
    ("/resumos", summaries.SummaryList, "summaries"),
    ("/resumos/<semana>", summaries.SummaryDetail, "summary_detail"),
    ("/stakeholders", stakeholders.StakeholderList, "stakeholders"),
    ("/stakeholders/<stakeholder_id>", stakeholders.StakeholderDetail, "stakeholder_detail"),
    ("/insights/perguntar", insights.InsightsQuestion, "insights_question"),
]

URL_PREFIX = "/api"


def create_blueprint() -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix=URL_PREFIX)
    api = ApiRouter(bp)
    for url, resource, endpoint in ROUTES:
        api.add_resource(resource, url, endpoint=endpoint)
    return bp
