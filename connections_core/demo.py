"""The demo: a workspace of connections to stand-in providers, in a store of its own.

:func:`open_demo` gives an ordinary :class:`~connections_core.ConnectionService`
over the demo's store: a TinyDB file in a private temporary folder of this
process (mode 0700, removed at exit), its secrets encrypted with a key made for
it (never ``ENCRYPTION_KEY``).  Its one workspace, :data:`DEMO_WORKSPACE`, holds
connections to the stand-in providers of :mod:`connections_core.standins`, each
checked for real when the demo is seeded, so every status is true (and given a
made-up past week of checks every 15 minutes, for the cards and the History dialog):

* "OpenAI (demo)": the OpenAI default, connected;
* "Anthropic (demo)": a wrong key, refused as Anthropic refuses one (``auth``);
* "Ollama (demo)": the Ollama default, connected, with models to browse, inspect,
  pull (``gemma3:1b`` is not there yet) and delete;
* "Ollama on the lab server (demo)": a server that is down (``unreachable``).

Importing this module starts and writes nothing; the first :func:`open_demo`
starts the stand-ins and seeds the demo::

    service = open_demo()          # the demo's service (its first call seeds it)
    service.test_all()             # every operation works on it
    reset_demo()                   # back to how it started, for every service over it
    close_demo()                   # stand-ins stopped, folder removed (also at exit)

Only the demo's connections may point at the stand-ins (a stand-in never receives
a real key); with sign-in on, only instance admins may open the demo.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from . import access, crypto
from .errors import PermissionDeniedError
from .scope import ADMINS_VARIABLE
from .service import ConnectionService
from .storage import Record, Revision, Store, Transaction
from .store import TinyDBStore

if TYPE_CHECKING:  # the stand-ins' modules are imported when the demo is first opened
    from .standins import StandIns

__all__ = ["DEMO_NOTICE", "DEMO_VARIABLE", "DEMO_WORKSPACE", "OPEN_DEMO", "DemoStore",
           "close_demo", "demo_requested", "is_demo", "open_demo", "reset_demo"]

log = logging.getLogger(__name__)

DEMO_WORKSPACE = "demo"
#: Set to 1 (or true) to open the dashboard straight on the demo (a kiosk, a screenshot).
DEMO_VARIABLE = "CONNECTIONS_DEMO"
#: What every screen (and the command line) says while it shows the demo.
DEMO_NOTICE = ("This is a demo: its providers are stand-ins running inside this app, on this "
               "machine. Nothing you do here leaves this machine, and your own connections "
               "are not touched.")
#: The operation's name in the access rule (an instance admin's, with sign-in on).
OPEN_DEMO = "open_demo"
#: The Anthropic connection's key: not the stand-in's, so that its check fails as a
#: wrong key does.
WRONG_ANTHROPIC_KEY = "sk-ant-demo-revoked-key-0000"


def demo_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``CONNECTIONS_DEMO`` asks for the demo (1, true or yes)."""
    value = (os.environ if environ is None else environ).get(DEMO_VARIABLE, "")
    return value.strip().lower() in ("1", "true", "yes")


def open_demo(*, actor: str | None = None, admins: Iterable[str] = ()) -> ConnectionService:
    """The demo's service, for ``actor`` (None: trusted code, or sign-in off).

    The first call in the process starts the stand-ins and seeds the demo (its
    checks run for real); later calls are cheap and return a service over the
    same store.  If the stand-ins were stopped meanwhile, the demo is seeded
    again on new ones.

    :param actor: the signed-in person, who must be an instance admin.
    :param admins: the instance administrators (``service.admins``).
    :raises PermissionDeniedError: ``actor`` is not an instance admin (nothing is
        started).
    :raises ValidationError: ``actor`` or an admin is not an e-mail address.
    :raises ConnectionsError: the stand-ins can't start.
    """
    admins = access.checked_emails([admins] if isinstance(admins, str) else admins, "admins")
    if actor is not None:
        who = access.checked_email(actor, "actor")
        if not access.allows(None, OPEN_DEMO, instance_admin=who in admins):
            raise PermissionDeniedError(
                f"Only an instance admin ({ADMINS_VARIABLE}) may open the demo while sign-in "
                f"is on; {who} is not one. Ask an instance admin to show it.", OPEN_DEMO)
    demo = _the_demo()
    return ConnectionService(demo.store, demo.keyring, DEMO_WORKSPACE, actor=actor,
                             admins=admins)


