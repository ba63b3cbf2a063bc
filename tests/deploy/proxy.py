"""The shipped nginx configuration (deploy/nginx/initserve.conf) run for real on loopback, in front of
replicas started by the test: used by tests/deploy/test_nginx.py and bench/bench_deploy.py.

The site file is used as shipped except for four strings, each replaced exactly once (``render_site``
fails otherwise, so the test cannot drift from the file): the replicas' addresses, the listening address
(127.0.0.1 and a free port instead of port 80), the cache directory and the access log (under a
temporary prefix); a caller may also replace whole directive lines (``overrides``, each found exactly
once too), as tests/deploy/test_nginx.py does to shorten the timeouts it waits for. The main configuration
around it is Debian's ``/etc/nginx/nginx.conf`` reduced to what a test needs: a pid file, logs and
temporary paths under the prefix, no daemon.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "deploy" / "nginx" / "initserve.conf"

#: The shipped upstream lines (compose.yaml's replica names).
SHIPPED_SERVERS = (
    "    server replica-1:8000 max_fails=1 fail_timeout=5s;\n    server replica-2:8000 max_fails=1 fail_timeout=5s;\n"
)
SHIPPED_LISTEN = "    listen 80;\n"
SHIPPED_CACHE = "/var/cache/nginx/initserve "
SHIPPED_ACCESS_LOG = "/var/log/nginx/initserve.access.log"

MAIN = """\
daemon off;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    gzip on;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    include {prefix}/initserve.conf;
}}
"""


def nginx_binary() -> str | None:
    """The nginx on PATH, or Debian's /usr/sbin/nginx (not on a non-root user's PATH)."""
    return shutil.which("nginx") or (shutil.which("nginx", path="/usr/sbin:/sbin") if os.name == "posix" else None)


def _replace_once(text: str, old: str, new: str) -> str:
    count = text.count(old)
    if count != 1:
        raise ValueError(f"{SITE} must contain {old!r} exactly once, found {count}")
    return text.replace(old, new)


def render_site(port: int, replicas: Sequence[str], prefix: Path, overrides: Mapping[str, str] | None = None) -> str:
    """The shipped site file for ``replicas`` (``host:port``), listening on 127.0.0.1:``port``; each key of
    ``overrides`` (a directive as shipped, ``"client_header_timeout 10s;"``) replaced by its value."""
    servers = "".join(f"    server {address} max_fails=1 fail_timeout=5s;\n" for address in replicas)
    text = _replace_once(SITE.read_text(), SHIPPED_SERVERS, servers)
    for shipped, replacement in (overrides or {}).items():
        text = _replace_once(text, f" {shipped}\n", f" {replacement}\n")
    text = _replace_once(text, SHIPPED_LISTEN, f"    listen 127.0.0.1:{port};\n")
    text = _replace_once(text, SHIPPED_CACHE, f"{prefix}/cache ")
    return _replace_once(text, SHIPPED_ACCESS_LOG, f"{prefix}/access.log")


def directive(name: str, text: str | None = None) -> str:
    """The argument of the one ``name`` directive in the shipped site file (``keepalive_timeout`` of the
    upstream block is the first one)."""
    found = re.search(rf"^\s*{re.escape(name)}\s+([^;]+);", text or SITE.read_text(), re.MULTILINE)
    if found is None:
        raise KeyError(f"no {name} directive in {SITE}")
    return found.group(1).strip()


def seconds(value: str) -> float:
    """An nginx time (``4s``, ``500ms``, ``2m``, ``10``) in seconds."""
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h)?", value).groups()  # type: ignore[union-attr]
    return int(number) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[unit]


@dataclass
class Nginx:
    """A running nginx: its base URL, prefix (logs, cache) and process."""

    base: str
    prefix: Path
    process: subprocess.Popen[bytes]

    @property
    def access_log(self) -> str:
        return (self.prefix / "access.log").read_text()

    @property
    def error_log(self) -> str:
        return (self.prefix / "error.log").read_text()


def write_config(prefix: Path, port: int, replicas: Sequence[str], overrides: Mapping[str, str] | None = None) -> Path:
    """The main configuration and the rendered site file under ``prefix``; returns the main file."""
    (prefix / "temp").mkdir(parents=True, exist_ok=True)
    (prefix / "initserve.conf").write_text(render_site(port, replicas, prefix, overrides))
    main = prefix / "nginx.conf"
    main.write_text(MAIN.format(prefix=prefix))
    return main


def check_config(prefix: Path, port: int, replicas: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on the rendered configuration."""
    main = write_config(prefix, port, replicas)
    command = [_binary(), "-t", "-p", str(prefix), "-c", str(main), "-e", str(prefix / "error.log")]
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def _binary() -> str:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
    return binary


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, prefix: Path) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
            raise RuntimeError(f"nginx did not listen on {port} (status {process.poll()}):\n{log[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)


@contextmanager
def running_nginx(
    port: int, replicas: Sequence[str], startup_timeout: float = 15.0, overrides: Mapping[str, str] | None = None
) -> Iterator[Nginx]:
    """nginx with the shipped site file (``overrides`` as in ``render_site``) in front of ``replicas`` on
    127.0.0.1:``port``, in a temporary prefix (world-readable: when started as root, the workers run as
    ``nobody`` and use the cache there); stopped with SIGQUIT (graceful), SIGKILL after 10 s."""
    prefix = Path(tempfile.mkdtemp(prefix="initserve-nginx-"))
    prefix.chmod(0o755)
    try:
        main = write_config(prefix, port, replicas, overrides)
        command = [_binary(), "-p", str(prefix), "-c", str(main), "-e", str(prefix / "error.log")]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for_port(port, process, startup_timeout, prefix)
            yield Nginx(f"http://127.0.0.1:{port}", prefix, process)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            process.wait()
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


@dataclass
class Replica:
    base: str
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return self.base.removeprefix("http://")

    def requests(self, route: str | None = None) -> int:
        """Requests this replica has answered (its /metrics), on ``route`` or on every route but /metrics."""
        import httpx  # test dependencies: imported here so that the module's docs import without them

        from tests.api.helpers import PLAIN_HTTP  # no CA bundle loaded per read (see there)

        text = httpx.get(f"{self.base}/metrics", timeout=10, verify=PLAIN_HTTP).text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith("initserve_requests_total{"):
                continue
            labels, value = line.rsplit(" ", 1)
            this = re.search(r'route="([^"]*)"', labels).group(1)  # type: ignore[union-attr]
            if (route is None and this != "/metrics") or this == route:
                total += float(value)
        return int(total)


@dataclass
class Deployment:
    """nginx with the shipped configuration in front of replicas of ``initserve serve``."""

    nginx: Nginx
    replicas: list[Replica]

    @property
    def base(self) -> str:
        return self.nginx.base

    def upstream_counts(self) -> Counter[str]:
        """Requests nginx passed to each replica (the last address tried), from its access log."""
        counts: Counter[str] = Counter()
        for match in re.finditer(r" upstream=(.*?) upstream_status=", self.nginx.access_log):
            last = match.group(1).split(",")[-1].strip()
            if last != "-":
                counts[last] += 1
        return counts


@contextmanager
def running_deployment(
    count: int = 2,
    env: dict[str, str] | None = None,
    *,
    warm_up: bool = True,
    overrides: Mapping[str, str] | None = None,
) -> Iterator[Deployment]:
    """``count`` replicas (``initserve serve`` on free loopback ports, via tests/api/helpers.py, with ``env``)
    behind nginx (``overrides`` as in ``render_site``), each sent one request of every kind of
    ``tests/deploy/load.py``'s mix first (``warm_up``)."""
    from tests.api.helpers import free_port, server_process
    from tests.deploy.load import warm

    with ExitStack() as stack:
        replicas = [Replica(*stack.enter_context(server_process(env, via_cli=True))) for _ in range(count)]
        if warm_up:
            warm([r.base for r in replicas])
        nginx = stack.enter_context(running_nginx(free_port(), [r.address for r in replicas], overrides=overrides))
        yield Deployment(nginx, replicas)
