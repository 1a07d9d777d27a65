"""Fuzzed ENTSO-E documents: a PriceSourceError or sane slots, and the last good prices kept.

Every recorded A44 document shipped with the simulator is damaged at random from a seed
(truncated, bytes flipped, an element dropped, a number garbled, a tag renamed, an HTML page,
an empty body, an entity bomb). ``parse_day_ahead`` must either return sane slots (finite
prices, ``start < end``, inside the asked window, no overlaps) or raise a ``PriceSourceError``
(``PriceDataError`` / ``PricesNotPublishedError``), never another exception.

Then over real HTTP: ``EntsoePriceSource`` (entsoe-py in a worker thread) behind the
``PriceFeed`` asks a small server of ours on 127.0.0.1 that first serves the real document and
then only damaged ones: the feed never raises, reports the failure, and keeps the day it had.
"""

from __future__ import annotations

import collections
import math
import random
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from smartcharge.domain import PriceSlot
from smartcharge.logsetup import register_secret
from smartcharge.prices import PriceCache, PriceChain, PriceFeed, PriceSourceError
from smartcharge.prices.entsoe import EntsoePriceSource, parse_day_ahead
from smartcharge.pricing import Tariff
from smartcharge.simulator import entsoe_server
from smartcharge.simulator.clock import SimulatedClock
from tests.resilience.mutate import XmlMutator
from tests.resilience.report import write_figures

SEED = 7
PER_KIND = 6  # mutants per recording and kind
_DATA = Path(entsoe_server.__file__).parent / "data" / "entsoe"
_TARIFF = Tariff(markup_eur_per_kwh=0.02, tax_eur_per_kwh=0.1, vat_percent=21.0)
_WIDE = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
BAD_INPUTS: collections.Counter[str] = collections.Counter()
OUTCOMES: collections.Counter[str] = collections.Counter()


def _recordings() -> list[Path]:
    return sorted(p for p in _DATA.glob("day_ahead_*.xml"))


def _assert_sane(slots: tuple[PriceSlot, ...], start: datetime, end: datetime) -> None:
    previous_end: datetime | None = None
    for s in slots:
        assert math.isfinite(s.spot_eur_per_mwh), s
        assert math.isfinite(s.price_eur_per_kwh), s
        assert s.start < s.end, s
        assert start <= s.start < end, s
        if previous_end is not None:
            assert previous_end <= s.start, s
        previous_end = s.end


def test_the_recordings_parse_untouched():
    """The base documents parse (so a failure below is the mutation's doing)."""
    for path in _recordings():
        slots = parse_day_ahead(
            path.read_text(encoding="utf-8"), *_WIDE, tariff=_TARIFF, source="e"
        )

        assert len(slots) >= 24, path.name
        _assert_sane(slots, *_WIDE)


@pytest.mark.parametrize("recording", _recordings(), ids=lambda p: p.name)
def test_damaged_documents_give_price_errors_or_sane_slots(recording: Path):
    """Every mutant: PriceSourceError, or slots that are sane; never another exception."""
    mutator = XmlMutator(
        recording.read_text(encoding="utf-8"), random.Random(f"{SEED}{recording.name}")
    )
    for kind in XmlMutator.KINDS:
        for _ in range(
            PER_KIND if kind not in ("html_instead", "empty_body", "entity_bomb") else 1
        ):
            _kind, text = mutator.make(kind)
            error: PriceSourceError | None = None
            try:
                slots = parse_day_ahead(text, *_WIDE, tariff=_TARIFF, source="entsoe")
            except PriceSourceError as err:
                error = err
            BAD_INPUTS[f"entsoe:{kind}"] += 1
            if error is None:
                _assert_sane(slots, *_WIDE)
                OUTCOMES["parsed"] += 1
            else:
                assert str(error).startswith("entsoe: "), str(error)
                OUTCOMES[type(error).__name__] += 1


def test_huge_position_is_a_price_data_error():
    """A <position> too big for pandas is a PriceDataError like any other damage."""
    text = _NL.read_text(encoding="utf-8").replace(
        "<position>2</position>", "<position>99999999999999999999</position>", 1
    )
    BAD_INPUTS["entsoe:number_garbled"] += 1

    with pytest.raises(PriceSourceError):
        parse_day_ahead(text, *_WIDE, tariff=_TARIFF, source="entsoe")


# --- over HTTP, through the feed ---------------------------------------------------------------

_NL = _DATA / "day_ahead_nl_2024-09-02_pt60m.xml"


