"""What an operator relies on in the deployment files, checked without Docker.

No Docker engine runs here, so the compose file, the Dockerfile, the CI workflow and the Jenkins setup are
parsed and checked for the promises they make. What can run natively does run: the NGINX config is rendered by
nginx/render.py and started for real in front of a small upstream, gunicorn starts with gunicorn.conf.py, and
boot.sh runs with stand-ins for flask/gunicorn/celery.
"""

from __future__ import annotations

import ast
import http.client
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
QUEUES = {"default", "classification", "imports", "reports", "emails", "training"}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY)")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
URL_PASSWORD = re.compile(r"://(?:\$\{[^}]*\}|[^:@/]*):(?P<password>\$\{[^}]*\}|[^@]*)@")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# --- helpers ----------------------------------------------------------------------------------------------------------
def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE_FILE)


def services(compose: dict, include_profiles: bool = False) -> dict[str, dict]:
    return {name: svc for name, svc in compose["services"].items() if include_profiles or not svc.get("profiles")}


def command_argv(svc: dict) -> list[str]:
    cmd = svc.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def environment(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def load_render():
    spec = importlib.util.spec_from_file_location("alumusic_nginx_render", ROOT / "nginx" / "render.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def require_binary(name: str, extra_paths: tuple[str, ...] = ()) -> str:
    """The binary's path; skipped with a reason when absent, a failure when CI=true (CI must install it)."""
    path = shutil.which(name) or next((p for p in extra_paths if os.access(p, os.X_OK)), None)
    if path:
        return path
    message = f"the {name} binary is not installed (apt-get install {name})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it")
    pytest.skip(f"{message}; this check is required when CI=true")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    out = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


# --- docker compose ---------------------------------------------------------------------------------------------------
def test_services_that_use_db_or_redis_wait_until_they_are_healthy(compose):
    assert compose["services"]["db"]["image"].startswith("postgres:16")
    assert compose["services"]["redis"]["image"].startswith("redis:7")
    for name in ("db", "redis"):
        assert compose["services"][name].get("healthcheck", {}).get("test"), f"{name} needs a healthcheck"
    users = [n for n, svc in services(compose).items() if {"DATABASE_URL", "REDIS_URL"} & environment(svc).keys()]
    assert {"web", "worker", "beat"} <= set(users)
    for name in users:
        depends = compose["services"][name].get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must use conditions, not a bare list"
        for dep in ("db", "redis"):
            assert depends.get(dep, {}).get("condition") == "service_healthy", f"{name} must wait for {dep} healthy"


def test_exactly_one_celery_beat(compose):
    beats = []
    for name, svc in services(compose, include_profiles=True).items():
        argv = command_argv(svc)
        if "celery" in argv and ("beat" in argv or "-B" in argv or "--beat" in argv):
            beats.append(name)
    assert beats == ["beat"], f"exactly one service may run celery beat, found {beats}"
    replicas = compose["services"]["beat"].get("deploy", {}).get("replicas", 1)
    assert replicas == 1
    argv = command_argv(compose["services"]["beat"])
    assert argv[:4] == ["celery", "-A", "make_celery", "beat"]
    worker_argv = command_argv(compose["services"]["worker"])
    assert "-B" not in worker_argv and "--beat" not in worker_argv


def _queues_declared_by_the_app() -> set[str]:
    """QUEUES from app/tasks/__init__.py, read without importing the app."""
    path = ROOT / "app" / "tasks" / "__init__.py"
    if not path.exists():
        return set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "QUEUES" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def test_worker_consumes_every_queue(compose):
    argv = command_argv(compose["services"]["worker"])
    assert argv[:4] == ["celery", "-A", "make_celery", "worker"]
    queues: set[str] = set()
    for i, arg in enumerate(argv):
        if arg in ("-Q", "--queues"):
            queues |= set(argv[i + 1].split(","))
        elif arg.startswith("--queues="):
            queues |= set(arg.split("=", 1)[1].split(","))
    expected = QUEUES | _queues_declared_by_the_app()
    assert expected <= queues, f"worker does not consume {sorted(expected - queues)}"
    assert any(a.startswith("--concurrency") for a in argv)


def test_web_boots_through_boot_sh_and_the_image_entrypoint_is_boot_sh(compose):
    web = compose["services"]["web"]
    entry = web.get("entrypoint") or []
    entry = shlex.split(entry) if isinstance(entry, str) else entry
    assert any(str(part).endswith("boot.sh") for part in entry + command_argv(web))
    instructions = dockerfile_instructions(ROOT / "Dockerfile")
    entrypoints = [args for ins, args in instructions if ins == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["/app/boot.sh"]
    assert (ROOT / "boot.sh").stat().st_mode & 0o111, "boot.sh must be executable"
    subprocess.run(["bash", "-n", str(ROOT / "boot.sh")], check=True)
    boot = (ROOT / "boot.sh").read_text(encoding="utf-8")
    for step in ("flask db upgrade", "flask model ensure", "flask users ensure-admin"):
        assert step in boot
    assert "exec gunicorn -c gunicorn.conf.py wsgi:app" in boot


def test_worker_and_beat_use_the_same_image_through_boot_sh(compose):
    image = compose["services"]["web"]["image"]
    for name in ("worker", "beat"):
        svc = compose["services"][name]
        assert svc["image"] == image
        assert svc.get("entrypoint") == ["/app/boot.sh"]


def test_every_file_the_dockerfile_copies_exists_and_is_not_dockerignored():
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    }
    copied = []
    for instruction, args in dockerfile_instructions(ROOT / "Dockerfile"):
        if instruction not in ("COPY", "ADD"):
            continue
        parts = shlex.split(args)
        if any(p.startswith("--from") for p in parts):
            continue
        sources = [p for p in parts if not p.startswith("--")][:-1]
        copied += sources
    assert {"app", "data", "migrations", "wsgi.py", "make_celery.py", "gunicorn.conf.py", "boot.sh"} <= set(copied)
    missing = [src for src in copied if not (ROOT / src).exists()]
    assert not missing, f"the Dockerfile copies files that are not in the repository: {missing}"
    assert not [src for src in copied if src in ignored], ".dockerignore hides something the Dockerfile copies"


def test_dockerfile_is_multi_stage_slim_non_root_with_a_health_check():
    instructions = dockerfile_instructions(ROOT / "Dockerfile")
    froms = [args for ins, args in instructions if ins == "FROM"]
    assert len(froms) >= 2, "build and runtime stages"
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "pip install --no-cache-dir" in text and "-r requirements.txt" in text
    users = [args for ins, args in instructions if ins == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = [args for ins, args in instructions if ins == "HEALTHCHECK"]
    assert health and "/health" in health[-1]


def test_only_nginx_publishes_ports(compose):
    for name, svc in services(compose, include_profiles=True).items():
        ports = svc.get("ports") or []
        if name == "nginx":
            targets = {str(p).rsplit(":", 1)[-1] for p in ports}
            assert targets == {"80", "443"}
        elif svc.get("profiles"):
            # Development helpers may publish on the loopback interface only.
            assert all(str(p).startswith("127.0.0.1:") for p in ports), f"{name} publishes {ports}"
        else:
            assert not ports, f"{name} must not publish ports (only NGINX does): {ports}"


def test_bind_mounts_point_at_files_that_exist(compose):
    for name, svc in services(compose, include_profiles=True).items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
    nginx_sources = [v.split(":", 1)[0] for v in compose["services"]["nginx"]["volumes"]]
    assert "./nginx/templates" in nginx_sources
    assert (ROOT / "nginx" / "templates" / "nginx.conf.template").is_file()
    db_mounts = compose["services"]["db"]["volumes"]
    assert "./db/init:/docker-entrypoint-initdb.d:ro" in db_mounts


def test_db_init_creates_the_extensions_idempotently():
    sql = (ROOT / "db" / "init" / "01-extensions.sql").read_text(encoding="utf-8")
    for extension in ("pg_trgm", "unaccent"):
        assert re.search(rf"CREATE EXTENSION IF NOT EXISTS {extension}\s*;", sql)


def test_models_live_on_a_volume_shared_by_web_and_worker(compose):
    def model_volume(name: str) -> str:
        svc = compose["services"][name]
        target = environment(svc)["MODEL_DIR"]
        mounts = [v for v in svc["volumes"] if v.split(":")[1] == target]
        assert mounts, f"{name}: MODEL_DIR {target} is not on a volume"
        return mounts[0].split(":")[0]

    assert model_volume("web") == model_volume("worker")
    assert model_volume("web") in compose["volumes"]


def _secret_literals(env: dict[str, str]) -> list[str]:
    problems = []
    for key, value in env.items():
        if key == "DATABASE_URL" and "@" in value:
            match = URL_PASSWORD.search(value)
            if match and not INTERPOLATION.fullmatch(match.group("password")):
                problems.append(f"{key} has a literal password")
            continue
        if not SECRET_NAME.search(key) or key.endswith("_FILE"):
            continue
        match = INTERPOLATION.fullmatch(value)
        if value and not match:
            problems.append(f"{key}={value!r} is a literal")
        elif match and match.group(2) in ("-", ":-") and match.group(3):
            problems.append(f"{key} defaults to {match.group(3)!r}")
    return problems


@pytest.mark.parametrize("path", ["docker-compose.yml", "jenkins/docker-compose.yml"])
def test_no_secret_has_a_literal_default(path):
    data = load_yaml(ROOT / path)
    problems = []
    for name, svc in data["services"].items():
        problems += [f"{name}: {p}" for p in _secret_literals(environment(svc))]
    # Also any ${SECRET:-default} anywhere in the file, whatever key it sits under.
    for match in INTERPOLATION.finditer((ROOT / path).read_text(encoding="utf-8")):
        if SECRET_NAME.search(match.group(1)) and match.group(2) in ("-", ":-") and match.group(3):
            problems.append(f"${{{match.group(1)}}} defaults to {match.group(3)!r}")
    assert not problems, problems


def test_required_secrets_stop_compose_when_missing(compose):
    env = environment(compose["services"]["web"])
    for key in ("SECRET_KEY", "JWT_SECRET_KEY", "ADMIN_PASSWORD"):
        match = INTERPOLATION.fullmatch(env[key])
        assert match and match.group(2) == ":?", f"{key} must be ${{{key}:?...}}"
    assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("docker-compose.yml", "vendor.compose-spec"),
        ("jenkins/docker-compose.yml", "vendor.compose-spec"),
        (".github/workflows/ci.yml", "vendor.github-workflows"),
    ],
)
def test_files_validate_against_the_official_schemas(path, schema):
    # check-jsonschema is a pinned dev dependency: it vendors both schemas, so this works offline.
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(ROOT / path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- .env.example -----------------------------------------------------------------------------------------------------
def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _settings_fields() -> set[str]:
    tree = ast.parse((ROOT / "app" / "config.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Settings":
            return {n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    return set()


def test_env_example_documents_every_variable():
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    compose_text = "\n".join(
        line for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")
    )
    referenced = {m.group(1) for m in INTERPOLATION.finditer(compose_text)}
    wanted = (referenced | _settings_fields()) - {"HOSTNAME"}
    assert not wanted - documented, f".env.example lacks {sorted(wanted - documented)}"
    # Each assignment is preceded by a comment (what it does).
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]+=", line):
            above = [entry for entry in lines[:i] if entry.strip()]
            assert above and (above[-1].startswith("#") or re.match(r"^[A-Z][A-Z0-9_]+=", above[-1])), line


def test_env_example_secrets_are_placeholders():
    values = _env_example()
    for key in ("SECRET_KEY", "JWT_SECRET_KEY", "ADMIN_PASSWORD", "POSTGRES_PASSWORD"):
        assert values[key].startswith("change-me"), f"{key} must be an obvious placeholder"
    assert values["APP_ENV"] == "production"


@pytest.mark.parametrize("secret", ["SECRET_KEY", "JWT_SECRET_KEY", "ADMIN_PASSWORD"])
def test_production_refuses_each_placeholder_secret_of_env_example(secret):
    from app.config import ConfigError, load_config

    strong = "x" * 48
    values = _env_example()
    overrides = {
        "APP_ENV": "production",
        "SECRET_KEY": strong,
        "JWT_SECRET_KEY": strong + "y",
        "ADMIN_PASSWORD": "a-real-admin-password-123",
        "DATABASE_URL": "postgresql://alumusic:pw@db:5432/alumusic",
        secret: values[secret],
    }
    with pytest.raises(ConfigError):
        load_config(overrides)


# --- GitHub Actions ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workflow() -> dict:
    return load_yaml(ROOT / ".github" / "workflows" / "ci.yml")


def _triggers(workflow: dict) -> dict:
    # YAML 1.1 reads the bare key `on` as the boolean True.
    return workflow.get("on") or workflow.get(True) or {}


def _steps_text(job: dict) -> str:
    return "\n".join(str(step.get("run", "")) + " " + str(step.get("uses", "")) for step in job["steps"])


def test_workflow_has_the_jobs_and_triggers_jenkins_and_developers_use(workflow):
    triggers = _triggers(workflow)
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    # jenkins/dispatch_workflow.py sends this input and finds the run by its name.
    assert "dispatch_id" in triggers["workflow_dispatch"]["inputs"]
    assert "inputs.dispatch_id" in workflow["run-name"]
    assert {"lint", "test", "evals", "e2e"} <= set(workflow["jobs"])


def test_workflow_jobs_run_the_make_targets_with_real_services(workflow):
    jobs = workflow["jobs"]
    lint = _steps_text(jobs["lint"])
    assert "ruff check" in lint and "ruff format --check" in lint

    test = jobs["test"]
    assert test["services"]["postgres"]["image"] == "postgres:16"
    assert test["services"]["redis"]["image"] == "redis:7"
    for service in test["services"].values():
        assert "--health-cmd" in service["options"]
    env = {**workflow.get("env", {}), **test.get("env", {})}
    assert str(env["CI"]).lower() == "true"
    assert env["TEST_DATABASE_URL"].startswith("postgresql://") and env["REDIS_URL"].startswith("redis://")
    assert "make test" in _steps_text(test)

    evals = jobs["evals"]
    assert "make evals" in _steps_text(evals)
    uploads = [s for s in evals["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads and "reports" in uploads[0]["with"]["path"]

    e2e = _steps_text(jobs["e2e"])
    assert "apt-get install" in e2e and "nginx" in e2e and "make e2e" in e2e

    for name, job in jobs.items():
        setups = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python")]
        assert setups and setups[0]["with"].get("cache") == "pip", f"{name} must cache pip"


# --- Jenkins ----------------------------------------------------------------------------------------------------------
def test_jenkins_configuration_as_code_defines_the_job_from_the_jenkinsfile():
    casc = load_yaml(ROOT / "jenkins" / "casc.yaml")
    scripts = "\n".join(job["script"] for job in casc["jobs"])
    assert "pipelineJob('alumusic-ci')" in scripts
    assert "scriptPath('Jenkinsfile')" in scripts
    credentials = casc["credentials"]["system"]["domainCredentials"][0]["credentials"]
    token = next(c["string"] for c in credentials if "string" in c)
    assert token["id"] == "github-token" and token["secret"] == "${GITHUB_TOKEN}"
    assert casc["jenkins"]["securityRealm"]["local"]["allowsSignup"] is False


def test_jenkins_image_installs_the_plugins_the_job_needs():
    plugins = {
        line.split(":")[0].strip()
        for line in (ROOT / "jenkins" / "plugins.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"configuration-as-code", "workflow-aggregator", "git", "credentials-binding", "job-dsl"} <= plugins
    assert "timestamper" in plugins  # the Jenkinsfile uses timestamps()
    dockerfile = (ROOT / "jenkins" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM jenkins/jenkins:lts-jdk17\s*$", dockerfile, flags=re.M)
    assert "jenkins-plugin-cli --plugin-file" in dockerfile
    assert "python3" in dockerfile


def test_jenkins_compose_builds_the_image_and_mounts_casc():
    data = load_yaml(ROOT / "jenkins" / "docker-compose.yml")
    jenkins = data["services"]["jenkins"]
    assert jenkins["build"]["context"] == "."
    assert (ROOT / "jenkins" / "Dockerfile").is_file()
    env = environment(jenkins)
    assert env["GITHUB_TOKEN"].startswith("${GITHUB_TOKEN:?")
    casc_mounts = [v for v in jenkins["volumes"] if v.startswith("./casc.yaml:")]
    assert casc_mounts and env["CASC_JENKINS_CONFIG"] == casc_mounts[0].split(":")[1]


def test_jenkinsfile_dispatches_with_the_token_credential_and_the_parameters():
    text = (ROOT / "Jenkinsfile").read_text(encoding="utf-8")
    assert "python3 jenkins/dispatch_workflow.py" in text
    assert "credentialsId: 'github-token', variable: 'GITHUB_TOKEN'" in text
    for name, default in (("REPO", None), ("WORKFLOW", "ci.yml"), ("REF", "main")):
        match = re.search(rf"string\(name: '{name}', defaultValue: '([^']*)'", text)
        assert match, f"parameter {name}"
        if default:
            assert match.group(1) == default
    # The token is expanded by the shell, never interpolated into a Groovy string.
    assert "${GITHUB_TOKEN}" not in text and "$GITHUB_TOKEN" not in text


# --- NGINX ------------------------------------------------------------------------------------------------------------
def test_compose_gives_nginx_every_template_placeholder(compose):
    render = load_render()
    env = environment(compose["services"]["nginx"])
    names = render.placeholders()
    assert names, "templates use ${NGINX_*} placeholders"
    assert names <= env.keys(), f"nginx service lacks {sorted(names - env.keys())}"
    assert set(render.DOCKER_VARIABLES) == names
    for name, value in render.DOCKER_VARIABLES.items():
        if "${" not in env[name]:
            assert env[name] == value, f"{name}: compose {env[name]!r} != render.py {value!r}"
    assert env["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    assert all(re.search(env["NGINX_ENVSUBST_FILTER"], n) for n in names)
    assert env["NGINX_UPSTREAM"] == "web:8000"
    # Rendered like the image does, nothing is left for NGINX to misread as a variable.
    for template in (ROOT / "nginx" / "templates").rglob("*.template"):
        rendered = render.substitute(template.read_text(encoding="utf-8"), render.DOCKER_VARIABLES)
        assert "${" not in rendered


def test_gen_cert_makes_a_certificate_once_and_never_replaces_a_real_one(tmp_path):
    openssl = require_binary("openssl")
    script = ROOT / "nginx" / "gen-cert.sh"
    first = subprocess.run(["sh", str(script), str(tmp_path)], capture_output=True, text=True, check=True)
    assert "generated" in first.stdout
    cert = (tmp_path / "tls.crt").read_bytes()
    check = subprocess.run([openssl, "x509", "-noout", "-ext", "subjectAltName", "-in", str(tmp_path / "tls.crt")],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert "DNS:localhost" in check.stdout and "IP Address:127.0.0.1" in check.stdout
    subprocess.run(["sh", str(script), str(tmp_path)], capture_output=True, text=True, check=True)
    assert (tmp_path / "tls.crt").read_bytes() == cert
    (tmp_path / ".self-signed").unlink()  # as if an operator had put a real certificate there
    (tmp_path / "tls.crt").write_text("operator's certificate")
    kept = subprocess.run(["sh", str(script), str(tmp_path)], capture_output=True, text=True, check=True)
    assert "keeping" in kept.stdout and (tmp_path / "tls.crt").read_text() == "operator's certificate"


# --- gunicorn ---------------------------------------------------------------------------------------------------------
def _gunicorn_settings(env: dict[str, str]) -> dict:
    code = (
        "import json, runpy; ns = runpy.run_path('gunicorn.conf.py'); "
        "keys = ['bind', 'workers', 'timeout', 'preload_app', 'forwarded_allow_ips', 'accesslog', "
        "'errorlog', 'wsgi_app']; out = {k: ns[k] for k in keys}; "
        "out['worker_class'] = [c.__name__ for c in ns['worker_class'].__mro__]; print(json.dumps(out))"
    )
    base = {k: v for k, v in os.environ.items() if k not in {"PORT", "HOST", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS"}}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**base, **env}, capture_output=True,
                          text=True, check=True)  # fmt: skip
    return json.loads(proc.stdout)


def test_gunicorn_settings_come_from_the_environment():
    defaults = _gunicorn_settings({})
    assert defaults["bind"] == "127.0.0.1:8000"  # not reachable from the network unless told (HOST)
    assert "SyncWorker" in defaults["worker_class"]  # gunicorn's sync worker (its error pages in the envelope)
    assert defaults["preload_app"] is False
    assert defaults["accesslog"] == "-" and defaults["errorlog"] == "-"
    assert defaults["wsgi_app"] == "wsgi:app"
    cores = len(os.sched_getaffinity(0))
    assert defaults["workers"] == max(1, min(2 * cores + 1, 8))
    assert defaults["timeout"] > 0

    tuned = _gunicorn_settings(
        {"PORT": "9123", "HOST": "0.0.0.0", "WEB_CONCURRENCY": "5", "FORWARDED_ALLOW_IPS": "10.0.0.0/8"}
    )
    assert tuned["bind"] == "0.0.0.0:9123"
    assert tuned["workers"] == 5
    assert tuned["forwarded_allow_ips"] == "10.0.0.0/8"
    assert _gunicorn_settings({"GUNICORN_MAX_WORKERS": "2"})["workers"] == min(2, 2 * cores + 1)


def test_gunicorn_writes_json_access_lines_with_the_request_id(tmp_path):
    (tmp_path / "tiny_app.py").write_text(
        "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [b'ok']\n"
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "WEB_CONCURRENCY"}
    env.update(PORT=str(port), WEB_CONCURRENCY="1", PYTHONPATH=str(tmp_path))
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "tiny_app:app"]
    proc = subprocess.Popen(gunicorn, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, timeout=20)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/x?y=1", headers={"X-Request-ID": "req-abc-123"})
        assert conn.getresponse().read() == b"ok"
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    access = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    entry = next(e for e in access if e.get("request_id") == "req-abc-123")
    assert entry["path"] == "/api/x" and entry["query"] == "y=1" and entry["status"] == 200
    assert entry["method"] == "GET" and entry["duration_ms"] >= 0
    errors = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("Listening at" in e["message"] for e in errors), err


# --- boot.sh ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_commands(tmp_path):
    """flask, gunicorn and celery stand-ins that record how boot.sh called them."""
    calls = tmp_path / "calls.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("flask", "gunicorn", "celery"):
        script = bin_dir / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $* | WEB_CONCURRENCY=${{WEB_CONCURRENCY-unset}}" >> "{calls}"\n'
            f'if [ "{name} $*" = "$FAIL_ON" ]; then exit 7; fi\n'
        )
        script.chmod(0o755)

    def run(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        full_env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHON": sys.executable,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'boot.db'}",
            "HOME": str(tmp_path),
            **env,
        }
        proc = subprocess.run([str(ROOT / "boot.sh"), *args], env=full_env, capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        lines = calls.read_text().splitlines() if calls.exists() else []
        calls.unlink(missing_ok=True)
        run.raw = lines
        return proc, [line.split(" | ")[0] for line in lines]

    run.raw = []
    return run


def test_boot_migrates_ensures_model_and_admin_then_execs_gunicorn(fake_commands):
    proc, calls = fake_commands()
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "flask db upgrade",
        "flask model ensure",
        "flask users ensure-admin",
        "gunicorn -c gunicorn.conf.py wsgi:app",
    ]
    logs = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert all(entry["logger"] == "boot" for entry in logs)


def test_boot_stops_when_a_step_fails(fake_commands):
    proc, calls = fake_commands(FAIL_ON="flask db upgrade")
    assert proc.returncode == 7
    assert calls == ["flask db upgrade"]
    assert "failed: flask db upgrade" in proc.stderr


def test_boot_runs_other_roles_without_migrating(fake_commands):
    proc, calls = fake_commands("celery", "-A", "make_celery", "beat")
    assert proc.returncode == 0, proc.stderr
    assert calls == ["celery -A make_celery beat"]


def test_boot_drops_an_empty_web_concurrency_that_would_crash_gunicorn(fake_commands):
    proc, _ = fake_commands(WEB_CONCURRENCY="", BOOT_MIGRATE="0", BOOT_ENSURE_MODEL="0", BOOT_ENSURE_ADMIN="0")
    assert proc.returncode == 0, proc.stderr
    assert fake_commands.raw == ["gunicorn -c gunicorn.conf.py wsgi:app | WEB_CONCURRENCY=unset"]
    proc, _ = fake_commands(WEB_CONCURRENCY="3", BOOT_MIGRATE="0", BOOT_ENSURE_MODEL="0", BOOT_ENSURE_ADMIN="0")
    assert fake_commands.raw == ["gunicorn -c gunicorn.conf.py wsgi:app | WEB_CONCURRENCY=3"]


def test_boot_gives_up_when_the_database_never_answers(fake_commands):
    proc, calls = fake_commands(DATABASE_URL=f"postgresql://u:s3cret@127.0.0.1:{free_port()}/db", BOOT_WAIT_TIMEOUT="1")
    assert proc.returncode == 3
    assert calls == []
    assert "gave up waiting for postgresql" in proc.stderr
    assert "s3cret" not in proc.stderr  # the password is redacted


def test_worker_recycling_counts_only_requests_that_reach_flask(monkeypatch, tmp_path):
    """Feed polls answered by the fast path must not restart workers (each restart reloads the classifier)."""
    import runpy
    from types import SimpleNamespace

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # else the config sets one for this process
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["max_requests"] == 0  # gunicorn's own counter would count feed polls

    def app(environ, start_response):
        if environ["PATH_INFO"].startswith("/relatorio"):
            environ["alumusic.fast_path"] = True
        return [b""]

    worker = SimpleNamespace(alive=True, log=SimpleNamespace(info=lambda *a: None))
    recycled = conf["RecycleAfterAppRequests"](app, worker, limit=3)
    for _ in range(1000):
        recycled({"PATH_INFO": "/relatorio/semana/top_tags_48h.json"}, None)
    recycled({"PATH_INFO": "/api/comentarios"}, None)
    recycled({"PATH_INFO": "/api/comentarios"}, None)
    assert worker.alive
    recycled({"PATH_INFO": "/api/comentarios"}, None)
    assert not worker.alive
