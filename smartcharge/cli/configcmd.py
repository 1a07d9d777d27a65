"""``smartcharge check-config``: validate and show the effective configuration."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from smartcharge.config import env_file_path, load_settings, unknown_names


def register(sub: Any) -> None:
    """Add the ``check-config`` command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "check-config", help="validate the settings and print them, secrets masked"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate the settings, print them and return 0 (or raise ConfigError)."""
    for line in unknown_names():
        print(f"smartcharge: warning: {line}", file=sys.stderr)
    settings = load_settings()
    path = env_file_path()
    print(f"# settings OK ({path if path.is_file() else 'no .env file'}; environment wins)")
    width = max(len(k) for k in settings.masked())
    for name, text in settings.masked().items():
        print(f"{name:<{width}} = {text}")
    return 0
