"""The charger link's settings checks (issue 15 item 7): pure helpers that raise ValueError.

The OCPP endpoint's address, port, charge point id and the optional TLS certificate and key.
Settings calls them from its validators, so each problem becomes one line naming the variable.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from pathlib import Path

# A host name label (RFC 1123) or a dotted name of them.
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")
# The charger appends its identity to the URL path (evcc#15490), so it must be one plain path
# segment; OCPP 1.6 gives the identity 48 characters at most (chargeBoxIdentity, CiString48).
_CHARGE_POINT_ID = re.compile(r"^[A-Za-z0-9._:~-]{1,48}$")
CHARGE_POINT_ID_ACCEPTED = (
    "expected the Charge Point Identity entered in the Wallbox app: 1 to 48 letters, digits "
    "or . _ - : ~ (no spaces or slashes), e.g. WB123456"
)
HOST_ACCEPTED = (
    "expected an address to listen on, without scheme or port, e.g. 127.0.0.1 (this machine "
    "only) or 0.0.0.0 (every interface)"
)
PORT_ACCEPTED = "expected a TCP port from 1 to 65535, e.g. 9000"
PAIR_VARS = ("SMARTCHARGE_OCPP_CERT_FILE", "SMARTCHARGE_OCPP_KEY_FILE")


def check_host(value: str) -> str:
    """Return the address to listen on, or raise ValueError saying what is accepted."""
    text = value.strip()
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not _HOST_NAME.match(text):
            raise ValueError(HOST_ACCEPTED) from None
    return text


def check_port(value: int) -> int:
    """Return a TCP port number, or raise ValueError."""
    if not 1 <= value <= 65535:
        raise ValueError(PORT_ACCEPTED)
    return value


def check_charge_point_id(value: str | None) -> str | None:
    """Return the charge point id (None when empty), or raise ValueError."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not _CHARGE_POINT_ID.match(text):
        raise ValueError(CHARGE_POINT_ID_ACCEPTED)
    return text


def check_pem_file(path: Path | None, what: str) -> Path | None:
    """Return ``path`` when it is a readable file, or raise ValueError (``what``: its content)."""
    if path is None:
        return None
    try:
        with path.open("rb"):
            pass
    except ValueError:  # a NUL in the path
        raise ValueError(f"expected the path of a PEM {what} file") from None
    except FileNotFoundError:
        raise ValueError(f"no such file; expected a PEM {what} file") from None
    except IsADirectoryError:
        raise ValueError(f"a folder; expected a PEM {what} file") from None
    except OSError as exc:
        raise ValueError(
            f"cannot read the file ({exc.strerror}); expected a PEM {what} file readable by "
            "this user"
        ) from None
    return path


def pair_problem(cert: Path | None, key: Path | None) -> str | None:
    """Return why the certificate and key cannot serve wss together (None: they can, or unset).

    Loads them the way the OCPP endpoint will (``ssl.SSLContext.load_cert_chain``); an
    encrypted key is refused rather than prompting for its passphrase on the terminal.
    """
    cert_var, key_var = PAIR_VARS
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        have, lack = (cert_var, key_var) if key is None else (key_var, cert_var)
        return (
            f"{have} is set but {lack} is not: wss needs both, the certificate and its "
            "private key (or neither, for plain ws)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        why = (
            "the key does not belong to the certificate"
            if "KEY_VALUES_MISMATCH" in str(exc)
            else "expected a PEM certificate and its unencrypted PEM private key"
        )
        return f"{cert_var} and {key_var}: {why}"
    except OSError as exc:  # read between the file checks and here: gone or unreadable now
        return f"{cert_var} and {key_var}: cannot read them ({exc.strerror})"
    return None
