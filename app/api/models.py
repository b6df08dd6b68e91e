"""/api/modelos: every classifier version with its metrics, which one serves, and retraining (admin)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.api.base import BaseResource, roles_required
from app.tasks.dispatch import background_is_eager, dispatch
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
            "summary": "Treina um desafiante com as correções dos curadores; promove só se for melhor",
            "roles": ["admin"],
            "status": 202,
        }
    }

    @roles_required()
    def post(self):
        # Through the one dispatch policy: a broker that is down is a 503, never a 500 (make run has a real worker).
        result = dispatch("app.tasks.training.retrain_with_corrections")
        body: dict[str, Any] = {"tarefa": result.id, "status": "agendado"}
        if background_is_eager():  # no broker (tests, scripts): it already ran and the decision is known
            body.update(status="concluido", resultado=result.get())
        return json_response(body, 202)
