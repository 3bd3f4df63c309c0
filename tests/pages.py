"""Reading a page's GOV.UK error summary, for the tests of every filter form."""

from __future__ import annotations

import html
import re


def error_summary(page: str) -> list[tuple[str, str]]:
    """The error summary's links as (href, words), in order; [] when the page has none."""
    if "govuk-error-summary" not in page:
        return []
    start = page.index("govuk-error-summary")
    block = page[start:page.index("</ul>", start)]
    return [(href, html.unescape(text.strip()))
            for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', block)]


def marked_boxes(page: str) -> set[str]:
    """The ids of the date boxes marked as in error."""
    return set(re.findall(r'class="[^"]*govuk-input--error[^"]*" id="([^"]+)"', page))
