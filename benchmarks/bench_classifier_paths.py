"""CPU per comment of the classifier's fast path (the HTTP ingest's), for one text, batches of 100 and of 1,000.

    .venv/bin/python benchmarks/bench_classifier_paths.py [--model-dir DIR] [--root TREE] [--rounds 3]
                                                          [--singles 1000] [--repeats-100 60] [--repeats-1000 6]
                                                          [--cold-memos]

Measures `LocalClassifier.classify_many(texts, second_opinion=False)` only (no e5, no database, no HTTP) in CPU
time (process_time), pinned to one core with one-thread BLAS pools, on the project's own comments (training files
+ eval file) shuffled with a fixed seed; the normalisation cache is cleared before every call so repeated texts
do not flatter the numbers. The per-token memos (normalisation, rule features) stay warm, as in a worker that has
seen a few hundred comments; `--cold-memos` empties them too. Each round runs the three sizes once; the report
takes the best round per size, which is the least disturbed by other processes on a shared machine.

`--root TREE` imports `app` from another checkout (for instance main's) with the same script and the same texts:
run it alternately on two trees to compare before/after on a noisy machine. Prints one line per size; writes
nothing.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL_DIR = "/tmp/benchmodels"


def cpu_us_per_comment(
    classify: Callable[[list[str]], Any], batches: list[list[str]], clear: Callable[[], None]
) -> float:
    """CPU microseconds per comment over `batches`, the normalisation cache cleared before each call."""
    cpu = 0.0
    items = 0
    for batch in batches:
        clear()
        c0 = time.process_time()
        classify(batch)
        cpu += time.process_time() - c0
        items += len(batch)
    return cpu / items * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="MODEL_DIR with an active model")
    parser.add_argument("--root", type=Path, default=HERE.parent, help="checkout whose `app` is measured")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--singles", type=int, default=1000, help="single-text calls per round")
    parser.add_argument("--repeats-100", type=int, default=60, help="batches of 100 per round")
    parser.add_argument("--repeats-1000", type=int, default=6, help="batches of 1,000 per round")
    parser.add_argument(
        "--cold-memos", action="store_true", help="also empty the per-token memos before each call (worst case)"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from bench_classifier import SEED, Windows, _pin_one_core, _read  # the same corpus and core pinning

    sys.path.insert(0, str(args.root.resolve()))
    import app
    from app.classifier import normalize as normalize_module
    from app.classifier.features import rules as rules_module
    from app.classifier.local import LocalClassifier
    from app.classifier.normalize import normalize

    cpu = _pin_one_core()
    clf = LocalClassifier.from_config({"MODEL_DIR": args.model_dir, "REVIEW_THRESHOLD": 0.6})
    data = HERE.parent / "data"  # the same texts whichever tree is measured
    texts = _read(sorted((data / "train").glob("*.csv"))) + _read([data / "eval" / "eval.csv"])
    random.Random(SEED).shuffle(texts)

    def classify(batch: list[str]) -> Any:
        return clf.classify_many(batch, second_opinion=False)

    memos = [getattr(m, "_token_memo", {}) for m in (normalize_module, rules_module)] if args.cold_memos else []

    def clear() -> None:
        normalize.cache_clear()  # type: ignore[attr-defined]
        for memo in memos:
            memo.clear()

    classify(texts[-50:])  # warm-up: first-call allocations and tables
    for text in texts[-50:]:
        classify([text])

    sizes = {1: args.singles, 100: args.repeats_100, 1000: args.repeats_1000}
    windows = {
        size: Windows(texts, start)
        for size, start in zip(sizes, (0, len(texts) // 3, 2 * len(texts) // 3), strict=True)
    }
    best: dict[int, float] = {}
    for _ in range(args.rounds):
        for size, repeats in sizes.items():
            batches = [windows[size].take(size) for _ in range(repeats)]
            us = cpu_us_per_comment(classify, batches, clear)
            best[size] = min(best.get(size, us), us)
    cold = ", per-token memos emptied before each call" if args.cold_memos else ""
    print(f"app from {Path(app.__file__).parent.parent} (cpu {cpu}, model {clf.version}, {len(texts)} texts{cold})")
    for size, us in best.items():
        print(f"batch {size:>5}: {us:8.1f} us CPU per comment  ({1e6 / us:8,.0f} comments per CPU-second)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
