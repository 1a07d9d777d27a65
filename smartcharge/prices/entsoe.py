"""ENTSO-E day-ahead prices (documentType A44) through entsoe-py.

entsoe-py is synchronous (``requests``) and needs pandas, numpy and bs4 (about 50 MB resident),
so the query and its parse (``smartcharge.prices._entsoe_worker``) run either

* in a worker **process** (``EntsoeRunner.PROCESS``, what the daemon uses): a short-lived
  ``python -m smartcharge.prices._entsoe_worker`` gets the request, API key included, on its
  stdin and answers on stdout, both JSON; the daemon itself never imports pandas. A worker that
  does not answer in time is killed; a crash or garbage on stdout is a ``PriceSourceError``; or
* in a worker **thread** (``EntsoeRunner.THREAD``, ``asyncio.to_thread``): the same code in our
  process; fast, for the tests and one-shot commands.

Either way entsoe-py gets a ``timeout`` and ``retry_count=1``/``retry_delay=0``: its ``@retry``
decorator would otherwise sleep; retries are ours (the feed's backoff). Spot prices come back
as plain ``(start, end, EUR/MWh)`` and become ``tuple[PriceSlot, ...]`` here, with the tariff.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from smartcharge.clock import Clock
from smartcharge.domain import PriceSlot
from smartcharge.prices.errors import (
    PriceAuthError,
    PriceRateLimitedError,
    PriceSourceError,
    PriceUnavailableError,
)
from smartcharge.pricing import Tariff

if TYPE_CHECKING:
    from smartcharge.prices._entsoe_worker import Answer, EntsoeQuery

log = structlog.get_logger(__name__)

# The live API answers a day-ahead query in well under a second; 20 s covers a slow day
# without letting one hung request hold a worker thread for long.
DEFAULT_TIMEOUT_S = 20.0
# Slack on top of requests' own timeout (connect + read) before asyncio gives up waiting.
_THREAD_GRACE_S = 5.0
# A worker process starts Python and imports entsoe-py, pandas and numpy before it sends
# anything: about 0.5 s on a laptop, several seconds on a Raspberry Pi with a cold SD card.
_PROCESS_GRACE_S = 30.0
WORKER_MODULE = "smartcharge.prices._entsoe_worker"


class EntsoeRunner(enum.Enum):
    """Where the blocking entsoe-py query and parse run."""

    THREAD = "thread"  # asyncio.to_thread in our process (imports pandas into it)
    PROCESS = "process"  # a short-lived worker process per fetch (pandas stays out of ours)


def parse_day_ahead(
    text: str,
    start: datetime,
    end: datetime,
    *,
    tariff: Tariff,
    source: str,
    zone: str | None = None,
) -> tuple[PriceSlot, ...]:
    """Turn an A44 document into the price slots that start in ``[start, end)``.

    One slot per market time unit as published: 60 minutes before the SDAC 15-minute go-live,
    15 minutes after it. When a document holds several resolutions for the same time (another
    auction's series), the SDAC resolution of that time wins and the others are dropped. A day
    that prices one instant twice differently is left out and logged (``price_day_refused``).

    Raises:
        PricesNotPublishedError: the document is the "No matching data found" acknowledgement.
        PriceDataError: the text is not well-formed XML, holds no prices, or not in EUR; it is
            not an A44 document, is for another zone than ``zone`` (when given) or another
            period, or gives one instant two different prices.
    """
    from smartcharge.prices._entsoe_worker import parse_spot  # noqa: PLC0415 - requests, pandas

    refused: list[str] = []
    points = parse_spot(text, start, end, source, zone=zone, refused=refused)
    _log_refused(source, refused)
    return tuple(tariff.slot(at, until, value, source) for at, until, value in points)


def _log_refused(source: str, refused: Sequence[str]) -> None:
    """Log each day refused for a conflicting duplicate, with both values (in ``reason``)."""
    for reason in refused:
        log.warning("price_day_refused", source=source, reason=reason)


class EntsoePriceSource:
    """Day-ahead prices of one bidding zone from the ENTSO-E Transparency Platform.

    Args:
        api_key: the ENTSO-E security token (``SMARTCHARGE_ENTSOE_API_KEY``); registered with
            ``register_secret`` at once. None means not configured: every fetch fails clearly.
        area: a zone code entsoe-py knows (``NL``, ``BE``, ``DE_LU``).
        endpoint_url: ``SMARTCHARGE_ENTSOE_API_URL``.
        clock: used to turn ``Retry-After`` into an instant.
        tariff: the tariff applied to every slot.
        name: the source name recorded on each slot (``entsoe`` or ``entsoe:BE``).
        timeout_s: the per-request timeout (connect and read).
        runner: a worker thread (default) or a worker process per fetch.
        worker_deadline_s: how long a worker process may take in all before it is killed
            (default: twice ``timeout_s`` plus its start-up).
        worker_argv: the worker's command line (default ``python -m`` the worker module);
            never holds the key.
        worker_env: the worker process's environment: ours without any setting
            (``config.child_environment()``, handed in by ``runtime.compose``); empty by
            default, never ours as it is (it may hold the key).
        register_secret: masks a secret in every later log line (``logsetup.register_secret``).
    """

    def __init__(
        self,
        api_key: str | None,
        area: str,
        endpoint_url: str,
        clock: Clock,
        *,
        tariff: Tariff,
        name: str = "entsoe",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        runner: EntsoeRunner = EntsoeRunner.THREAD,
        worker_deadline_s: float | None = None,
        worker_argv: tuple[str, ...] | None = None,
        worker_env: Mapping[str, str] | None = None,
        register_secret: Callable[[str], None],
    ) -> None:
        if api_key:
            register_secret(api_key)
        # entsoe-py logs the full query, securityToken included, at DEBUG (STYLE.md §9).
        entsoe_log = logging.getLogger("entsoe")
        if entsoe_log.getEffectiveLevel() < logging.INFO:
            entsoe_log.setLevel(logging.INFO)
        self.name = name
        self.area = area
        self.runner = runner
        self._api_key = api_key
        self._endpoint = endpoint_url
        self._clock = clock
        self._tariff = tariff
        self._timeout_s = timeout_s
        self._worker_deadline_s = (
            worker_deadline_s if worker_deadline_s is not None else timeout_s * 2 + _PROCESS_GRACE_S
        )

        self._worker_argv = worker_argv or (sys.executable, "-m", WORKER_MODULE)
        self._worker_env = dict(worker_env or {})

    def __repr__(self) -> str:
        return (
            f"EntsoePriceSource(area={self.area!r}, endpoint={self._endpoint!r}, "
            f"runner={self.runner.value})"
        )

    async def fetch(self, start: datetime, end: datetime) -> tuple[PriceSlot, ...]:
        """Return the slots starting in ``[start, end)``.

        Raises:
            PricesNotPublishedError: ENTSO-E has no prices for the period (yet).
            PriceAuthError: no key, or the key was refused (HTTP 401).
            PriceRateLimitedError: HTTP 429; ``retry_at`` from ``Retry-After``.
            PriceUnavailableError: timeout, connection error or HTTP 5xx; a worker process
                that did not answer in time (it is killed).
            PriceDataError: malformed XML or no price series; a document that is not the
                A44 of ``area`` for the asked period; every asked day refused because it
                prices one instant twice differently (a day refused among good ones is only
                left out and logged, ``price_day_refused``).
            PriceSourceError: any other refusal (HTTP 4xx); a worker process that crashed or
                wrote garbage.
        """
        if not self._api_key:
            raise PriceAuthError(
                self.name, "SMARTCHARGE_ENTSOE_API_KEY is not set; ENTSO-E needs a security token"
            )
        from smartcharge.prices._entsoe_worker import EntsoeQuery  # noqa: PLC0415

        query = EntsoeQuery(
            self._api_key, self.area, self._endpoint, start, end, self._timeout_s, self.name
        )
        if self.runner is EntsoeRunner.PROCESS:
            answer = await self._in_process(query)
        else:
            answer = await self._in_thread(query)
        return self._slots(answer)

    async def _in_thread(self, query: EntsoeQuery) -> Answer:
        from smartcharge.prices._entsoe_worker import answer_for  # noqa: PLC0415 - pandas

        try:
            async with asyncio.timeout(self._timeout_s * 2 + _THREAD_GRACE_S):
                return await asyncio.to_thread(answer_for, query)
        except TimeoutError:
            raise PriceUnavailableError(
                self.name, f"no answer within {self._timeout_s:g} s; will retry later"
            ) from None

    async def _in_process(self, query: EntsoeQuery) -> Answer:
        from smartcharge.prices._entsoe_worker import decode_answer  # noqa: PLC0415

        # The worker needs none of our settings; above all not SMARTCHARGE_ENTSOE_API_KEY,
        # which goes over stdin. ENTSOE_* would only feed entsoe-py's own environment reads.
        proc = await asyncio.create_subprocess_exec(
            *self._worker_argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._worker_env,
        )
        try:
            try:
                async with asyncio.timeout(self._worker_deadline_s):
                    out, err = await proc.communicate(query.to_json().encode())
            except TimeoutError:
                log.warning(
                    "entsoe_worker_killed",
                    source=self.name,
                    pid=proc.pid,
                    deadline_s=self._worker_deadline_s,
                )
                raise PriceUnavailableError(
                    self.name,
                    f"the worker gave no answer within {self._worker_deadline_s:g} s and was "
                    "killed; will retry later",
                ) from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            raise PriceSourceError(
                self.name,
                f"the worker failed (exit code {proc.returncode}): {self._last_line(err)}",
            )
        try:
            return decode_answer(out.decode("utf-8", "replace"))
        except ValueError:
            raise PriceSourceError(
                self.name, "the worker answered something unreadable; keeping the last prices"
            ) from None

    def _last_line(self, stderr: bytes) -> str:
        """Return the last line of a worker's stderr, short and without the key."""
        lines = stderr.decode("utf-8", "replace").strip().splitlines()
        line = lines[-1] if lines else "no message"
        if self._api_key:
            line = line.replace(self._api_key, "***")
        return line[:200]

    def _slots(self, answer: Answer) -> tuple[PriceSlot, ...]:
        """Return the slots of an answer, or raise the error it names."""
        from smartcharge.prices._entsoe_worker import (  # noqa: PLC0415
            ERROR_KINDS,
            Failure,
            Partial,
        )

        if isinstance(answer, Failure):
            if answer.kind == PriceRateLimitedError.__name__:
                retry_at = self._clock.now() + timedelta(
                    seconds=answer.retry_after_s if answer.retry_after_s is not None else 300.0
                )
                raise PriceRateLimitedError(
                    self.name, f"{answer.message}; next try at {retry_at:%H:%MZ}", retry_at=retry_at
                )
            raise ERROR_KINDS[answer.kind](self.name, answer.message)
        if isinstance(answer, Partial):
            _log_refused(self.name, answer.refused)
            answer = answer.points
        try:
            return tuple(self._tariff.slot(a, b, v, self.name) for a, b, v in answer)
        except ValueError:
            raise PriceSourceError(
                self.name, "the worker answered impossible slots; keeping the last prices"
            ) from None
