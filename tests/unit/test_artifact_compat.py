"""A model version saved before the classifier package was split still loads and answers the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from app.classifier import store
from app.classifier.model import CommentModel

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_artifact_saved_by_the_single_module_layout_loads_and_predicts_the_same(tmp_path: Path) -> None:
    # model_v1_layout.joblib was pickled by the old app/classifier/local.py (every class lived there).
    version = tmp_path / "20260101000000-00000000"
    version.mkdir()
    shutil.copy(FIXTURES / "model_v1_layout.joblib", version / store.MODEL_FILE)
    expected = json.loads((FIXTURES / "model_v1_layout.expected.json").read_text(encoding="utf-8"))

    model = store.load_model(tmp_path, version.name)

    assert isinstance(model, CommentModel)
    probs = model.predict_proba(expected["texts"])
    np.testing.assert_allclose(probs, np.asarray(expected["probs"]), atol=1e-5)
