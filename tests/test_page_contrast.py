"""The web page's colours are readable (issue 14 item 4: an accessibility basics check).

WCAG 2.1: text at least 4.5:1 against its background (1.4.3), graphics that carry meaning (the
bars, the planned marks, input borders) at least 3:1 (1.4.11). The ratio is computed from the
sRGB relative luminance as the WCAG defines it. Every colour the style sheet and the chart use
must come from the palette that is checked.
"""

from __future__ import annotations

import re

import pytest

from smartcharge.web.page_assets import CSS, GRAPHIC_PAIRS, PALETTE, TEXT_PAIRS
from tests.test_page import page


def luminance(colour: str) -> float:
    """Relative luminance of ``#rrggbb`` (WCAG 2.1)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_the_contrast_formula_gives_the_known_figures():
    assert 21.0 == pytest.approx(contrast("#000000", "#ffffff"))
    assert 1.0 == pytest.approx(contrast("#777777", "#777777"))
    assert 4.48 == pytest.approx(contrast("#777777", "#ffffff"), abs=0.01)


@pytest.mark.parametrize(("fg", "bg", "where"), TEXT_PAIRS, ids=[p[2] for p in TEXT_PAIRS])
def test_text_reaches_4_5_to_1(fg: str, bg: str, where: str):
    assert contrast(PALETTE[fg], PALETTE[bg]) >= 4.5, where


@pytest.mark.parametrize(("fg", "bg", "what"), GRAPHIC_PAIRS, ids=[p[2] for p in GRAPHIC_PAIRS])
def test_graphics_reach_3_to_1(fg: str, bg: str, what: str):
    assert contrast(PALETTE[fg], PALETTE[bg]) >= 3.0, what


def test_the_page_uses_only_the_palettes_colours():
    html = page()
    used = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", CSS + html)}

    assert used
    assert set() == used - {c.lower() for c in PALETTE.values()}
    assert not re.search(r"#[0-9a-fA-F]{3}\b|rgb\(|hsl\(", CSS + html)


def test_every_palette_colour_is_checked_in_some_pair():
    checked = {name for pair in (*TEXT_PAIRS, *GRAPHIC_PAIRS) for name in pair[:2]}

    assert set(PALETTE) == checked
