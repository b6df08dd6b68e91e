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
        if tok in QUESTION_WORDS:
            counts[_IDX["question_word"]] += 1
        if tok in NEGATIONS:
            counts[_IDX["negation"]] += 1
        if tok in SPAM_WORDS:
            counts[_IDX["spam_words"]] += 1
            if tok in PROMO_WORDS:
                counts[_IDX["promo_words"]] += 1
        if tok in IMPERATIVES:
            counts[_IDX["imperative_any"]] += 1
            if i == 0 or toks[i - 1] in (",", "e", "mas", "favor", "!", ".", "and", "please", "so", "!!"):
                counts[_IDX["imperative_start"]] += 1
        key = tok[:3]
        cands = PRAISE_INDEX.get(key)
        if cands and tok.startswith(cands):
            counts[_IDX["praise_words"]] += 1
        cands = CRITIC_INDEX.get(key)
        if cands and tok.startswith(cands):
            counts[_IDX["critic_words"]] += 1
        cands = DOMAIN_INDEX.get(key)
        if (cands and tok.startswith(cands)) or tok in DOMAIN_SHORT:
            counts[_IDX["domain_words"]] += 1
        if tok in INVITE_VERBS and toks[i + 1 : i + 2] and toks[i + 1] in ("para", "a", "ao", "logo", "to"):
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
    while start < len(toks) - 1 and toks[start] in OPENER_FILLERS:
        start += 1
    opener = toks[start] if toks else ""
    is_question_start = opener in QUESTION_OPENERS or (opener == "o" and toks[start + 1 : start + 2] == ["que"])
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
