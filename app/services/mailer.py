"""Outgoing mail with Flask-Mail: the weekly summary message (text + HTML with an inline chart) and its
transport (SMTP with a timeout, or `.eml` files in the outbox when no SMTP server is configured)."""

from __future__ import annotations

import logging
import re
import smtplib
from datetime import date
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import flask_mail
from flask import current_app, render_template

from app.config import INSTANCE_DIR
from app.models.summary import WeeklySummary
from app.services.charts import weekly_chart_png
from app.services.summary_text import fmt_dec, fmt_int

log = logging.getLogger(__name__)

CHART_FILENAME = "resumo-semanal.png"


class InlineImageMessage(flask_mail.Message):
    """multipart/alternative [text/plain, multipart/related [text/html, image/png (Content-ID)]].

    Flask-Mail alone builds multipart/mixed with the image as an attachment, which Gmail and Outlook show below
    the message instead of inside it; the related part is what makes `cid:` references render inline.
    """

    def __init__(self, *args, inline_images: list[tuple[str, bytes]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.inline_images = inline_images or []
        domain = (str(self.sender).rsplit("@", 1)[-1].strip("> ") or "alumusic.local") if self.sender else None
        self.msgId = make_msgid(domain=domain)

    def _message(self) -> EmailMessage:  # type: ignore[override]
        msg = EmailMessage(policy=policy.SMTP)
        msg["Subject"] = self.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(str(r) for r in self.recipients)
        msg["Date"] = formatdate(self.date, localtime=False)
        msg["Message-ID"] = self.msgId
        for key, value in (self.extra_headers or {}).items():
            msg[key] = value
        msg.set_content(self.body or "", subtype="plain", charset="utf-8")
        if self.html is not None:
            msg.add_alternative(self.html, subtype="html", charset="utf-8")
            html_part = msg.get_payload()[-1]
            for cid, png in self.inline_images:
                html_part.add_related(
                    png, maintype="image", subtype="png", cid=f"<{cid}>", filename=CHART_FILENAME, disposition="inline"
                )
        return msg


def _period(summary: WeeklySummary) -> str:
    return f"{summary.starts_on:%d/%m/%Y} a {summary.ends_on:%d/%m/%Y}"


def _highlights(summary: WeeklySummary) -> list[tuple[str, str]]:
    agg = summary.aggregate
    vol = agg["volume"]
    change = "—" if vol["variacao_pct"] is None else f"{'+' if vol['variacao_pct'] > 0 else ''}"
    if vol["variacao_pct"] is not None:
        change += f"{fmt_dec(vol['variacao_pct'])}%"
    elogio = next((c for c in agg["categorias"] if c["categoria"] == "ELOGIO"), None)
    return [
        ("comentários", fmt_int(vol["total"])),
        ("contra a semana anterior", change),
        ("de elogios", f"{fmt_dec(elogio['participacao_pct'])}%" if elogio else "—"),
    ]


def subject_for(summary: WeeklySummary) -> str:
    return f"{current_app.config['SUMMARY_SUBJECT_PREFIX']} Resumo semanal {summary.week}".strip()


def report_url(summary: WeeklySummary) -> str:
    return current_app.config["SUMMARY_REPORT_BASE_URL"].rstrip("/") + "/relatorio/semana"


def render_summary_email(summary: WeeklySummary) -> tuple[str, str, str, bytes, str]:
    """(subject, text, html, chart png, chart content-id) for a stored summary."""
    cid = make_msgid(idstring="grafico", domain="alumusic.local")[1:-1]
    context = {
        "summary": summary,
        "subject": subject_for(summary),
        "period": _period(summary),
        "paragraphs": [line for line in summary.text.splitlines() if line.strip()],
        "highlights": _highlights(summary),
        "report_url": report_url(summary),
        "chart_cid": cid,
    }
    text = render_template("email/resumo_semanal.txt", **context)
    html = render_template("email/resumo_semanal.html", **context)
    return context["subject"], text, html, weekly_chart_png(summary.aggregate), cid


def summary_message(summary: WeeklySummary, recipient: str) -> InlineImageMessage:
    subject, text, html, png, cid = render_summary_email(summary)
    return InlineImageMessage(
        subject=subject,
        recipients=[recipient],
        body=text,
        html=html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        inline_images=[(cid, png)],
        extra_headers={"X-AluMusic-Semana": summary.week, "Auto-Submitted": "auto-generated"},
    )


class TimeoutConnection(flask_mail.Connection):
    """Flask-Mail's connection with a socket timeout: smtplib otherwise waits forever on a silent server."""

    def __init__(self, mail, timeout: float) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        cls = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = cls(self.mail.server, self.mail.port, timeout=self.timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def outbox_dir() -> Path:
    return Path(current_app.config.get("MAIL_OUTBOX_DIR") or INSTANCE_DIR / "outbox")


def _safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", value)[:120]


def send(message: flask_mail.Message) -> Path | None:
    """Deliver over SMTP, or write `<outbox>/<date>-<recipient>-<id>.eml` when MAIL_SERVER is empty."""
    cfg = current_app.config
    if not cfg.get("MAIL_SERVER"):
        folder = outbox_dir()
        folder.mkdir(parents=True, exist_ok=True)
        token = _safe(message.msgId.strip("<>").split("@", 1)[0])
        path = folder / f"{date.today():%Y%m%d}-{_safe(str(message.recipients[0]))}-{token}.eml"
        path.write_bytes(message.as_bytes())
        log.info("mail written to %s (no MAIL_SERVER configured)", path)
        return path
    with TimeoutConnection(current_app.extensions["mail"], float(cfg["MAIL_TIMEOUT"])) as connection:
        connection.send(message)
    return None
