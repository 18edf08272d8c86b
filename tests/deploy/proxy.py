"""nginx in front of the test's hosts, run from the shipped configuration (deploy/nginx/
onething.conf): the file is rendered with the test's addresses, ports and paths in place of its
EDIT lines' (each replacement must match exactly once, so an edit of the file that the test
does not follow fails here), inside a main configuration of the test's own. nginx runs as a
process of the test with its own prefix, logs and temporary directories; the system's nginx is
never touched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.live import free_port

PROJECT = Path(__file__).resolve().parents[2]
SHIPPED = PROJECT / "deploy" / "nginx" / "onething.conf"
SHIPPED_HOSTS = ("10.0.0.11:8000", "10.0.0.12:8000")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def render(
    text: str,
    *,
    hosts: list[str],
    http_port: int,
    https_port: int,
    cert: Path,
    key: Path,
    logs: Path,
) -> str:
    """The shipped configuration with the test's values in its EDIT lines."""
    replacements = [
        *zip(SHIPPED_HOSTS, hosts, strict=True),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("server_name onething.example.gov.cn;", "server_name localhost;"),
        ("/etc/ssl/onething/fullchain.pem", str(cert)),
        ("/etc/ssl/onething/privkey.pem", str(key)),
        ("/var/log/nginx/onething.access.log", str(logs / "access.log")),
        ("/var/log/nginx/onething.error.log", str(logs / "error.log")),
    ]
    for shipped, ours in replacements:
        count = text.count(shipped)
        expected = 2 if shipped.startswith(("server_name", "/var/log/nginx/onething.access")) else 1
        assert count == expected, f"{shipped!r} occurs {count} times in {SHIPPED}"
        text = text.replace(shipped, ours)
    return text


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for `localhost` and its key (openssl, as an operator's test setup would)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext"]
        + ["subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Logged:
    """One line of the access log (the shipped `onething` format)."""

    msec: float
    request_id: str
    method: str
    path: str
    status: int
    upstream: list[str]  # each host tried, in order
    upstream_status: list[str]


class Nginx:
    """nginx from the shipped configuration, in front of `hosts` (host:port); `extra` is more
    configuration for the test's `http` block (servers of its own)."""

    def __init__(self, directory: Path, hosts: list[str], extra: str = "") -> None:
        assert Path(NGINX).exists(), f"no nginx at {NGINX}: scripts/test-services installs it"
        self.directory = directory
        directory.mkdir()
        self.cert, key = self_signed(directory)
        self.http_port, self.https_port = free_port(), free_port()
        self.base = f"https://localhost:{self.https_port}"
        site = render(
            SHIPPED.read_text(),
            hosts=hosts,
            http_port=self.http_port,
            https_port=self.https_port,
            cert=self.cert,
            key=key,
            logs=directory,
        )
        (directory / "onething.conf").write_text(site)
        temp = "\n".join(
            f"    {kind}_temp_path {directory / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root (CI containers), the workers would run as nobody and not reach the test's
        # private temporary directory; as anyone else nginx keeps the user it was started by.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (directory / "nginx.conf").write_text(
            f"{user}worker_processes 2;\npid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'main-error.log'} notice;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"{temp}\n"
            f"    include {directory / 'onething.conf'};\n"
            f"{extra}\n"
            "}\n"
        )
        self.access_log = directory / "access.log"
        command = [NGINX, "-p", str(directory), "-e", str(directory / "main-error.log")]
        command += ["-c", str(directory / "nginx.conf")]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            [*command, "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(directory / "stderr.log").open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with self.client() as client:
                    client.get("/healthz")
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {self.errors()}") from None
                time.sleep(0.05)

    def client(self, **kwargs) -> httpx.Client:
        """A client of the proxy (HTTPS, trusting the test's certificate)."""
        kwargs.setdefault("timeout", 30)
        return httpx.Client(base_url=self.base, verify=self.trust(), **kwargs)

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def logged(self, awaiting: Iterable[str] = (), timeout: float = 10) -> list[Logged]:
        """The access log's entries. nginx writes a request's line after the client has its
        answer, so a caller that just had one names its request ids in `awaiting` and gets the
        log once they are all in it (or as it is after `timeout` seconds)."""
        awaiting = set(awaiting)
        deadline = time.monotonic() + timeout
        while True:
            found = self._read_log()
            if awaiting <= {entry.request_id for entry in found} or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def _read_log(self) -> list[Logged]:
        lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
        found = []
        for line in lines:
            entry = json.loads(line)
            found.append(
                Logged(
                    msec=entry["msec"],
                    request_id=entry["request_id"],
                    method=entry["method"],
                    path=entry["path"],
                    status=entry["status"],
                    upstream=[u.strip() for u in entry["upstream"].split(",") if u.strip()],
                    upstream_status=[
                        s.strip() for s in entry["upstream_status"].split(",") if s.strip()
                    ],
                )
            )
        return found

    def errors(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-2000:]
            for path in sorted(self.directory.glob("*error.log"))
            if path.exists()
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
