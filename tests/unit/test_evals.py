"""The eval command: every metric in the report, the thresholds file enforced, external sets optional."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from app.classifier import evals
from app.classifier.base import CATEGORIES, Classification, Tag
from app.classifier.commands import evals_cli

ROWS = [
    ("amei esse show", "ELOGIO", "show_setlist"),
    ("que lixo de som", "CRÍTICA", "show_som"),
    ("deviam tocar mais cedo", "SUGESTÃO", ""),
    ("quando sai o disco?", "DÚVIDA", "lancamento_data"),
    ("sigam meu perfil", "SPAM", "-"),
    ("quem vai no sábado?", "DÚVIDA", "-"),
]


class KeywordClassifier:
    """A fake provider with known answers: first word decides, one deliberate confident mistake."""

    name = "fake"
    modelo = "fake:1"

    def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        out = []
        for text in texts:
            if text.startswith("amei"):
                out.append(Classification("ELOGIO", 0.9, [Tag("show_setlist", "x")], self.modelo))
            elif text.startswith("que lixo"):
                tags = [Tag("show_som", "x"), Tag("audio_volume", "x")]
                out.append(Classification("CRÍTICA", 0.8, tags, self.modelo))
            elif text.startswith("deviam"):
                out.append(Classification("SUGESTÃO", 0.7, [], self.modelo))
            elif text.startswith("quando"):
                out.append(Classification("DÚVIDA", 0.95, [], self.modelo))
            elif text.startswith("sigam"):
                out.append(Classification("SPAM", 0.99, [], self.modelo))
            else:
                out.append(Classification("ELOGIO", 0.97, [], self.modelo))  # the confident mistake
        return out


def _write_csv(path: Path, rows: Sequence[tuple[str, ...]], header: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] + [",".join(f'"{c}"' for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _thresholds(path: Path, project: dict[str, Any], external: dict[str, Any] | None = None) -> Path:
    path.write_text(
        yaml.safe_dump({"version": 1, "sets": {"project": project, "external": external or {}}}), encoding="utf-8"
    )
    return path


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("EXTERNAL_EVAL_DIR", raising=False)
    return {
        "EVAL_DATA_PATH": str(_write_csv(tmp_path / "eval.csv", ROWS, "texto,categoria,tags")),
        "EVAL_THRESHOLDS_PATH": str(_thresholds(tmp_path / "thr.yaml", {"macro_f1": 0.5})),
        "EXTERNAL_EVAL_DIR": str(tmp_path / "no-such-folder"),
        "REPORT_DIR": str(tmp_path / "reports"),
        "REVIEW_THRESHOLD": 0.75,
    }


def test_report_has_every_metric(setup: dict[str, Any]) -> None:
    report, failures = evals.run_evals(setup, classifier=KeywordClassifier(), echo=lambda _m: None)
    assert failures == []
    s = report["sets"]["project"]
    assert s["n"] == 6
    assert s["accuracy"] == pytest.approx(5 / 6, abs=1e-4)
    assert 0 < s["macro_f1"] < 1
    assert set(s["per_class"]) == set(CATEGORIES)
    assert s["per_class"]["DÚVIDA"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(0.6667, abs=1e-4),
        "support": 2,
    }
    assert s["per_class"]["ELOGIO"]["precision"] == 0.5
    cm = s["confusion_matrix"]
    assert cm["labels"] == list(CATEGORIES)
    assert cm["rows"][CATEGORIES.index("DÚVIDA")][CATEGORIES.index("ELOGIO")] == 1
    # Tags: 5 annotated rows (one empty = not annotated); "-" means none expected, so audio_volume is a false positive.
    assert s["tags"] == {
        "annotated_rows": 5,
        "precision": pytest.approx(2 / 3, abs=1e-4),
        "recall": pytest.approx(2 / 3, abs=1e-4),
        "tp": 2,
        "fp": 1,
        "fn": 1,
    }
    cal = s["calibration"]
    assert cal["share_above_threshold"] == pytest.approx(5 / 6, abs=1e-4)  # all but the 0.7 answer
    assert cal["accuracy_above_threshold"] == pytest.approx(4 / 5, abs=1e-4)  # the 0.97 mistake is above
    assert s["throughput"]["comments_per_second"] > 0 and s["throughput"]["p50_batch_latency_ms"] >= 0
    worst = s["worst_misclassifications"]
    assert worst == [{"texto": "quem vai no sábado?", "esperado": "DÚVIDA", "previsto": "ELOGIO", "confianca": 0.97}]

    written = json.loads((Path(setup["REPORT_DIR"]) / "evals.json").read_text(encoding="utf-8"))
    assert written["sets"]["project"]["macro_f1"] == s["macro_f1"]
    md = (Path(setup["REPORT_DIR"]) / "evals.md").read_text(encoding="utf-8")
    for needle in ("macro-F1", "Confusion matrix", "quem vai no sábado?", "PASS", "comments/s"):
        assert needle in md


def test_calibration_counts_answers_at_or_above_the_review_threshold() -> None:
    m = evals.classification_metrics(
        ["ELOGIO", "SPAM", "SPAM", "CRÍTICA"],
        ["ELOGIO", "SPAM", "ELOGIO", "CRÍTICA"],
        [0.9, 0.6, 0.95, 0.3],
        review_threshold=0.6,
    )
    assert m["calibration"]["share_above_threshold"] == 0.75
    assert m["calibration"]["accuracy_above_threshold"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["calibration"]["accuracy_below_threshold"] == 1.0


def test_missed_threshold_fails_and_says_which(setup: dict[str, Any], tmp_path: Path) -> None:
    _thresholds(
        Path(setup["EVAL_THRESHOLDS_PATH"]),
        {
            "macro_f1": 0.99,
            "per_class_f1_min": 0.5,
            "classes": {"SPAM": {"recall": 1.0}, "DUVIDA": {"recall": 0.9}},
            "tags": {"precision": 0.9},
        },
    )
    report, failures = evals.run_evals(setup, classifier=KeywordClassifier(), echo=lambda _m: None)
    joined = "\n".join(failures)
    assert "project: macro_f1" in joined
    assert "DÚVIDA recall = 0.5 < 0.9" in joined
    assert "tag precision" in joined
    assert "SPAM recall" not in joined  # met
    assert report["thresholds"]["passed"] is False


def test_confident_answers_that_are_too_often_wrong_fail_the_gate() -> None:
    report = evals.classification_metrics(
        ["ELOGIO", "SPAM", "SPAM", "CRÍTICA"], ["ELOGIO", "SPAM", "ELOGIO", "CRÍTICA"], [0.9, 0.85, 0.95, 0.3], 0.6
    )
    assert report["calibration"]["accuracy_high_confidence"] == pytest.approx(2 / 3, abs=1e-4)
    failures = evals.check_thresholds(report, {"accuracy_high_confidence": 0.95}, "external:x")
    assert failures == ["external:x: accuracy at confidence >= 0.8 = 0.6667 < 0.95"]
    assert evals.check_thresholds(report, {"accuracy_high_confidence": 0.6}, "external:x") == []


def _cli_app(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Flask:
    import app.classifier as classifier_pkg

    monkeypatch.setattr(classifier_pkg, "build_classifier", lambda provider, config: KeywordClassifier())
    app = Flask(__name__)
    app.config.update(setup)
    app.cli.add_command(evals_cli)
    return app


def test_cli_exits_non_zero_below_a_threshold(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _thresholds(Path(setup["EVAL_THRESHOLDS_PATH"]), {"macro_f1": 0.99})
    runner = _cli_app(setup, monkeypatch).test_cli_runner()
    result = runner.invoke(args=["evals", "run"])
    assert result.exit_code != 0
    assert "FAIL project: macro_f1" in result.output
    assert runner.invoke(args=["evals", "run", "--no-fail"]).exit_code == 0


def test_cli_passes_when_thresholds_are_met(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    result = _cli_app(setup, monkeypatch).test_cli_runner().invoke(args=["evals", "run"])
    assert result.exit_code == 0, result.output
    assert "thresholds: PASS" in result.output


def test_module_entry_point_enforces_thresholds(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import app.classifier as classifier_pkg

    monkeypatch.setattr(classifier_pkg, "build_classifier", lambda provider, config: KeywordClassifier())
    for key, value in setup.items():
        monkeypatch.setenv(key, str(value))
    assert evals.main([]) == 0
    _thresholds(Path(setup["EVAL_THRESHOLDS_PATH"]), {"macro_f1": 0.99})
    assert evals.main([]) == 1
    assert evals.main(["--no-fail"]) == 0


def test_absent_external_folder_is_skipped_cleanly(setup: dict[str, Any]) -> None:
    messages: list[str] = []
    report, failures = evals.run_evals(setup, classifier=KeywordClassifier(), echo=messages.append)
    assert failures == []
    assert list(report["sets"]) == ["project"]
    assert any("external eval sets skipped" in m for m in messages)
    assert any("external eval sets skipped" in s for s in report["skipped"])


def test_each_external_csv_is_its_own_set(setup: dict[str, Any], tmp_path: Path) -> None:
    ext = tmp_path / "external"
    _write_csv(ext / "a.csv", [("amei", "ELOGIO"), ("quando?", "DÚVIDA")], "texto,categoria")
    _write_csv(ext / "b.csv", [("sigam", "SPAM"), ("que lixo", "CRÍTICA"), ("hmm", "DÚVIDA")], "texto,categoria")
    setup = {**setup, "EXTERNAL_EVAL_DIR": str(ext)}
    _thresholds(Path(setup["EVAL_THRESHOLDS_PATH"]), {"macro_f1": 0.5}, {"macro_f1": 0.9})
    report, failures = evals.run_evals(setup, classifier=KeywordClassifier(), echo=lambda _m: None)
    assert set(report["sets"]) == {"project", "external:a", "external:b"}
    assert report["sets"]["external:a"]["macro_f1"] == 1.0
    assert report["sets"]["external:b"]["tags"]["annotated_rows"] == 0
    assert failures == [f"external:b: macro_f1 = {report['sets']['external:b']['macro_f1']} < 0.9"]


def test_repository_thresholds_file_has_the_agreed_bars() -> None:
    limits = evals.load_thresholds(evals.THRESHOLDS_FILE)
    project, external = limits["project"], limits["external"]
    assert project["macro_f1"] >= 0.93
    assert project["per_class_f1_min"] >= 0.88
    assert project["classes"]["SPAM"]["recall"] >= 0.97 and project["classes"]["SPAM"]["precision"] >= 0.95
    assert project["tags"]["precision"] >= 0.80 and project["tags"]["recall"] >= 0.70
    assert external["macro_f1"] >= 0.90 and external["per_class_f1_min"] >= 0.85  # issue 10's bar
    assert external["accuracy_high_confidence"] >= 0.95
