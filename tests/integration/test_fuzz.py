"""Property-based fuzzing driven by our own /api/openapi.json (schemathesis, every check), on PostgreSQL.

Every operation the document lists is fuzzed, so endpoints added later are covered without touching this file.
The bounded run inside `make test` uses a fixed seed and FUZZ_MAX_EXAMPLES cases per operation and generation
mode (default 25: 1,153 cases over the 26 operations, ~50 s on the shared 2-core machine); `make fuzz` raises it
to 300 (13,803 cases in the last full run; operations with little to vary, such as /health, stop early).
Zero failures is the bar: no 500, no status, content type, header or body the document does not declare, no
valid input refused and no invalid input accepted.
"""

from __future__ import annotations

import os
import shutil
import traceback
from collections import Counter
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from tests.integration.conftest import add_users, bearer, empty_database, issue_tokens
from tests.support import services

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
# Fuzz only the operations whose label contains one of these texts (e.g. "POST /api/auth,/api/resumos"), to chase
# a failure.
ONLY = [part for part in os.environ.get("FUZZ_ONLY", "").split(",") if part]
# The suite's 300 s per-test timeout would fire in the middle of an example of a long run: hypothesis then replays
# that example, it passes, and the run reports a "flaky" failure ("failed on first call but not later", or
# "inconsistent data generation") that is only the timeout. The run gets a budget that grows with its size.
pytestmark = pytest.mark.timeout(max(600, MAX_EXAMPLES * 10))


@pytest.fixture(scope="module")
def fuzz_app(pg_app, pg_database, model_dir, tmp_path_factory):
    """The app on the test PostgreSQL database with production-like settings: a real broker (Redis) so
    background work is queued rather than run, and the limits the service ships with, bar login throttling."""
    from app import create_app
    from tests.conftest import base_config

    # A Redis database of its own (12): the retraining jobs it queues reach no worker of another run on this
    # machine, and the purge below empties only its own queues.
    redis_url = urlsplit(services.redis_url())._replace(path="/12").geturl()
    services.check_redis(redis_url)
    # A copy of the model folder: the fuzzer's retraining jobs write their state files there.
    models = tmp_path_factory.mktemp("fuzz-models") / "models"
    shutil.copytree(model_dir, models)
    app = create_app(
        base_config(
            tmp_path_factory.mktemp("fuzz"),
            str(models),
            DATABASE_URL=pg_database,
            CELERY_BROKER_URL=redis_url,
            REDIS_URL=redis_url,
            CACHE_TYPE="SimpleCache",
        )
    )
    empty_database(app)
    add_users(app)
    yield app
    # Nothing the fuzzer queued (retraining jobs) may reach a worker of another test run.
    app.extensions["celery"].control.purge()
    empty_database(app)
    # Give the session app back its own settings for the process-wide singletons (Celery's default app).
    create_app(base_config(tmp_path_factory.mktemp("pg-again"), model_dir, DATABASE_URL=pg_database))


# Rules a JSON Schema cannot state, documented on the operation instead: the password policy (not the user name,
# not a common password, ...) refuses some schema-valid passwords with a 422; an uploaded file's bytes (UTF-8, a CSV
# header with `texto`, a format named by extension/Content-Type/`formato`) decide a 400/415/422 for the import.
# Those are the only places valid-looking data may be refused; everything else must be accepted.
CONFIG = """
[checks.negative_data_rejection]
# 413 is how an over-long batch (more than SYNC_BATCH_LIMIT items) is refused: a rejection like any other 4xx.
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

[[operations]]
include-path = "/api/auth/register"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[[operations]]
# One name, not path + method: separate include-* keys select either (an OR), which would widen this to every POST.
include-name = "POST /api/importacoes"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "415", "422", "429"]
"""


def _all_checks() -> list:
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    return [c for c in CHECKS.get_all() if callable(c)]


def _timed_out(exc: BaseException) -> bool:
    """pytest-timeout's failure anywhere in the chain or group hypothesis wrapped it in."""
    seen, todo = set(), [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, pytest.fail.Exception) and "Timeout" in str(current):
            return True
        todo += [current.__cause__, current.__context__, *getattr(current, "exceptions", ())]
    return False


def _fuzz(operation, mode: GenerationMode, checks: list, seen: Counter) -> None:
    """Run MAX_EXAMPLES cases of one operation in one generation mode; raises on the first failing case."""

    @settings(
        max_examples=MAX_EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(SEED)
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        response = case.call_and_validate(checks=checks)
        seen[(operation.label, response.status_code // 100 * 100 if response.status_code != 401 else 401)] += 1

    fuzz()


def test_api_holds_under_fuzzing(fuzz_app):
    """Positive and negative cases for every operation of the document; every failure is collected, then shown."""
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app, config=SchemathesisConfig.from_str(CONFIG))
    checks = _all_checks()

    @schema.auth(refresh_interval=None)
    class FreshAdminToken:
        """A fresh token per case (the fuzzer may call logout, which revokes the token it sent); schemathesis
        knows it is the auth, so its own "missing/ignored auth" cases drop it and expect a 401."""

        def get(self, case, ctx):
            tokens = issue_tokens(fuzz_app, "user_admin")
            return tokens["refresh_token"] if case.path == "/api/auth/refresh" else tokens["access_token"]

        def set(self, case, data, ctx):
            case.headers = {**(case.headers or {}), **bearer(data)}

    @schema.hook
    def filter_query(ctx, query):
        """A query string has no wire form for an object: schemathesis sends the object's Python repr, which can be
        a perfectly valid name (`?album={'x': [1]}`), then reports the 200 as "schema-violating request accepted".
        Those draws are dropped; repeated parameters (lists of values) are kept: they must be refused."""
        values = (query or {}).values()
        return not any(isinstance(v, dict) or (isinstance(v, list) and len(v) == 1 and isinstance(v[0], dict | list))
                       for v in values)  # fmt: skip

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    operations = [op for op in operations if not ONLY or any(part in op.label for part in ONLY)]
    failures: list[str] = []
    seen: Counter = Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, checks, seen)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # no input to get wrong (e.g. /health)
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, not only the first
                if _timed_out(exc):
                    raise  # the test's time budget, not a finding: stop and say so
                # The whole chain (a flaky failure nests the original one): the last frames say which check failed.
                detail = "".join(traceback.format_exception(exc))[-6000:]
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:2000]}\n{detail}")
    print(f"fuzzed {sum(seen.values())} cases over {len(operations)} operations: {dict(sorted(seen.items()))}")
    assert not failures, "\n\n".join(failures)
    # The token really was applied: every operation got past authentication, and most answered a 2xx.
    for operation in operations:
        statuses = {status: n for (label, status), n in seen.items() if label == operation.label}
        assert sum(n for status, n in statuses.items() if status != 401) > 0, (operation.label, statuses)
    if not ONLY:
        assert sum(n for (_, status), n in seen.items() if status == 200) > len(operations) * MAX_EXAMPLES // 4, seen
