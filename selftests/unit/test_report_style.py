"""The report's one style sheet keeps text readable: 4.5:1 against its background (WCAG AA).

Why a test: the transfer tables were light grey on white; every colour this project declares
(the style sheet and the charts' text) is measured here, so a new one cannot slip below AA.
"""

from __future__ import annotations

import re

import pytest

from se_dualstack.reporting import templates
from se_dualstack.transfer.render import COLORS

WHITE = "#ffffff"


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def rules() -> list[tuple[str, str, str]]:
    """(selector, text colour, background) of every rule that sets a text colour."""
    css = re.sub(r"/\*.*?\*/", "", templates.css(), flags=re.DOTALL)
    out = []
    for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        colour = re.search(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{3,6})", body)
        background = re.search(r"background(?:-color)?:\s*(#[0-9a-fA-F]{3,6})", body)
        if colour:
            bg = background.group(1) if background else WHITE
            out.append((" ".join(selector.split()), colour.group(1), bg))
    return out


def test_the_style_sheet_declares_colours() -> None:
    assert len(rules()) > 20, rules()


@pytest.mark.parametrize(("selector", "colour", "background"), rules())
def test_text_contrast_meets_wcag_aa(selector: str, colour: str, background: str) -> None:
    assert contrast(colour, background) >= 4.5, (
        f"{selector}: {colour} on {background} is {contrast(colour, background):.2f}:1")


@pytest.mark.parametrize("family", sorted(COLORS))
def test_chart_legend_text_meets_wcag_aa(family: int) -> None:
    assert contrast(COLORS[family], WHITE) >= 4.5, f"IPv{family} {COLORS[family]}"


def test_the_measure_is_wcag_s() -> None:
    assert round(contrast("#999999", WHITE), 2) == 2.85, "pytest-html's grey, the old failing text"
    assert round(contrast("#000000", WHITE), 1) == 21.0
