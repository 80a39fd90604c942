"""Several `tpbridge` commands in one interpreter: `cli_batch.py ARGS [--then ARGS]...`.

The test daemon's set-up (`agent add`, then `token create`) is two CLI commands; run as two processes,
Python's start-up and the imports cost more than the daemon's own start. Each command is the same
`tpbridge.bridge.cli.main` with the same environment and stdin; the batch stops at the first that fails
and exits with its status.
"""

from __future__ import annotations

import sys

from tpbridge.bridge.cli import main

SEPARATOR = "--then"


def run(argv: list[str]) -> int:
    commands: list[list[str]] = [[]]
    for arg in argv:
        if arg == SEPARATOR:
            commands.append([])
        else:
            commands[-1].append(arg)
    for command in commands:
        status = main(command)
        sys.stdout.flush()
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
