"""The container's HEALTHCHECK: exit 0 if the daemon's /healthz answers 200, else 1.

Finds ``SMARTCHARGE_HEALTH_PORT`` where the daemon does: the environment first, then the .env
file (``SMARTCHARGE_ENV_FILE``, e.g. ``/config/.env`` mounted by compose), else 8765. Port 0
means the endpoint is off: the script says so and exits 0 (there is nothing to check; a
failing check would only mark a working container unhealthy forever). It asks ``127.0.0.1``
directly, never through a proxy from the environment, and prints the reason on failure; the
container engine keeps it in the health log (``docker inspect``, ``podman healthcheck run``).
"""

import os
import sys
import urllib.error
import urllib.request

# Below the HEALTHCHECK --timeout (10 s), so a hung daemon reports itself instead of being killed.
TIMEOUT_S = 8.0
VAR = "SMARTCHARGE_HEALTH_PORT"
DEFAULT_PORT = "8765"


def _from_env_file() -> str | None:
    """Return the port set in the .env file, if any (python-dotenv, as the daemon reads it)."""
    path = os.environ.get("SMARTCHARGE_ENV_FILE") or ".env"
    if not os.path.isfile(path):
        return None
    try:
        from dotenv import dotenv_values  # noqa: PLC0415 - installed with pydantic-settings

        value = dotenv_values(path, encoding="utf-8").get(VAR)
    except (ImportError, OSError, UnicodeDecodeError):
        return None
    return value.strip() if value else None


def health_port() -> str:
    """Return the configured port as text: the environment, then the .env file, then 8765."""
    return (os.environ.get(VAR) or "").strip() or _from_env_file() or DEFAULT_PORT


def main() -> int:
    """Return 0 when /healthz answers 200 or the endpoint is off, 1 otherwise (printing why)."""
    port = health_port()
    if port == "0":
        print(f"{VAR}=0: the health endpoint is off; nothing to check")
        return 0
    url = f"http://127.0.0.1:{port}/healthz"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT_S) as response:
            body = response.read(500).decode("utf-8", "replace")
            print(f"{url}: {response.status} {body}")
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        body = exc.read(500).decode("utf-8", "replace")
        print(f"{url}: {exc.code} {body}")
    except (OSError, ValueError) as exc:
        print(f"{url}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
