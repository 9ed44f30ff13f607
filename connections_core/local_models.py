"""Local models: what an Ollama connection's server holds, read, pulled and deleted.

Reads record nothing; a pull or a delete is recorded before it is sent, and its
outcome after."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from . import ollama
from .addresses import standin_problem
from .errors import ConnectionsError, NotFoundError, ProviderError, StoreError, ValidationError
from .inputs import checked_timeout
from .providers import TestResult, bounded_models
from .scope import Room

#: Seconds a pull may be silent: Ollama says nothing while it verifies a
#: downloaded layer, which takes minutes for a large model.
PULL_SILENCE_LIMIT = 600.0

Record = dict[str, Any]


class LocalModels(Room):
    """The models on the servers of the workspace's Ollama connections."""

    def refresh_ollama_models(self, id: str) -> list[ollama.OllamaModel]:
        """List an Ollama connection's models and store their names on it.

        :raises ValidationError: the connection is not an Ollama connection.
        :raises ProviderError: the server can't be reached (also recorded).
        """
        self.scope.authorize("refresh_ollama_models")
        record = self._ollama_record(id)
        started = self.scope.ticks()
        try:
            models = ollama.list_models(record["config"]["baseUrl"], timeout=self.scope.timeout)
        except ProviderError as error:
            failed = TestResult(False, str(error), error.kind,  # type: ignore[arg-type]
                                self.scope.elapsed_ms(started), status_code=error.status_code)
            self.records.record_results([(record, failed)], each="connection.tested",
                                        source=self.scope.check_source("manual"))
            raise
        names = tuple(bounded_models([m.name for m in models]))
        found = TestResult(True, f"{len(models)} models on the server.", "ok",
                           self.scope.elapsed_ms(started), names, 200)
        self.records.record_results([(record, found)], each="connection.tested",
                                    source=self.scope.check_source("manual"))
        return models

    def ollama_models(self, id: str) -> list[ollama.OllamaModel]:
        """The models on the server of Ollama connection ``id``, read now.

        A read: it records nothing and leaves the connection's status as it is
        (only :meth:`test`, :meth:`test_all` or :meth:`refresh_ollama_models` do).

        :raises ValidationError: the connection is not an Ollama connection.
        :raises ProviderError: the server can't be reached or is not Ollama.
        """
        self.scope.authorize("ollama_models")
        return ollama.list_models(self._ollama_record(id)["config"]["baseUrl"],
                                  timeout=self.scope.timeout)

    def ollama_version(self, id: str) -> str:
        """The Ollama version of connection ``id``'s server (a read, as :meth:`ollama_models`)."""
        self.scope.authorize("ollama_version")
        return ollama.version(self._ollama_record(id)["config"]["baseUrl"],
                              timeout=self.scope.timeout)

    def running_models(self, id: str) -> list[ollama.RunningModel]:
        """The models loaded in memory on connection ``id``'s server (a read)."""
        self.scope.authorize("running_models")
        return ollama.list_running(self._ollama_record(id)["config"]["baseUrl"],
                                   timeout=self.scope.timeout)

    def model_details(self, id: str, name: str) -> ollama.ModelInfo:
        """What connection ``id``'s server says about model ``name`` (a read).

        :raises ValidationError: ``name`` is not a model name.
        :raises NotFoundError: the model is not on the server.
        """
        self.scope.authorize("model_details")
        record = self._ollama_record(id)
        return ollama.show_model(record["config"]["baseUrl"], ollama.checked_name(name),
                                 timeout=self.scope.timeout)

    def pull_model(self, id: str, name: str, *, timeout: float = PULL_SILENCE_LIMIT
                   ) -> ollama.Pull:
        """Pull ``name`` onto the server of Ollama connection ``id``, yielding the same
        progress as :func:`connections_core.ollama.pull_model`.

        Access is checked and the name validated at once; the request is sent
        when iteration starts.  A pull that ends with success is recorded;
        closing the iterator early, or ``cancel()`` from another thread,
        cancels it.  ``timeout`` bounds the silence between two progress
        lines, not the whole pull.
        """
        self.scope.authorize("pull_model")
        timeout = checked_timeout(timeout, "timeout")
        record = self._ollama_record(id)
        model = ollama.checked_name(name)
        pull = ollama.pull_model(record["config"]["baseUrl"], model, timeout=timeout)
        return ollama.Pull(self._recorded_pull(record, model, pull), pull.cancel)

    def delete_model(self, id: str, name: str) -> None:
        """Delete ``name`` from the server of Ollama connection ``id``, and record it.

        :raises NotFoundError: the model is not on the server.
        """
        self.scope.authorize("delete_model")
        record = self._ollama_record(id)
        model = ollama.checked_name(name)
        self.records.attempt("ollama.model_delete_started", record, model=model)
        try:
            ollama.delete_model(record["config"]["baseUrl"], model, timeout=self.scope.timeout)
        except ConnectionsError as error:
            self.records.outcome("ollama.model_delete_failed", record, model=model,
                          error=_error_kind(error))
            raise
        self.records.outcome("ollama.model_deleted", record, model=model, required=True)

    def _recorded_pull(self, record: Record, name: str, steps: ollama.Pull
                       ) -> Generator[ollama.PullProgress, None, None]:
        try:
            self.records.attempt("ollama.model_pull_started", record, model=name)
        except StoreError:
            steps.close()  # never started: nothing was sent
            raise
        try:
            yield from steps  # raises unless the server said "success"
        except GeneratorExit:
            self.records.outcome("ollama.model_pull_cancelled", record, model=name)
            raise
        except ConnectionsError as error:
            if getattr(error, "kind", None) == "cancelled":
                self.records.outcome("ollama.model_pull_cancelled", record, model=name)
            else:
                self.records.outcome("ollama.model_pull_failed", record, model=name,
                              error=_error_kind(error))
            raise
        self.records.outcome("ollama.model_pulled", record, model=name, required=True)

    def _ollama_record(self, id: str) -> Record:
        record = self.records.record(id)
        if record["type"] != "ollama" or record.get("deleted_at"):
            raise ValidationError({"type": "Only Ollama connections have local models."})
        problem = None if self.scope.demo else standin_problem(record["config"].get("baseUrl"))
        if problem:  # saved before the stand-in took its port: not the demo's
            raise ValidationError({"baseUrl": problem})
        return record


def _error_kind(error: ConnectionsError) -> str:
    """What went wrong, as an audit entry says it: a provider error's kind
    (``unreachable``, ``auth``, ...), ``not_found``, or the error's class."""
    if isinstance(error, NotFoundError):
        return "not_found"
    return str(getattr(error, "kind", None) or type(error).__name__)
