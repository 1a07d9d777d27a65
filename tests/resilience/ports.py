"""Ports on 127.0.0.1 for tests: one to hand to a server, one that refuses every connection.

A port found free and then released may be taken by anyone (another xdist worker's server,
an outgoing connection's ephemeral port) before it is used. ``refused_port`` therefore keeps
its socket bound, without listening, for as long as the test needs the port: the kernel
answers every connection with a reset (ECONNREFUSED) and nobody else can bind it.
``free_port`` cannot do that (the daemon must bind the port itself): its callers start again
on another port when it was taken (``tests/resilience/daemon_process.py``).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """Return a port on 127.0.0.1 that was free a moment ago (the caller must cope if not)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def refused_port() -> Iterator[int]:
    """Yield a port on 127.0.0.1 that refuses connections, and stays ours, for the block."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
