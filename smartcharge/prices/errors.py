"""The errors of the price sources.

::

    SmartchargeError
      PriceSourceError            a source could not deliver prices; names the source
        PricesNotPublishedError   the period is not published yet ("No matching data"): expected,
                                  retry later, never an error storm
        PriceDataError            malformed or incomplete answer (bad XML or JSON, no series);
                                  the last good prices stay in use
        PriceAuthError            the API key was refused (HTTP 401): permanent until it changes
        PriceRateLimitedError     HTTP 429: back off until ``retry_at``
        PriceUnavailableError     timeout, connection error, HTTP 5xx: transient

No message ever contains the API key: messages are built here, never from a library's text
(requests puts the full URL, ``securityToken`` included, into its ``HTTPError``).
"""

from __future__ import annotations

from datetime import datetime

from smartcharge.errors import SmartchargeError


class PriceSourceError(SmartchargeError):
    """A price source failed.

    Args:
        source: the source's name, e.g. ``entsoe`` or ``entsoe:BE``.
        message: what went wrong and what happens next.
        retry_at: the earliest sensible next try, when the source said so.
    """

    def __init__(self, source: str, message: str, *, retry_at: datetime | None = None) -> None:
        self.source = source
        self.retry_at = retry_at
        super().__init__(f"{source}: {message}")


class PricesNotPublishedError(PriceSourceError):
    """The prices of the asked period are not published (yet)."""


class PriceDataError(PriceSourceError):
    """The answer could not be read as prices."""


class PriceAuthError(PriceSourceError):
    """The source refused our credentials."""


class PriceRateLimitedError(PriceSourceError):
    """The source asked us to slow down."""


class PriceUnavailableError(PriceSourceError):
    """The source did not answer usefully (timeout, connection error, 5xx)."""
