"""Prometheus metrics: request counts/latency per endpoint, plus the domain counters other modules define.

Under gunicorn set PROMETHEUS_MULTIPROC_DIR so every worker's samples are aggregated.
"""

from __future__ import annotations

import os
import time

from flask import Flask, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

REQUESTS = Counter("alumusic_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram(
    "alumusic_http_request_seconds",
    "HTTP request latency",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
COMMENTS_CLASSIFIED = Counter("alumusic_comments_classified_total", "Comments classified and stored", ["categoria"])


def init_app(app: Flask) -> None:
    @app.before_request
    def _start_timer():
        g._started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("_started", None)
        endpoint = request.endpoint or "nao_encontrado"
        if started is not None and endpoint != "ops.metrics":
            LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - started)
            REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        return response


def render_metrics() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
