"""Pure: the price documents of today and tomorrow -> an inline SVG bar chart and its table.

One ``<rect class="slot">`` per price slot (and no other ``rect`` in the chart), placed by its
time, so a gap in the prices shows as a gap; a planned slot has the class ``planned``, a
distinct colour and a hatch (never colour alone), and the planned runs are underlined. Each bar
carries its start, end and price as ``data-`` attributes and a ``<title>`` (the tooltip); the
chart has a ``<title>`` and ``<desc>`` and the same figures follow as a table (the text
alternative for screen readers and for reading without the picture).

Every value is escaped (``html.escape``); the documents come from the daemon, but a price source
name or a reason is text from elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.web.page_assets import PALETTE
from smartcharge.web.timefmt import local_day, local_hm, parse_time

Json = Mapping[str, Any]

# The drawing's coordinate system (the SVG scales to the page's width; these are proportions).
WIDTH = 960
HEIGHT = 260
LEFT = 56  # room for the price axis labels
RIGHT = 8
TOP = 18  # room for the "now" label
BOTTOM = 40  # room for the hour labels and the planned runs' underline


@dataclass(frozen=True, slots=True)
class Bar:
    """One price slot of the window.

    Attributes:
        start: the slot's start (UTC).
        end: its end (UTC).
        price_eur_per_kwh: the all-in price.
        planned: whether the plan charges in it.
    """

    start: datetime
    end: datetime
    price_eur_per_kwh: float
    planned: bool


def bars(days: Sequence[Json]) -> tuple[Bar, ...]:
    """Return the slots of the ``/api/prices`` documents, in time order (duplicates dropped)."""
    seen: dict[datetime, Bar] = {}
    for day in days:
        for slot in day.get("slots") or ():
            start = parse_time(slot["start"])
            seen[start] = Bar(
                start=start,
                end=parse_time(slot["end"]),
                price_eur_per_kwh=float(slot["price_eur_per_kwh"]),
                planned=bool(slot.get("planned")),
            )
    return tuple(seen[k] for k in sorted(seen))


def _money(value: float) -> str:
    return f"-€{-value:.4f}" if value < 0 else f"€{value:.4f}"


def _slot_text(bar: Bar, zone: ZoneInfo) -> str:
    planned = "planned charging" if bar.planned else "not planned"
    return (
        f"{local_day(bar.start, zone)} {local_hm(bar.start, zone)}–{local_hm(bar.end, zone)}: "
        f"{_money(bar.price_eur_per_kwh)}/kWh, {planned}"
    )


def _runs(items: Sequence[Bar]) -> list[tuple[datetime, datetime]]:
    """Return the planned slots joined into runs of adjacent slots."""
    runs: list[tuple[datetime, datetime]] = []
    for bar in items:
        if not bar.planned:
            continue
        if runs and runs[-1][1] == bar.start:
            runs[-1] = (runs[-1][0], bar.end)
        else:
            runs.append((bar.start, bar.end))
    return runs


def describe(items: Sequence[Bar], zone: ZoneInfo) -> str:
    """Return the chart's text alternative in one paragraph."""
    if not items:
        return "No prices known."
    low = min(items, key=lambda b: b.price_eur_per_kwh)
    high = max(items, key=lambda b: b.price_eur_per_kwh)
    runs = _runs(items)
    planned = sum(1 for b in items if b.planned)
    spans = ", ".join(
        f"{local_day(a, zone)} {local_hm(a, zone)}–{local_hm(b, zone)}" for a, b in runs
    )
    return (
        f"{len(items)} price slots from {local_day(items[0].start, zone)} "
        f"{local_hm(items[0].start, zone)} to {local_day(items[-1].end, zone)} "
        f"{local_hm(items[-1].end, zone)}. Lowest {_money(low.price_eur_per_kwh)}/kWh at "
        f"{local_hm(low.start, zone)}, highest {_money(high.price_eur_per_kwh)}/kWh at "
        f"{local_hm(high.start, zone)}. "
        + (f"{planned} slots planned for charging: {spans}." if runs else "No charging planned.")
    )