def reset_demo() -> None:
    """Put the demo back as it started: its connections, their statuses, the audit
    trail and the Ollama stand-in's models.  Every service over the demo's store
    sees the new start at once; nothing happens if the demo was never opened."""
    with _guard:
        if _demo is not None:
            _demo.reseed()


def close_demo() -> None:
    """Stop the stand-ins and remove the demo's folder (also done at exit); the next
    :func:`open_demo` starts afresh.  Services over the old demo fail from now on."""
    global _demo
    with _guard:
        demo, _demo = _demo, None
    if demo is not None:
        demo.close()


def is_demo(service: ConnectionService) -> bool:
    """Whether ``service`` is over the demo's store."""
    return service.store.demo


class DemoStore(Store):
    """The demo's store: a TinyDB file in the demo's private folder, which a reset
    replaces with a freshly seeded one (every service over this store sees it)."""

    kind = "tinydb"
    demo = True

    def __init__(self, inner: TinyDBStore) -> None:
        self._inner = inner

    def replace(self, inner: TinyDBStore) -> TinyDBStore:
        """Serve ``inner`` from now on; returns the file served until now."""
        old, self._inner = self._inner, inner
        return old

    @property
    def path(self) -> Path:
        """The data file served now (in the demo's private folder)."""
        return self._inner.path

    @property
    def location(self) -> str:
        return (f"the demo's own data file {self._inner.path} (temporary: removed when the "
                "app stops)")

    def __repr__(self) -> str:
        return f"DemoStore({str(self._inner.path)!r})"

    def transaction(self, *, audit_cutoff: datetime | None = None
                    ) -> AbstractContextManager[Transaction]:
        return self._inner.transaction(audit_cutoff=audit_cutoff)

    def revision(self) -> Revision:
        inner = self._inner
        return _of(inner, inner.revision())

    def connections(self, workspace_id: str | None = None) -> tuple[Revision, list[Record]]:
        inner = self._inner
        revision, rows = inner.connections(workspace_id)
        return _of(inner, revision), rows

    def connection(self, workspace_id: str, id: str) -> Record | None:
        return self._inner.connection(workspace_id, id)

    def members(self, workspace_id: str | None = None) -> list[Record]:
        return self._inner.members(workspace_id)

    def sign_out(self, email: str) -> Record | None:
        return self._inner.sign_out(email)

    def key_check(self) -> Record | None:
        return self._inner.key_check()

    def audit_entries(self, workspace_id: str | None = None) -> Iterator[Record]:
        return self._inner.audit_entries(workspace_id)

    def checks(self, workspace_id: str, connection_id: str, *, since: datetime,
               limit: int | None) -> list[Record]:
        return self._inner.checks(workspace_id, connection_id, since=since, limit=limit)

    def check_summary(self, workspace_id: str, connection_id: str, *,
                      since: datetime) -> Record:
        return self._inner.check_summary(workspace_id, connection_id, since=since)
    def workspace_settings(self, workspace_id: str | None = None) -> list[Record]:
        return self._inner.workspace_settings(workspace_id)

    def app_token(self, hash: str) -> Record | None:
        return self._inner.app_token(hash)

    def app_tokens(self, workspace_id: str | None = None) -> list[Record]:
        return self._inner.app_tokens(workspace_id)
    def next_check_at(self) -> datetime | None:
        return self._inner.next_check_at()

    def size_bytes(self) -> int | None:
        return self._inner.size_bytes()

    def file_warnings(self) -> list[str]:
        return self._inner.file_warnings()


def _of(inner: TinyDBStore, revision: Revision) -> Revision:
    """A revision of one of the demo's files: never equal to one of another file."""
    return None if revision is None else (str(inner.path), revision)


