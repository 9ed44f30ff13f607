"""An application's request for credentials, run by hand:
python benchmarks/bench_app_access.py [--size 1000] [--tokens 100] [--dsn postgresql://...]

On each store holding ``--size`` connections and ``--tokens`` application tokens,
what one answer of ``GET /api/v1/credentials/openai`` costs in the core
(``CredentialsGate.resolve``: the token found by its hash, checked, the default
decrypted, and a ``credentials.resolved`` entry written with the token's last use)
against ``resolve_config("openai")`` for trusted code in the same run (a read and a
decryption, no write).  The answer writes, so it costs what a write costs on that
store: on the data file, a write of the file.  PostgreSQL is a throwaway server
started with the tests' own PostgresServer unless --dsn names a scratch database.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_core import best  # noqa: E402
from benchmarks.bench_stores import Databases, opened  # noqa: E402
from connections_core import ConnectionService, CredentialsGate  # noqa: E402


def bench(kind: str, service: ConnectionService, size: int, tokens: int) -> str:
    secrets = [service.create_app_token(f"app {n}")[1] for n in range(tokens)]
    gate = CredentialsGate(service.store, service.keyring, rate_limit=10**9)
    secret = secrets[-1]
    assert gate.resolve(secret, "openai").config == service.resolve_config("openai")

    baseline = best(lambda: service.resolve_config("openai"), 30)
    answer = best(lambda: gate.resolve(secret, "openai"), 30)
    return (f"{kind:10} {size:6} connections {tokens:4} tokens   resolve_config "
            f"{baseline * 1000:7.2f} ms   API answer {answer * 1000:7.2f} ms   "
            f"answer / resolve_config {answer / baseline:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--dsn", help="a scratch PostgreSQL database (emptied first)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, Databases(arguments.dsn) as databases:
        for kind in ("tinydb", "postgresql"):
            with opened(kind, arguments.size, "https://api.openai.com/v1", databases,
                        Path(folder)) as service:
                print(bench(kind, service, arguments.size, arguments.tokens), flush=True)


if __name__ == "__main__":
    main()
