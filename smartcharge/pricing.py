"""The tariff: the day-ahead spot price turned into the all-in price a household pays.

Pure functions, no I/O. A Dutch household on a dynamic contract pays, per kWh::

    all-in EUR/kWh = (spot EUR/MWh / 1000 + markup EUR/kWh + energy tax EUR/kWh)
                     x (1 + VAT % / 100)

A negative spot price stays negative in the spot part; the markup and the tax are added on top
of it, and VAT applies to the whole sum (as Dutch suppliers bill it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from smartcharge.domain import PriceSlot

# All-in prices are kept to a millionth of a euro: finer digits are float noise, not money.
_DIGITS = 6


class _TariffSettings(Protocol):
    tariff_markup_eur_kwh: float
    tariff_tax_eur_kwh: float
    tariff_vat_percent: float


@dataclass(frozen=True, slots=True)
class Tariff:
    """What a household pays on top of the spot price.

    Attributes:
        markup_eur_per_kwh: the supplier's fee per kWh, excl. VAT.
        tax_eur_per_kwh: the energy tax per kWh, excl. VAT.
        vat_percent: VAT in percent (21 in the Netherlands).
    """

    markup_eur_per_kwh: float = 0.0
    tax_eur_per_kwh: float = 0.0
    vat_percent: float = 0.0

    @classmethod
    def from_settings(cls, settings: _TariffSettings) -> Tariff:
        """Build the tariff from the ``SMARTCHARGE_TARIFF_*`` settings."""
        return cls(
            markup_eur_per_kwh=settings.tariff_markup_eur_kwh,
            tax_eur_per_kwh=settings.tariff_tax_eur_kwh,
            vat_percent=settings.tariff_vat_percent,
        )

    def all_in_eur_per_kwh(self, spot_eur_per_mwh: float) -> float:
        """Return the all-in EUR/kWh for a spot price in EUR/MWh."""
        net = spot_eur_per_mwh / 1000.0 + self.markup_eur_per_kwh + self.tax_eur_per_kwh
        return round(net * (1.0 + self.vat_percent / 100.0), _DIGITS)

    def slot(
        self, start: datetime, end: datetime, spot_eur_per_mwh: float, source: str
    ) -> PriceSlot:
        """Return a ``PriceSlot`` for ``[start, end)`` with the all-in price filled in."""
        return PriceSlot(
            start,
            end,
            spot_eur_per_mwh,
            self.all_in_eur_per_kwh(spot_eur_per_mwh),
            source,
        )

    def apply(self, slots: Iterable[PriceSlot]) -> tuple[PriceSlot, ...]:
        """Return ``slots`` with their all-in price recomputed under this tariff."""
        return tuple(
            PriceSlot(
                s.start,
                s.end,
                s.spot_eur_per_mwh,
                self.all_in_eur_per_kwh(s.spot_eur_per_mwh),
                s.source,
            )
            for s in slots
        )
