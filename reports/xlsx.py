"""The clinic workbook: a summary sheet first, then one sheet per entity, each an Excel table
(frozen header, autofilter, set widths, blocker rows coloured), written with xlsxwriter.

Text cells are neutralised against formula injection (reports.safe) and the workbook is
opened with xlsxwriter's string-to-formula / -number / -URL conversions off.
"""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from xlsxwriter import Workbook
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell_fast
from xlsxwriter.worksheet import CellBlankTuple, CellNumberTuple, CellStringTuple, Worksheet

from reports.safe import neutralise_frame, neutralise_text

BLOCKER_FILL = {"bg_color": "#FDE7E5", "font_color": "#9C0006"}
#: New findings: the status cell in bold blue on light blue, the whole row bold.
NEW_CELL = {"bold": True, "bg_color": "#DDEBF7", "font_color": "#1F4E79"}
NEW_ROW = {"bold": True}
_WRAP = {"text_wrap": True, "valign": "top"}
_TOP = {"valign": "top"}
TABLE_STYLE = "Table Style Light 9"


class _Worksheet(Worksheet):
    """xlsxwriter's worksheet with shortcuts that write the same bytes: a table's cells are
    stored in one loop (`_store_rows`), a formatted text or number cell is written in one
    step (the generic path escapes its reference and style index, which never need it,
    through a regex and an exception per cell), and conditional formats skip ~150 regex passes
    that only rewrite function calls (`NAME(`), which the formulas here do not have.
    tests/reports/test_parallel_reports.py compares the bytes with xlsxwriter's own worksheet.
    """

    def _store_rows(self, row0: int, col0: int, rows, numeric: list[bool],
                    formats: list) -> None:
        """Store `rows` from (row0, col0) as `_write()` would, cell by cell: text as a shared
        string, a number as a number, None and "" as a formatted blank. The table's corners
        set the sheet's dimensions once (every cell has a format, so every cell is stored)."""
        sst, half = self.str_table._get_shared_string_index, self.xls_strmax // 2
        last = None
        for row, values in enumerate(rows, start=row0):
            cells = self.table[row]
            for col, value, is_number, fmt in zip(range(col0, col0 + len(formats)), values,
                                                  numeric, formats):
                if value is None or value == "":
                    cells[col] = CellBlankTuple(fmt)
                elif is_number:
                    cells[col] = CellNumberTuple(value, fmt)
                elif len(value) > half:  # may need truncating: the generic path
                    self._write_string(row, col, value, fmt)
                else:
                    cells[col] = CellStringTuple(sst(value), fmt)
            last = row
        if last is not None:
            self._check_dimensions(row0, col0)
            self._check_dimensions(last, col0 + len(formats) - 1)

    def _write_cell(self, row: int, col: int, cell) -> None:
        kind = cell.__class__
        if cell.format is None or self.constant_memory:
            return super()._write_cell(row, col, cell)
        if kind is CellStringTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}" '
                          f's="{cell.format._get_xf_index()}" t="s"><v>{cell.string}</v></c>')
        elif kind is CellNumberTuple:
            self.fh.write(f'<c r="{xl_rowcol_to_cell_fast(row, col)}" '
                          f's="{cell.format._get_xf_index()}"><v>{cell.number:.16G}</v></c>')
        else:
            super()._write_cell(row, col, cell)

    def _prepare_formula(self, formula, expand_future_functions=False):
        if "(" in formula:
            return super()._prepare_formula(formula, expand_future_functions)
        if formula.startswith("{"):
            formula = formula[1:]
        if formula.startswith("="):
            formula = formula[1:]
        if formula.endswith("}"):
            formula = formula[:-1]
        return formula


def _formats(frame: pl.DataFrame, wrap: tuple[str, ...]) -> dict[str, dict]:
    """Cell format of each column: top-aligned, wrapped where asked, integers as `#,##0` (what
    polars' `write_excel` gave them with a table style)."""
    formats = {}
    for column, dtype in frame.schema.items():
        spec = dict(_WRAP if column in wrap else _TOP)
        if dtype.is_integer():
            spec["num_format"] = "#,##0"
        elif dtype != pl.String:
            raise TypeError(f"column {column!r}: only text and integers are written ({dtype})")
        formats[column] = spec
    return formats


