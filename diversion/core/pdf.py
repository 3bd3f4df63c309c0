"""PDFs with WeasyPrint, from templates that extend templates/reports/pdf_base.html.

Every PDF is tagged (PDF/UA-1): a structure tree built from the HTML (headings, paragraphs,
lists, tables with header cells, figures with the <img> alt text), the language from
<html lang>, and the title from <title>, which viewers show instead of the file name. Running
headers and footers (@page margin boxes) are left out of the structure tree, so assistive
technology does not read them between the sections.

The base layout gives every page an A4 size, the OFFICIAL-SENSITIVE marking in the header and
footer, and "Page X of Y"; the first page shows the report's parameters and when it was made;
the last part is a definitions appendix. See the base template for its blocks and variables.

PDFs never reach the network or the file system beyond the app's own static/ folder: the URL
fetcher below refuses everything else, so a template (or a value that slipped into one) cannot
make the server fetch http://, https:// or file:///etc/passwd.

WeasyPrint is imported inside the functions that render, never when this module is imported:
it costs seconds and tens of megabytes (fontTools, Pillow, pydyf, cffi bindings) that no web
worker, job or command should pay until it makes a PDF (issue 17, light start-up;
tests/test_light_startup.py). Its first import is also made cheaper on Linux: see
`_import_weasyprint`.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from flask import current_app, render_template

from diversion.core.bulk import cycle_collection_paused

if TYPE_CHECKING:
    from weasyprint.urls import URLFetcherResponse

log = logging.getLogger(__name__)

_import_lock = threading.Lock()


def _import_weasyprint() -> None:
    """Import WeasyPrint (on first use) without asking `ctypes.util.find_library` anything.

    WeasyPrint's text/ffi.py opens each of its six C libraries (GObject, Pango, HarfBuzz,
    fontconfig...) by trying a list of names, the Windows ones first: `libpango-1.0-0`,
    `pango-1.0-0`, `pango-1.0`, then `libpango-1.0.so.0`. For each name that is no file, cffi
    asks `ctypes.util.find_library`, which on Linux runs `ldconfig -p` and then gcc and ld:
    fifteen lookups, 30 child processes, 0.15-0.4 s of the first PDF's 2 s (issue 17). On
    Linux the lookup has nothing to add, since WeasyPrint's list ends with the libraries'
    sonames, which dlopen finds itself (and which is what the lookup would have answered); so
    while WeasyPrint is first imported, the lookup answers None at once and WeasyPrint goes
    on to the next name. Elsewhere (macOS, Windows) the import is left as it is. The swap
    lasts for that one import (a quarter of a second): another thread asking find_library
    meanwhile would get None too; nothing in the app asks it (psycopg's binary build does not).
    """
    if "weasyprint" in sys.modules or not sys.platform.startswith("linux"):
        return
    import ctypes.util  # noqa: PLC0415 (ctypes only when a PDF is made, like WeasyPrint)

    with _import_lock:
        find_library = ctypes.util.find_library
        ctypes.util.find_library = lambda name: None
        try:
            # Lazy: see the module docstring (WeasyPrint only when a PDF is made).
            import weasyprint  # noqa: F401, PLC0415
        finally:
            ctypes.util.find_library = find_library


def start_import() -> None:
    """Begin importing WeasyPrint on a thread of its own (when no import has begun), for a PDF
    that will be made after work the database does: the import (0.2 s of CPU) runs while the
    report is counted, by PostgreSQL's server, or by SQLite in one long step that lets go of
    Python's lock (the outcomes count's MATERIALIZED CTE; issue 17). The PDF's own import then
    finds WeasyPrint imported, or waits for the import under way (Python's import lock). A
    failed import is left for the PDF's own, which raises."""
    if "weasyprint" not in sys.modules:
        threading.Thread(target=_import_for_later, name="import-weasyprint", daemon=True).start()


def _import_for_later() -> None:
    # A failed import is not this thread's to report: html_to_pdf imports again, and raises.
    with contextlib.suppress(Exception):
        _import_weasyprint()


class RefusedURL(ValueError):
    """A PDF asked for a resource outside the app's static files."""


class StaticOnlyFetcher:
    """Fetches `data:` URLs and files under one folder; refuses every other URL.

    WeasyPrint calls its url_fetcher as `fetcher(url)`; this is a plain callable rather than a
    subclass of weasyprint.urls.URLFetcher so that defining it does not import WeasyPrint.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        """The resource at `url`, or RefusedURL."""
        _import_weasyprint()
        # Lazy: see the module docstring (WeasyPrint only when a PDF is made).
        from weasyprint.urls import URLFetcher, URLFetcherResponse  # noqa: PLC0415

        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            data_only = URLFetcher(timeout=5, allowed_protocols=("data",), allow_redirects=False)
            response: URLFetcherResponse = data_only.fetch(url, headers)
            return response
        if scheme == "file" and parts.netloc in ("", "localhost"):
            path = Path(url2pathname(parts.path)).resolve()
            if path.is_relative_to(self.root) and path.is_file():
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    path.as_uri(), path.read_bytes(), headers={"Content-Type": content_type}
                )
        # Log the scheme only: the URL itself may carry something that should not be in logs.
        log.warning("PDF resource refused (%s: URL outside the app's static files)", scheme or "?")
        raise RefusedURL("only the app's own static files can be used in a PDF")

    def __call__(self, url: str) -> URLFetcherResponse:
        return self.fetch(url)


def static_root() -> Path:
    """The app's static/ folder, the only place PDFs may read files from."""
    folder = current_app.static_folder
    if folder is None:  # pragma: no cover - the factory always sets one
        raise RuntimeError("the app has no static folder")
    return Path(folder)


# WeasyPrint's PDF/UA-1 variant turns its tags on and adds the metadata the standard asks for
# (MarkInfo, DisplayDocTitle, XMP with the title and the pdfuaid part).
PDF_VARIANT = "pdf/ua-1"


def html_to_pdf(html: str, *, root: Path | None = None) -> bytes:
    """Tagged PDF bytes from HTML; relative URLs resolve inside `root` (default: static/).

    The HTML needs a <title>, <html lang> and alt text on every <img>; without them the PDF
    falls short of PDF/UA (WeasyPrint logs an error for a missing lang or alt, and renders).
    """
    # WeasyPrint makes hundreds of thousands of objects (boxes, styles, drawing operations),
    # and each batch of them set off the cycle collector: 300 passes, about 0.1 s of a
    # 12-month report's PDF, that free next to nothing (issue 17). It runs as usual afterwards.
    with cycle_collection_paused():
        _import_weasyprint()
        # Lazy: see the module docstring (WeasyPrint only when a PDF is made).
        from weasyprint import HTML  # noqa: PLC0415

        root = (root or static_root()).resolve()
        document = HTML(string=html, base_url=root.as_uri() + "/",
                        url_fetcher=StaticOnlyFetcher(root))
        pdf: bytes = document.write_pdf(pdf_variant=PDF_VARIANT)
    return pdf


def render_pdf(template_name: str, **context: Any) -> bytes:
    """Render a template that extends reports/pdf_base.html and return the tagged PDF's bytes.

    Useful context for the base layout: `title`, `parameters` (a mapping or (label, value)
    pairs), `generated_at` (an aware datetime, shown in London time), `definitions` (a mapping
    or (term, meaning) pairs for the appendix). Static files are referenced relative to static/
    (e.g. `<img src="images/logo.png" alt="…">`); charts as `data:image/svg+xml` URIs (see
    charts.py), always with alt text.
    """
    return html_to_pdf(render_template(template_name, **context))
