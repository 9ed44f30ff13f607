"""``python -m connections_core <command>``: the command line (see :mod:`.cli`)."""

from .cli import main

main()
