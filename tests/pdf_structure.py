"""Tagged PDFs read back: the structure tree (what a screen reader follows), not only the text.

`read_structure(pdf)` walks /StructTreeRoot → /K recursively and gives each structure element's
type (/S: Document, H1, H2, P, Table, TR, TH, TD, Figure …), its /Alt, and its text: the marked
content (MCIDs) it owns, read from the page content streams. `assert_accessible(pdf, title=)`
checks what every PDF the service produces must have.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NumberObject

LANGUAGE = "en-GB"
# What the @page margin boxes print on every page: marked, but kept out of the structure tree.
RUNNING_TEXT = re.compile(r"OFFICIAL-SENSITIVE|Page \d+ of \d+")
RUNNING_PERIOD = re.compile(r"\d{1,2} [A-Z][a-z]+ \d{4} to \d{1,2} [A-Z][a-z]+ \d{4}")


@dataclass
class Element:
    kind: str  # the structure type without its slash: "H1", "Table", "Figure" …
    alt: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    children: list[Element] = field(default_factory=list)
    own_text: list[str] = field(default_factory=list)  # marked content directly in this element

    def walk(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def text(self) -> str:
        """Everything this element holds, in structure order, whitespace squeezed."""
        return " ".join(" ".join(t for e in self.walk() for t in e.own_text).split())


@dataclass
class TaggedPdf:
    marked: bool
    language: str | None
    display_doc_title: bool
    title: str | None
    root: Element | None  # the /Document element; None when the PDF has no structure tree
    outside_tree: list[str]  # text of marked content no structure element reaches

    @property
    def elements(self) -> list[Element]:
        return list(self.root.walk()) if self.root else []

    @property
    def kinds(self) -> list[str]:
        return [element.kind for element in self.elements]

    def of_kind(self, *kinds: str) -> list[Element]:
        return [element for element in self.elements if element.kind in kinds]

    @property
    def headings(self) -> list[tuple[int, str]]:
        """(level, text) of every H1–H6, in reading order."""
        return [(int(e.kind[1]), e.text) for e in self.elements
                if len(e.kind) == 2 and e.kind[0] == "H" and e.kind[1].isdigit()]

    @property
    def reading_text(self) -> str:
        """The text in the order assistive technology reads it (the structure tree's)."""
        return self.root.text if self.root else ""


def _page_marked_content(page: PageObject) -> dict[int, str]:
    """The text of each marked-content sequence on a page, by MCID."""
    texts: dict[int, str] = {}
    stack: list[int | None] = []

    def before(operator: bytes, operands: list[Any], cm: Any, tm: Any) -> None:
        if operator == b"BDC":
            properties = operands[1] if len(operands) > 1 else None
            mcid = properties.get("/MCID") if isinstance(properties, dict) else None
            stack.append(int(mcid) if mcid is not None else None)
        elif operator == b"BMC":
            stack.append(None)
        elif operator == b"EMC" and stack:
            stack.pop()

    def text(chunk: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        mcid = next((m for m in reversed(stack) if m is not None), None)
        if mcid is not None:
            texts[mcid] = texts.get(mcid, "") + chunk

    page.extract_text(visitor_operand_before=before, visitor_text=text)
    return texts


def _marked_content(reader: PdfReader) -> dict[tuple[int, int], str]:
    """The text of each marked-content sequence, keyed by (page index, MCID)."""
    return {(index, mcid): text for index, page in enumerate(reader.pages)
            for mcid, text in _page_marked_content(page).items()}


def read_structure(pdf: bytes) -> TaggedPdf:
    reader = PdfReader(io.BytesIO(pdf))
    catalog = reader.trailer["/Root"]
    pages = {page.indirect_reference.idnum: i for i, page in enumerate(reader.pages)
             if page.indirect_reference is not None}
    texts = _marked_content(reader)
    reached: set[tuple[int, int]] = set()

    def content(page: int | None, mcid: int) -> str:
        if page is None:
            return ""
        reached.add((page, mcid))
        return texts.get((page, mcid), "")

    def page_of(node: DictionaryObject, inherited: int | None) -> int | None:
        reference = node.get("/Pg")
        if isinstance(reference, IndirectObject):
            return pages.get(reference.idnum, inherited)
        return inherited

    def build(node: DictionaryObject, page: int | None) -> Element:
        page = page_of(node, page)
        attributes = node.get("/A")
        attributes = attributes.get_object() if attributes is not None else None
        element = Element(
            kind=str(node.get("/S", "")).lstrip("/"),
            alt=str(node["/Alt"]) if "/Alt" in node else None,
            attributes=dict(attributes) if isinstance(attributes, DictionaryObject) else {})
        kids = node.get("/K")
        kids = kids.get_object() if kids is not None else None
        for kid in (kids if isinstance(kids, ArrayObject) else [kids] if kids is not None else []):
            kid = kid.get_object()
            if isinstance(kid, NumberObject | int):
                element.own_text.append(content(page, int(kid)))
            elif isinstance(kid, DictionaryObject) and kid.get("/Type") == "/MCR":
                element.own_text.append(content(page_of(kid, page), int(kid["/MCID"])))
            elif isinstance(kid, DictionaryObject) and kid.get("/Type") == "/OBJR":
                continue  # a link annotation: no text of its own
            elif isinstance(kid, DictionaryObject):
                element.children.append(build(kid, page))
        return element

    root: Element | None = None
    if "/StructTreeRoot" in catalog:
        tops = catalog["/StructTreeRoot"].get_object()["/K"]
        tops = tops.get_object()
        [top] = tops if isinstance(tops, ArrayObject) else [tops]
        root = build(top.get_object(), None)
    mark_info = catalog.get("/MarkInfo")
    preferences = catalog.get("/ViewerPreferences")
    return TaggedPdf(
        marked=bool(mark_info is not None and mark_info.get_object().get("/Marked")),
        language=str(catalog["/Lang"]) if "/Lang" in catalog else None,
        display_doc_title=bool(preferences is not None
                               and preferences.get_object().get("/DisplayDocTitle")),
        title=reader.metadata.title if reader.metadata is not None else None,
        root=root,
        outside_tree=[text for key, text in sorted(texts.items())
                      if key not in reached and text.strip()])


def assert_accessible(pdf: bytes, *, title: str) -> TaggedPdf:
    """What every PDF the service produces must be: tagged (PDF/UA-1) with its title shown by
    viewers and its language; an H1 first and no heading level skipped; header cells in every
    table; alt text on every figure; running headers and footers out of the reading order,
    which starts with the title. Returns the structure for further checks."""
    tagged = read_structure(pdf)
    assert tagged.marked, "not a tagged PDF (/MarkInfo /Marked)"
    assert tagged.root is not None and tagged.root.kind == "Document", "no structure tree"
    assert tagged.language == LANGUAGE
    assert tagged.display_doc_title, "viewers would show the file name, not the title"
    assert tagged.title == title

    levels = [level for level, _ in tagged.headings]
    assert levels and levels[0] == 1 and levels.count(1) == 1, tagged.headings
    for before, after in zip(levels, levels[1:], strict=False):
        assert after <= before + 1, f"heading level skipped: {tagged.headings}"
    assert tagged.headings[0][1] == " ".join(title.split())

    for table in tagged.of_kind("Table"):
        cells = [e.kind for e in table.walk()]
        assert "TH" in cells, f"a table without header cells: {table.text[:80]!r}"
        for row in (e for e in table.walk() if e.kind == "TR"):
            assert all(c.kind in ("TH", "TD") for c in row.children), row.text
    for figure in tagged.of_kind("Figure"):
        assert figure.alt and figure.alt.strip(), "a figure without alternative text"

    reading = tagged.reading_text
    assert reading.startswith(" ".join(title.split())), reading[:120]
    # Tools that ignore the tags read the content stream: it too starts with the title.
    first_page = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert " ".join(first_page.split()).startswith(" ".join(title.split())), first_page[:120]
    assert not re.search(r"Page \d+ of \d+", reading), "the running footer is in the reading order"
    assert tagged.outside_tree, "the running header and footer are not marked at all"
    # A report's footer also names its title and period on every page.
    running = re.compile(rf"{RUNNING_TEXT.pattern}|{re.escape(' '.join(title.split()))}|"
                         rf"{RUNNING_PERIOD.pattern}")
    for text in tagged.outside_tree:
        assert running.fullmatch(text.strip()), f"content left out of the tree: {text!r}"
    return tagged
