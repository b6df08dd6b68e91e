"""Rule features: hand-made lexicon and shape cues per comment (word lists in lexicons.py), and the override rules.

Lexicons are matched on normalised tokens (lowercase, no accents), in one pass over the tokens: Python's `re`
tries every alternative at every position, which costs more than the whole n-gram featurizer. Prefix lexicons
catch inflections and typos of one stem ("decepc" -> decepcionou/decepcionante).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from app.classifier.features.lexicons import (
    CRITIC_INDEX,
    DOMAIN_INDEX,
    DOMAIN_SHORT,
    FIRST_COMMENT,
    IMPERATIVES,
    INVITE_VERBS,
    NEGATIONS,
    OPENER_FILLERS,
    PHRASES,
    PRAISE_INDEX,
    PROMO_WORDS,
    QUESTION_OPENERS,
    QUESTION_WORDS,
    SPAM_WORDS,
)
from app.classifier.normalize import EMO_DOUBT, EMO_IRONY, EMO_NEG, EMO_OTHER, EMO_POS, LAUGH, normalize

# Confidence reported when an override rule decides: the rules are written to be near-certain.
OVERRIDE_CONFIDENCE = 0.99


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
    *PHRASES.names,
)
_IDX = {name: i for i, name in enumerate(RULE_FEATURE_NAMES)}
_PHRASE_OFFSET = _IDX[PHRASES.names[0]]
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
# Any character three times in a row: a cheap test that most comments fail, so _ELONGATED_RE rarely runs.
_TRIPLE_RE = re.compile(r"(.)\1\1", re.DOTALL)


def _is_gibberish(word: str) -> bool:
    """Keyboard mashing ("asdfghjkl", "kdjfhsk"): a long word with almost no vowels."""
    if len(word) < 6 or word[0] == "_":
        return False
    vowels = sum(1 for c in word if c in _VOWELS)
    return vowels / len(word) < 0.2


# What a token contributes depends on the token alone (but for two rules that look at its neighbours), so it is
# worked out once per distinct token and remembered: comments reuse a small vocabulary, and one dict lookup per
# token replaces a dozen set and prefix tests. Kinds of token:
_COUNTED = 0  # an emoji or laughter placeholder: counted, and it is not the comment's last "text" token
_TEXT = 1  # a placeholder (counted if it is a URL, handle, e-mail or money) or a token not starting with a letter
_SKIP = 2  # the emoji itself (its placeholder follows)
_WORD = 3  # a word: its lexicon hits are counted
_IMPERATIVE_AFTER = frozenset((",", "e", "mas", "favor", "!", ".", "and", "please", "so", "!!"))
_INVITE_BEFORE = frozenset(("para", "a", "ao", "logo", "to"))
_TOKEN_MEMO_MAX = 100_000  # bounds the memo whatever arrives (cleared when full)
_token_memo: dict[str, tuple[int, tuple[int, ...], bool, bool]] = {}


def _token_info(tok: str) -> tuple[int, tuple[int, ...], bool, bool]:
    """(kind, indices of the counts the token adds 1 to, is an imperative, is an invite verb)."""
    c0 = tok[0]
    if c0 == "_":
        idx = _EMO_INDEX.get(tok)
        if idx is not None:
            return _COUNTED, (idx,), False, False
        if tok == LAUGH:
            return _COUNTED, (_IDX["laugh"],), False, False
        idx = _PLACEHOLDER_INDEX.get(tok)
        return _TEXT, (() if idx is None else (idx,)), False, False
    if ord(c0) >= 0x2300:
        return _SKIP, (), False, False
    if not c0.isalpha():
        return _TEXT, (), False, False
    hits: list[int] = []
    if tok in QUESTION_WORDS:
        hits.append(_IDX["question_word"])
    if tok in NEGATIONS:
        hits.append(_IDX["negation"])
    if tok in SPAM_WORDS:
        hits.append(_IDX["spam_words"])
        if tok in PROMO_WORDS:
            hits.append(_IDX["promo_words"])
    imperative = tok in IMPERATIVES
    if imperative:
        hits.append(_IDX["imperative_any"])
    key = tok[:3]
    cands = PRAISE_INDEX.get(key)
    if cands and tok.startswith(cands):
        hits.append(_IDX["praise_words"])
    cands = CRITIC_INDEX.get(key)
    if cands and tok.startswith(cands):
        hits.append(_IDX["critic_words"])
    cands = DOMAIN_INDEX.get(key)
    if (cands and tok.startswith(cands)) or tok in DOMAIN_SHORT:
        hits.append(_IDX["domain_words"])
    if _is_gibberish(tok):
        hits.append(_IDX["gibberish"])
    return _WORD, tuple(hits), imperative, tok in INVITE_VERBS


_BINARY = tuple(
    _IDX[name]
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
    )
)
_CAPPED = tuple(
    _IDX[name]
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
    )
)
_EMO_COLUMNS = tuple(_EMO_INDEX.values())
# A comment with more words than the longest "first!" phrase cannot be one (see _is_first_comment).
_FIRST_COMMENT_MAX_WORDS = max(phrase.count(" ") + 1 for phrase in FIRST_COMMENT)
_I_IMPERATIVE_START = _IDX["imperative_start"]
_I_INVITE = _IDX["invite"]
_I_DOMAIN = _IDX["domain_words"]


def rule_features(raw: str, norm: str) -> list[float]:
    """Hand-made features for one comment, each scaled to [0, 1]."""
    f = [0.0] * len(RULE_FEATURE_NAMES)
    toks = norm.split()
    counts = [0] * len(RULE_FEATURE_NAMES)
    words = 0
    last_text_tok = ""
    memo = _token_memo
    for i, tok in enumerate(toks):
        info = memo.get(tok)
        if info is None:
            if len(memo) >= _TOKEN_MEMO_MAX:
                memo.clear()
            info = memo[tok] = _token_info(tok)
        kind, hits, imperative, invite = info
        if kind == _SKIP:
            continue
        if kind != _COUNTED:
            last_text_tok = tok
        for idx in hits:
            counts[idx] += 1
        if kind != _WORD:
            continue
        words += 1
        if imperative and (i == 0 or toks[i - 1] in _IMPERATIVE_AFTER):
            counts[_I_IMPERATIVE_START] += 1
        if invite and toks[i + 1 : i + 2] and toks[i + 1] in _INVITE_BEFORE:
            counts[_I_INVITE] += 1
    f[_IDX["no_domain_word"]] = 0.0 if counts[_I_DOMAIN] else 1.0
    for idx in _BINARY:
        f[idx] = 1.0 if counts[idx] else 0.0
    for idx in _CAPPED:
        f[idx] = min(counts[idx], 3) / 3

    f[_IDX["has_question_mark"]] = 1.0 if "?" in norm else 0.0
    f[_IDX["ends_with_question"]] = 1.0 if "?" in last_text_tok else 0.0
    start = 0
    while start < len(toks) - 1 and toks[start] in OPENER_FILLERS:
        start += 1
    opener = toks[start] if toks else ""
    is_question_start = opener in QUESTION_OPENERS or (opener == "o" and toks[start + 1 : start + 2] == ["que"])
    f[_IDX["question_start"]] = 1.0 if is_question_start else 0.0
    f[_IDX["please"]] = 1.0 if ("por favor" in norm or "please" in norm or "porfa" in norm) else 0.0
    n_emoji = sum(counts[i] for i in _EMO_COLUMNS)
    f[_IDX["emoji_only"]] = 1.0 if n_emoji and not words else 0.0
    # Every word is a token of the "first!" phrase test, so more words than its longest phrase rule it out.
    is_first = words <= _FIRST_COMMENT_MAX_WORDS and _is_first_comment(toks)
    f[_IDX["first_comment"]] = 1.0 if is_first else 0.0
    letters = sum(map(str.isalpha, raw))
    if letters >= 4:
        f[_IDX["caps_ratio"]] = sum(map(str.isupper, raw)) / letters
    elif not letters:
        f[_IDX["no_letters"]] = 1.0
    f[_IDX["exclamations"]] = min(raw.count("!"), 3) / 3
    f[_IDX["elongated"]] = 1.0 if _TRIPLE_RE.search(raw) and _ELONGATED_RE.search(raw) else 0.0
    f[_IDX["log_length"]] = min(math.log1p(len(raw)) / 7.0, 1.0)
    f[_IDX["short_text"]] = 1.0 if len(toks) <= 3 else 0.0
    for k, hit in enumerate(PHRASES.match(toks)):
        if hit:
            f[_PHRASE_OFFSET + k] = 1.0
    return f


def _is_first_comment(toks: Sequence[str]) -> bool:
    core = " ".join(t for t in toks if t[0].isalpha())
    return core in FIRST_COMMENT


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
