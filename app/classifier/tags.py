"""Feature-tag extraction from the curated taxonomy in `data/taxonomy.yaml` (SPEC §1 Tags).

Every rule is a regular expression over normalised text (see `normalize_text`) that is anchored at the start of
a word and begins with a literal word stem ("batid", "voz robotizada", ...). Instead of trying a thousand rules
at every position, ONE combined regex (the stems factored as a trie, capturing the longest stem) finds the word
starts where some stem occurs; only the few rules whose stem is a prefix of it are then matched there, merged
into one regex per code. This keeps extraction far above 50,000 comments/s on one core, and it makes the
semantics simple: a code is assigned when ANY of its rules matches, whatever the other codes' rules do.
Overlapping rules of different codes are independent; false positives are removed explicitly with the code's
`excluir` patterns, or by making a rule depend on the comment's context (`regras_contexto`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.classifier.base import Tag

__all__ = ["DEFAULT_TAXONOMY_PATH", "MAX_TAGS", "TagExtractor", "TaxonomyEntry", "TaxonomyError", "normalize_text"]

DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parents[2] / "data" / "taxonomy.yaml"
# The wire contract allows 0..5 tags per comment.
MAX_TAGS = 5

_CODE_SHAPE = re.compile(r"^[a-z]+_[a-z0-9]+(?:_[a-z0-9]+)*$")
_COMBINING_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_REPEATED_LETTER = re.compile(r"([a-z])\1{2,}")
_STRETCHED_ENDING = re.compile(r"([a-z])\1{2,}\b")
# Cheaper pre-check than _REPEATED_LETTER (no class test); it also fires on "!!!", which is harmless.
_REPEATED_CHAR = re.compile(r"(.)\1\1")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})
_MACRO = re.compile(r"<([A-Z][A-Z0-9_]*)>")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_REGEX_META = frozenset(".^$*+?{}[]\\|()")
_QUANTIFIERS = frozenset("*+?{")
# Rules whose literal stem is shorter than this are expanded (see `_expand`) so that few words are candidates.
_MIN_STEM = 5


class TaxonomyError(ValueError):
    """The taxonomy file is malformed (bad code, missing explanation, invalid or unsafe rule...)."""


def normalize_text(text: str) -> str:
    """Lowercase, strip accents, squeeze letters repeated 3+ times to 2 and collapse whitespace."""
    return _normalize(text, stretched_endings=False)


def _normalize(text: str, *, stretched_endings: bool) -> str:
    # Each step is skipped when it has nothing to do: this runs once per comment on the hot path.
    text = text.lower()
    if not text.isascii():
        text = _COMBINING_MARKS.sub("", unicodedata.normalize("NFKD", text))
        if "\u2019" in text or "\u2018" in text:
            text = text.translate(_APOSTROPHES)
    if _REPEATED_CHAR.search(text):
        if stretched_endings:
            # "batidaaaa" -> "batida", "showwww" -> "show": a stretched last letter is emphasis, never spelling.
            text = _STRETCHED_ENDING.sub(r"\1", text)
        text = _REPEATED_LETTER.sub(r"\1\1", text)
    if (
        not text.isascii()  # emoji and other symbols may hide unusual Unicode spaces
        or "  " in text
        or "\n" in text
        or "\t" in text
        or "\r" in text
        or "\x0b" in text
        or "\x0c" in text
        or text[:1] == " "
        or text[-1:] == " "
    ):
        text = " ".join(text.split())
    return text


def _code_key(value: str) -> str:
    """Key used to match LLM-style codes: lowercase ASCII words joined by underscores."""
    value = unicodedata.normalize("NFKD", value.strip().lower())
    value = _COMBINING_MARKS.sub("", value)
    return _NON_ALNUM.sub("_", value).strip("_")


# --- rule compilation --------------------------------------------------------------------------------------------


def _skip_class(pattern: str, i: int) -> int:
    """Index just after the character class that starts at `pattern[i] == '['`."""
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _scan(pattern: str) -> Iterator[tuple[int, str, int]]:
    """Yield (index, char, depth) for the structural characters of a pattern, skipping escapes and classes."""
    depth = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i = _skip_class(pattern, i)
            continue
        if ch == "(":
            yield i, ch, depth
            depth += 1
        elif ch == ")":
            depth -= 1
            yield i, ch, depth
        elif ch == "|":
            yield i, ch, depth
        i += 1


def _split_alternatives(pattern: str) -> list[str]:
    """Split a pattern on its top-level `|`."""
    parts, start = [], 0
    for i, ch, depth in _scan(pattern):
        if ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
    parts.append(pattern[start:])
    return parts


def _closing_paren(pattern: str) -> int:
    """Index of the parenthesis closing the group that opens at index 0."""
    for i, ch, depth in _scan(pattern):
        if ch == ")" and depth == 0:
            return i
    raise TaxonomyError(f"unbalanced parentheses in rule {pattern!r}")


def _class_chars(body: str) -> list[str] | None:
    """The characters of a small plain character class body (`- ` or `0-9`), or None if not simple."""
    if not body or body[0] == "^" or "\\" in body or "[" in body:
        return None
    chars: list[str] = []
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars.extend(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        else:
            chars.append(body[i])
            i += 1
    return chars if len(chars) <= 10 else None


def _literal_run(pattern: str) -> int:
    """Length of the leading run of plain literal characters (a quantified last character is excluded)."""
    i = 0
    while i < len(pattern) and pattern[i] not in _REGEX_META:
        i += 1
    if i < len(pattern) and pattern[i] in _QUANTIFIERS and i > 0:
        i -= 1
    return i


def _expand(pattern: str, budget: int = 64) -> list[str]:
    """Rewrite a rule as alternatives that start with a literal stem of useful length.

    `(?:o|esse) grave` becomes `o grave` and `esse grave`; `sa(?:iu|i) da` becomes `saiu da` and `sai da`;
    `t-?shirt` becomes `t-shirt` and `tshirt`. Longer stems mean fewer candidate positions to check.
    """
    if pattern.startswith("\\b"):
        pattern = pattern[2:]
    alternatives = _split_alternatives(pattern)
    if len(alternatives) > 1:
        return [expanded for alternative in alternatives for expanded in _expand(alternative, budget)]
    run = _literal_run(pattern)
    if run >= _MIN_STEM or budget <= 1:
        return [pattern]
    head, tail = pattern[:run], pattern[run:]
    options: list[str] | None = None
    if tail.startswith("(?:"):
        end = _closing_paren(tail)
        options, rest = _split_alternatives(tail[3:end]), tail[end + 1 :]
    elif tail.startswith("["):
        end = _skip_class(tail, 0)
        chars = _class_chars(tail[1 : end - 1])
        options, rest = ([re.escape(c) for c in chars], tail[end:]) if chars else (None, "")
    elif tail and tail[0] not in _REGEX_META:
        options, rest = [tail[0]], tail[1:]
    if options is None:
        return [pattern]
    if rest[:1] == "?" and rest[1:2] not in ("?", "+"):
        options, rest = [*options, ""], rest[1:]
    elif rest[:1] in _QUANTIFIERS:
        return [pattern]
    share = max(1, budget // max(1, len(options)))
    return [expanded for option in options for expanded in _expand(head + option + rest, share)]


def _split_stem(pattern: str) -> tuple[str, str]:
    """Split a pattern into the literal text every match starts with and the remaining pattern."""
    stem: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            literal, width = pattern[i + 1], 2
        elif ch in _REGEX_META:
            break
        else:
            literal, width = ch, 1
        if pattern[i + width : i + width + 1] in _QUANTIFIERS and i + width < len(pattern):
            break
        stem.append(literal)
        i += width
    return "".join(stem), pattern[i:]


def _substitute_macros(pattern: str, macros: Mapping[str, str], where: str) -> str:
    """Replace `<NAME>` with the macro's pattern (wrapped in a non-capturing group)."""
    for _ in range(5):
        if not _MACRO.search(pattern):
            return pattern

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in macros:
                raise TaxonomyError(f"{where}: unknown macro <{name}>")
            return f"(?:{macros[name]})"

        pattern = _MACRO.sub(replace, pattern)
    raise TaxonomyError(f"{where}: macros nested too deeply")


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    """Compile one pattern, refusing capturing groups (they would break the combined regex)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise TaxonomyError(f"{where}: invalid regex {pattern!r}: {exc}") from exc
    if compiled.groups:
        raise TaxonomyError(f"{where}: use (?:...) instead of capturing groups in {pattern!r}")
    return compiled


def _word_regex(
    patterns: Sequence[str], macros: Mapping[str, str], where: str, *, whole_words: bool = False
) -> re.Pattern[str] | None:
    """One regex for a list of patterns, each anchored at the start of a word (and its end if `whole_words`)."""
    if not patterns:
        return None
    expanded: list[tuple[str, str]] = []
    for pattern in patterns:
        pattern = _substitute_macros(pattern, macros, where)
        _compile(pattern, where)
        if whole_words:
            pattern = f"(?:{pattern})\\b"
        expanded.extend(_split_stem(alternative) for alternative in _expand(pattern))
    if all(stem for stem, _ in expanded):
        body = _trie_regex(expanded)
    else:
        body = "|".join(f"(?:{stem and re.escape(stem)}{rest})" for stem, rest in expanded)
    return _compile(rf"\b(?:{body})", where)


@dataclass(frozen=True, slots=True)
class TaxonomyEntry:
    """One curated tag: code, scope, user-facing explanation and normalisation synonyms."""

    codigo: str
    escopo: str
    explicacao: str
    sinonimos: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Context:
    """Words that must (`required`) / must not (`forbidden`) occur in the comment for a rule to count."""

    required: re.Pattern[str] | None = None
    forbidden: re.Pattern[str] | None = None


_NO_CONTEXT = _Context()


@dataclass(frozen=True, slots=True)
class _Rule:
    code: str
    regex: re.Pattern[str]
    context: _Context


def _as_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise TaxonomyError(f"{where}: expected a string or a list of strings")


def _trie_regex(items: Iterable[tuple[str, str]]) -> str:
    """Alternation of `stem + rest` patterns factored as a trie over the stems (longer stems tried first)."""
    end = ""
    root: dict[str, Any] = {}
    for stem, rest in items:
        node = root
        for ch in stem:
            node = node.setdefault(ch, {})
        node.setdefault(end, []).append(rest)

    def render(node: dict[str, Any]) -> str:
        alternatives = [re.escape(ch) + render(child) for ch, child in sorted(node.items()) if ch != end]
        if end in node:
            rests = list(dict.fromkeys(node[end]))
            alternatives.append(rests[0] if rests == [""] else "(?:" + "|".join(f"(?:{r})" for r in rests) + ")")
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return render(root)


class TagExtractor:
    """Extracts taxonomy tags from comments and normalises LLM tag codes onto the taxonomy."""

    def __init__(self, data: Mapping[str, Any], source: str = "<dict>") -> None:
        if not isinstance(data, Mapping) or not isinstance(data.get("tags"), list) or not data["tags"]:
            raise TaxonomyError(f"{source}: expected a mapping with a non-empty 'tags' list")
        self.source = source
        self.version = str(data.get("versao", ""))
        macros = {str(k): str(v) for k, v in (data.get("macros") or {}).items()}
        scope_aliases = {
            str(scope): _as_list((info or {}).get("sinonimos"), f"{source}: escopos.{scope}")
            for scope, info in (data.get("escopos") or {}).items()
        }

        entries: list[TaxonomyEntry] = []
        rules_by_stem: dict[str, list[tuple[str, _Context, str]]] = {}
        self._exclusions: dict[str, re.Pattern[str] | None] = {}
        # Rules sharing a context (e.g. <SHOW>) share one compiled regex, hence one search per comment.
        interned: dict[str, re.Pattern[str]] = {}
        for raw in data["tags"]:
            entry, rules, exclusions = self._parse_entry(raw, macros, source, interned)
            if entry.codigo in self._exclusions:
                raise TaxonomyError(f"{source}: duplicate code {entry.codigo!r}")
            entries.append(entry)
            self._exclusions[entry.codigo] = exclusions
            for stem, context, pattern in rules:
                rules_by_stem.setdefault(stem, []).append((entry.codigo, context, pattern))

        self.entries: tuple[TaxonomyEntry, ...] = tuple(entries)
        self._tags = {entry.codigo: Tag(entry.codigo, entry.explicacao) for entry in entries}
        self._aliases = self._build_aliases(entries, scope_aliases, source)

        # The combined regex reports the longest stem found at a word start; every rule whose stem is a prefix of
        # it may match there. Those rules are merged into one regex per code and context, in taxonomy order.
        order = {entry.codigo: i for i, entry in enumerate(entries)}
        self._candidates: dict[str, tuple[_Rule, ...]] = {}
        for stem in rules_by_stem:
            merged: dict[tuple[str, _Context], list[str]] = {}
            for length in range(1, len(stem) + 1):
                for code, context, pattern in rules_by_stem.get(stem[:length], ()):
                    merged.setdefault((code, context), []).append(pattern)
            self._candidates[stem] = tuple(
                _Rule(code, _compile("|".join(f"(?:{p})" for p in patterns), f"{source}: {code}"), context)
                for (code, context), patterns in sorted(merged.items(), key=lambda item: order[item[0][0]])
            )
        # A negative lookbehind is a little cheaper than \b here; stems always start with a letter or digit.
        self._stems = re.compile(rf"(?<![a-z0-9_])(?=({_trie_regex((stem, '') for stem in rules_by_stem)}))")

    # --- loading -------------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path | None = None) -> TagExtractor:
        """The extractor for a taxonomy file (default `data/taxonomy.yaml`), built once per path."""
        resolved = Path(path).expanduser().resolve() if path is not None else DEFAULT_TAXONOMY_PATH
        return _load_cached(str(resolved))

    @classmethod
    def from_yaml(cls, path: str | Path) -> TagExtractor:
        """Build a fresh (uncached) extractor from a YAML file."""
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        return cls(data, source=str(path))

    @staticmethod
    def _parse_entry(
        raw: Any, macros: Mapping[str, str], source: str, interned: dict[str, re.Pattern[str]]
    ) -> tuple[TaxonomyEntry, list[tuple[str, _Context, str]], re.Pattern[str] | None]:
        if not isinstance(raw, Mapping):
            raise TaxonomyError(f"{source}: every tag must be a mapping")
        code = str(raw.get("codigo", "")).strip()
        where = f"{source}: {code or '<sem codigo>'}"
        if not _CODE_SHAPE.match(code):
            raise TaxonomyError(f"{where}: code must be scope_subject snake case")
        scope = str(raw.get("escopo", "")).strip()
        if not scope or not code.startswith(scope + "_"):
            raise TaxonomyError(f"{where}: 'escopo' must be the code's prefix")
        explanation = str(raw.get("explicacao", "")).strip()
        if not explanation:
            raise TaxonomyError(f"{where}: missing 'explicacao'")

        def context_of(spec: Mapping[str, Any], label: str) -> _Context:
            patterns = []
            for key in ("contexto", "contexto_negativo"):
                words = _as_list(spec.get(key), f"{label}.{key}")
                pattern = _word_regex(words, macros, f"{label}.{key}", whole_words=True)
                patterns.append(None if pattern is None else interned.setdefault(pattern.pattern, pattern))
            if patterns == [None, None]:
                raise TaxonomyError(f"{label}: contextual rules need 'contexto' or 'contexto_negativo'")
            return _Context(*patterns)

        # `regras_contexto` is either a list of patterns (using the entry's own contexto/contexto_negativo) or a
        # list of groups {contexto?, contexto_negativo?, regras}.
        groups: list[tuple[_Context, list[str]]] = [(_NO_CONTEXT, _as_list(raw.get("regras"), f"{where}.regras"))]
        contextual = raw.get("regras_contexto") or []
        if isinstance(contextual, list) and contextual and all(isinstance(item, Mapping) for item in contextual):
            for i, group in enumerate(contextual):
                label = f"{where}.regras_contexto[{i}]"
                groups.append((context_of(group, label), _as_list(group.get("regras"), f"{label}.regras")))
        elif contextual:
            patterns = _as_list(contextual, f"{where}.regras_contexto")
            groups.append((context_of(raw, f"{where}.regras_contexto"), patterns))
        elif raw.get("contexto") or raw.get("contexto_negativo"):
            raise TaxonomyError(f"{where}: 'contexto' is only used by 'regras_contexto'")

        rules: list[tuple[str, _Context, str]] = []
        for context, patterns in groups:
            for pattern in patterns:
                pattern = _substitute_macros(pattern, macros, where)
                _compile(pattern, f"{where}.regras")
                for alternative in _expand(pattern):
                    stem = _split_stem(alternative)[0]
                    if not stem[:1].isalnum():
                        raise TaxonomyError(f"{where}: rule {pattern!r} must start with a literal word stem")
                    rules.append((stem, context, alternative))
        if not rules:
            raise TaxonomyError(f"{where}: needs at least one rule")
        entry = TaxonomyEntry(
            codigo=code,
            escopo=scope,
            explicacao=explanation,
            sinonimos=tuple(_as_list(raw.get("sinonimos"), f"{where}.sinonimos")),
        )
        return entry, rules, _word_regex(_as_list(raw.get("excluir"), where), macros, f"{where}.excluir")

    @staticmethod
    def _build_aliases(
        entries: Sequence[TaxonomyEntry], scope_aliases: Mapping[str, list[str]], source: str
    ) -> dict[str, str]:
        """Map normalised codes, explicit synonyms and unambiguous derived names onto taxonomy codes."""
        aliases: dict[str, str] = {}

        def add(name: str, code: str, *, strict: bool) -> None:
            for key in {_code_key(name), _code_key(name).replace("_", "")}:
                if not key:
                    continue
                owner = aliases.get(key)
                if owner is None:
                    aliases[key] = code
                elif owner != code and strict:
                    raise TaxonomyError(f"{source}: synonym {name!r} is used by {owner} and {code}")

        for entry in entries:
            add(entry.codigo, entry.codigo, strict=True)
        for entry in entries:
            for synonym in entry.sinonimos:
                add(synonym, entry.codigo, strict=True)
        # Derived names ("autotune", "clipe_narrativa") only when they point to a single code.
        derived: dict[str, set[str]] = {}
        for entry in entries:
            subject = entry.codigo[len(entry.escopo) + 1 :]
            names = [subject] + [f"{alias}_{subject}" for alias in scope_aliases.get(entry.escopo, [])]
            for name in names:
                derived.setdefault(_code_key(name), set()).add(entry.codigo)
        for name, codes in derived.items():
            if len(codes) == 1:
                add(name, next(iter(codes)), strict=False)
        return aliases

    # --- public API ----------------------------------------------------------------------------------------------

    @property
    def codes(self) -> tuple[str, ...]:
        """Every taxonomy code, in taxonomy order."""
        return tuple(self._tags)

    def explanation(self, code: str) -> str:
        """The user-facing explanation of a code (codes and synonyms are normalised); KeyError if unknown."""
        resolved = self.resolve(code)
        if resolved is None:
            raise KeyError(code)
        return self._tags[resolved].explicacao

    def tag(self, code: str) -> Tag:
        """The `Tag` for a code or synonym; KeyError if unknown."""
        resolved = self.resolve(code)
        if resolved is None:
            raise KeyError(code)
        return self._tags[resolved]

    def resolve(self, code: str) -> str | None:
        """The taxonomy code an LLM-style code or synonym stands for, or None."""
        if not isinstance(code, str):
            return None
        if code in self._tags:
            return code
        key = _code_key(code)
        return self._aliases.get(key) or self._aliases.get(key.replace("_", ""))

    def normalize_codes(self, codes: Iterable[str], limit: int = MAX_TAGS) -> list[Tag]:
        """Map codes returned by an LLM (any case, accents, hyphens, synonyms) onto taxonomy tags; drop unknown."""
        tags: list[Tag] = []
        seen: set[str] = set()
        for code in codes:
            resolved = self.resolve(code)
            if resolved is not None and resolved not in seen:
                seen.add(resolved)
                tags.append(self._tags[resolved])
                if len(tags) >= limit:
                    break
        return tags

    def extract_codes(self, text: str, limit: int = MAX_TAGS) -> list[str]:
        """Codes found in a comment, ordered by their first match, deduplicated, at most `limit`."""
        if not text:
            return []
        normalized = _normalize(text, stretched_endings=True)
        found: list[str] = []
        context_cache: dict[re.Pattern[str], bool] = {}
        exclusion_cache: dict[str, list[tuple[int, int]]] = {}
        for stem in self._stems.finditer(normalized):
            position = stem.start()
            for rule in self._candidates[stem.group(1)]:
                if rule.code in found:
                    continue
                match = rule.regex.match(normalized, position)
                if match is None:
                    continue
                context = rule.context
                if context is not _NO_CONTEXT and not self._context_allows(context, normalized, context_cache):
                    continue
                if self._excluded(rule.code, normalized, match.start(), match.end(), exclusion_cache):
                    continue
                found.append(rule.code)
                if len(found) >= limit:
                    return found
        return found

    def extract(self, text: str) -> list[Tag]:
        """Tags for one comment, ordered by position of first match, deduplicated, at most 5."""
        return [self._tags[code] for code in self.extract_codes(text)]

    def extract_many(self, texts: Iterable[str]) -> list[list[Tag]]:
        """Tags for each comment, in input order."""
        return [self.extract(text) for text in texts]

    # --- internals -----------------------------------------------------------------------------------------------

    @staticmethod
    def _context_allows(context: _Context, text: str, cache: dict[re.Pattern[str], bool]) -> bool:
        for pattern, wanted in ((context.required, True), (context.forbidden, False)):
            if pattern is None:
                continue
            found = cache.get(pattern)
            if found is None:
                found = cache[pattern] = pattern.search(text) is not None
            if found is not wanted:
                return False
        return True

    def _excluded(self, code: str, text: str, start: int, end: int, cache: dict[str, list[tuple[int, int]]]) -> bool:
        exclusions = self._exclusions[code]
        if exclusions is None:
            return False
        spans = cache.get(code)
        if spans is None:
            spans = cache[code] = [m.span() for m in exclusions.finditer(text)]
        return any(s < end and start < e for s, e in spans)


@lru_cache(maxsize=8)
def _load_cached(path: str) -> TagExtractor:
    return TagExtractor.from_yaml(path)
