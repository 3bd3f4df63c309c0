"""Which links a page offers to follow when walking every page a role can reach: same-origin
GET pages only, never downloads (PDF, CSV, calendar feeds), sign-out or the API."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urlsplit

HREF = re.compile(r'href="([^"]+)"')
SKIPPED_ENDINGS = (".pdf", ".csv", ".ics", ".json", ".js", ".css", ".png", ".svg", ".ico",
                   ".woff", ".woff2", ".xml")
SKIPPED_PREFIXES = ("/static/", "/assets/", "/api/", "/sign-out", "/calendar/")


def links_to_follow(html: str, *, origin: str = "") -> list[str]:
    """The same-origin page paths (with their query) a page links to, in page order."""
    found: list[str] = []
    for raw in HREF.findall(html):
        href = urldefrag(raw.replace("&amp;", "&"))[0]
        if origin and href.startswith(origin):
            href = href[len(origin):]
        if not href.startswith("/") or href.startswith("//"):
            continue
        path = urlsplit(href).path
        if path.endswith(SKIPPED_ENDINGS) or path.startswith(SKIPPED_PREFIXES):
            continue
        if href not in found:
            found.append(href)
    return found


ID_SEGMENT = re.compile(r"^(\d+|[0-9A-Z]{8}|[0-9a-f-]{20,})$")


def crawl_key(href: str) -> str:
    """The page's kind: its path with ids and references as `*` and its query's names only
    (a list's pages 1, 2, 3…, or referral after referral, are one kind of page)."""
    parts = urlsplit(href)
    path = "/".join("*" if ID_SEGMENT.match(segment) else segment
                    for segment in parts.path.split("/"))
    names = sorted({pair.split("=", 1)[0] for pair in parts.query.split("&") if pair})
    return path + ("?" + "&".join(names) if names else "")


# What escaped markup looks like when a template prints HTML as text.
ESCAPED_MARKUP = re.compile(r"&lt;/?(strong|a|span|p|br|div|ul|li|ol|em|b|code|h[1-6])[\s&/]",
                            re.IGNORECASE)
