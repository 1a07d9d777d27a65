"""Run ``smartcharge.cli.main`` in-process and capture what the user would see."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from smartcharge.cli import main

_PREFIXES = ("SMARTCHARGE_", "ENTSOE_")


@dataclass(frozen=True)
class CliResult:
    """What one CLI run left behind.

    Attributes:
        status: the exit status (``main``'s return value, or the ``SystemExit`` code).
        out: everything written to stdout.
        err: everything written to stderr.
    """

    status: int
    out: str
    err: str

    @property
    def problems(self) -> list[str]:
        """Return the stderr lines that report a problem (not warnings, not usage)."""
        return [
            line
            for line in self.err.splitlines()
            if line.startswith("smartcharge: ") and not line.startswith("smartcharge: warning:")
        ]

    @property
    def warnings(self) -> list[str]:
        """Return the ``smartcharge: warning:`` lines."""
        return [line for line in self.err.splitlines() if line.startswith("smartcharge: warning:")]


def run_cli(argv: Sequence[str]) -> CliResult:
    """Run the CLI with ``argv``; any exception other than SystemExit propagates (a bug)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exc:
            code = exc.code
            status = code if isinstance(code, int) else (0 if code is None else 1)
    return CliResult(status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` (and only them, among SMARTCHARGE_/ENTSOE_ names) for the block.

    Hypothesis examples cannot use the function-scoped ``monkeypatch``; this restores the
    environment exactly after each example.
    """
    saved = {k: v for k, v in os.environ.items() if k.startswith(_PREFIXES)}
    for name in saved:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith(_PREFIXES)]:
            del os.environ[name]
        os.environ.update(saved)
