"""Text normalisation for listener comments (pt-BR slang, typos, emoji; some English/Spanish).

The classifier's n-gram features are computed over this normalised text so that surface variation that carries
no intent (accents, casing, URLs, numbers, "kkkkk" vs "hahaha", "perfeitooooo") maps onto one form, and a model
trained on one set of writers generalises to the next.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Placeholders are plain word tokens (letters and underscores) so both the word and the char n-gram
# vectorisers see them as one unit.
URL = "_url_"
EMAIL = "_email_"
HANDLE = "_user_"
HASHTAG = "_hashtag_"
MONEY = "_dinheiro_"
TIME = "_hora_"
YEAR = "_ano_"
NUMBER = "_num_"
LAUGH = "_risos_"
EMO_POS = "_emopos_"
EMO_NEG = "_emoneg_"
EMO_IRONY = "_emoironia_"
EMO_DOUBT = "_emoduvida_"
EMO_OTHER = "_emo_"

# Emoji whose sentiment is stable enough in music comments to share one placeholder. 😭 and 🥹 mean "moved"
# far more often than "sad" here; 🙄 and 🤡 are the usual sarcasm markers; 😂/🤣 read as laughter.
_EMOJI_CLASSES: dict[str, str] = {}
for _chars, _placeholder in (
    (
        "🔥😍🥰❤♥💚💜💙🖤🤍💛🧡🤎💗💖💕💞💓💘❣😭🥹🙌🎶🎵🎧🎤🎸🎹🥁🎷✨💯🤩🙏👍🤘🎉"
        "😊😁😄😃😀🥳💪⭐🌟😎🫶👑🏆🤌😻☀🌈💎🚀",
        EMO_POS,
    ),
    ("👎🤮🤢😡😠🤬💩😒😤😞😔😢😩😫🥱😴😑😐💔😕🙁☹😖😣🤦🚮🗑", EMO_NEG),
    ("🙄🤡🥴🙃😏", EMO_IRONY),
    ("😂🤣😆😹", LAUGH),
    ("🤔🧐❓❔", EMO_DOUBT),
):
    for _ch in _chars:
        _EMOJI_CLASSES[_ch] = _placeholder

_EMOJI_RANGES = ((0x1F000, 0x1FAFF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x2300, 0x23FF))
_INVISIBLE = {0xFE0F, 0xFE0E, 0x200D, 0x200B, 0x20E3, *range(0x1F3FB, 0x1F400)}  # variation selectors, ZWJ, skin


_PUNCTUATION = '!?.,;:()[]{}"*/\\|~^=+<>'


def _build_translation() -> dict[int, str]:
    """One str.translate table: accents stripped, emoji spaced out with their placeholder, invisibles dropped."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        ch = chr(code)
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if base != ch:
            table[code] = base
    for start, end in _EMOJI_RANGES:
        for code in range(start, end + 1):
            ch = chr(code)
            table[code] = f" {ch} {_EMOJI_CLASSES.get(ch, EMO_OTHER)} "
    for code in _INVISIBLE:
        table[code] = ""
    # Typographic quotes and dashes to their ASCII forms so punctuation features see one spelling.
    table.update({ord(c): "'" for c in "‘’´`"})
    table.update({ord(c): '"' for c in "“”«»"})
    table.update({ord(c): "-" for c in "–—"})
    table[ord("¿")] = " ¿ "
    table[ord("¡")] = " ! "
    table[ord("ñ")] = "n"
    # Punctuation gets spaces around it so "?" and "!" are tokens; apostrophes and hyphens inside words stay.
    for ch in _PUNCTUATION:
        table[ord(ch)] = f" {ch} "
    table[ord("…")] = " .. "
    for ch in "\t\n\r\x0b\x0c\xa0":
        table[ord(ch)] = " "
    return table


_TRANSLATION = _build_translation()
# Accents only (no emoji expansion): for the copy of the text that keeps emoji as they are.
_ACCENTS_ONLY = {k: v for k, v in _TRANSLATION.items() if 0xC0 <= k < 0x250}

