"""The classifier's fast path must keep giving the answers it gave before it was optimised.

Two guards, neither of which needs a trained model:
- a golden file (tests/fixtures/classifier_fast_path_golden.json) of what `normalize` and `rule_features` returned
  for ~350 comments and hand-written edge cases, written by the code before its per-token memos, phrase index and
  regex guards. The rule features are the model's input and drive the override rules, so any drift there changes
  answers. When a lexicon, a normalisation rule or a rule feature changes ON PURPOSE, check the new answers, then
  regenerate the file with `.venv/bin/python tests/unit/test_classifier_fast_path.py` and commit it with the change;
- the feature matrix built directly in CSR form, compared entry for entry (float32 bits included) with the plain
  construction it replaced (one scipy matrix per block, joined with sp.hstack), on a featurizer fitted here.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

ROOT = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # regenerating: import this checkout's `app`
    sys.path.insert(0, str(ROOT))

from app.classifier import normalize as normalize_module  # noqa: E402
from app.classifier.features import rules as rules_module  # noqa: E402
from app.classifier.features.featurizer import CommentFeaturizer  # noqa: E402
from app.classifier.features.rules import RULE_FEATURE_NAMES, rule_features  # noqa: E402
from app.classifier.features.tfidf import HashedTfidf, ngram_hashes  # noqa: E402
from app.classifier.features.wordvec import WordVectors  # noqa: E402
from app.classifier.normalize import _normalize  # noqa: E402

GOLDEN = ROOT / "tests" / "fixtures" / "classifier_fast_path_golden.json"

# Shapes the rules single out: emoji-only comments, laughter, "d+", punctuation runs, abbreviations, links, money,
# handles, imperatives after a comma, invitations, "first!" comments, stretched words, phrases with a prefix word.
EDGE_CASES = [
    "",
    " ",
    "🔥🔥🔥",
    "😡😡 🙄",
    "primeiro!",
    "primeiro a ouvir kkkkk",
    "Quem é o primeiro? 🔥",
    "quem é o primeiro a chegar",
    "KKKKKKKK que isso",
    "hahahaha top d+",
    "muito bom!!!! sério??",
    "vc tb acha q vai ter show?",
    "sigam meu canal, link na bio @fulano.oficial www.exemplo.com.br",
    "ganhe R$ 500 por dia trabalhando de casa, chama no zap",
    "bora para o show dia 12/03 às 21h",
    "vem pro show, traz todo mundo",
    "perfeitooooo demaaaais",
    "wwwww kkkkk",
    "se inscrevam no canal",
    "asdfghjkl xcvbnm",
    "o que aconteceu com o app?",
    "mas seria bom ter letra sincronizada",
    "Ouvi Aurora e Maré Baixa no carro",
    "\x00a\tb\nc",
    "¿Cuándo sale el disco? ¡Ojalá pronto!",
    "árvore ÁRVORE ñ 𝓯𝓪𝓷𝓬𝔂 漢字 テスト",
    "1.000.000 de views em 2024, 3min de música",
    # Word boundaries of the hashtag, time, year and number patterns (a letter or digit right before them).
    "#tag1 a#b ##dupla #_x #1 c#",
    "12:30 x12:30 7h 07h15 a7h 3 min 4minutos b4min 10 seg 5hrs",
    "1999 a1999 2049 2050 1949 19999 x2020",
    "3º 4ª 5o 6a a5 12,5 1.5.6 v2.0 100%",
]


def _texts() -> list[str]:
    """Every 20th training comment (no eval file), then the edge cases."""
    texts: list[str] = []
    for path in sorted((ROOT / "data" / "train").glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            texts += [row["texto"] for row in csv.DictReader(fh)]
    return texts[::20] + EDGE_CASES


def _observed(texts: list[str]) -> list[dict]:
    out = []
    for text in texts:
        norm = _normalize(text)
        features = rule_features(text, norm)
        # Only the non-zero features, by name: readable in a diff, and a renamed feature shows up as such.
        out.append(
            {
                "text": text,
                "norm": norm,
                "rules": {n: v.hex() for n, v in zip(RULE_FEATURE_NAMES, features, strict=True) if v},
            }
        )
    return out


def _dump(rows: list[dict]) -> str:
    """One comment per line: a changed answer shows up as a one-line diff."""
    return "[\n" + ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n]\n"


def _clear_memos() -> None:
    rules_module._token_memo.clear()
    normalize_module._token_memo.clear()


def test_normalisation_and_rule_features_match_the_golden_file() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    texts = [row["text"] for row in golden]
    assert len(texts) >= 300
    _clear_memos()
    cold = _observed(texts)
    warm = _observed(texts)  # the second pass reads the per-token memos the first one filled
    for expected, got_cold, got_warm in zip(golden, cold, warm, strict=True):
        assert got_cold == expected
        assert got_warm == expected


def test_the_token_memos_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules_module, "_TOKEN_MEMO_MAX", 50)
    monkeypatch.setattr(normalize_module, "_TOKEN_MEMO_MAX", 50)
    texts = _texts()[:200]
    _clear_memos()
    golden = {row["text"]: row for row in json.loads(GOLDEN.read_text(encoding="utf-8"))}
    assert _observed(texts) == [golden[t] for t in texts]
    assert len(rules_module._token_memo) <= 50
    assert len(normalize_module._token_memo) <= 50


def _reference_tfidf(vectorizer: HashedTfidf, docs: list[str]) -> sp.csr_matrix:
    """HashedTfidf.transform as it was: a scipy matrix from (row, col) pairs, duplicates summed, then l2 rows."""
    docs = vectorizer._prepare(docs)
    doc_idx, hashes = ngram_hashes(docs, vectorizer.kind, tuple(vectorizer.ngram_range))
    vocab = vectorizer.vocabulary_
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
    m.data *= vectorizer.idf_[m.indices]
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    norms = np.sqrt(np.bincount(rows, weights=m.data.astype(np.float64) ** 2, minlength=m.shape[0]))
    norms[counts == 0] = 1.0
    m.data /= np.repeat(norms, counts).astype(np.float32)
    return m


def _reference_matrix(featurizer: CommentFeaturizer, texts: list[str]) -> sp.csr_matrix:
    """The feature matrix as it was built: one matrix per block, joined by sp.hstack."""
    norms = featurizer._normalized(texts, None)
    rules = np.asarray([rule_features(r, n) for r, n in zip(texts, norms, strict=True)], dtype=np.float32)
    blocks = [
        _reference_tfidf(v, norms) if isinstance(v, HashedTfidf) else v.transform(norms)
        for v in featurizer.vectorizers_
    ]
    if featurizer.word_vectors_ is not None:
        blocks.append(sp.csr_matrix(featurizer.word_vectors_.transform(norms) * featurizer.word_vectors_weight))
    if featurizer.use_rules:
        blocks.append(sp.csr_matrix(featurizer._as_fitted(rules) * featurizer.rule_weight))
    return sp.hstack(blocks, format="csr", dtype=np.float32)


@pytest.mark.parametrize(
    "params",
    [
        {"mask_names": "unknown", "rule_weight": 0.2},
        {"use_word": False, "rule_exclude": ("laugh", "url")},  # rule columns reordered by _as_fitted
        {"use_char": False, "use_rules": False},
        {"word_vectors_weight": 0.5},
        {"other_vectoriser": True},  # an artifact holding some other vectoriser (scikit-learn's here)
    ],
)
def test_the_feature_matrix_is_the_one_hstack_built(params: dict) -> None:
    params = dict(params)
    texts = _texts()
    weight = params.pop("word_vectors_weight", 0.0)
    other = params.pop("other_vectoriser", False)
    featurizer = CommentFeaturizer(**params).fit(texts[::2])  # half the texts unseen: unknown n-grams too
    if other:
        featurizer.vectorizers_.insert(1, TfidfVectorizer().fit(featurizer._normalized(texts[::2], None)))
    if weight:
        # A small stand-in for the e5 word table (the real one is built from data this test does not need).
        featurizer.word_vectors_weight = weight
        words = sorted({w for n in featurizer._normalized(texts[::3], None) for w in n.split()})
        rng = np.random.default_rng(0)
        featurizer.word_vectors_ = WordVectors(words, rng.normal(size=(len(words), 8)), rng.random(len(words)))
    for batch in (texts, texts[:1], EDGE_CASES, [""]):
        got, _ = featurizer.transform_with_rules(batch)
        want = _reference_matrix(featurizer, batch)
        assert got.shape == want.shape
        assert got.dtype == want.dtype == np.float32
        assert np.array_equal(got.indptr, want.indptr)
        assert np.array_equal(got.indices, want.indices)
        assert np.array_equal(got.data.view(np.uint32), want.data.view(np.uint32))  # bit for bit


def _write_golden() -> None:
    _clear_memos()
    GOLDEN.write_text(_dump(_observed(_texts())), encoding="utf-8")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    _write_golden()
