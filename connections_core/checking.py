"""Checking: the checks a person runs (Test, a draft's Test, Test all).

Each check is recorded before a key is sent (what can't be recorded is not sent)
and its outcome after, with one record in the check history
(:mod:`connections_core.history`); the process's checks share one bounded pool
(:mod:`connections_core.checks`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from functools import partial
from typing import Any

from . import checks
from .errors import (
    ConnectionsError,
    DecryptionError,
    EncryptionKeyError,
    StoreError,
    ValidationError,
)
from .inputs import checked_config, kept_secrets, key_needed_again, without_display_values
from .models import Connection
from .providers import TestResult, get_provider, test_connection, validate_config
from .records import damage_of, not_found, unsaved
from .scope import Room
from .text import shown

log = logging.getLogger(__name__)

Record = dict[str, Any]


class Checking(Room):
    """Checks of the scope's workspace's connections."""

    def test(self, id: str) -> TestResult:
        """Check a connection and record its status, time and result.

        For Ollama the model names are stored too.  If the connection is edited
        while the check runs, the result is returned but not recorded: it
        describes a config that no longer exists.  The check waits for a free
        slot of the process's checks (``CONNECTIONS_MAX_CHECKS``).
        """
        self.scope.authorize("test")
        return checks.shared_pool().call(partial(self._test, id))

    def start_test(self, id: str) -> Future[TestResult]:
        """:meth:`test`, run off the caller's thread: returns at once, and the future's
        ``result()`` is what :meth:`test` would return or raise.  A screen polls it
        instead of keeping a thread of its own waiting."""
        self.scope.authorize("start_test")
        return checks.shared_pool().submit(partial(self._test, id))

    def test_draft(self, type: str, config: Mapping[str, Any], *,
                   existing_id: str | None = None) -> TestResult:
        """Check a config before it is saved; the connection is not changed.

        With ``existing_id``, what ``config`` leaves out is that stored connection's:
        its base URL, and its secrets unless the base URL differs from the stored one;
        the check is then recorded in that connection's check history (its status
        stays as it is).

        :raises ValidationError: the config is invalid, or ``existing_id`` is a
            connection of another type.
        """
        self.scope.authorize("test_draft")
        return checks.shared_pool().call(self._draft(type, config, existing_id))

    def start_test_draft(self, type: str, config: Mapping[str, Any], *,
                         existing_id: str | None = None) -> Future[TestResult]:
        """:meth:`test_draft`, run off the caller's thread: the config is checked (a
        :class:`ValidationError` is raised here) and the use of a stored key recorded
        before it returns; the future's ``result()`` is the check's result.  Only the
        check history is written when it ends (with ``existing_id``), so a screen that
        stops waiting (a closed dialog) can simply drop it."""
        self.scope.authorize("start_test_draft")
        return checks.shared_pool().submit(self._draft(type, config, existing_id))

    def _draft(self, type: str, config: Mapping[str, Any],
               existing_id: str | None) -> Callable[[], TestResult]:
        """The check of a draft, ready to run: validated first, and the stored key's use
        recorded before it can be sent (see :meth:`test_draft`)."""
        config = checked_config(config)
        if existing_id is not None:
            record = self.records.record(existing_id)
            if record["type"] != type:
                raise ValidationError({"type": "A draft is tested with the stored key of a "
                                               "connection of the same provider only."})
            # Never the provider's default: the stored key goes where it was saved for.
            config = {**{name: record["config"][name] for name in
                         get_provider(type).destination if name in record["config"]},
                      **config}
        provider, kept = get_provider(type), set[str]()
        if existing_id is not None and not key_needed_again(provider, record["config"], config):
            kept = kept_secrets(provider, record["config"], config)
            config = {**without_display_values(provider, config),
                      **{f: self.records.open_secret(record, f) for f in kept}}
        validate_config(provider, config, standins=self.scope.demo)
        if kept:  # the stored key is sent: recorded first, as by test()
            self.records.attempt("connection.test_started", record, draft=True)
        check = partial(test_connection, type, config, self.scope.timeout,
                        clock=self.scope.ticks, standins=self.scope.demo)
        return check if existing_id is None else partial(self._in_history, check, record)

    def _in_history(self, check: Callable[[], TestResult], record: Record) -> TestResult:
        """Run a draft's check of a saved connection and add it to that connection's
        check history (a record that can't be written is only logged: the draft's
        result is what the person waits for, and nothing was saved)."""
        result = check()
        try:
            with self.records.transaction() as tx:
                self.records.append_checks(tx, [(record, result)],
                                           self.scope.check_source("manual"))
        except (StoreError, EncryptionKeyError) as error:
            log.warning("Could not add a draft's check of connection %s to its history: %s",
                        shown(record.get("id")), error)
        return result

    def iter_test_all(self) -> Iterator[tuple[Connection, TestResult]]:
        """Check every connection of the workspace at once, yielding each result as
        it arrives (in the caller's thread, so a screen can show progress).

        If a Test all of this workspace is under way in the process (started by
        anyone, on any service over the same store), this joins it: its results
        come first, then the rest as they arrive, and nothing is checked twice.
        The run is recorded in the audit trail once, when it ends, or when every
        caller following it has stopped (the checks not started are dropped).
        """
        self.scope.authorize("iter_test_all")
        return self._follow_test_all()

    def test_all(self) -> dict[str, TestResult]:
        """Check every connection of the workspace concurrently: ``{id: result}``
        (joining a Test all under way, as :meth:`iter_test_all` does)."""
        self.scope.authorize("test_all")
        return {connection.id: result for connection, result in self._follow_test_all()}

    def start_test_all(self) -> checks.TestAllRun:
        """:meth:`iter_test_all`, run off the caller's thread: starts (or joins) the
        workspace's Test all and returns at once; the run hands over the results as
        they arrive (``arrived()``), so a screen polls it instead of keeping a thread
        waiting.  It runs to its end unless every caller following it closes it.
        """
        self.scope.authorize("start_test_all")
        return checks.test_all_run(self.records, self._check,
                                   source=self.scope.check_source("test_all"))

    def _test(self, id: str) -> TestResult:
        """Check one connection and record the result (on a thread of the pool): the
        attempt first (what can't be recorded is not sent), then its outcome."""
        record = self.records.record(id, damaged=True)
        if record.get("deleted_at"):
            raise not_found(id)
        self.records.attempt("connection.test_started", record)
        result = self._check(record)
        try:
            self.records.record_results([(record, result)], each="connection.tested",
                                        source=self.scope.check_source("manual"))
        except StoreError as error:
            raise unsaved(error, f"'{shown(record.get('name'))}' was checked "
                                  f"({result.kind})") from None
        return result

    def _follow_test_all(self) -> Iterator[tuple[Connection, TestResult]]:
        # A generator: nothing starts until the caller asks for the first result.
        run = checks.test_all_run(self.records, self._check,
                                  source=self.scope.check_source("test_all"))
        try:
            yield from run.results()
        finally:
            run.close()

    def _check(self, record: Record) -> TestResult:
        """Check one record; whatever happens becomes its result (never an exception,
        so that one bad connection can't stop a run over all of them)."""
        damage = damage_of(record)
        if damage is not None:
            return TestResult(False, self.records.damage_message(record, damage),
                              "invalid_response", 0)
        try:
            config = self.records.decrypted(record)
        except DecryptionError as error:
            return TestResult(False, str(error), "auth", 0)
        try:
            return test_connection(record["type"], config, self.scope.timeout,
                                   clock=self.scope.ticks, standins=self.scope.demo)
        except ValidationError as error:  # saved before today's rules
            return TestResult(False, "This connection's saved settings are no longer accepted "
                                     f"({error}). Edit it and save it again.",
                              "invalid_response", 0)
        except ConnectionsError as error:
            return TestResult(False, str(error), "invalid_response", 0)
        except Exception:
            log.exception("Checking connection %s failed unexpectedly", shown(record.get("id")))
            return TestResult(False, "The check failed unexpectedly; the server's log has the "
                                     "details.", "invalid_response", 0)
