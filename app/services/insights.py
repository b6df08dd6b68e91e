"""Insights Q&A grounded in the weekly summaries: the three most recent within the last eight weeks are the only
sources. Offline (default) the answer is extractive: the sentences of those summaries most similar to the question
(TF-IDF), each cited by its week. With an LLM, each summary is a labelled source; the answer is kept only if every
week it cites was supplied, it reveals no prompt and invents no figure; otherwise the extractive answer is given.
Either way the answer is cut to INSIGHTS_MAX_WORDS words, counted."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import linear_kernel

from app.errors import NotFound
from app.llm.client import REASON_OVER_BUDGET, ChatClient, InvalidAnswerError, failure_reason
from app.llm.prompts import load_text_prompt
from app.llm.runtime import insights_llm, llm_configured
from app.models.summary import WeeklySummary
from app.services.summaries import recent_summaries
from app.services.summary_text import allowed_numbers, invented_numbers

log = logging.getLogger(__name__)

EXTRACTIVE = "extrativo:tfidf-v1"
QA_PROMPT = "insights_v1"
MAX_SENTENCES = 4
# Any run of this many words taken from the system prompt means the answer is quoting it.
LEAK_NGRAM = 6

_WEEK_REF = re.compile(r"\[?(\d{4}-W\d{2})\]?")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-ZÀ-Ý“\"])")
_WORD = re.compile(r"\w+")


class NoSummaries(NotFound):
    code = "sem_resumos"
    message = "Ainda não há resumos semanais recentes para responder."


@dataclass(frozen=True, slots=True)
class Answer:
    resposta: str
    semanas: list[str]
    modelo: str

    def as_json(self) -> dict:
        return {"resposta": self.resposta, "semanas": self.semanas, "modelo": self.modelo}


def limit_words(text: str, limit: int) -> str:
    """At most `limit` words (whitespace-separated, as a reader counts them); an ellipsis marks a cut."""
    words = text.split()
    if len(words) <= limit:
        return " ".join(words)
    return " ".join(words[:limit]).rstrip(",;:") + "…"


def word_count(text: str) -> int:
    return len(text.split())


# ---------------------------------------------------------------------------------------------- extractive


def sentences(summary: WeeklySummary) -> list[str]:
    out = []
    for line in summary.text.splitlines():
        out += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return out


def extractive_answer(question: str, sources: list[WeeklySummary], max_words: int) -> tuple[str, list[str]]:
    """The summary sentences most similar to the question, most relevant first, each followed by its week."""
    pool = [(summary.week, sentence) for summary in sources for sentence in sentences(summary)]
    vectorizer = TfidfVectorizer(strip_accents="unicode", lowercase=True, ngram_range=(1, 2), sublinear_tf=True)
    matrix = vectorizer.fit_transform([sentence for _, sentence in pool])
    scores = linear_kernel(vectorizer.transform([question]), matrix).ravel()
    ranked = [i for i in scores.argsort()[::-1] if scores[i] > 0][:MAX_SENTENCES]
    if not ranked:
        # Nothing in common with the question: the headline (volume) of each week is still a grounded answer.
        heads: dict[str, int] = {}
        for i, (week, _) in enumerate(pool):
            heads.setdefault(week, i)
        ranked = list(heads.values())
    parts, weeks, used = [], [], 1  # "Segundo" counts as a word
    for i in ranked:
        week, sentence = pool[i]
        piece = f"{sentence.rstrip()} [{week}]"
        if parts and used + word_count(piece) > max_words:
            break
        parts.append(piece)
        used += word_count(piece)
        if week not in weeks:
            weeks.append(week)
    text = limit_words("Segundo os resumos semanais: " + " ".join(parts), max_words)
    # A cut may have dropped the last citation: the weeks listed are those still cited in the text.
    return text, [w for w in weeks if f"[{w}]" in text] or weeks[:1]


# ------------------------------------------------------------------------------------------------------ LLM


class _LLMQa(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    resposta: str = Field(min_length=1, max_length=3000)
    semanas: list[str] = Field(max_length=20)


QA_RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "resposta_insights",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"resposta": {"type": "string"}, "semanas": {"type": "array", "items": {"type": "string"}}},
            "required": ["resposta", "semanas"],
            "additionalProperties": False,
        },
    },
}


def _parse_qa(content: str | None) -> _LLMQa:
    try:
        return _LLMQa.model_validate_json(content or "")
    except ValidationError as exc:
        raise InvalidAnswerError(f"invalid answer: {exc.error_count()} problem(s)") from exc


def _sanitize_question(question: str) -> str:
    """The question is data between <<< >>>: it cannot close the markers itself."""
    return question.replace("<<<", "«").replace(">>>", "»")


def qa_messages(question: str, sources: list[WeeklySummary]) -> list[dict[str, str]]:
    labelled = "\n\n".join(f"[{s.week}]\n{s.text}" for s in sources)
    user = f"Fontes:\n\n{labelled}\n\nPergunta:\n<<<\n{_sanitize_question(question)}\n>>>"
    return [{"role": "system", "content": load_text_prompt(QA_PROMPT)}, {"role": "user", "content": user}]


def leaks_prompt(answer: str, prompt: str) -> bool:
    """Whether the answer repeats a run of LEAK_NGRAM words of the system prompt."""
    words = [w.lower() for w in _WORD.findall(prompt)]
    grams = {tuple(words[i : i + LEAK_NGRAM]) for i in range(len(words) - LEAK_NGRAM + 1)}
    said = [w.lower() for w in _WORD.findall(answer)]
    return any(tuple(said[i : i + LEAK_NGRAM]) in grams for i in range(len(said) - LEAK_NGRAM + 1))


class Rejected(Exception):
    """The LLM answered, but the answer cannot be shown; `reason` goes into `modelo`."""


def llm_answer(client: ChatClient, question: str, sources: list[WeeklySummary], max_words: int) -> Answer:
    answer = client.complete(qa_messages(question, sources), _parse_qa, response_format=QA_RESPONSE_FORMAT)
    supplied = [s.week for s in sources]
    cited = list(dict.fromkeys(answer.semanas + _WEEK_REF.findall(answer.resposta)))
    valid = [w for w in supplied if w in cited]
    text = answer.resposta
    for week in cited:
        if week not in supplied:  # drop the citation, keep the sentence
            text = re.sub(rf"\s*\[?{re.escape(week)}\]?", "", text)
    if not valid:
        raise Rejected("citação inválida")
    if leaks_prompt(text, load_text_prompt(QA_PROMPT)):
        raise Rejected("resposta revelaria o prompt")
    allowed = set().union(*(allowed_numbers(s.aggregate) for s in sources))
    if invented_numbers(_WEEK_REF.sub("", text), allowed):
        raise Rejected("número ausente das fontes")
    text = limit_words(text, max_words)
    return Answer(text, [w for w in valid if w in text] or valid, f"openai:{client.model} ({QA_PROMPT})")


# -------------------------------------------------------------------------------------------------- use case


def ask(question: str, *, now: datetime | None = None, use_llm: bool | None = None) -> Answer:
    """Answer `question` from the recent summaries; NoSummaries (404) when there are none."""
    cfg = current_app.config
    max_words = int(cfg["INSIGHTS_MAX_WORDS"])
    sources = recent_summaries(
        now or datetime.now(UTC), window_weeks=int(cfg["INSIGHTS_WINDOW_WEEKS"]), limit=int(cfg["INSIGHTS_MAX_SOURCES"])
    )
    if not sources:
        raise NoSummaries(
            f"Não há resumos semanais nas últimas {cfg['INSIGHTS_WINDOW_WEEKS']} semanas para responder. "
            "Eles são gerados toda semana (ou com `flask summary generate`)."
        )
    use_llm = cfg["INSIGHTS_USE_LLM"] if use_llm is None else use_llm
    reason = None
    if use_llm:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if not llm_configured(app):
            reason = "openai não configurado"
        else:
            client, budget = insights_llm(app)
            if not budget.reserve(1):
                reason = REASON_OVER_BUDGET
            else:
                try:
                    return llm_answer(client, question, sources, max_words)
                except Rejected as exc:
                    reason = str(exc)
                except Exception as exc:  # timeouts, 5xx, invalid answers, open circuit: answer offline instead
                    reason = failure_reason(exc)
                log.warning("insights: llm answer not used (%s); answering extractively", reason)
    text, weeks = extractive_answer(question, sources, max_words)
    return Answer(text, weeks, EXTRACTIVE if reason is None else f"{EXTRACTIVE} (fallback: {reason})")
