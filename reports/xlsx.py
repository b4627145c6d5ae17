"""The clinic workbook: a summary sheet first, then one sheet per entity, each an Excel table
written by polars `write_excel` (frozen header, autofilter, set widths, blocker rows coloured).

Text cells are neutralised against formula injection (reports.safe) and the workbook is
opened with xlsxwriter's string-to-formula / -number / -URL conversions off.
"""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from xlsxwriter import Workbook
from xlsxwriter.utility import xl_col_to_name

from reports.safe import neutralise_frame, neutralise_text

BLOCKER_FILL = {"bg_color": "#FDE7E5", "font_color": "#9C0006"}
#: New findings: the status cell in bold blue on light blue, the whole row bold.
NEW_CELL = {"bold": True, "bg_color": "#DDEBF7", "font_color": "#1F4E79"}
NEW_ROW = {"bold": True}
_WRAP = {"text_wrap": True, "valign": "top"}
_TOP = {"valign": "top"}
TABLE_STYLE = "Table Style Light 9"


def _formats(frame: pl.DataFrame, wrap: tuple[str, ...]) -> dict:
    return {c: (_WRAP if c in wrap else _TOP) for c in frame.columns}


def _equals(column: int, label: str) -> dict:
    """A conditional-format rule: the row's cell in `column` equals `label` (data from row 2)."""
    quoted = label.replace('"', '""')
    return {"type": "formula", "criteria": f'=${xl_col_to_name(column)}2="{quoted}"'}


def write_workbook(path: Path, *, title: str, summary_sheet: str, summary: pl.DataFrame,
                   by_check: pl.DataFrame,
                   sheets: list[tuple[str, str, pl.DataFrame]], severity_column: str,
                   blocker_label: str, widths: dict[str, int], wrap: tuple[str, ...],
                   new_column: str | None = None, new_label: str | None = None) -> Path:
    """Write the workbook; `sheets` is [(sheet name, table name, frame)], headers already final.

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
        ws = wb.add_worksheet(summary_sheet)
        ws.write_string(0, 0, neutralise_text(title), heading)
        summary = neutralise_frame(summary)
        summary.write_excel(wb, ws, position=(2, 0), table_name="summary",
                            table_style=TABLE_STYLE, column_widths={summary.columns[0]: 260,
                                                                    summary.columns[1]: 320},
                            column_formats=_formats(summary, ()))
        by_check = neutralise_frame(by_check)
        by_check_row = 2 + summary.height + 3
        by_check.write_excel(wb, ws, position=(by_check_row, 0), table_name="by_check",
                             table_style=TABLE_STYLE,
                             column_widths={c: widths.get(c, 140) for c in by_check.columns},
                             column_formats=_formats(by_check, wrap))
        for sheet_name, table_name, frame in sheets:
            frame = neutralise_frame(frame)
            sheet = wb.add_worksheet(sheet_name)
            frame.write_excel(wb, sheet, table_name=table_name, table_style=TABLE_STYLE,
                              freeze_panes=(1, 0), autofilter=True,
                              column_widths={c: widths.get(c, 140) for c in frame.columns},
                              column_formats=_formats(frame, wrap))
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
