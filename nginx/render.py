#!/usr/bin/env python3
"""Render the NGINX templates for a native run (tests, CI e2e, a laptop without Docker).

docker compose renders nginx/templates/ with the nginx image's envsubst step; this script renders the very same
files, substituting only ${NGINX_*} placeholders, into a prefix directory that also holds the pid file, the
logs, the temp dirs and (unless given) a throwaway self-signed certificate. Stdlib only, plus the `openssl`
binary when a certificate has to be generated.

    python nginx/render.py --prefix /tmp/alumusic-nginx --upstream 127.0.0.1:8000 \
        --http-port 8080 --https-port 8443
    nginx -p /tmp/alumusic-nginx/ -c /tmp/alumusic-nginx/nginx.conf \
        -e /tmp/alumusic-nginx/logs/error.log -g 'daemon off;'

From Python (tests): load this file with importlib and call `render_native(...)`, then start
`result.command()` with subprocess and stop it with SIGQUIT (graceful) or SIGTERM.
"""

import argparse
import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_SUFFIX = ".template"
PLACEHOLDER = re.compile(r"\$\{(NGINX_[A-Z0-9_]+)\}")

# What docker-compose.yml sets for the nginx service (kept in sync by tests/unit/test_deploy_config.py).
DOCKER_VARIABLES: dict[str, str] = {
    "NGINX_UPSTREAM": "web:8000",
    "NGINX_HTTP_PORT": "80",
    "NGINX_HTTPS_PORT": "443",
    "NGINX_PUBLIC_HTTPS_PORT": "443",
    "NGINX_TLS_CERT": "/etc/nginx/certs/tls.crt",
    "NGINX_TLS_KEY": "/etc/nginx/certs/tls.key",
    "NGINX_LOG_DIR": "/var/log/nginx",
    "NGINX_RUN_DIR": "/var/run",
    "NGINX_TEMP_DIR": "/var/cache/nginx",
    "NGINX_WORKER_PROCESSES": "auto",
    "NGINX_HSTS_MAX_AGE": "31536000",
    "NGINX_USER": "nginx",
}


class RenderError(RuntimeError):
    """A template cannot be rendered (unknown placeholder, bad argument, openssl missing...)."""


@dataclass
class Rendered:
    """Where a native rendering lives and how to start NGINX on it."""

    prefix: Path
    conf: Path
    error_log: Path
    access_log: Path
    pid_file: Path
    cert: Path
    key: Path
    http_port: int
    https_port: int
    files: list[Path] = field(default_factory=list)

    def command(self, nginx: str = "nginx", foreground: bool = True) -> list[str]:
        """The argv that starts NGINX on this rendering (foreground by default, for subprocess)."""
        argv = [nginx, "-p", f"{self.prefix}/", "-c", str(self.conf), "-e", str(self.error_log)]
        if foreground:
            argv += ["-g", "daemon off;"]
        return argv

    def test_command(self, nginx: str = "nginx") -> list[str]:
        """The argv of `nginx -t` on this rendering."""
        return [nginx, "-t", "-p", f"{self.prefix}/", "-c", str(self.conf), "-e", str(self.error_log)]

    def as_dict(self) -> dict[str, object]:
        return {
            "prefix": str(self.prefix),
            "conf": str(self.conf),
            "error_log": str(self.error_log),
            "access_log": str(self.access_log),
            "pid_file": str(self.pid_file),
            "cert": str(self.cert),
            "key": str(self.key),
            "http_port": self.http_port,
            "https_port": self.https_port,
            "command": self.command(),
            "test_command": self.test_command(),
        }


def placeholders(templates_dir: Path = TEMPLATES_DIR) -> set[str]:
    """Every ${NGINX_*} name used by the templates."""
    names: set[str] = set()
    for template in sorted(templates_dir.rglob(f"*{TEMPLATE_SUFFIX}")):
        names.update(PLACEHOLDER.findall(template.read_text(encoding="utf-8")))
    return names


def substitute(text: str, variables: dict[str, str]) -> str:
    """Replace ${NGINX_*} placeholders like envsubst would; an undefined one is an error, not an empty string."""
    missing = sorted({name for name in PLACEHOLDER.findall(text) if name not in variables})
    if missing:
        raise RenderError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: variables[m.group(1)], text)


def render_tree(output_dir: Path, variables: dict[str, str], templates_dir: Path = TEMPLATES_DIR) -> list[Path]:
    """Render every *.template under templates_dir into output_dir, keeping relative paths (as the image does)."""
    written = []
    for template in sorted(templates_dir.rglob(f"*{TEMPLATE_SUFFIX}")):
        relative = template.relative_to(templates_dir)
        target = output_dir / relative.with_name(relative.name[: -len(TEMPLATE_SUFFIX)])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(substitute(template.read_text(encoding="utf-8"), variables), encoding="utf-8")
        written.append(target)
    if not written:
        raise RenderError(f"no *{TEMPLATE_SUFFIX} files in {templates_dir}")
    return written