def svg(items: Sequence[Bar], zone: ZoneInfo, now: datetime | None) -> str:
    """Return the inline SVG bar chart of ``items`` (an empty string when there are none)."""
    if not items:
        return ""
    t0, t1 = items[0].start, items[-1].end
    span_s = (t1 - t0).total_seconds()
    low = min(0.0, *(b.price_eur_per_kwh for b in items))
    high = max(0.0, *(b.price_eur_per_kwh for b in items))
    if high == low:
        high = low + 0.01
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + plot_w * (at - t0).total_seconds() / span_s

    def y(price: float) -> float:
        return TOP + plot_h * (high - price) / (high - low)

    out: list[str] = [
        f'<svg class="chart" id="price-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title chart-desc">',
        '<title id="chart-title">All-in electricity prices, today and tomorrow</title>',
        f'<desc id="chart-desc">{escape(describe(items, zone))}</desc>',
        "<defs>",
        _hatch("planned-hatch"),
        "</defs>",
    ]
    # The price axis: zero, the lowest and the highest price.
    for price in sorted({0.0, low, high}):
        yy = y(price)
        out.append(
            f'<line class="grid" x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - RIGHT}" y2="{yy:.1f}"/>'
        )
        out.append(
            f'<text class="axis" x="{LEFT - 4}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{escape(f'-€{-price:.2f}' if price < 0 else f'€{price:.2f}')}</text>"
        )
    zero = y(0.0)
    for bar in items:
        x0, x1 = x(bar.start), x(bar.end)
        top, bottom = sorted((y(bar.price_eur_per_kwh), zero))
        cls = "slot planned" if bar.planned else "slot"
        fill = "url(#planned-hatch)" if bar.planned else PALETTE["bar"]
        out.append(
            f'<rect class="{cls}" x="{x0:.2f}" y="{top:.2f}" width="{max(x1 - x0 - 0.6, 0.4):.2f}"'
            f' height="{max(bottom - top, 0.8):.2f}" fill="{fill}"'
            f' data-start="{escape(_iso(bar.start))}" data-end="{escape(_iso(bar.end))}"'
            f' data-price="{bar.price_eur_per_kwh:.5f}"'
            f' data-planned="{"true" if bar.planned else "false"}">'
            f"<title>{escape(_slot_text(bar, zone))}</title></rect>"
        )
    base = HEIGHT - BOTTOM
    for a, b in _runs(items):
        out.append(
            f'<line class="run" x1="{x(a):.2f}" y1="{base + 28}" x2="{x(b):.2f}" y2="{base + 28}">'
            f"<title>{escape(f'charging {local_hm(a, zone)}–{local_hm(b, zone)}')}</title></line>"
        )
    out.extend(_time_axis(t0, t1, zone, x, base))
    if now is not None and t0 <= now <= t1:
        xn = x(now)
        out.append(f'<line class="now" x1="{xn:.1f}" y1="{TOP}" x2="{xn:.1f}" y2="{base}"/>')
        out.append(
            f'<text class="now-label" x="{xn:.1f}" y="{TOP - 5}" text-anchor="middle">now</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _hatch(pattern_id: str) -> str:
    """Return the planned slots' fill: the planned colour crossed by light diagonal stripes."""
    return (
        f'<pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<path d="M0 0H6V6H0Z" fill="{PALETTE["planned"]}"/>'
        f'<path d="M0 0V6" stroke="{PALETTE["hatch"]}" stroke-width="2.5"/>'
        "</pattern>"
    )


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time_axis(
    t0: datetime, t1: datetime, zone: ZoneInfo, x: Callable[[datetime], float], base: float
) -> list[str]:
    """Return the hour labels every 6 hours and a dashed line with the date at each midnight."""
    out: list[str] = []
    local = t0.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    at = local
    while at.astimezone(ZoneInfo("UTC")) <= t1:
        instant = at.astimezone(ZoneInfo("UTC"))
        xx = x(instant)
        if instant >= t0 and at.hour % 6 == 0 and xx <= WIDTH - RIGHT - 16:
            out.append(
                f'<text class="axis" x="{xx:.1f}" y="{base + 16}" text-anchor="middle">'
                f"{at.strftime('%H:%M')}</text>"
            )
            if at.hour == 0 and xx <= WIDTH - RIGHT - 80:
                out.append(
                    f'<line class="day" x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{base}"/>'
                )
                out.append(
                    f'<text class="axis" x="{xx + 4:.1f}" y="{TOP + 10}">'
                    f"{escape(local_day(instant, zone))}</text>"
                )
        at = (at + timedelta(hours=1)).astimezone(zone)
    return out


def table(items: Sequence[Bar], zone: ZoneInfo) -> str:
    """Return the chart's figures as a table (inside a closed ``<details>``)."""
    if not items:
        return ""
    rows = "\n".join(
        ('<tr class="planned">' if b.planned else "<tr>")
        + f"<td>{escape(local_day(b.start, zone))}</td>"
        f"<td>{escape(local_hm(b.start, zone))}–{escape(local_hm(b.end, zone))}</td>"
        f'<td class="num">{escape(_money(b.price_eur_per_kwh))}</td>'
        f"<td>{'yes' if b.planned else 'no'}</td></tr>"
        for b in items
    )
    return (
        '<details id="price-table"><summary>The prices as a table</summary>'
        "<table><caption>All-in price per slot (local time)</caption>"
        '<thead><tr><th scope="col">Day</th><th scope="col">Time</th>'
        '<th scope="col" class="num">€/kWh</th><th scope="col">Planned charging</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></details>"
    )
