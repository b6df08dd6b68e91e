"""The summary text: deterministic pt-BR prose from the aggregate (the default), or an LLM's, checked so it
invents no figure; any LLM problem falls back to the deterministic text and the generator says why."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from app.llm.client import ChatClient, InvalidAnswerError, failure_reason
from app.llm.prompts import load_text_prompt

log = logging.getLogger(__name__)

DETERMINISTIC = "deterministico:v1"
SUMMARY_PROMPT = "summary_v1"
MAX_LLM_CHARS = 2500
REASON_INVENTED = "número ausente do agregado"

# A number as people write it in pt-BR (1.234,5) or in English (1234.5); the sign is not part of it.
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PT_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?")


# ------------------------------------------------------------------------------------------------ formatting


def fmt_int(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def fmt_dec(value: float, places: int = 1) -> str:
    return f"{value:,.{places}f}".replace(",", "X").replace(".", ",").replace("X", ".")


def fmt_pp(value: float) -> str:
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return f"{sign}{fmt_dec(abs(value))} p.p."


def _day(value: str) -> str:
    return date.fromisoformat(value).strftime("%d/%m")


def deterministic_text(agg: dict[str, Any]) -> str:
    """A minute of reading, every figure taken from the aggregate."""
    vol = agg["volume"]
    lines = []
    head = f"Semana {agg['semana']} ({_day(agg['inicio'])} a {_day(agg['fim'])}): {fmt_int(vol['total'])} comentários"
    if vol["variacao_pct"] is None:
        head += " (sem dados da semana anterior para comparar)."
    elif vol["variacao_pct"] == 0:
        head += f", o mesmo volume da semana anterior ({fmt_int(vol['anterior'])})."
    else:
        direction = "a mais" if vol["variacao_pct"] > 0 else "a menos"
        change = fmt_dec(abs(vol["variacao_pct"]))
        head += f", {change}% {direction} que na semana anterior ({fmt_int(vol['anterior'])})."
    lines.append(head)
    if not vol["total"]:
        lines.append("Nenhum comentário recebido nesta semana.")
        return "\n".join(lines)

    mix = sorted(agg["categorias"], key=lambda c: -c["total"])
    compare = bool(vol["anterior"])
    parts = [
        f"{c['categoria']} {fmt_dec(c['participacao_pct'])}%" + (f" ({fmt_pp(c['variacao_pp'])})" if compare else "")
        for c in mix
        if c["total"]
    ]
    lines.append("Mix de categorias: " + "; ".join(parts) + ".")
    moved = max(agg["categorias"], key=lambda c: abs(c["variacao_pp"]))
    if vol["anterior"] and abs(moved["variacao_pp"]) >= 1:
        verb = "ganhou" if moved["variacao_pp"] > 0 else "perdeu"
        lines.append(f"A maior mudança foi {moved['categoria']}, que {verb} {fmt_dec(abs(moved['variacao_pp']))} p.p.")

    if agg["artistas_hype"]:
        lines.append("Mais hype: " + _names(agg["artistas_hype"], "elogios") + ".")
    if agg["artistas_criticas"]:
        lines.append("Mais críticas: " + _names(agg["artistas_criticas"], "criticas") + ".")
    if agg["lancamentos_hype"]:
        lines.append("Lançamentos em alta: " + _names(agg["lancamentos_hype"], "elogios") + ".")
    if agg["lancamentos_criticas"]:
        lines.append("Lançamentos mais criticados: " + _names(agg["lancamentos_criticas"], "criticas") + ".")
    if agg["tags_em_alta"]:
        tags = [
            f"{t['codigo']} (+{fmt_int(t['variacao'])}, {fmt_int(t['total'])} no total)" for t in agg["tags_em_alta"]
        ]
        lines.append("Tags que mais cresceram: " + ", ".join(tags) + ".")
    conf = agg["confianca"]
    if conf["media"] is not None:
        lines.append(
            f"Confiança: {fmt_dec(conf['abaixo_limiar_pct'])}% dos comentários ficaram abaixo de "
            f"{fmt_dec(conf['limiar'])} de confiança (média {fmt_dec(conf['media'], 2)}) e merecem revisão."
        )
    for example in agg["exemplos"][:3]:
        who = f", sobre {example['artista']}" if example.get("artista") else ""
        lines.append(f"Exemplo de {example['categoria']}{who}: “{example['texto']}”")
    return "\n".join(lines)


def _names(items: list[dict[str, Any]], key: str) -> str:
    singular, plural = ("elogio", "elogios") if key == "elogios" else ("crítica", "críticas")
    out = []
    for item in items[:3]:
        name = item["nome"] + (f" ({item['artista']})" if item.get("artista") else "")
        label = singular if item[key] == 1 else plural
        out.append(f"{name}: {fmt_int(item[key])} {label}, {fmt_dec(item['participacao_pct'])}% dos comentários")
    return "; ".join(out)


# --------------------------------------------------------------------------------------------- number check


def parse_number(token: str) -> float | None:
    """`1.234` and `1.234,5` are pt-BR (dot groups thousands); `12,5` and `0.6` are decimals."""
    try:
        if _PT_THOUSANDS.fullmatch(token):
            return float(token.replace(".", "").replace(",", "."))
        if token.count(",") == 1 and "." not in token:
            return float(token.replace(",", "."))
        if token.count(".") <= 1 and "," not in token:
            return float(token)
    except ValueError:
        return None
    return None


def _walk(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        yield len(node)
        for value in node:
            yield from _walk(value)
    else:
        yield node


def allowed_numbers(agg: dict[str, Any]) -> set[float]:
    """Every figure the aggregate holds (as given and rounded), the numbers inside its names and quotes, and the
    week's calendar numbers (year, week, days and months)."""
    allowed: set[float] = set()
    for value in _walk(agg):
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            for v in (float(value), round(value), round(value, 1), round(value, 2)):
                allowed.add(round(abs(float(v)), 2))
        elif isinstance(value, str):
            for token in _NUMBER.findall(value):
                if (number := parse_number(token)) is not None:
                    allowed.add(round(number, 2))
    for key in ("inicio", "fim"):
        day = date.fromisoformat(agg[key])
        allowed.update({float(day.day), float(day.month), float(day.year)})
    year, week = agg["semana"].split("-W")
    allowed.update({float(year), float(int(week))})
    return allowed