_URL_RE = re.compile(
    r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|net|org|io|ly|gg|me|bet|site|link|shop|store|tv|br)"
    r"(?:\.br)?(?:/\S*)?",
    re.IGNORECASE,
)
# Cheap substring guards: most comments have no URL, handle or digit, so their regexes are skipped.
_URL_HINTS = (
    "http",
    "www",
    ".com",
    ".net",
    ".org",
    ".io",
    ".ly",
    ".gg",
    ".me",
    ".bet",
    ".site",
    ".link",
    ".shop",
    ".store",
    ".tv",
    ".br",
)
# Most hints start with a dot: a comment without one skips their scan.
_DOT_HINTS = tuple(hint for hint in _URL_HINTS if hint[0] == ".")
_OTHER_HINTS = tuple(hint for hint in _URL_HINTS if hint[0] != ".")
_EMAIL_RE = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
_HANDLE_RE = re.compile(r"(?<![\w@])@[\w.]{2,}")
# The patterns below begin with a literal or a digit, not with `\b` or a lookbehind, so `re` jumps from candidate to
# candidate instead of trying every position (~15% of the normaliser's time on a text with a number or a hashtag);
# the lookbehind right after that first character is the `\b` it replaces. Same matches as the `\b...` forms.
_HASHTAG_RE = re.compile(r"#(?<!\w#)(\w+)")
_HAS_DIGIT_RE = re.compile(r"\d")
_MONEY_RE = re.compile(
    r"(?:r\$|us\$|\$|€|£)\s?\d[\d.,]*(?:\s?(?:mil|k|reais))?"
    r"|\b\d[\d.,]*\s?(?:mil\s)?(?:reais|real|conto|pila|contos|dolares|dollars|bucks|euros|pesos)\b"
)
# Every match of _MONEY_RE contains one of these (a currency sign or the start of a currency word): a text without
# any skips the regex, with the same result.
_MONEY_HINTS = ("$", "€", "£", "reai", "real", "cont", "pila", "dolar", "dollar", "buck", "euro", "peso")
_TIME_RE = re.compile(r"\d(?<!\w\d)(?:\d?[:h]\d{2}\b|\d?\s?(?:min|minutos|seg|segundos|h|hrs?|horas)\b)")
_YEAR_RE = re.compile(r"(?:1(?<!\w1)9[5-9]\d|2(?<!\w2)0[0-4]\d)\b")
_NUMBER_RE = re.compile(r"\d(?<!\w\d)\d*(?:[.,]\d+)*(?:º|ª|o|a)?\b")
_DIGIT_RE = re.compile(r"\d")
# Letters repeated 3+ times squeezed to one (perfeitoooo -> perfeito); not "k", whose runs are laughter.
_SQUEEZE_RE = re.compile(r"([a-jl-z])\1{2,}")
_TRIPLE_RE = re.compile(r"(.)\1\1", re.DOTALL)
# Laughter in its many spellings, matched per token: kkkk, hahaha, hehehe, rsrsrs, huehue, jajaja, lol, lmao.
_LAUGH_RE = re.compile(
    r"k{2,}[a-z]*|(?:h[aeiu]){2,}h?|(?:a+h+){2,}a*|rs(?:rs)+|(?:hue){2,}|(?:j[aei]){2,}j?"
    r"|lo+l+|lmf?ao+|ksks[ks]*"
)
_LAUGH_FIRST = frozenset("khajrl")
_RUN_PUNCT = frozenset("!?.")

# Internet abbreviations with one unambiguous expansion; applied token by token after accent stripping.
_ABBREVIATIONS: dict[str, str] = {
    "vc": "voce",
    "vcs": "voces",
    "q": "que",
    "pq": "porque",
    "pqp": "puta que pariu",
    "tb": "tambem",
    "tbm": "tambem",
    "mt": "muito",
    "mto": "muito",
    "mta": "muita",
    "mtos": "muitos",
    "td": "tudo",
    "tds": "todos",
    "n": "nao",
    "ñ": "nao",
    "naum": "nao",
    "msm": "mesmo",
    "cmg": "comigo",
    "blz": "beleza",
    "mds": "meu deus",
    "mdss": "meu deus",
    "pfv": "por favor",
    "pfvr": "por favor",
    "pf": "por favor",
    "plmds": "pelo amor de deus",
    "pelamor": "pelo amor",
    "hj": "hoje",
    "qnd": "quando",
    "qdo": "quando",
    "qndo": "quando",
    "oq": "o que",
    "kd": "cade",
    "sla": "sei la",
    "nd": "nada",
    "ngm": "ninguem",
    "agr": "agora",
    "dps": "depois",
    "qlq": "qualquer",
    "vdd": "verdade",
    "ctz": "certeza",
    "pra": "para",
    "pro": "para o",
    "pros": "para os",
    "pras": "para as",
    "tava": "estava",
    "tavam": "estavam",
    "ce": "voce",
    "cê": "voce",
    "mn": "mano",
    "aq": "aqui",
    "qm": "quem",
    "ql": "qual",
    "tmb": "tambem",
    "obg": "obrigado",
    "obgd": "obrigado",
    "vlw": "valeu",
    "flw": "falou",
    "sdds": "saudades",
    "sdd": "saudade",
    "fdp": "filho da puta",
    "krl": "caralho",
    "crl": "caralho",
    "slk": "ta louco",
    "pprt": "papo reto",
    "tlgd": "ta ligado",
    "mlk": "moleque",
    "dms": "demais",
    "u": "you",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "ngl": "not gonna lie",
    "idk": "i dont know",
    "imo": "in my opinion",
    "omg": "oh my god",
    "wtf": "what the fuck",
}


