"""Reading a rendered work list (a clinic fix list's HTML) back in the tests: its groups in page
order, each with its attributes, texts and table as {header: cell text} rows, and the table of
contents."""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path


@dataclass
class Group:
    code: str
    severity: str
    anchor: str
    count: int
    blocked: int
    heading: str = ""
    texts: dict[str, str] = field(default_factory=dict)  # dd class -> text (message, fix...)
    headers: list[str] = field(default_factory=list)
    rows: list[dict[str, str]] = field(default_factory=list)
    row_classes: list[str] = field(default_factory=list)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.groups: list[Group] = []
        self.toc: list[list[str]] = []
        self._group: Group | None = None
        self._in_toc = False
        self._text: list[str] | None = None  # collecting a cell, heading or dd
        self._dd: str | None = None
        self._row: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "section" and "group" in classes:
            self._group = Group(a["data-code"], classes[1], a["id"], int(a["data-count"]),
                                int(a["data-blocked"]))
            self.groups.append(self._group)
        elif tag == "table" and "toc" in classes:
            self._in_toc = True
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and (self._group is not None or self._in_toc):
            self._end_row()  # a row's end tag is optional (the fix lists leave it out)
            self._row = []
            if self._group is not None and not self._in_head:
                self._group.row_classes.append(a.get("class", ""))
        elif tag in ("td", "th") and self._row is not None:
            self._end_cell()  # so is a cell's
            self._text = []
        elif tag == "h2" and self._group is not None:
            self._text = []
        elif tag == "dd" and self._group is not None:
            self._dd, self._text = classes[0] if classes else "", []

    def _end_cell(self) -> None:
        if self._text is not None and self._row is not None:
            self._row.append("".join(self._text).strip())
            self._text = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row is not None:
            if self._in_toc and not self._in_head:
                self.toc.append(self._row)
            elif self._group is not None and self._in_head:
                self._group.headers = self._row
            elif self._group is not None:
                self._group.rows.append(dict(zip(self._group.headers, self._row)))
            self._row = None

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._end_cell()
        elif tag in ("tr", "tbody"):
            self._end_row()
        elif tag == "thead":
            self._end_row()
            self._in_head = False
        elif tag == "h2" and self._group is not None and self._text is not None:
            self._group.heading = " ".join("".join(self._text).split())
            self._text = None
        elif tag == "dd" and self._dd is not None:
            self._group.texts[self._dd] = "".join(self._text).strip()
            self._dd, self._text = None, None
        elif tag == "section":
            self._group = None
        elif tag == "table":
            self._end_row()
            self._in_toc = False

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def read_worklist(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def groups(path: Path) -> list[Group]:
    return read_worklist(path).groups


def rows_by_code(path: Path, header: str) -> dict[tuple[str, str], dict[str, str]]:
    """(check code, the cell under `header`) -> the row, over every group of the page."""
    return {(g.code, r[header]): r for g in groups(path) for r in g.rows}


def record_cells(group: Group) -> list[str]:
    """The record id of each row: the group's second column (after the status)."""
    return [r[group.headers[1]] for r in group.rows]
