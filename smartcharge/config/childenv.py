"""The environment a child process gets: ours without any setting or key."""

from __future__ import annotations

import os

from smartcharge.config.names import PREFIX


def child_environment() -> dict[str, str]:
    """Return our environment without ``SMARTCHARGE_*`` and ``ENTSOE_*``, for a child process.

    A helper process (the ENTSO-E worker) needs PATH and the like, never our settings: above
    all not ``SMARTCHARGE_ENTSOE_API_KEY``, which it gets over stdin when it needs it.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith((PREFIX, "ENTSOE_"))}
