"""The versioned artifact store under MODEL_DIR (SPEC §2).

Layout: `MODEL_DIR/<version>/model.joblib` + `meta.json`, and `MODEL_DIR/active.json` naming the version every
process serves (written atomically; running processes pick it up within ~10 s). Versions are
`YYYYMMDDHHMMSS-<datahash8>`; nothing is ever deleted, so every version keeps its metrics.
Artifacts saved before the classifier package was split pickled their classes under `app.classifier.local`;
that module still exposes those names, so old versions keep loading (tests/unit/test_artifact_compat.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from app.classifier.model import CommentModel

log = logging.getLogger(__name__)

ACTIVE_MARKER = "active.json"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"


def read_active_version(model_dir: Path) -> str | None:
    """The version named by `active.json`, or None when no model was activated yet."""
    try:
        data = json.loads((model_dir / ACTIVE_MARKER).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) and version else None


def marker_stamp(model_dir: Path) -> tuple[int, int]:
    try:
        st = (model_dir / ACTIVE_MARKER).stat()
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_ino)  # rename() gives a new inode even within one mtime tick


# Filled by `preload_active_model` in a pre-fork server's master (gunicorn, app.preload_for_fork): each forked worker
# takes that version from here the first time it loads it, instead of unpickling its own copy; the arrays stay
# pages shared with the master until written. Never filled elsewhere, so other processes load as before.
_preloaded: dict[tuple[str, str], CommentModel] = {}


def preload_active_model(model_dir: Path) -> str | None:
    """Load the active version into this process for the processes it will fork; None when none is active."""
    version = read_active_version(model_dir)
    if version is not None:
        _preloaded[(str(model_dir), version)] = load_model(model_dir, version)
    return version


def load_model(model_dir: Path, version: str) -> CommentModel:
    """Load one version's artifact (the copy preloaded before the fork, the first time this process asks for it)."""
    preloaded = _preloaded.pop((str(model_dir), version), None)
    if preloaded is not None:
        return preloaded
    model = joblib.load(model_dir / version / MODEL_FILE)
    if not isinstance(model, CommentModel):
        raise TypeError(f"{model_dir / version} does not hold a CommentModel")
    model.predict_proba(["ok"])  # fail here, not on the first request, if the artifact does not fit this code
    return model


def model_dir(config: dict[str, Any]) -> Path:
    return Path(config["MODEL_DIR"])


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Inter-process exclusive lock on `path` (flock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def store_lock(config: dict[str, Any]) -> contextlib.AbstractContextManager[None]:
    """Several processes saving versions at once must not pick the same name."""
    return file_lock(model_dir(config) / ".lock")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def new_version_name(folder: Path, created: datetime, digest: str) -> str:
    base = f"{created:%Y%m%d%H%M%S}-{digest[:8]}"
    name, n = base, 1
    while (folder / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def save_version(config: dict[str, Any], meta: dict[str, Any], model: CommentModel) -> None:
    """Write the artifact into a temp dir, then rename it into place: readers never see half a version."""
    folder = model_dir(config)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{meta['version']}."))
    try:
        joblib.dump(model, tmp / MODEL_FILE, compress=3)
        (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, folder / meta["version"])
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_meta(config: dict[str, Any], version: str) -> dict[str, Any]:
    return json.loads((model_dir(config) / version / META_FILE).read_text(encoding="utf-8"))


def update_meta(config: dict[str, Any], version: str, **fields: Any) -> dict[str, Any]:
    meta = read_meta(config, version)
    meta.update(fields)
    write_json_atomic(model_dir(config) / version / META_FILE, meta)
    return meta


def list_versions(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stored version's meta (oldest first), with an `active` flag."""
    folder = model_dir(config)
    if not folder.is_dir():
        return []
    active = read_active_version(folder)
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not (path / META_FILE).is_file():
            continue
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        meta["active"] = path.name == active
        out.append(meta)
    return out


def activate(config: dict[str, Any], version: str) -> dict[str, Any]:
    """Make `version` the active model (checked loadable first); running processes switch within ~10 s."""
    folder = model_dir(config)
    if not (folder / version / MODEL_FILE).is_file():
        raise FileNotFoundError(f"unknown model version {version!r} in {folder}")
    load_model(folder, version)  # never point every process at an artifact that does not load
    marker = {"version": version, "activated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    write_json_atomic(folder / ACTIVE_MARKER, marker)
    log.info("model version %s is now active", version)
    return marker


def save_new_version(config: dict[str, Any], meta: dict[str, Any], model: CommentModel, digest: str) -> str:
    """Name a new version (created time + data hash), store its artifact and meta; returns the version."""
    created = datetime.fromisoformat(meta["created_at"])
    with store_lock(config):
        meta["version"] = new_version_name(model_dir(config), created, digest)
        save_version(config, meta, model)
    return meta["version"]
