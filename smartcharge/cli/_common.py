"""Helpers shared by the command modules."""

from __future__ import annotations

import sys

from smartcharge.config import Settings, load_settings, slip_warnings, unknown_names
from smartcharge.logsetup import configure_logging


def settings_and_logging(*, quiet: bool = False, one_shot: bool = True) -> Settings:
    """Load the settings (raising ConfigError), warn about typos, and configure logging.

    Log lines go to stderr, so a command's own output on stdout (tables, ``--json``) stays
    clean; a container runtime collects both streams. A one-shot command (everything but
    ``run``) says what went wrong in its own sentences, so its log lines are written only at
    ``SMARTCHARGE_LOG_LEVEL=DEBUG``.
    """
    if not quiet:
        for line in unknown_names():
            print(f"smartcharge: warning: {line}", file=sys.stderr)
    settings = load_settings()
    configure_logging(settings, stream=sys.stderr, one_shot=one_shot)
    if not quiet:
        for line in slip_warnings(settings):
            print(f"smartcharge: warning: {line}", file=sys.stderr)
    return settings