def _table(wb: Workbook, ws: Worksheet, frame: pl.DataFrame, *, name: str,
           widths: dict[str, int], wrap: tuple[str, ...], at: tuple[int, int] = (0, 0),
           cache: dict) -> None:
    """`frame` as an Excel table at `at` (header row, autofilter, column widths in pixels),
    written straight through xlsxwriter: what polars' `write_excel` wrote for these options,
    without its per-call setup and xlsxwriter's per-cell type dispatch."""
    row0, col0 = at
    formats = []
    for spec in _formats(frame, wrap).values():
        key = tuple(sorted(spec.items()))
        if key not in cache:
            cache[key] = wb.add_format(spec)
        formats.append(cache[key])
    last_row = row0 + max(frame.height, 1)  # an empty table keeps one empty data row
    if last_row >= ws.xls_rowmax or col0 + frame.width > ws.xls_colmax:
        raise ValueError(f"a {frame.height} x {frame.width} table does not fit a worksheet")
    ws.add_table(row0, col0, last_row, col0 + frame.width - 1, {
        "style": TABLE_STYLE, "header_row": True, "autofilter": True, "total_row": False,
        "name": name,
        "columns": [{"header": c, "format": f} for c, f in zip(frame.columns, formats)]})
    # Cell by cell as add_table(data=...) would: row by row (shared strings are numbered in
    # order of first use), empty text and nulls as formatted blank cells.
    numeric = [dtype != pl.String for dtype in frame.schema.values()]
    if hasattr(ws, "_store_rows") and not ws.constant_memory:
        ws._store_rows(row0 + 1, col0, frame.iter_rows(), numeric, formats)
        return _widths(ws, frame, col0, widths)
    text, blank, number = ws._write_string, ws._write_blank, ws._write_number
    for row, values in enumerate(frame.iter_rows(), start=row0 + 1):
        for col, (value, is_number, fmt) in enumerate(zip(values, numeric, formats),
                                                      start=col0):
            if value is None or value == "":
                blank(row, col, value, fmt)
            else:
                (number if is_number else text)(row, col, value, fmt)
    _widths(ws, frame, col0, widths)


def _widths(ws: Worksheet, frame: pl.DataFrame, col0: int, widths: dict[str, int]) -> None:
    for col, column in enumerate(frame.columns, start=col0):
        ws.set_column_pixels(col, col, widths[column], None, {})


def _equals(column: int, label: str) -> dict:
    """A conditional-format rule: the row's cell in `column` equals `label` (data from row 2)."""
    quoted = label.replace('"', '""')
    return {"type": "formula", "criteria": f'=${xl_col_to_name(column)}2="{quoted}"'}


def write_workbook(path: Path, *, title: str, summary_sheet: str, summary: pl.DataFrame,
                   by_check: pl.DataFrame,
                   sheets: list[tuple[str, str, pl.DataFrame]], severity_column: str,
                   blocker_label: str, widths: dict[str, int], wrap: tuple[str, ...],
                   new_column: str | None = None, new_label: str | None = None,
                   neutralised: bool = False) -> Path:
    """Write the workbook; `sheets` is [(sheet name, table name, frame)], headers already final.
    `neutralised`: the caller has already applied `neutralise_frame` to every frame (once for
    all clinics, which is much cheaper than per sheet).

    Rows whose `severity_column` is `blocker_label` are filled red; rows whose `new_column` is
    `new_label` are bold with that cell highlighted (these rules come first, so they win where
    both set the same property)."""
    options = {"strings_to_formulas": False, "strings_to_numbers": False,
               "strings_to_urls": False, "nan_inf_to_errors": True,
               "in_memory": True}  # no temporary files (slow to create and remove)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    with Workbook(str(path), options) as wb:
        heading = wb.add_format({"bold": True, "font_size": 14})
        ws = wb.add_worksheet(summary_sheet, worksheet_class=_Worksheet)
        ws.write_string(0, 0, neutralise_text(title), heading)
        clean = (lambda f: f) if neutralised else neutralise_frame
        cache: dict = {}
        summary = clean(summary)
        _table(wb, ws, summary, name="summary", at=(2, 0), wrap=(), cache=cache,
               widths={summary.columns[0]: 260, summary.columns[1]: 320})
        by_check = clean(by_check)
        _table(wb, ws, by_check, name="by_check", at=(2 + summary.height + 3, 0), wrap=wrap,
               cache=cache, widths={c: widths.get(c, 140) for c in by_check.columns})
        for sheet_name, table_name, frame in sheets:
            frame = clean(frame)
            sheet = wb.add_worksheet(sheet_name, worksheet_class=_Worksheet)
            _table(wb, sheet, frame, name=table_name, wrap=wrap, cache=cache,
                   widths={c: widths.get(c, 140) for c in frame.columns})
            sheet.freeze_panes(1, 0)
            if not frame.height:
                continue
            if new_column is not None and new_label is not None:
                at = frame.columns.index(new_column)
                rule = _equals(at, new_label)
                sheet.conditional_format(1, at, frame.height, at,
                                         {**rule, "format": wb.add_format(NEW_CELL)})
                sheet.conditional_format(1, 0, frame.height, frame.width - 1,
                                         {**rule, "format": wb.add_format(NEW_ROW)})
            sheet.conditional_format(1, 0, frame.height, frame.width - 1, {
                **_equals(frame.columns.index(severity_column), blocker_label),
                "format": wb.add_format(BLOCKER_FILL)})
    os.chmod(path, 0o600)
    return path
