"""Work that outlives a script run: a thread reads it, the script thread takes what arrived.

Any click reruns the page, which interrupts the script run that was waiting on a
server.  So, as :class:`ui.ollama_state.PullJob` does for a pull, a :class:`Job`
kept in session state reads the core's iterator (a check's result, or Test all's
results as they come) on a daemon thread of its own into a queue, and never calls
Streamlit; the script thread takes what has arrived (:meth:`Job.take`) whenever
it runs, and a fragment polls while a job runs.  A job that was started is
finished and recorded by the core whatever the page does meanwhile.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from connections_core import ConnectionsError

log = logging.getLogger("connections.ui")

Event = TypeVar("Event")

UNEXPECTED = "The check failed unexpectedly; the server's log has the details."


class _End:
    """What the reading thread puts last: the iterator is exhausted, or failed with ``error``."""

    def __init__(self, error: str | None = None) -> None:
        self.error = error


class Job(Generic[Event]):
    """``events()`` read on a daemon thread; :meth:`take` hands over what arrived.

    ``error`` is the message of a :class:`ConnectionsError` that ended the
    iteration (or a short one for anything unexpected, whose details go to the
    server's log): nothing is lost silently.
    """

    def __init__(self, events: Callable[[], Iterator[Event]], name: str) -> None:
        self.error: str | None = None
        self.finished = threading.Event()  # set once the thread has put everything
        self._ended = False
        self._queue: queue.SimpleQueue[Event | _End] = queue.SimpleQueue()
        threading.Thread(target=self._read, args=(events,), daemon=True, name=name).start()

    @property
    def running(self) -> bool:
        """Whether more may arrive: False once :meth:`take` has taken the end."""
        return not self._ended

    def take(self) -> list[Event]:
        """What arrived since the last call, without waiting."""
        taken: list[Event] = []
        while not self._ended:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(event, _End):
                self._ended, self.error = True, event.error
            else:
                taken.append(event)
        return taken

    def _read(self, events: Callable[[], Iterator[Event]]) -> None:
        """The reading thread: no Streamlit calls here."""
        end = _End()
        try:
            for event in events():
                self._queue.put(event)
        except ConnectionsError as error:
            end = _End(str(error))
        except Exception:  # a thread has nobody to raise to: the log gets the details
            log.exception("A background job failed unexpectedly")
            end = _End(UNEXPECTED)
        finally:
            self._queue.put(end)
            self.finished.set()
