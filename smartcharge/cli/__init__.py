"""The ``smartcharge`` command line.

One module per command group; each exposes ``register(subparsers)`` and sets
``handler=<function(args) -> exit status>`` on its parsers. ``main()`` turns every
``SmartchargeError`` into a readable message and an exit status: 2 for a configuration or
usage problem, 1 for anything else the user can act on. No traceback reaches the user for a
mistake of theirs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from smartcharge import __version__
from smartcharge.cli import backtest, charger, configcmd, daemon, plan, prices
from smartcharge.errors import ConfigError, SmartchargeError

_GROUPS = (configcmd, charger, prices, backtest, daemon, plan)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="smartcharge",
        description="Price-aware smart charging for Wallbox chargers.",
    )
    parser.add_argument("--version", action="version", version=f"smartcharge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in _GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        status: int = handler(args)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"smartcharge: {line}", file=sys.stderr)
        return 2
    except SmartchargeError as exc:
        print(f"smartcharge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`smartcharge check-config | head -1`): what it wanted was
        # printed. Point stdout at nothing so that the interpreter's final flush stays quiet.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command killed by SIGPIPE
    return status