def generate_self_signed_cert(cert: Path, key: Path, common_name: str = "localhost", days: int = 2) -> None:
    """Write a throwaway self-signed certificate (RSA 2048, SAN localhost and 127.0.0.1) with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RenderError("openssl is needed to generate a throwaway certificate (or pass --cert and --key)")
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-days", str(days), "-subj", f"/CN={common_name}",
        "-addext", f"subjectAltName=DNS:{common_name},DNS:localhost,IP:127.0.0.1",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RenderError(f"openssl failed: {proc.stderr.strip()}")
    key.chmod(0o600)


def _current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (some containers): let NGINX use its default
        return "nobody"


def _port(value: int, name: str) -> int:
    if not 0 < int(value) < 65536:
        raise RenderError(f"{name} must be a TCP port, got {value}")
    return int(value)


def render_native(
    prefix: Path | str,
    upstream: str = "127.0.0.1:8000",
    http_port: int = 8080,
    https_port: int = 8443,
    public_https_port: int | None = None,
    cert: Path | str | None = None,
    key: Path | str | None = None,
    worker_processes: str = "1",
    hsts_max_age: int = 0,
    user: str | None = None,
    templates_dir: Path = TEMPLATES_DIR,
) -> Rendered:
    """Render a self-contained NGINX configuration under `prefix`, ready for `nginx -p prefix -c prefix/nginx.conf`.

    Without cert/key a throwaway self-signed pair is generated in prefix/certs. HSTS defaults to 0 here so a
    browser pointed at a test run on localhost does not remember it.
    """
    prefix = Path(prefix).resolve()
    if ":" not in upstream or not upstream.rsplit(":", 1)[1].isdigit():
        raise RenderError(f"upstream must be HOST:PORT, got {upstream!r}")
    http_port = _port(http_port, "http_port")
    https_port = _port(https_port, "https_port")
    public_https_port = _port(public_https_port or https_port, "public_https_port")
    if (cert is None) != (key is None):
        raise RenderError("pass both cert and key, or neither (a throwaway pair is generated)")

    for sub in ("logs", "tmp/client_temp", "tmp/proxy_temp", "tmp/fastcgi_temp", "tmp/uwsgi_temp", "tmp/scgi_temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    if cert is None:
        cert_path, key_path = prefix / "certs" / "tls.crt", prefix / "certs" / "tls.key"
        generate_self_signed_cert(cert_path, key_path)
    else:
        cert_path, key_path = Path(cert).resolve(), Path(key).resolve()
        for path in (cert_path, key_path):
            if not path.is_file():
                raise RenderError(f"{path} does not exist")

    variables = {
        "NGINX_UPSTREAM": upstream,
        "NGINX_HTTP_PORT": str(http_port),
        "NGINX_HTTPS_PORT": str(https_port),
        "NGINX_PUBLIC_HTTPS_PORT": str(public_https_port),
        "NGINX_TLS_CERT": str(cert_path),
        "NGINX_TLS_KEY": str(key_path),
        "NGINX_LOG_DIR": str(prefix / "logs"),
        "NGINX_RUN_DIR": str(prefix),
        "NGINX_TEMP_DIR": str(prefix / "tmp"),
        "NGINX_WORKER_PROCESSES": str(worker_processes),
        "NGINX_HSTS_MAX_AGE": str(int(hsts_max_age)),
        # Unprivileged runs: NGINX ignores the directive (with a warning) and workers keep the caller's identity.
        "NGINX_USER": user or _current_user(),
    }
    files = render_tree(prefix, variables, templates_dir)
    return Rendered(
        prefix=prefix,
        conf=prefix / "nginx.conf",
        error_log=prefix / "logs" / "error.log",
        access_log=prefix / "logs" / "access.log",
        pid_file=prefix / "nginx.pid",
        cert=cert_path,
        key=key_path,
        http_port=http_port,
        https_port=https_port,
        files=files,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the AluMusic NGINX config for a native run.")
    parser.add_argument("--prefix", required=True, help="directory for the config, pid, logs, temp files and cert")
    parser.add_argument("--upstream", default="127.0.0.1:8000", help="gunicorn address HOST:PORT")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--https-port", type=int, default=8443)
    parser.add_argument("--public-https-port", type=int, help="port in the HTTP->HTTPS redirect (default: https)")
    parser.add_argument("--cert", help="certificate (PEM); generated in PREFIX/certs when omitted")
    parser.add_argument("--key", help="private key (PEM) matching --cert")
    parser.add_argument("--worker-processes", default="1")
    parser.add_argument("--hsts-max-age", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="run `nginx -t` on the result")
    parser.add_argument("--json", action="store_true", help="print paths and commands as JSON")
    args = parser.parse_args(argv)
    try:
        rendered = render_native(
            args.prefix,
            upstream=args.upstream,
            http_port=args.http_port,
            https_port=args.https_port,
            public_https_port=args.public_https_port,
            cert=args.cert,
            key=args.key,
            worker_processes=args.worker_processes,
            hsts_max_age=args.hsts_max_age,
        )
    except RenderError as exc:
        print(f"render.py: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if shutil.which("nginx") is None:
            print("render.py: --check needs the nginx binary on PATH", file=sys.stderr)
            return 2
        proc = subprocess.run(rendered.test_command(), capture_output=True, text=True, check=False)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            return proc.returncode
    if args.json:
        print(json.dumps(rendered.as_dict(), indent=2))
    else:
        print(f"rendered {rendered.conf}")
        print("start:  " + shlex.join(rendered.command()))
        print(f"stop:   kill -QUIT $(cat {rendered.pid_file})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
