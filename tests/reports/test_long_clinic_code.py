"""A clinic code too long for one custom document property (Excel: 255 characters; the hostile
corpus has a 300-character code): its fix list stores the code in parts (flows/waivers.py
`fixlist_mo_properties`), written without a warning, and the clinic's answered workbook is
imported and matched to that clinic; another clinic's workbook, or parts that do not fit
together, are refused."""
from __future__ import annotations

import warnings
from datetime import datetime

import openpyxl
import pytest

from flows import waivers as wv
from flows import warehouse
from report_fixtures import findings_frame
from reports.clinic import clinic_stems, write_clinic_reports
from reports.i18n import Texts

RU = Texts("ru")
LONG = "Ж" + "x" * 298 + "я"  # 300 characters, not ASCII at either end
OTHER = "500101"
RUN = "r1"
# check_code, severity, entity, record_id, mo_code, unassigned_reason, field, value, patient_id
FINDINGS = [
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P1", LONG, None, "snils", "112-233-445 96", "P1"),
    ("PAT.SEX.INVALID", "warning", "patient", "P1", LONG, None, "sex", "-1", "P1"),
    ("PAT.SEX.INVALID", "warning", "patient", "P2", OTHER, None, "sex", "9", "P2"),
]


@pytest.fixture
def world(tmp_path):
    con = warehouse.connect(tmp_path / "wh.duckdb")
    as_of = datetime(2026, 11, 25, 23, 0)
    con.execute("INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir, "
                "reference_dir, started_at, status) VALUES (?, ?, 'cli', '50', 'x', 'y', ?, "
                "'completed')", [RUN, as_of, as_of])
    for code in (LONG, OTHER):
        con.execute("INSERT INTO ref_f003 (run_id, mcod, name) VALUES (?, ?, 'Поликлиника')",
                    [RUN, code])
    con.register("f_view", findings_frame(FINDINGS, RUN).to_arrow())
    con.execute("INSERT INTO findings BY NAME SELECT * FROM f_view")
    con.unregister("f_view")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # xlsxwriter's warning about a long property fails it
        write_clinic_reports(con, RUN, tmp_path / "out", workers=1)
    stems = clinic_stems([LONG, OTHER])
    books = {code: tmp_path / "out" / "clinics" / f"{stems[code]}.xlsx" for code in (LONG, OTHER)}
    yield con, books, tmp_path
    con.close()


def _answer(book, dest, rows: dict[tuple[str, str], str]):
    """The clinic's answers written into its workbook (as Excel would save it): reason per
    (check code, record id); a key not on the sheet is added as a row of its own."""
    wb = openpyxl.load_workbook(book)
    ws = wb["Пациенты"]
    header = [c.value for c in ws[1]]
    col = {h: i + 1 for i, h in enumerate(header)}
    left = dict(rows)
    for r in range(2, ws.max_row + 1):
        key = (ws.cell(r, col[RU.check_code]).value, ws.cell(r, col[RU.record_id]).value)
        if key in left:
            ws.cell(r, col[RU.answer_reason]).value = left.pop(key)
    for (code, record), reason in left.items():
        r = ws.max_row + 1
        ws.cell(r, col[RU.check_code]).value = code
        ws.cell(r, col[RU.record_id]).value = record
        ws.cell(r, col[RU.answer_reason]).value = reason
    wb.save(dest)
    return dest


def test_the_long_code_is_stored_in_parts_that_fit(world):
    _, books, _ = world
    props = wv.workbook_properties(books[LONG])
    assert wv.PROP_MO not in props
    n = int(props[wv.PROP_MO_PARTS])
    parts = [props[wv.PROP_MO_PART.format(i)] for i in range(1, n + 1)]
    assert n == 3 and all(len(p.encode("utf-16-le")) // 2 <= 255 for p in parts)
    assert "".join(parts) == LONG and wv.fixlist_mo_code(props) == LONG
    # a code that fits keeps the one property, as before
    assert wv.workbook_properties(books[OTHER])[wv.PROP_MO] == OTHER
    assert wv.fixlist_mo_properties(None) == {wv.PROP_MO: ""}


def test_the_answered_workbook_lands_on_its_clinic(world):
    con, books, tmp = world
    answered = _answer(books[LONG], tmp / "answered.xlsx",
                       {("PAT.SEX.INVALID", "P1"): "пол указан верно: проверено"})
    assert wv.read_answers_xlsx(answered).mo_code == LONG
    outcome = wv.import_answers(con, answered, mo=LONG, by="clerk")
    assert len(outcome.added) == 1
    rows = con.execute("SELECT check_code, record_id, mo_code FROM waivers").fetchall()
    assert rows == [("PAT.SEX.INVALID", "P1", LONG)]
    # the data steward's import (no --mo) matches it to the same clinic
    again = wv.import_answers(con, answered, by="steward")
    assert again.unchanged == outcome.added


def test_another_clinics_workbook_is_refused(world):
    con, books, tmp = world
    other = _answer(books[OTHER], tmp / "other.xlsx", {("PAT.SEX.INVALID", "P2"): "не ошибка"})
    with pytest.raises(wv.AnswerError, match="fix list, not MO"):
        wv.import_answers(con, other, mo=LONG)
    mine = _answer(books[LONG], tmp / "mine.xlsx", {("PAT.SEX.INVALID", "P1"): "не ошибка"})
    with pytest.raises(wv.AnswerError, match="fix list, not MO 500101"):
        wv.import_answers(con, mine, mo=OTHER)
    # the long code's workbook cannot answer the other clinic's finding
    smuggled = _answer(books[LONG], tmp / "smuggled.xlsx",
                       {("PAT.SEX.INVALID", "P2"): "не ошибка"})
    with pytest.raises(wv.AnswerError, match="on MO 500101's list"):
        wv.import_answers(con, smuggled)
    assert con.execute("SELECT count(*) FROM waivers").fetchall()[0][0] == 0


@pytest.mark.parametrize("props", [
    {wv.PROP_MO_PARTS: "2", "talon_mo_code_1": "a"},  # a part missing
    {wv.PROP_MO_PARTS: "2", "talon_mo_code_1": "a", "talon_mo_code_2": ""},  # an empty part
    {wv.PROP_MO_PARTS: "1", "talon_mo_code_1": "a"},  # one part: the code would fit
    {wv.PROP_MO_PARTS: "2", "talon_mo_code_1": "a", "talon_mo_code_2": "b",
     "talon_mo_code_3": "c"},  # one too many
    {wv.PROP_MO_PARTS: "x", "talon_mo_code_1": "a"},
    {wv.PROP_MO: "500101", wv.PROP_MO_PARTS: "2", "talon_mo_code_1": "a",
     "talon_mo_code_2": "b"},  # both ways
    {wv.PROP_MO: "500101", "talon_mo_code_1": "a"},  # a stray part
    {},
])
def test_parts_that_do_not_fit_together_are_refused(props):
    with pytest.raises(wv.AnswerError, match="not a Talon fix list"):
        wv.fixlist_mo_code(props, "x.xlsx")
