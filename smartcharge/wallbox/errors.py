"""The errors the Wallbox cloud adapter raises.

::

    SmartchargeError
      WallboxError                 anything that went wrong talking to the Wallbox cloud
        WallboxAuthError           sign-in rejected (403 on users/signin), or too many sign-ins
                                   this hour: permanent until the credentials change
        WallboxChargerNotFoundError  the charger id is not on the account (404 on the api
                                   host), or the account has no charger / several and none
                                   was chosen
        WallboxForbiddenError      403 on a command (not the owner, OCPP mode): permanent for
                                   that action; names it
        WallboxRateLimitedError    429, or a 403 on polling that behaves like one
                                   (wallbox-api.md §8, §9): back off until ``retry_at``
        WallboxUnavailableError    timeout, dropped connection, 5xx: transient;
                                   ``outcome_unknown`` is set when a command may have arrived
        WallboxResponseError       unexpected JSON (names the endpoint and the field), or an
                                   unexpected status, e.g. 404 from the sign-in URL

A 401 from the API means the access token expired; the client refreshes it (or signs in once
when the refresh is refused) and retries, so it never surfaces unless that fails, and then as a
``WallboxAuthError``. No message, ``str`` or ``repr`` ever holds a token or a password.
"""

from __future__ import annotations

from datetime import datetime

from smartcharge.errors import SmartchargeError

__all__ = [
    "WallboxAuthError",
    "WallboxChargerNotFoundError",
    "WallboxError",
    "WallboxForbiddenError",
    "WallboxRateLimitedError",
    "WallboxResponseError",
    "WallboxUnavailableError",
]


class WallboxError(SmartchargeError):
    """Something went wrong talking to the Wallbox cloud."""


class WallboxAuthError(WallboxError):
    """The cloud refused our credentials; retrying will not help until they change."""


class WallboxChargerNotFoundError(WallboxError):
    """The charger is not on this account (or none could be chosen)."""


class WallboxForbiddenError(WallboxError):
    """The cloud refused a command (insufficient rights, OCPP mode).

    Attributes:
        action: what was refused, e.g. ``pause``.
    """

    def __init__(self, message: str, *, action: str) -> None:
        super().__init__(message)
        self.action = action


class WallboxRateLimitedError(WallboxError):
    """The cloud asked us to slow down, or our own budget is spent.

    Attributes:
        retry_at: the earliest instant the next call may go out (UTC), if known.
    """

    def __init__(self, message: str, *, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class WallboxUnavailableError(WallboxError):
    """The cloud did not answer usefully (timeout, dropped connection, 5xx); transient.

    Attributes:
        outcome_unknown: the request may have reached the cloud and been applied.
        reached: the request may have reached the cloud (False: no connection was made, e.g.
            DNS failure, connection refused, TLS error; the cloud cannot have counted it).
        answered: the cloud answered with an HTTP status (a 5xx).
    """

    def __init__(
        self,
        message: str,
        *,
        outcome_unknown: bool = False,
        reached: bool = True,
        answered: bool = False,
    ) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown
        self.reached = reached
        self.answered = answered


class WallboxResponseError(WallboxError):
    """The cloud answered with JSON we cannot use.

    Attributes:
        endpoint: the method and path, e.g. ``GET chargers/status/12345``.
        field: the offending field (dotted path), or None when the body is not JSON at all.
    """

    def __init__(self, message: str, *, endpoint: str, field: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.field = field
