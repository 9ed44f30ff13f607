"""What the dashboard's server runs from its start to its stop, beside the screens: the
scheduled checks (:class:`connections_core.Scheduler`), on a daemon thread.

:func:`lifespan` is given to ``st.App(..., lifespan=lifespan)``, so the checks start
with the server, whether or not anyone opens a page (never from a page's rerun), and
stop when it stops.  They run over the store the screens use (the environment, with
the key from ``.streamlit/secrets.toml`` when the environment has none), in every
workspace.  ``CONNECTIONS_SCHEDULER=0`` leaves them to a separate worker
(``python -m connections_core watch``).

Until the dashboard has a key (an empty data folder, before the first page made
one) nothing can be scheduled, and nothing is opened: the first page makes the key
as it always has.  A store that can't be opened yet (a database not up) is tried
again every :data:`OPEN_RETRY_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from connections_core import (
    ConnectionsError,
    ConnectionService,
    Scheduler,
    ValidationError,
    scheduler_enabled,
)
from connections_core.crypto import env_key
from connections_core.environment import (
    DATA_DIR_VARIABLE,
    DATABASE_URL_VARIABLE,
    DEFAULT_DATA_DIR,
    KEY_FILE,
)

__all__ = ["OPEN_RETRY_SECONDS", "ScheduledChecks", "lifespan"]

log = logging.getLogger(__name__)

#: Seconds between tries to open the store while it can't be opened (or has no key yet).
OPEN_RETRY_SECONDS = 5.0
#: Seconds the server's stop waits for the checks to stop.
STOP_SECONDS = 10.0


@asynccontextmanager
async def lifespan(app: object) -> AsyncIterator[None]:
    """Run the scheduled checks while the server runs (unless ``CONNECTIONS_SCHEDULER=0``)."""
    try:
        enabled = scheduler_enabled()
    except ValidationError as error:
        log.error("Scheduled checks are not run by this server: %s", error)
        enabled = False
    checks = ScheduledChecks() if enabled else None
    if checks is not None:
        checks.start()
    try:
        yield None
    finally:
        if checks is not None:
            await asyncio.to_thread(checks.stop, STOP_SECONDS)


class ScheduledChecks:
    """The server's scheduler, on a daemon thread that first opens the store (trying
    again while it can't) and then runs the scheduler until :meth:`stop`."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._scheduler: Scheduler | None = None
        self._thread = threading.Thread(target=self._run, name="connections-scheduled-checks",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the checks and wait (at most ``timeout`` seconds) until they have."""
        with self._lock:
            self._stopping.set()
            scheduler = self._scheduler
        if scheduler is not None:
            scheduler.stop()
        self._thread.join(timeout)

    def _run(self) -> None:
        service = self._open()
        if service is None:
            return
        scheduler = Scheduler.for_service(service)
        with self._lock:
            if self._stopping.is_set():
                return
            self._scheduler = scheduler
        scheduler.run()

    def _open(self) -> ConnectionService | None:
        """The trusted service over the screens' store, once there is one; None if the
        server stops first."""
        problem = None
        while not self._stopping.is_set():
            try:
                service = _service()
            except ConnectionsError as error:
                if str(error) != problem:
                    log.warning("Scheduled checks are waiting for the store: %s", error)
                    problem = str(error)
            else:
                if service is not None:
                    return service
            self._stopping.wait(OPEN_RETRY_SECONDS)
        return None


def _service() -> ConnectionService | None:
    """The service the screens' store is opened with, or None while there is no key
    (the dashboard makes one on its first page: nothing is scheduled before)."""
    # The screens' environment: the key from st.secrets when the environment has none.
    from ui.service import screens_environment

    environ, _ = screens_environment()
    on_database = bool(environ.get(DATABASE_URL_VARIABLE, "").strip())
    data_dir = Path(environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)
    if not on_database and env_key(environ) is None and not (data_dir / KEY_FILE).exists():
        return None
    return ConnectionService.from_env(environ=environ)