def strip_accents(text: str) -> str:
    """Lowercase-preserving accent removal ("não" -> "nao") for Latin text."""
    return text.translate(_ACCENTS_ONLY)


# Comments this short are cached (ingestion repeats "🔥🔥🔥" and "primeiro!" a lot); long ones are not, which
# bounds the cache to a few MB whatever arrives.
_CACHE_MAX_CHARS = 280


def normalize(text: str) -> str:
    """Normalised form of a comment: lowercase, no accents, placeholders, spaced punctuation and emoji."""
    return _normalize_cached(text) if len(text) <= _CACHE_MAX_CHARS else _normalize(text)


def _normalize(text: str) -> str:
    t = text.lower() if text.isascii() else unicodedata.normalize("NFC", text).lower()
    if "@" in t:
        t = _HANDLE_RE.sub(f" {HANDLE} ", _EMAIL_RE.sub(f" {EMAIL} ", t))
    if ("." in t and any(hint in t for hint in _DOT_HINTS)) or any(hint in t for hint in _OTHER_HINTS):
        t = _URL_RE.sub(f" {URL} ", t)
    if "#" in t:
        t = _HASHTAG_RE.sub(rf" {HASHTAG} \1 ", t)
    if _HAS_DIGIT_RE.search(t):
        if any(hint in t for hint in _MONEY_HINTS):
            t = _MONEY_RE.sub(f" {MONEY} ", t)
        t = _TIME_RE.sub(f" {TIME} ", t)
        if "19" in t or "20" in t:
            t = _YEAR_RE.sub(f" {YEAR} ", t)
        t = _NUMBER_RE.sub(f" {NUMBER} ", t)
        t = _DIGIT_RE.sub("0", t)  # digits glued to letters ("4k", "808s") keep their shape, not their value
    t = t.translate(_TRANSLATION)  # accents, emoji and punctuation in one C-level pass
    if _TRIPLE_RE.search(t):  # (most comments have no letter three times in a row: skip the costlier regex)
        t = _SQUEEZE_RE.sub(r"\1", t)
    out: list[str] = []
    memo = _token_memo
    for tok in t.split():
        if len(tok) == 1 and tok in _RUN_PUNCT:
            prev = out[-1] if out else ""
            if prev and prev[0] == tok and len(prev) <= 2 and prev == tok * len(prev):
                out[-1] = tok * 2  # "!!!!" and "!!" are the same intensity signal
                continue
            out.append(tok)
        elif tok == "+" and out and out[-1] == "d":
            out[-1] = "demais"  # "top d+"
        else:
            mapped = memo.get(tok)
            if mapped is None:
                if len(memo) >= _TOKEN_MEMO_MAX:
                    memo.clear()
                mapped = memo[tok] = _token(tok)
            out.append(mapped)
    return " ".join(out)


# A token's replacement depends on the token alone: worked out once per distinct token (the laughter regex is the
# costly part), in a memo bounded whatever arrives.
_TOKEN_MEMO_MAX = 100_000
_token_memo: dict[str, str] = {}


def _token(tok: str) -> str:
    """A word token's normalised form: laughter as one placeholder, abbreviations expanded."""
    if tok[0] in _LAUGH_FIRST and _LAUGH_RE.fullmatch(tok):
        return LAUGH
    return _ABBREVIATIONS.get(tok, tok)


_normalize_cached = lru_cache(maxsize=16384)(_normalize)
normalize.cache_clear = _normalize_cached.cache_clear  # type: ignore[attr-defined]  # benchmarks clear it


def normalize_many(texts: list[str] | tuple[str, ...]) -> list[str]:
    """normalize() over a batch (cached per distinct text: ingestion repeats short comments a lot)."""
    return [normalize(t) for t in texts]
