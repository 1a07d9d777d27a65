"""The HTTP server's settings checks (issue 14): its address and the API token (pure).

``SMARTCHARGE_HTTP_HOST`` beyond loopback (e.g. ``0.0.0.0`` in a container) needs
``SMARTCHARGE_API_TOKEN``: the daemon refuses to listen there without one (``check-config``
and ``run`` exit 2 naming both variables), so an open port never steers the charger.
"""

from __future__ import annotations

import ipaddress

from pydantic import SecretStr

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})
# A token is guessed by trying, over the network: 16 characters of a random generator's
# output (about 96 bits as URL-safe base64) leave nothing to try.
TOKEN_MIN_CHARS = 16
RANDOM_TEXT_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
TOKEN_ACCEPTED = (
    f"at least {TOKEN_MIN_CHARS} printable characters without spaces, e.g. the output of "
    f"`{RANDOM_TEXT_COMMAND}`"
)


def is_loopback(host: str) -> bool:
    """Return whether listening on ``host`` reaches this machine only."""
    text = host.strip().strip("[]").lower()
    if text in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def check_api_token(value: SecretStr | None) -> SecretStr | None:
    """Return the token (None when empty), or raise ValueError (the value is never shown)."""
    if value is None or not value.get_secret_value():
        return None
    text = value.get_secret_value()
    if len(text) < TOKEN_MIN_CHARS or not text.isprintable() or any(c.isspace() for c in text):
        raise ValueError(f"expected {TOKEN_ACCEPTED}")
    return value


def token_problem(host: str, port: int, token: SecretStr | None) -> str | None:
    """Return why the server cannot listen on ``host`` (None: it can, or there is no server).

    The text follows the address (``SMARTCHARGE_HTTP_HOST=0.0.0.0: ...``).
    """
    if port == 0 or is_loopback(host) or token is not None:
        return None
    return (
        "listens beyond this machine and SMARTCHARGE_API_TOKEN is not set: set "
        f"SMARTCHARGE_API_TOKEN ({TOKEN_ACCEPTED}), or listen on 127.0.0.1 (or "
        "SMARTCHARGE_HEALTH_PORT=0: no server)"
    )


def local_base_url(host: str, port: int) -> str:
    """Return the URL this machine reaches the server at (the CLI's ``smartcharge plan``).

    A wildcard address (``0.0.0.0``, ``::``) is reached on loopback; an IPv6 address gets its
    brackets. The server beyond loopback asks for the token on every path but ``/healthz``.
    """
    text = host.strip().strip("[]")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return f"http://{text}:{port}"
    if address.is_unspecified:
        return f"http://{'[::1]' if address.version == 6 else '127.0.0.1'}:{port}"
    return f"http://[{text}]:{port}" if address.version == 6 else f"http://{text}:{port}"
