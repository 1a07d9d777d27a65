"""The container's HEALTHCHECK: exit 0 if the daemon's /healthz answers 200, else 1.

Reads ``SMARTCHARGE_HEALTH_PORT`` (default 8765) and asks ``127.0.0.1`` directly, never through
a proxy from the environment. Prints the reason on failure; the container engine keeps it in the
health log (``docker inspect``, ``podman healthcheck run``).
"""

import os
import sys
import urllib.error
import urllib.request

# Below the HEALTHCHECK --timeout (10 s), so a hung daemon reports itself instead of being killed.
TIMEOUT_S = 8.0


def main() -> int:
    """Return 0 when /healthz answers 200, 1 otherwise (printing why)."""
    port = os.environ.get("SMARTCHARGE_HEALTH_PORT") or "8765"
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
