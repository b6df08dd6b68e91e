"""Helpers for weekly summary tests: comments with known labels placed in a given ISO week, and an in-process
SMTP server (aiosmtpd) that records what it receives and can refuse recipients or be stopped and restarted."""

from __future__ import annotations

import email
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email import policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller

from app.services.weeks import IsoWeek

TZ = "America/Sao_Paulo"


def at(week: str, day: int = 2, hour: int = 12) -> datetime:
    """A moment inside `week` (day 1 = Monday), local time in TZ, as UTC."""
    local = datetime.combine(IsoWeek.parse(week).monday + timedelta(days=day - 1), time(hour), tzinfo=ZoneInfo(TZ))
    return local.astimezone(UTC)


@dataclass
class Row:
    text: str
    category: str
    artist: str | None = None
    album: str | None = None
    tags: list[str] = field(default_factory=list)
    confidence: float = 0.9


def add_comments(app, week: str, rows: list[Row], *, day: int = 2) -> None:
    """Store `rows` as classified comments of `week` (labels as given, not from the model)."""
    from app.extensions import db
    from app.models.catalog import Album, Artist, name_key
    from app.models.comment import Comment, CommentTag

    with app.app_context():
        artists: dict[str, Artist] = {a.name_key: a for a in db.session.scalars(db.select(Artist))}
        albums: dict[str, Album] = {a.title_key: a for a in db.session.scalars(db.select(Album))}
        for i, row in enumerate(rows):
            artist = None
            if row.artist:
                artist = artists.get(name_key(row.artist))
                if artist is None:
                    artist = artists[name_key(row.artist)] = Artist(name=row.artist, name_key=name_key(row.artist))
            album = None
            if row.album:
                album = albums.get(name_key(row.album))
                if album is None:
                    album = albums[name_key(row.album)] = Album(
                        title=row.album, title_key=name_key(row.album), artist=artist,
                        artist_key=artist.name_key if artist else "",
                    )  # fmt: skip
            when = at(week, day) + timedelta(minutes=i)
            comment = Comment(
                id=uuid.uuid4(), text=row.text, artist=artist, album=album, occurred_at=when, published_at=when,
                category=row.category, confidence=row.confidence, model_version="local:teste",
            )  # fmt: skip
            comment.tags = [CommentTag(code=code, position=p) for p, code in enumerate(row.tags)]
            db.session.add(comment)
        db.session.commit()


def sample_week(app, week: str = "2026-W47") -> None:
    """A week with a clear story (and the week before it): volume up, CRÍTICA up, Lua Serena praised."""
    previous = str(IsoWeek.parse(week).shift(-1))
    add_comments(
        app,
        previous,
        [Row("Gostei do show de ontem, muito bom mesmo", "ELOGIO", "Lua Serena", tags=["show_duracao"])] * 4
        + [Row("O áudio do app falha toda hora", "CRÍTICA", "Banda Ventania")] * 2,
    )
    add_comments(
        app,
        week,
        [Row("Que hino! A batida dessa faixa não sai da cabeça", "ELOGIO", "Lua Serena", "Maré Alta",
             ["musica_batida"])] * 6
        + [Row("A mixagem deixou a voz muito abafada no álbum", "CRÍTICA", "Banda Ventania", "Céu Aberto",
               ["audio_mixagem"], 0.55)] * 4
        + [Row("Quando sai a turnê em Curitiba? Alguém sabe?", "DÚVIDA", "Banda Ventania")] * 2
        + [Row("Deviam lançar a versão acústica no app", "SUGESTÃO", "Lua Serena", tags=["app_modo_offline"])] * 1
        + [Row("sigam meu canal http://spam.example", "SPAM", None, confidence=0.4)] * 1,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------------ SMTP


class RecordingHandler:
    """aiosmtpd handler: keeps every accepted message; answers 550 to `refuse` and 451 to `defer` addresses."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        self.refuse: set[str] = set()  # permanent: 550
        self.defer: set[str] = set()  # temporary: 451 (greylisting, full mailbox)
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        if address.lower() in self.defer:
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted for delivery"

    def received(self) -> list[tuple[list[str], EmailMessage]]:
        with self._lock:
            items = list(self.messages)
        return [(rcpts, email.message_from_bytes(raw, policy=policy.default)) for rcpts, raw in items]

    def recipients(self) -> list[str]:
        with self._lock:
            return sorted(r for rcpts, _ in self.messages for r in rcpts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    """A real SMTP server on 127.0.0.1 in this process; `stop()` then `start()` keeps the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def config(self) -> dict:
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_TIMEOUT": 5.0}


class SilentServer:
    """Accepts TCP connections and never says a word: an SMTP server that hangs before its greeting."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()


def parts(message: EmailMessage) -> dict[str, object]:
    """The text, HTML and inline image of a summary e-mail, plus the Content-ID the HTML references."""
    found: dict[str, object] = {"structure": [p.get_content_type() for p in message.walk()]}
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "text/plain":
            found["text"] = part.get_content()
        elif kind == "text/html":
            found["html"] = part.get_content()
        elif kind == "image/png":
            found["png"] = part.get_content()
            found["cid"] = (part["Content-ID"] or "").strip("<>")
            found["disposition"] = part.get_content_disposition()
    return found
