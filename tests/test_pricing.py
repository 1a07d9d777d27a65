"""The tariff: spot EUR/MWh to the all-in EUR/kWh a household pays."""

from __future__ import annotations

import pytest

from smartcharge.config import Settings
from smartcharge.domain import PriceSlot, utc
from smartcharge.pricing import Tariff


def test_all_in_adds_markup_and_tax_then_vat() -> None:
    """(spot/1000 + markup + tax) x (1 + VAT/100)."""
    tariff = Tariff(markup_eur_per_kwh=0.02, tax_eur_per_kwh=0.09161, vat_percent=21)

    price = tariff.all_in_eur_per_kwh(91.24)

    assert pytest.approx((0.09124 + 0.02 + 0.09161) * 1.21, abs=1e-6) == price
    assert 0.256048 == tariff.all_in_eur_per_kwh(100.0)


def test_negative_spot_stays_negative_in_the_spot_part() -> None:
    """A negative spot price lowers the all-in price; it is not clipped at zero."""
    tariff = Tariff(0.0, 0.09161, 21)

    assert round((-0.35 + 0.09161) * 1.21, 6) == tariff.all_in_eur_per_kwh(-350.0)
    assert tariff.all_in_eur_per_kwh(-350.0) < 0
    assert round((-0.01317 + 0.09161) * 1.21, 6) == tariff.all_in_eur_per_kwh(-13.17)


def test_no_vat_no_tax_is_the_spot_price_in_eur_per_kwh() -> None:
    """With nothing on top, 123.45 EUR/MWh is 0.12345 EUR/kWh."""
    assert 0.12345 == Tariff().all_in_eur_per_kwh(123.45)


def test_from_settings_reads_the_three_tariff_settings() -> None:
    """The markup, tax and VAT come from SMARTCHARGE_TARIFF_*."""
    settings = Settings(tariff_markup_eur_kwh=0.015, tariff_tax_eur_kwh=0.1, tariff_vat_percent=9)

    assert Tariff(0.015, 0.1, 9.0) == Tariff.from_settings(settings)


def test_defaults_are_dutch_vat_and_no_markup() -> None:
    """Defaults: VAT 21 %, markup 0, the Dutch energy tax."""
    tariff = Tariff.from_settings(Settings())

    assert 21.0 == tariff.vat_percent
    assert 0.0 == tariff.markup_eur_per_kwh
    assert 0.09 < tariff.tax_eur_per_kwh < 0.093


def test_apply_recomputes_all_in_and_keeps_the_rest() -> None:
    """apply() keeps start, end, spot and source, and recomputes the all-in price."""
    slot = PriceSlot(utc(2025, 1, 1), utc(2025, 1, 1, 1), 100.0, 9.99, "energyzero")

    (out,) = Tariff(0.01, 0.0, 0.0).apply([slot])

    assert (slot.start, slot.end, 100.0, "energyzero") == (
        out.start,
        out.end,
        out.spot_eur_per_mwh,
        out.source,
    )
    assert 0.11 == out.price_eur_per_kwh
