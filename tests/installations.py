"""An installation: a data folder, its key, and the command line run on it.

For the tests of ``python -m connections_core`` (``tests/test_cli*.py``): each
builds its installation with the core in this process, then runs the CLI as a
real subprocess with only the environment a person would set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connections_core import ConnectionService, KeyRing, TinyDBStore
from tests.fakes import API_KEY

ROOT = Path(__file__).resolve().parent.parent
#: The fake provider's key's last four characters: no output shows even these.
SECRET_TAIL = API_KEY[-4:]


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def output(self) -> str:
        return self.out + self.err


@dataclass
class Installation:
    """A data folder, its key, and how to run the CLI on it."""

    home: Path
    data: Path
    key: str

    @property
    def data_file(self) -> Path:
        return self.data / "connections.json"

    def service(self, workspace: str = "default", *, key: str | None = None,
                clock: Any = None) -> ConnectionService:
        extra = {} if clock is None else {"clock": clock}
        return ConnectionService(TinyDBStore(self.data_file), KeyRing(key or self.key),
                                 workspace, **extra)

    def env(self, **changes: str | None) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("ENCRYPTION_", "CONNECTIONS_"))}
        env.update(PYTHONPATH=str(ROOT), HOME=str(self.home), NO_PROXY="127.0.0.1",
                   CONNECTIONS_DATA_DIR=str(self.data), ENCRYPTION_KEY=self.key)
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def start(self, *args: str, **env: str | None) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "connections_core", *args],
                                cwd=self.home, env=self.env(**env), text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def run(self, *args: str, stdin: str = "", **env: str | None) -> Ran:
        return finish(self.start(*args, **env), stdin)

    def run_all(self, *commands: Sequence[str]) -> list[Ran]:
        """Several commands at once (each a list of arguments), results in order."""
        started = [self.start(*args) for args in commands]
        return [finish(process) for process in started]


def finish(process: subprocess.Popen[str], stdin: str = "") -> Ran:
    out, err = process.communicate(stdin, timeout=60)
    return Ran(process.returncode, out, err)


def assert_one_line_error(ran: Ran, code: int, *words: str) -> None:
    assert ran.code == code, ran
    assert "Traceback" not in ran.output
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), ran.err
    for word in words:
        assert word.lower() in lines[0].lower()