class _DamagingServer:
    """Serves the recording first, then only mutants of it."""

    def __init__(self, text: str, rng: random.Random) -> None:
        self.text = text
        self.good_left = 1
        self.mutator = XmlMutator(text, rng)
        self.served: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        if self.good_left > 0:
            self.good_left -= 1
            self.served.append("good")
            return web.Response(body=self.text.encode(), headers={"Content-Type": "text/xml"})
        kind, text = self.mutator.make()
        self.served.append(kind)
        ctype = "text/html" if kind == "html_instead" else "text/xml"
        return web.Response(body=text.encode("utf-8", "replace"), headers={"Content-Type": ctype})


@pytest.fixture
async def damaging() -> AsyncIterator[tuple[_DamagingServer, str]]:
    """The damaging server on 127.0.0.1."""
    server = _DamagingServer(_NL.read_text(encoding="utf-8"), random.Random(SEED))
    app = web.Application()
    app.router.add_get("/api", server.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield server, str(test_server.make_url("/api"))
    await test_server.close()


async def test_feed_keeps_the_last_good_prices_through_damaged_answers(
    damaging: tuple[_DamagingServer, str], tmp_path: Path
):
    """After a good day, 12 damaged answers: no exception, an error reported, the day kept."""
    server, url = damaging
    clock = SimulatedClock(datetime(2024, 9, 2, 8, 0, tzinfo=UTC))
    source = EntsoePriceSource(
        "fuzz-key-0123456789",
        "NL",
        url,
        clock,
        tariff=_TARIFF,
        timeout_s=5,
        register_secret=register_secret,
    )
    feed = PriceFeed(
        PriceChain([source], "NL"), PriceCache(tmp_path, "NL", _TARIFF), "Europe/Amsterdam", clock
    )
    day = (datetime(2024, 9, 1, 22, 0, tzinfo=UTC), datetime(2024, 9, 2, 22, 0, tzinfo=UTC))

    first = await feed.refresh(clock.now())
    good = feed.curve.between(*day)
    assert 24 == len(good)
    assert first.error is None
    # Tomorrow's prices are due after 12:45 CET: every later fetch gets a damaged document.
    clock.set(datetime(2024, 9, 2, 11, 0, tzinfo=UTC))
    errors = 0
    for _ in range(12):
        result = await feed.refresh(clock.now())
        BAD_INPUTS[f"entsoe_http:{server.served[-1]}"] += 1
        errors += result.error is not None
        assert good == feed.curve.between(*day)
        assert result.retry_at is not None
        await clock.advance(20 * 60)
    reloaded = PriceFeed(
        PriceChain([], "NL"), PriceCache(tmp_path, "NL", _TARIFF), "Europe/Amsterdam", clock
    )

    assert 1 <= errors  # a mutant that still parses holds only 09-02: no error, still a gap
    assert good == reloaded.curve.between(*day)
    assert "fuzz-key-0123456789" not in " ".join(str(r) for r in (feed.curve, first, result))
    assert 13 == len(server.served)


def test_prices_in_the_cache_are_never_replaced_by_a_damaged_document():
    """A second parse of a damaged copy cannot yield a slot where the good one had another price.

    (The feed merges only parsed slots; a garbled number must not become a different price.)
    """
    text = _NL.read_text(encoding="utf-8")
    good = {
        s.start: s.spot_eur_per_mwh
        for s in parse_day_ahead(text, *_WIDE, tariff=_TARIFF, source="e")
    }
    amounts = list(re.finditer(r"<price\.amount>([^<]*)</price\.amount>", text))
    rng = random.Random(SEED)
    changed = 0
    for _ in range(20):
        m = rng.choice(amounts)
        damaged = (
            text[: m.start(1)] + rng.choice(["abc", "", "1e999", "NaN", "-"]) + text[m.end(1) :]
        )
        BAD_INPUTS["entsoe:price_garbled"] += 1
        try:
            slots = parse_day_ahead(damaged, *_WIDE, tariff=_TARIFF, source="e")
        except PriceSourceError:
            continue
        changed += sum(1 for s in slots if good.get(s.start) != s.spot_eur_per_mwh)

    assert 0 == changed


@pytest.fixture(autouse=True, scope="module")
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    by_kind: collections.Counter[str] = collections.Counter()
    for key, n in BAD_INPUTS.items():
        by_kind[key.split(":", 1)[1]] += n
    write_figures(
        request,
        "ENTSO-E bad documents tried",
        {**dict(sorted(by_kind.items())), "total": sum(BAD_INPUTS.values()), **dict(OUTCOMES)},
    )
