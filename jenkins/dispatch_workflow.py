#!/usr/bin/env python3
"""Dispatch a GitHub Actions workflow, follow the run it created, and fail when it fails.

Used by the Jenkinsfile; stdlib only so it runs on any Jenkins agent with python3.

    GITHUB_TOKEN=... python3 jenkins/dispatch_workflow.py --repo owner/name --workflow ci.yml --ref main

1. POST /repos/{repo}/actions/workflows/{workflow}/dispatches with a unique `dispatch_id` input. The workflow
   puts it in its run-name, which is how the run this script created is told apart from runs that other people
   or other Jenkins builds dispatched at the same time.
2. Lists the workflow's workflow_dispatch runs on that branch created since the dispatch, until that run shows up.
3. Polls the run until it completes (or --timeout passes), printing each job and step as it finishes.
4. Prints every job and step with its conclusion; exits 0 only when the run's conclusion is success.

Exit codes: 0 success, 1 the run did not succeed, 2 usage/configuration/API error, 3 timeout.
Settings come from arguments or the environment: GITHUB_TOKEN (required, never printed), GITHUB_API_URL
(default https://api.github.com; GitHub Enterprise: https://HOST/api/v3), REPO or ALUMUSIC_GITHUB_REPO,
WORKFLOW, REF, TIMEOUT_SECONDS, POLL_INTERVAL_SECONDS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

EXIT_SUCCESS, EXIT_RUN_FAILED, EXIT_ERROR, EXIT_TIMEOUT = 0, 1, 2, 3
API_VERSION = "2022-11-28"
USER_AGENT = "alumusic-jenkins-dispatch/1.0"


class DispatchError(Exception):
    """Something the operator has to fix (token, repository, workflow name, API refusal)."""


class Timeout(Exception):
    """The run did not complete in time."""


@dataclass
class Settings:
    api_url: str
    token: str
    repo: str
    workflow: str
    ref: str
    timeout: float
    poll_interval: float
    find_timeout: float
    inputs: dict[str, str]
    dispatch_id_input: str
    cancel_on_timeout: bool
    request_timeout: float = 30.0


class GitHub:
    """A minimal GitHub REST client: JSON in and out, retries on transient failures, clear errors."""

    def __init__(self, settings: Settings, out=sys.stdout) -> None:
        self.s = settings
        self.out = out

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        url = self.s.api_url.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v not in (None, "")})
        data = json.dumps(body).encode() if body is not None else None
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.s.token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        attempts = 0
        while True:
            attempts += 1
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.s.request_timeout) as resp:
                    raw = resp.read()
                    return json.loads(raw) if raw.strip() else None
            except urllib.error.HTTPError as exc:
                detail = _error_message(exc)
                retry_after = _retry_after(exc)
                transient = exc.code in (429, 500, 502, 503, 504) or (exc.code == 403 and retry_after is not None)
                if transient and attempts < 5:
                    wait = retry_after if retry_after is not None else min(30.0, 2.0**attempts)
                    self._say(f"GitHub answered {exc.code} ({detail}); retrying in {wait:.0f}s")
                    time.sleep(min(wait, 60.0))
                    continue
                raise _api_error(exc.code, method, path, detail, self.s) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempts < 5:
                    wait = min(30.0, 2.0**attempts)
                    self._say(f"cannot reach {self.s.api_url} ({_reason(exc)}); retrying in {wait:.0f}s")
                    time.sleep(wait)
                    continue
                raise DispatchError(f"cannot reach the GitHub API at {self.s.api_url}: {_reason(exc)}") from None

    def _say(self, message: str) -> None:
        print(message, file=self.out, flush=True)


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc)


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason or ""
    message = payload.get("message") if isinstance(payload, dict) else None
    return message or str(exc.reason or "")


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    headers = exc.headers or {}
    if headers.get("Retry-After", "").strip().isdigit():
        return float(headers["Retry-After"])
    if headers.get("X-RateLimit-Remaining") == "0" and headers.get("X-RateLimit-Reset", "").isdigit():
        return max(1.0, float(headers["X-RateLimit-Reset"]) - time.time())
    return None


def _api_error(status: int, method: str, path: str, detail: str, s: Settings) -> DispatchError:
    where = f"{method} {path}"
    if status == 401:
        return DispatchError(f"GitHub refused the token (401 {detail}): check the GITHUB_TOKEN credential")
    if status == 403:
        return DispatchError(
            f"GitHub forbids {where} (403 {detail}): the token needs the actions:write permission on {s.repo}"
        )
    if status == 404 and "/dispatches" in path:
        return DispatchError(
            f"workflow {s.workflow!r} not found in {s.repo} (404 {detail}): check REPO and WORKFLOW, that the "
            f"file exists on the default branch with a workflow_dispatch trigger, and that the token can see it"
        )
    if status == 404:
        return DispatchError(f"{where} not found (404 {detail}): check REPO={s.repo}")
    if status == 422:
        return DispatchError(
            f"GitHub rejected the dispatch of {s.workflow} on {s.ref!r} (422 {detail}): check that REF exists, "
            f"that the workflow has a workflow_dispatch trigger and that it declares the inputs sent"
        )
    return DispatchError(f"{where} failed ({status} {detail})")


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _branch_of(ref: str) -> str | None:
    """The branch filter for a ref; None for tags and commit SHAs (runs are then matched by dispatch id only)."""
    if ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :]
    if ref.startswith("refs/"):
        return None
    return ref


def dispatch(gh: GitHub, s: Settings, dispatch_id: str) -> None:
    inputs = dict(s.inputs)
    if s.dispatch_id_input:
        inputs[s.dispatch_id_input] = dispatch_id
    body: dict[str, Any] = {"ref": s.ref}
    if inputs:
        body["inputs"] = inputs
    wf = urllib.parse.quote(s.workflow, safe="")
    gh.request("POST", f"/repos/{s.repo}/actions/workflows/{wf}/dispatches", body=body)


def find_run(gh: GitHub, s: Settings, dispatch_id: str, since: dt.datetime) -> dict[str, Any]:
    """Wait for the run created by our dispatch to be listed, and return it."""
    wf = urllib.parse.quote(s.workflow, safe="")
    # A little slack for clock differences between this machine and GitHub.
    created_after = since - dt.timedelta(minutes=2)
    query = {
        "event": "workflow_dispatch",
        "branch": _branch_of(s.ref),
        "created": f">={_iso(created_after)}",
        "per_page": 50,
    }
    deadline = time.monotonic() + s.find_timeout
    while True:
        payload = gh.request("GET", f"/repos/{s.repo}/actions/workflows/{wf}/runs", query=query) or {}
        runs = [r for r in payload.get("workflow_runs", []) if r.get("event") in (None, "workflow_dispatch")]
        if s.dispatch_id_input:
            mine = [r for r in runs if dispatch_id in (r.get("display_title") or r.get("name") or "")]
        else:
            # Without a dispatch id the best guess is the earliest run created after our dispatch.
            mine = [r for r in runs if (_parse_time(r.get("created_at")) or since) >= since - dt.timedelta(seconds=5)]
            mine.sort(key=lambda r: r.get("created_at") or "")
        if mine:
            return mine[0]
        if time.monotonic() >= deadline:
            raise DispatchError(
                f"the dispatch was accepted but no run of {s.workflow} on {s.ref!r} appeared within "
                f"{s.find_timeout:.0f}s (dispatch id {dispatch_id})"
            )
        time.sleep(s.poll_interval)


def list_jobs(gh: GitHub, s: Settings, run_id: int) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    page = 1
    while True:
        payload = (
            gh.request("GET", f"/repos/{s.repo}/actions/runs/{run_id}/jobs", query={"per_page": 100, "page": page})
            or {}
        )
        batch = payload.get("jobs", [])
        jobs.extend(batch)
        if len(batch) < 100 or len(jobs) >= int(payload.get("total_count", len(jobs))):
            return jobs
        page += 1


def _duration(start: str | None, end: str | None) -> str:
    a, b = _parse_time(start), _parse_time(end)
    if not a or not b:
        return ""
    seconds = int((b - a).total_seconds())
    return f" in {seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f" in {seconds}s"


def _result(item: dict[str, Any]) -> str:
    return item.get("conclusion") or item.get("status") or "unknown"


class Follower:
    """Prints job and step progress once per change while the run goes on."""

    def __init__(self, out) -> None:
        self.out = out
        self.seen: dict[tuple, str] = {}

    def update(self, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            key = ("job", job.get("id"))
            state = f"{job.get('status')}/{job.get('conclusion')}"
            if self.seen.get(key) != state:
                self.seen[key] = state
                if job.get("status") == "completed":
                    when = _duration(job.get("started_at"), job.get("completed_at"))
                    self._say(f"  job {job.get('name')!r}: {_result(job)}{when}")
                else:
                    self._say(f"  job {job.get('name')!r}: {job.get('status')}")
            for step in job.get("steps") or []:
                skey = ("step", job.get("id"), step.get("number"))
                if step.get("status") == "completed" and skey not in self.seen:
                    self.seen[skey] = "completed"
                    self._say(f"    step {step.get('number')}. {step.get('name')}: {_result(step)}")

    def _say(self, message: str) -> None:
        print(message, file=self.out, flush=True)


def follow(gh: GitHub, s: Settings, run: dict[str, Any], started: float) -> dict[str, Any]:
    """Poll the run until it completes; raise Timeout after s.timeout seconds from `started`."""
    run_id = run["id"]
    follower = Follower(gh.out)
    last_status = None
    while True:
        run = gh.request("GET", f"/repos/{s.repo}/actions/runs/{run_id}") or run
        status = run.get("status")
        if status != last_status:
            print(f"run #{run.get('run_number', run_id)} is {status}", file=gh.out, flush=True)
            last_status = status
        follower.update(list_jobs(gh, s, run_id))
        if status == "completed":
            return run
        if time.monotonic() - started >= s.timeout:
            raise Timeout(run_id)
        time.sleep(s.poll_interval)


def report(jobs: list[dict[str, Any]], run: dict[str, Any], out) -> list[str]:
    """Print every job and step with its conclusion; return the failures, each naming its job and step."""
    ok = {"success", "skipped", "neutral"}
    failures = []
    print("", file=out)
    print(f"Jobs of run {run.get('html_url') or run.get('id')}:", file=out)
    for job in jobs:
        mark = "ok  " if _result(job) in ok else "FAIL"
        when = _duration(job.get("started_at"), job.get("completed_at"))
        print(f"[{mark}] job {job.get('name')}: {_result(job)}{when}", file=out)
        failed_steps = []
        for step in job.get("steps") or []:
            smark = "ok  " if _result(step) in ok else "FAIL"
            print(f"    [{smark}] step {step.get('number')}. {step.get('name')}: {_result(step)}", file=out)
            if _result(step) not in ok:
                failed_steps.append(step)
        if _result(job) not in ok:
            if failed_steps:
                for step in failed_steps:
                    failures.append(f"job {job.get('name')!r}, step {step.get('name')!r}: {_result(step)}")
            else:
                failures.append(f"job {job.get('name')!r}: {_result(job)}")
    out.flush()
    return failures


def run(s: Settings, out=sys.stdout) -> int:
    gh = GitHub(s, out)
    dispatch_id = uuid.uuid4().hex[:12]
    started = time.monotonic()
    since = dt.datetime.now(dt.UTC)
    try:
        print(f"Dispatching {s.workflow} on {s.repo}@{s.ref} (dispatch id {dispatch_id})", file=out, flush=True)
        dispatch(gh, s, dispatch_id)
        found = find_run(gh, s, dispatch_id, since)
        print(f"Run {found.get('id')}: {found.get('html_url', '')}", file=out, flush=True)
        try:
            final = follow(gh, s, found, started)
        except Timeout:
            print(f"TIMEOUT: run {found.get('id')} did not complete within {s.timeout:.0f}s", file=out, flush=True)
            if s.cancel_on_timeout:
                gh.request("POST", f"/repos/{s.repo}/actions/runs/{found['id']}/cancel")
                print(f"cancelled run {found.get('id')}", file=out, flush=True)
            report(list_jobs(gh, s, found["id"]), found, out)
            return EXIT_TIMEOUT
        failures = report(list_jobs(gh, s, final["id"]), final, out)
    except DispatchError as exc:
        print(f"ERROR: {exc}", file=out, flush=True)
        return EXIT_ERROR
    conclusion = final.get("conclusion")
    print("", file=out)
    if conclusion == "success":
        print(f"Run {final.get('id')} succeeded: {final.get('html_url', '')}", file=out, flush=True)
        return EXIT_SUCCESS
    print(f"Run {final.get('id')} concluded {conclusion}: {final.get('html_url', '')}", file=out)
    for failure in failures:
        print(f"FAILED: {failure}", file=out)
    out.flush()
    return EXIT_RUN_FAILED


def parse_args(argv: list[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", default=env.get("REPO") or env.get("ALUMUSIC_GITHUB_REPO"), help="owner/name")
    parser.add_argument("--workflow", default=env.get("WORKFLOW") or "ci.yml", help="workflow file name or id")
    parser.add_argument("--ref", default=env.get("REF") or "main", help="branch, tag or refs/... to run on")
    parser.add_argument("--timeout", type=float, default=float(env.get("TIMEOUT_SECONDS") or 3600))
    parser.add_argument("--poll-interval", type=float, default=float(env.get("POLL_INTERVAL_SECONDS") or 10))
    parser.add_argument(
        "--find-timeout", type=float, default=float(env.get("FIND_TIMEOUT_SECONDS") or 120),
        help="how long to wait for the dispatched run to be listed",
    )  # fmt: skip
    parser.add_argument("--api-url", default=env.get("GITHUB_API_URL") or "https://api.github.com")
    parser.add_argument("--input", action="append", default=[], metavar="KEY=VALUE", help="extra workflow input")
    parser.add_argument(
        "--dispatch-id-input", default=env.get("DISPATCH_ID_INPUT", "dispatch_id"),
        help="workflow input that carries the dispatch id into the run name ('' for workflows without it)",
    )  # fmt: skip
    parser.add_argument("--cancel-on-timeout", action="store_true", help="cancel the run when --timeout passes")
    args = parser.parse_args(argv)
    # Jenkins passes its REPO parameter even when it is empty: fall back to the controller's default.
    args.repo = args.repo or env.get("REPO") or env.get("ALUMUSIC_GITHUB_REPO")
    token = env.get("GITHUB_TOKEN", "").strip()
    if not token:
        parser.error("GITHUB_TOKEN is not set (Jenkins: bind the github-token credential)")
    if not args.repo or args.repo.count("/") != 1:
        parser.error(f"--repo (or REPO) must be owner/name, got {args.repo!r}")
    if args.timeout <= 0 or args.poll_interval <= 0:
        parser.error("--timeout and --poll-interval must be positive")
    inputs = {}
    for item in args.input:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--input expects KEY=VALUE, got {item!r}")
        inputs[key] = value
    return Settings(
        api_url=args.api_url,
        token=token,
        repo=args.repo,
        workflow=args.workflow,
        ref=args.ref,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        find_timeout=args.find_timeout,
        inputs=inputs,
        dispatch_id_input=args.dispatch_id_input,
        cancel_on_timeout=args.cancel_on_timeout,
    )


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_args(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2 already
        return int(exc.code or 0)
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