class _Demo:
    """The demo of this process: its private folder, key, store and stand-ins."""

    def __init__(self) -> None:
        from . import standins

        self.root = Path(tempfile.mkdtemp(prefix="connections-demo-"))  # mode 0700
        self.keyring = crypto.KeyRing(crypto.generate_key())
        self.generation = 0
        try:
            self.stand_ins: StandIns = standins.start()
            self.store = DemoStore(self._seeded())
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def reseed(self) -> None:
        """A freshly seeded file in place of the one served (on the stand-ins that
        run now, their Ollama models put back)."""
        from . import standins

        self.stand_ins = standins.start()
        self.stand_ins.reset()
        old = self.store.replace(self._seeded())
        shutil.rmtree(old.path.parent, ignore_errors=True)

    def close(self) -> None:
        from . import standins

        if standins.running() is self.stand_ins:
            standins.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _seeded(self) -> TinyDBStore:
        self.generation += 1
        inner = TinyDBStore(self.root / str(self.generation) / "connections.json")
        _seed(ConnectionService(DemoStore(inner), self.keyring, DEMO_WORKSPACE),
             self.stand_ins)
        return inner


def _seed(service: ConnectionService, stand_ins: StandIns) -> None:
    """Add the demo's connections to ``service``'s workspace, give them a past week of
    checks (so the cards' last day and the History dialog have something to show),
    and check them all for real (so each status is what the stand-ins answer)."""
    lab = service.create("ollama", "Ollama on the lab server (demo)",
                         {"baseUrl": stand_ins.unreachable_url})
    ollama = service.create("ollama", "Ollama (demo)", {"baseUrl": stand_ins.ollama_url})
    if lab.is_default:  # the one that works is the default
        service.set_default(ollama.id)
    anthropic = service.create("anthropic", "Anthropic (demo)",
                               {"apiKey": WRONG_ANTHROPIC_KEY,
                                "baseUrl": stand_ins.anthropic_url})
    openai = service.create("openai", "OpenAI (demo)",
                            {"apiKey": stand_ins.openai_key, "baseUrl": stand_ins.openai_url})
    now = datetime.now(UTC)
    with service.store.transaction() as tx:
        tx.append_checks(_past_week(service.workspace_id, now, {
            openai.id: (lambda hours: None, 140, 420),
            # The key was revoked five hours ago: Anthropic has refused it since.
            anthropic.id: (lambda hours: ("auth", 401) if hours < 5 else None, 210, 520),
            # Down for an hour two days ago, then back.
            ollama.id: (lambda hours: ("unreachable", None) if 47 <= hours < 48 else None, 8, 45),
            lab.id: (lambda hours: ("unreachable", None), 0, 0),
        }))
    service.test_all()


#: How the demo's past week goes for a connection: what a check ``hours`` ago failed
#: with (its kind and HTTP status) or None when it passed, and its usual latencies (ms).
Past = tuple[Callable[[float], tuple[str, int | None] | None], int, int]


def _past_week(workspace_id: str, now: datetime, pasts: Mapping[str, Past]) -> list[Record]:
    """A check every 15 minutes over the past week for each connection, as ``pasts``
    says it went (the same every time: a seeded generator draws the latencies)."""
    draw = random.Random(20)  # noqa: S311  (made-up latencies, nothing secret)
    rows: list[Record] = []
    for step in range(7 * 24 * 4, 0, -1):
        at = now - timedelta(minutes=15 * step)
        for id, (failed, fastest, slowest) in pasts.items():
            failure = failed(step / 4)
            latency = draw.randint(fastest, slowest) if draw.random() > 0.03 else slowest * 3
            rows.append({"at": at.isoformat(), "workspace_id": workspace_id,
                         "connection_id": id, "success": failure is None,
                         "kind": "ok" if failure is None else failure[0],
                         "latency_ms": latency if failure is None or failure[1] else 0,
                         "status_code": 200 if failure is None else failure[1],
                         "source": "schedule"})
    return rows


_demo: _Demo | None = None
_guard = threading.Lock()
_exit_hooked = False


def _the_demo() -> _Demo:
    """The demo of this process: opened (and seeded) now if it is not, or seeded
    again if its stand-ins were stopped."""
    global _demo, _exit_hooked
    with _guard:
        if _demo is None:
            _demo = _Demo()
            log.info("Opened the demo in %s", _demo.root)
            if not _exit_hooked:
                atexit.register(close_demo)
                _exit_hooked = True
        elif _demo.stand_ins.closed:
            _demo.reseed()
        return _demo
