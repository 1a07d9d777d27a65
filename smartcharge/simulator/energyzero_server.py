"""A fake EnergyZero public REST API (``GET /public/v1/prices``) on real HTTP.

It answers ``date=DD-MM-YYYY`` with the Dutch days D-1, D and D+1 as far as they are
"published" (days starting before ``published_until``), in the real answer's shape: four
streams ``base``, ``base_with_vat``, ``all_in``, ``all_in_with_vat`` of
``{"start", "end", "price": {"value": "<EUR/kWh as text>"}}``. A recorded answer is served
byte for byte when its date is asked and nothing is cut from it.

An unpublished day D is answered the way EnergyZero is believed to (no recording exists):
``not_published_style`` ``"absent"`` (HTTP 200 without day D; empty streams if nothing is
left), ``"empty"`` (HTTP 200, all four streams ``[]``) or ``"404"``. Faults: 400 (the recorded
body), 429 with ``Retry-After``, 503, an HTML page with HTTP 200, invalid JSON, a hang.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from smartcharge.simulator._faults import FaultSwitch

_NL_TZ = ZoneInfo("Europe/Amsterdam")
# The 2025 energy tax that EnergyZero's ``all_in`` stream adds (``all_in - base``, Dec 2025).
_EZ_TAX_EUR_KWH = 0.10154
_ERROR_400 = (
    '{"code": 3, "message": "invalid DailyEnergyPricesRequest.Date: value does not match '
    'regex pattern \\"^\\\\\\\\d{2}-\\\\\\\\d{2}-\\\\\\\\d{4}$\\"", "details": []}'
)


class EnergyZeroFault(enum.Enum):
    """A failure the fake can answer with."""

    BAD_REQUEST = "400"
    RATE_LIMITED = "429"
    UNAVAILABLE = "503"
    HTML = "html"
    INVALID_JSON = "invalid_json"
    HANG = "hang"


def _kwh_text(value: float) -> str:
    text = f"{value:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EnergyZeroFakeServer:
    """The fake EnergyZero API as an aiohttp application.

    Attributes:
        published_until: days starting at or after this instant are not published.
        not_published_style: how an unpublished day D is answered (see the module docstring).
        interval_style: ``"int"`` (``"interval": 1``) or ``"str"``
            (``"RESPONSE_INTERVAL_QUARTER"``), the two forms seen in the wild.
        requests: every request's query, in order.
    """

    def __init__(self) -> None:
        self.published_until: datetime | None = None
        self.not_published_style = "absent"
        self.interval_style = "int"
        self.retry_after_s = 60
        self.requests: list[dict[str, str]] = []
        self._points: dict[datetime, tuple[datetime, float]] = {}
        self._recordings: dict[date, str] = {}
        self._faults: FaultSwitch[EnergyZeroFault] = FaultSwitch()

    def add_recording_file(self, path: Path) -> None:
        """Serve a recorded answer; its prices also feed answers for other dates."""
        text = path.read_text(encoding="utf-8")
        body = json.loads(text)
        first = datetime.fromisoformat(body["range"]["start"].replace("Z", "+00:00"))
        asked = (first.astimezone(_NL_TZ) + timedelta(days=1)).date()
        self._recordings[asked] = text
        for item in body["base"]:
            at = datetime.fromisoformat(item["start"].replace("Z", "+00:00")).astimezone(UTC)
            until = datetime.fromisoformat(item["end"].replace("Z", "+00:00")).astimezone(UTC)
            self._points[at] = (until, float(item["price"]["value"]) * 1000)

    def serve_points(
        self, points: Iterable[tuple[datetime, float]], resolution_minutes: int
    ) -> None:
        """Serve ``(start_utc, EUR/MWh)`` points at ``resolution_minutes``."""
        step = timedelta(minutes=resolution_minutes)
        for at, price in points:
            start = at.astimezone(UTC)
            self._points[start] = (start + step, price)

    def fail(self, fault: EnergyZeroFault | None, times: int | None = None) -> None:
        """Answer the next ``times`` requests (all, when None) with ``fault``; None heals."""
        self._faults.fail(fault, times)

    def release_hangs(self) -> None:
        """Let hanging requests finish (called on shutdown)."""
        self._faults.release_hangs()

    def app(self) -> web.Application:
        """Return the aiohttp application."""
        return self._faults.app_with("/public/v1/prices", self._handle)

    def _published(self, day: date) -> bool:
        if self.published_until is None:
            return True
        start = datetime(day.year, day.month, day.day, tzinfo=_NL_TZ).astimezone(UTC)
        return start < self.published_until

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        q = dict(request.query)
        self.requests.append(q)
        fault = self._faults.take()
        if fault is EnergyZeroFault.HANG:
            await self._faults.hang()
        if fault in (EnergyZeroFault.HANG, EnergyZeroFault.UNAVAILABLE):
            return web.Response(status=503, text="<html>503</html>", content_type="text/html")
        if fault is EnergyZeroFault.RATE_LIMITED:
            return web.Response(
                status=429,
                text="{}",
                content_type="application/json",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        if fault is EnergyZeroFault.HTML:
            return web.Response(text="<html>Onderhoud</html>", content_type="text/html")
        if fault is EnergyZeroFault.INVALID_JSON:
            return web.Response(text='{"base": [', content_type="application/json")
        try:
            if fault is EnergyZeroFault.BAD_REQUEST:
                raise ValueError
            asked = datetime.strptime(q.get("date", ""), "%d-%m-%Y").date()
        except ValueError:
            return web.Response(status=400, text=_ERROR_400, content_type="application/json")
        days = [asked - timedelta(days=1), asked, asked + timedelta(days=1)]
        if not self._published(asked):
            if self.not_published_style == "404":
                return web.json_response({"code": 3, "message": "not found"}, status=404)
            if self.not_published_style == "empty":
                return web.json_response(self._answer([], days))
        shown = [d for d in days if self._published(d)]
        if asked in self._recordings and shown == days and self.interval_style == "int":
            return web.Response(text=self._recordings[asked], content_type="application/json")
        points = sorted(
            (at, until, price)
            for at, (until, price) in self._points.items()
            if at.astimezone(_NL_TZ).date() in shown
        )
        return web.json_response(self._answer(points, days))

    def _answer(self, points: list[tuple[datetime, datetime, float]], days: list[date]) -> Any:
        first = datetime(days[0].year, days[0].month, days[0].day, tzinfo=_NL_TZ)
        after = days[-1] + timedelta(days=1)
        last = datetime(after.year, after.month, after.day, tzinfo=_NL_TZ)
        minutes = int((points[0][1] - points[0][0]).total_seconds() // 60) if points else 15
        codes = {15: (1, "RESPONSE_INTERVAL_QUARTER"), 60: (2, "RESPONSE_INTERVAL_HOUR")}
        code = codes.get(minutes, (1, "RESPONSE_INTERVAL_QUARTER"))

        def stream(factor: float, add: float) -> list[dict[str, Any]]:
            return [
                {
                    "start": _stamp(at),
                    "end": _stamp(until),
                    "price": {"value": _kwh_text((price / 1000 + add) * factor)},
                }
                for at, until, price in points
            ]

        return {
            "interval": code[0] if self.interval_style == "int" else code[1],
            "range": {"start": _stamp(first), "end": _stamp(last)},
            "base": stream(1.0, 0.0),
            "base_with_vat": stream(1.21, 0.0),
            "all_in": stream(1.0, _EZ_TAX_EUR_KWH),
            "all_in_with_vat": stream(1.21, _EZ_TAX_EUR_KWH),
        }
