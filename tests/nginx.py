"""nginx in front of several replicas of the app, as the README's "Deploy for a team" says.

:data:`PROXY` is the README's configuration (sticky sessions and the WebSocket
upgrade); :func:`nginx_in_front` runs it with its own prefix, temporary folders,
logs and pid file in a test's folder, on a free loopback port, so the machine's
own nginx service (if any) plays no part.  Its access log says which replica
answered each request and for which replica cookie: see :class:`Nginx`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.browsers import wait_until_healthy

#: The cookie that ties a browser to its replica.
COOKIE = "connections_replica"

#: What a deployment puts in nginx's ``http { }`` block (the README shows it), with
#: ``{servers}`` and ``{listen}`` for the test to fill in.
PROXY = r"""
# Sticky sessions: Streamlit keeps each session in the replica that holds its
# WebSocket, and an upload must reach that same replica. A browser's first request
# is sent by a fresh random id and gets that id as its cookie; from then on the
# cookie picks the replica. ("consistent": adding a replica moves few sessions.)
map $cookie_connections_replica $connections_replica {
    ""      $request_id;
    default $cookie_connections_replica;
}
map $cookie_connections_replica $connections_replica_cookie {
    ""      "connections_replica=$request_id; Path=/; HttpOnly; SameSite=Lax";
    default "";
}
map $http_upgrade $connection_upgrade {
    default upgrade;
    ""      close;
}
log_format connections '$cookie_connections_replica\t$connections_replica\t'
                       '$upstream_addr\t$status\t$request';

upstream connections {
    hash $connections_replica consistent;
{servers}
}

server {
    listen {listen};
    access_log {access_log} connections;
    location / {
        proxy_pass http://connections;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout 1h;               # longer than a session stays idle
        add_header Set-Cookie $connections_replica_cookie always;  # none when empty
    }
}
"""

#: Everything else the test's nginx needs to stay in its folder.
_MAIN = """
{user}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
{proxy}
}}
"""


def nginx_missing() -> str | None:
    """Why nginx can't run here, or None."""
    if _binary() is None:
        return "no nginx (apt-get install -y nginx)"
    return None


def _binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None)


@dataclass(frozen=True)
class Request:
    """One line of the access log."""

    cookie: str       # the replica cookie the browser sent ("" on its first request)
    replica_key: str  # what the upstream was chosen by
    upstream: str     # the replica that answered, host:port
    status: int
    request: str      # "GET /path HTTP/1.1"


@dataclass(frozen=True)
class Nginx:
    url: str
    access_log: Path

    def requests(self) -> list[Request]:
        """Every request logged so far (a WebSocket's line is written when it closes)."""
        if not self.access_log.exists():
            return []
        lines = self.access_log.read_text().splitlines()
        return [_request(line) for line in lines if line.count("\t") == 4]

    def replica_of(self, cookie: str, bound: float = 10) -> str:
        """The replica (host:port) that a browser with this cookie reaches.

        nginx writes a request's log line after it has sent the answer, so the
        line may come a moment after the answer does: wait for it, with a bound.
        """
        answer = requests.get(f"{self.url}/_stcore/health", cookies={COOKIE: cookie},
                              timeout=10)
        answer.raise_for_status()
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            found = next((r.upstream for r in reversed(self.requests()) if r.cookie == cookie),
                         None)
            if found is not None:
                return found
            time.sleep(0.02)  # a poll interval, not a wait for the condition
        raise TimeoutError(f"nginx logged no request with cookie {cookie} within {bound} s")


def _request(line: str) -> Request:
    cookie, key, upstream, status, request = line.split("\t")
    return Request(cookie if cookie != "-" else "", key, upstream, int(status), request)


@contextmanager
def nginx_in_front(replicas: list[str], folder: Path, port: int) -> Iterator[Nginx]:
    """nginx on ``127.0.0.1:port`` sending each browser to one of ``replicas``
    (``host:port``), ready; stopped at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    access_log = folder / "access.log"
    proxy = (PROXY.replace("{servers}", "\n".join(f"    server {r};" for r in replicas))
             .replace("{listen}", f"127.0.0.1:{port}")
             .replace("{access_log}", str(access_log)))
    # Workers run as nobody when started by root, and pytest's folders are root's alone.
    user = "user root;" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(_MAIN.format(user=user, folder=folder, proxy=proxy))
    binary = _binary()
    assert binary is not None, "nginx_missing() says why"
    process = subprocess.Popen(
        [binary, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    nginx = Nginx(f"http://127.0.0.1:{port}", access_log)
    try:
        wait_until_healthy(nginx.url, process, 30, name="nginx",
                           why_it_exited=lambda: _why_it_exited(process, folder))
        yield nginx
    finally:
        process.terminate()
        process.wait(timeout=30)


def _why_it_exited(process: subprocess.Popen[bytes], folder: Path) -> str:
    error = process.stderr.read().decode() if process.stderr else ""
    log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
    return f": {error}{log}"