def invented_numbers(text: str, allowed: set[float]) -> list[str]:
    """The figures in `text` that are not in `allowed` (see `allowed_numbers`)."""
    invented = []
    for token in _NUMBER.findall(text):
        number = parse_number(token)
        if number is None or round(number, 2) not in allowed:
            invented.append(token)
    return invented


# ------------------------------------------------------------------------------------------------------ LLM


def _plain_text(content: str | None) -> str:
    text = (content or "").strip()
    if not text:
        raise InvalidAnswerError("empty answer")
    if len(text) > MAX_LLM_CHARS:
        raise InvalidAnswerError(f"answer longer than {MAX_LLM_CHARS} characters")
    return text


def llm_text(client: ChatClient, agg: dict[str, Any]) -> tuple[str, str]:
    """(text, generator): the LLM's summary when it is valid and invents no figure, else the deterministic one."""
    messages = [
        {"role": "system", "content": load_text_prompt(SUMMARY_PROMPT)},
        {
            "role": "user",
            "content": "Agregado da semana (JSON):\n" + json.dumps(agg, ensure_ascii=False, sort_keys=True),
        },
    ]
    try:
        text = client.complete(messages, _plain_text, temperature=0.2, max_tokens=700)
    except Exception as exc:  # any failure (LLMError, openai errors, bugs): the deterministic text is always there
        reason = failure_reason(exc)
        log.warning("summary %s: llm failed (%s: %s); deterministic text used", agg["semana"], type(exc).__name__, exc)
        return deterministic_text(agg), f"{DETERMINISTIC} (fallback: {reason})"
    invented = invented_numbers(text, allowed_numbers(agg))
    if invented:
        log.warning("summary %s: llm text has figures not in the aggregate %s; using the deterministic text",
                    agg["semana"], invented[:10])  # fmt: skip
        return deterministic_text(agg), f"{DETERMINISTIC} (fallback: {REASON_INVENTED})"
    return text, f"openai:{client.model} ({SUMMARY_PROMPT})"
