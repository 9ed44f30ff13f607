"""``watch``: run the scheduled checks in the foreground, as the dashboard's server does."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from ..models import STATUS_LABELS
from ..scheduler import ScheduledCheck, Scheduler
from ..text import counted, duration
from .common import OK, data_dir_option, echo, open_service
from .listing import iso_time, provider_name

#: How often the waiting command looks up from waiting (a signal wakes it sooner).
_POLL_SECONDS = 1.0


class _Terminated(Exception):
    """SIGTERM arrived: stop as Ctrl-C does."""


@click.command("watch")
@data_dir_option
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="S", help="Seconds each check may take (default 15).")
def watch_command(data_dir: Path | None, timeout: float | None) -> int:
    """Run the scheduled checks of every workspace until Ctrl-C (or SIGTERM), printing a
    line per check: when it started, its status, the connection and how long it took.

    The dashboard's server runs the same checks unless CONNECTIONS_SCHEDULER=0; run
    this as a worker of its own instead. Any number of watchers and servers may run
    over one data folder or database: each due check runs once. Set a schedule with
    service.set_schedule(id, minutes) (see the README).

    \b
    Example:
      python -m connections_core watch --data-dir /srv/connections/data
    """
    service = open_service(data_dir)
    if timeout is not None:
        service.timeout = timeout
    seen = [0]

    def show(check: ScheduledCheck) -> None:
        seen[0] += 1
        echo(_check_line(check))

    scheduler = Scheduler.for_service(service, on_checked=show)
    echo(f"Running the scheduled checks of every workspace in {service.store.location}. "
         "Ctrl-C stops.", err=True)
    with _terminated_by_sigterm():
        scheduler.start()
        try:
            while not scheduler.join(_POLL_SECONDS):
                pass
        except (KeyboardInterrupt, _Terminated):
            pass
        finally:
            scheduler.stop()
    echo(f"Stopped after {counted(seen[0], 'scheduled check')}.", err=True)
    return OK


def _check_line(check: ScheduledCheck) -> str:
    """One check, never its key: when, status, which, and how long (what failed, if)."""
    connection, result = check.connection, check.result
    verdict = STATUS_LABELS["connected" if result.success else "error"]
    how = duration(result.latency_ms) + ("" if result.success else f", {result.kind}")
    return (f"{iso_time(check.started_at)}  {verdict:<9}  {connection.workspace_id}/"
            f"{connection.name} ({provider_name(connection.type)}, {how})")


@contextmanager
def _terminated_by_sigterm() -> Iterator[None]:
    """SIGTERM (a service manager stopping the worker) stops it as Ctrl-C does (only
    in the main thread, where signals are handled)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    before = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
