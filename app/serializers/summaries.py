"""Wire shapes of weekly summaries, their send log and stakeholders (pt-BR field names)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from app.models.summary import DELIVERY_STATES, Stakeholder, SummaryDelivery, WeeklySummary


def delivery_json(delivery: SummaryDelivery) -> dict[str, Any]:
    return {
        "destinatario": delivery.recipient,
        "estado": delivery.state,
        "tentativas": delivery.attempts,
        "ultimo_erro": delivery.last_error,
        "message_id": delivery.message_id,
        "enviado_em": delivery.sent_at,
        "reenvios": delivery.forced,
    }


def summary_json(summary: WeeklySummary, *, full: bool = False) -> dict[str, Any]:
    """The listing shape; `full` adds the aggregate and the per-recipient send log."""
    states = Counter(d.state for d in summary.deliveries)
    out: dict[str, Any] = {
        "semana": summary.week,
        "inicio": summary.starts_on.isoformat(),
        "fim": summary.ends_on.isoformat(),
        "texto": summary.text,
        "gerador": summary.generator,
        "criado_em": summary.created_at,
        "atualizado_em": summary.updated_at,
        "envios": {state: states.get(state, 0) for state in DELIVERY_STATES},
    }
    if full:
        out["agregado"] = summary.aggregate
        out["log_envios"] = [delivery_json(d) for d in summary.deliveries]
    return out


def stakeholder_json(person: Stakeholder) -> dict[str, Any]:
    return {
        "id": person.id,
        "email": person.email,
        "nome": person.name,
        "ativo": person.active,
        "criado_em": person.created_at,
    }
