"""/api/modelos: every classifier version with its metrics, which one serves, and retraining (admin)."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

from app.api.base import BaseResource, roles_required
from app.services import training_jobs
from app.utils.json import json_response

_SUMMARY_KEYS = (
    "version",
    "created_at",
    "data_hash",
    "n_rows",
    "extra_rows",
    "label_counts",
    "train_files",
    "sklearn_version",
    "promotion",
)


def _version_out(meta: dict[str, Any]) -> dict[str, Any]:
    out = {k: meta.get(k) for k in _SUMMARY_KEYS}
    out["ativo"] = bool(meta.get("active"))
    metrics = meta.get("metrics") or {}
    out["metricas"] = {
        name: {k: m.get(k) for k in ("n", "accuracy", "macro_f1", "per_class")}
        for name, m in metrics.items()
        if isinstance(m, dict)
    }
    return out


class ModelVersionList(BaseResource):
    openapi = {"get": {"summary": "Versões do modelo local com métricas e qual está servindo", "roles": ["admin"]}}

    @roles_required()
    def get(self):
        from app.classifier.store import list_versions

        versions = [_version_out(m) for m in reversed(list_versions(current_app.config))]
        active = next((v["version"] for v in versions if v["ativo"]), None)
        return json_response(
            {"ativo": active, "provedor": current_app.config["CLASSIFIER_PROVIDER"], "versoes": versions}
        )


class ModelRetrain(BaseResource):
    openapi = {
        "post": {
            "summary": "Treina um desafiante com as correções dos curadores (em segundo plano); promove só se for "
            "melhor. Acompanhe em GET /api/modelos/tarefas/{tarefa}",
            "roles": ["admin"],
            "status": 202,
        }
    }

    @roles_required()
    def post(self):
        state = training_jobs.start_retraining()
        url = url_for("api.models_job", job_id=state["tarefa"])
        return json_response({**state, "url": url}, 202, {"Location": url})


class ModelJob(BaseResource):
    openapi = {
        "get": {
            "summary": "Estado de uma tarefa de treino: agendado, em_andamento, concluido (com resultado) ou falhou",
            "roles": ["admin"],
            "errors": [404],
        }
    }

    @roles_required()
    def get(self, job_id: str):
        return json_response(training_jobs.status(current_app.config, job_id))
