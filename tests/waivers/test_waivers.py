"""Waivers (flows/waivers.py): adding, changing, removing, expiring, the audit trail, each
refused answer (nothing written), the MO check, CSV and XLSX answers, and routing's
`findings.waiver_id`."""
from __future__ import annotations

import json
from datetime import date, datetime

import polars as pl
import pytest

from checks import findings as findings_mod
from flows import warehouse
from flows import waivers as wv
from flows.errors import InputError
from tests.waivers.helpers import (AS_OF, ENP, NOW, R1, R2, TODAY, build_warehouse, counts,
                                   write_fixlist)


@pytest.fixture
def db(tmp_path):
    return build_warehouse(tmp_path / "w.duckdb")


def _events(con, waiver_id):
    return [(e, by, json.loads(d)) for e, by, d in con.execute(
        'SELECT event, "by", detail FROM waiver_events WHERE waiver_id = ? ORDER BY event_id',
        [waiver_id]).fetchall()]


def test_add_change_remove_keep_the_whole_trail(db):
    with warehouse.connect(db) as con:
        out = wv.add_waiver(con, "PAT.SNILS.MISSING", "P1", "иностранный гражданин",
                            by="clerk1", today=TODAY, now=NOW)
        [wid] = out.added
        row = wv.list_waivers(con).row(0, named=True)
        assert (row["check_code"], row["record_id"], row["entity"], row["mo_code"],
                row["status"], row["created_by"], row["until"]) == (
            "PAT.SNILS.MISSING", "P1", "patient", "500101", "active", "clerk1", None)
        # the same answer again changes nothing (a workbook imported twice)
        again = wv.add_waiver(con, "PAT.SNILS.MISSING", "P1", "иностранный гражданин",
                              by="clerk1", today=TODAY)
        assert again.unchanged == [wid] and not again.added
        changed = wv.add_waiver(con, "PAT.SNILS.MISSING", "P1", "гражданин Казахстана",
                                date(2027, 3, 1), by="clerk2", today=TODAY)
        assert changed.changed == [wid]
        assert wv.remove_waiver(con, "PAT.SNILS.MISSING", "P1", by="steward",
                                note="СНИЛС получен") == wid
        # a new answer after removal is a new waiver; the removed one is kept
        [wid2] = wv.add_waiver(con, "PAT.SNILS.MISSING", "P1", "снова иностранец",
                               by="clerk1", today=TODAY).added
        assert wid2 != wid
        events = _events(con, wid)
        assert [(e, by) for e, by, _ in events] == [("added", "clerk1"), ("changed", "clerk2"),
                                                    ("removed", "steward")]
        assert events[0][2]["reason"] == "иностранный гражданин"
        assert events[1][2]["reason"] == ["иностранный гражданин", "гражданин Казахстана"]
        assert events[1][2]["until"] == [None, "2027-03-01"]
        assert events[2][2] == {"note": "СНИЛС получен"}
        statuses = dict(con.execute("SELECT waiver_id, status FROM waivers").fetchall())
        assert statuses == {wid: "removed", wid2: "active"}
        assert wv.list_waivers(con, statuses=(wv.ACTIVE,))["waiver_id"].to_list() == [wid2]
        with pytest.raises(InputError, match="no active waiver"):
            wv.remove_waiver(con, "PAT.SEX.INVALID", "P1")


def test_a_clinic_removes_only_its_own(db):
    with warehouse.connect(db) as con:
        wv.add_waiver(con, "PAT.SNILS.MISSING", "P2", "иностранец", mo="500102", today=TODAY)
        with pytest.raises(InputError, match="belongs to MO 500102, not MO 500101"):
            wv.remove_waiver(con, "PAT.SNILS.MISSING", "P2", mo="500101")
        wv.remove_waiver(con, "PAT.SNILS.MISSING", "P2", mo="500102")


REFUSED = [
    (dict(check_code="PAT.NOPE.NOPE"), "unknown check code 'PAT.NOPE.NOPE'"),
    (dict(record_id="P999"), "never reported PAT.SNILS.MISSING for record 'P999'"),
    (dict(check_code="PAT.SEX.INVALID", record_id="P2"), "never reported"),
    (dict(reason="   "), "empty reason"),
    (dict(until=date(2026, 11, 21)), "until 2026-11-21 is in the past"),
    (dict(check_code="ROW.MALFORMED", record_id="patients.csv:17"), "must be fixed"),
    (dict(mo="500102"), "not a finding of MO 500102"),
    (dict(check_code="PAT.POLICY.NONE", record_id="P11", mo="500101"), "unassigned list"),
    (dict(reason="СНИЛС 112-233-445 95 не выдан"), "9 or more digits"),
]


@pytest.mark.parametrize("change, message", REFUSED)
def test_each_bad_answer_is_refused_and_changes_nothing(db, change, message):
    answer = dict(check_code="PAT.SNILS.MISSING", record_id="P1", reason="иностранец",
                  until=None, mo=None) | change
    with warehouse.connect(db) as con:
        with pytest.raises(InputError) as info:
            wv.add_waiver(con, answer["check_code"], answer["record_id"], answer["reason"],
                          answer["until"], mo=answer["mo"], today=TODAY)
    assert message in str(info.value)
    assert "\n" not in info.value.one_line()
    assert counts(db) == (0, 0)


def test_steward_records_the_findings_mo_and_may_answer_the_unassigned(db):
    with warehouse.connect(db) as con:
        wv.add_waiver(con, "PAT.SNILS.MISSING", "P2", "иностранец", today=TODAY)
        wv.add_waiver(con, "PAT.POLICY.NONE", "P11", "выбыл из региона", today=TODAY)
        # a finding fixed since is still one the warehouse reported
        wv.add_waiver(con, "POL.ENP.MISSING", "POL7", "полис старого образца", today=TODAY)
        wv.add_waiver(con, "ROW.DUPLICATE_ID", ENP, "дубль регистра ТФОМС", today=TODAY)
        got = {(r["check_code"], r["mo_code"], r["entity"]) for r in
               wv.list_waivers(con).iter_rows(named=True)}
    assert got == {("PAT.SNILS.MISSING", "500102", "patient"),
                   ("PAT.POLICY.NONE", None, "patient"), ("POL.ENP.MISSING", "500102", "policy"),
                   ("ROW.DUPLICATE_ID", None, "insured")}


def _routed(con, run_id):
    frame = pl.DataFrame([(r[0], r[1], r[2]) for r in con.execute(
        "SELECT check_code, entity, record_id FROM findings WHERE run_id = ? "
        "ORDER BY check_code, record_id", [run_id]).fetchall()],
        schema=["check_code", "entity", "record_id"], orient="row")
    return findings_mod._waive(con, run_id, frame)


def test_routing_marks_waived_findings_and_expires_passed_waivers(db):
    with warehouse.connect(db) as con:
        [forever] = wv.add_waiver(con, "PAT.SNILS.MISSING", "P1", "иностранец",
                                  today=date(2026, 11, 1)).added
        [short] = wv.add_waiver(con, "SCH.STALE", "D1", "врач в отпуске",
                                date(2026, 11, 20), today=date(2026, 11, 1)).added
        # D = 2026-11-20: both apply (until is the last day a waiver applies)
        first = _routed(con, R1)
        waived = dict(((c, r), w) for c, _, r, w in first.filter(
            pl.col("waiver_id").is_not_null()).iter_rows())
        assert waived == {("PAT.SNILS.MISSING", "P1"): forever, ("SCH.STALE", "D1"): short}
        assert first.height == 9  # nothing dropped: a waived finding stays a finding
        # D = 2026-11-21: the short one expired, recorded once with the run that passed it
        second = _routed(con, R2)
        waived = second.filter(pl.col("waiver_id").is_not_null())
        assert waived["waiver_id"].to_list() == [forever]
        assert dict(con.execute("SELECT waiver_id, status FROM waivers").fetchall()) == {
            forever: "active", short: "expired"}
        [(event, by, detail)] = _events(con, short)[1:]
        assert (event, by, detail) == ("expired", "talon", {"run_id": R2, "as_of": "2026-11-21"})
        _routed(con, R2)
        assert len(_events(con, short)) == 2


def test_a_run_outside_the_ledger_has_no_waivers(db):
    with warehouse.connect(db) as con:
        wv.add_waiver(con, "PAT.SNILS.MISSING", "P1", "иностранец", today=TODAY)
        frame = pl.DataFrame({"check_code": ["PAT.SNILS.MISSING"], "entity": ["patient"],
                              "record_id": ["P1"]})
        assert findings_mod._waive(con, "no-such-run", frame)["waiver_id"].to_list() == [None]


# --- CSV ---------------------------------------------------------------------------------


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("bom, sep", [(True, ";"), (False, ","), (True, ","), (False, ";")])
def test_csv_answers_in_either_dialect(db, tmp_path, bom, sep):
    text = sep.join(["check_code", "record_id", "reason", "until", "by"]) + "\r\n"
    text += sep.join(["PAT.SNILS.MISSING", "P1", '"иностранец; гражданин Армении, без СНИЛС"',
                      "31.12.2026", "Иванова"]) + "\r\n\r\n"
    text += sep.join(["SCH.STALE", "D1", "врач в декретном отпуске", "2027-01-15", ""]) + "\n"
    path = _write(tmp_path / "answers.csv", ("\ufeff" if bom else "") + text)
    with warehouse.connect(db) as con:
        out = wv.import_answers(con, path, by="steward", today=TODAY, now=NOW)
        assert len(out.added) == 2
        rows = {r["check_code"]: r for r in wv.list_waivers(con).iter_rows(named=True)}
    assert rows["PAT.SNILS.MISSING"]["reason"] == "иностранец; гражданин Армении, без СНИЛС"
    assert rows["PAT.SNILS.MISSING"]["until"] == date(2026, 12, 31)
    assert rows["PAT.SNILS.MISSING"]["created_by"] == "Иванова"
    assert rows["SCH.STALE"]["created_by"] == "steward"
    assert rows["SCH.STALE"]["until"] == date(2027, 1, 15)


CSV_REFUSED = [
    ("check_code;record_id;reason\nPAT.SNILS.MISSING;P1;ok\nPAT.NOPE;P1;ok\n",
     "line 3, column check_code: unknown check code"),
    ("check_code;record_id;reason\nPAT.SNILS.MISSING;P1;ok\nSCH.STALE;D9;ok\n",
     "line 3, column record_id: the warehouse never reported SCH.STALE for record 'D9'"),
    ("check_code;record_id;reason\nPAT.SNILS.MISSING;P1;\n", "line 2, column reason: empty reason"),
    ("check_code;record_id;reason;until\nPAT.SNILS.MISSING;P1;ok;01.11.2026\n",
     "line 2, column until: until 2026-11-01 is in the past"),
    ("check_code;record_id;reason;until\nPAT.SNILS.MISSING;P1;ok;завтра\n",
     "line 2, column until: 'завтра' is not a date"),
    ("check_code;record_id;reason\nROW.MALFORMED;patients.csv:17;ok\n",
     "line 2, column check_code: ROW.MALFORMED cannot be waived"),
    ("check_code;record_id;reason;mo_code\nPAT.SNILS.MISSING;P1;ok;500102\n",
     "line 2, column mo_code: PAT.SNILS.MISSING on record 'P1' is on MO 500101's list, "
     "not MO 500102's"),
    ("check_code;record_id;reason;untill\n", "line 1, column 4: unknown column 'untill'"),
    ("check_code;reason\n", "line 1: missing column(s) record_id"),
    ("check_code;record_id;reason\n", "no answers in the file"),
    ("check_code;record_id;reason\nPAT.SNILS.MISSING;P1;ok;extra\n", "line 2: 4 fields"),
    ("check_code;record_id;reason\nPAT.SNILS.MISSING;P1;a\nPAT.SNILS.MISSING;P1;b\n",
     "line 3, column reason: a second, different answer"),
]


@pytest.mark.parametrize("text, message", CSV_REFUSED)
def test_a_bad_csv_row_refuses_the_whole_file(db, tmp_path, text, message):
    path = _write(tmp_path / "answers.csv", text)
    with warehouse.connect(db) as con:
        with pytest.raises(InputError) as info:
            wv.import_answers(con, path, today=TODAY)
    assert info.value.one_line() == f"{path}, {message}" or \
        info.value.one_line().startswith(f"{path}, {message}") or \
        info.value.one_line().startswith(f"{path}: {message}")
    assert counts(db) == (0, 0)


def test_csv_not_utf8_is_refused(db, tmp_path):
    path = _write(tmp_path / "answers.csv", "check_code;record_id;reason\nPAT.SNILS.MISSING;P1;"
                  "иностранец\n", encoding="cp1251")
    with warehouse.connect(db) as con, pytest.raises(InputError, match="line 2: not UTF-8"):
        wv.import_answers(con, path, today=TODAY)


def test_clinic_csv_with_mo_only_its_own(db, tmp_path):
    path = _write(tmp_path / "a.csv", "check_code,record_id,reason\nPAT.SNILS.MISSING,P1,ok\n"
                  "PAT.SNILS.MISSING,P2,ok\n")
    with warehouse.connect(db) as con, pytest.raises(InputError) as info:
        wv.import_answers(con, path, mo="500101", today=TODAY)
    assert "line 3, column record_id: PAT.SNILS.MISSING on record 'P2' is not a finding of MO " \
           "500101 (it is on MO 500102's list)" in str(info.value)
    assert counts(db) == (0, 0)


# --- XLSX --------------------------------------------------------------------------------


def test_fixlist_answers_are_read_by_their_headers(db, tmp_path):
    path = write_fixlist(tmp_path / "500101.xlsx", [
        ("PAT.SNILS.MISSING", "P1", "иностранный гражданин", date(2027, 2, 1)),
        ("PAT.SEX.INVALID", "P1", None, None),  # no answer: not a waiver
        ("SCH.STALE", "D1", "  врач в отпуске  ", "15.01.2027"),
    ])
    book = wv.read_answers_xlsx(path)
    assert (book.mo_code, book.run_id) == ("500101", R2)
    assert [(a.check_code, a.record_id, a.reason, a.until, a.where.line) for a in book.answers] \
        == [("PAT.SNILS.MISSING", "P1", "иностранный гражданин", date(2027, 2, 1), 2),
            ("SCH.STALE", "D1", "врач в отпуске", date(2027, 1, 15), 4)]
    with warehouse.connect(db) as con:
        out = wv.import_answers(con, path, mo="500101", by="Петрова", today=TODAY, now=NOW)
        assert len(out.added) == 2
        detail = json.loads(con.execute("SELECT detail FROM waiver_events ORDER BY event_id"
                                        ).fetchall()[0][0])
    assert detail["source"] == "500101.xlsx sheet Пациенты row 2"


def test_formula_like_ids_come_back_without_the_writers_quote(db, tmp_path):
    path = write_fixlist(tmp_path / "q.xlsx", [("ATT.METHOD.INVALID", "'=A9", "способ верен", None)])
    with warehouse.connect(db) as con:
        wv.import_answers(con, path, today=TODAY)
        assert wv.list_waivers(con)["record_id"].to_list() == ["=A9"]


def test_english_fixlist_without_until_column(db, tmp_path):
    path = write_fixlist(tmp_path / "e.xlsx", [("PAT.SNILS.MISSING", "P1", "foreign citizen", None)],
                         lang="en", until_column=False, sheet="Patients")
    with warehouse.connect(db) as con:
        assert len(wv.import_answers(con, path, today=TODAY).added) == 1


XLSX_REFUSED = [
    (dict(properties=False), "not a Talon fix list (the workbook lacks Talon's document "
                             "properties"),
    (dict(run_id="r-elsewhere"), "the fix list is of run r-elsewhere, which is not in this "
                                 "warehouse"),
    (dict(rows=[("PAT.SNILS.MISSING", "P1", "ok", None), ("PAT.SNILS.MISSING", "P2", "ok", None)]),
     "sheet 'Пациенты', row 3, column 'ID записи': PAT.SNILS.MISSING on record 'P2' is on MO "
     "500102's list, not MO 500101's"),
    (dict(rows=[("PAT.NOPE", "P1", "ok", None)]),
     "sheet 'Пациенты', row 2, column 'Код проверки': unknown check code"),
    (dict(rows=[("PAT.SNILS.MISSING", "P1", None, "01.02.2027")]),
     "row 2, column 'Ответ МО: не ошибка — причина': empty reason"),
    (dict(rows=[("PAT.SNILS.MISSING", "P1", "ok", date(2026, 1, 1))]),
     "row 2, column 'Ответ МО: до (ДД.ММ.ГГГГ)': until 2026-01-01 is in the past"),
    (dict(rows=[("PAT.SNILS.MISSING", "P1", None, None)]), "no answers"),
    (dict(mo_code=None, rows=[("ROW.MALFORMED", "patients.csv:17", "ok", None)]),
     "ROW.MALFORMED cannot be waived"),
]


@pytest.mark.parametrize("kwargs, message", XLSX_REFUSED)
def test_a_bad_workbook_is_refused_and_changes_nothing(db, tmp_path, kwargs, message):
    kwargs = {"rows": [("PAT.SNILS.MISSING", "P1", "ok", None)]} | kwargs
    path = write_fixlist(tmp_path / "book.xlsx", kwargs.pop("rows"), **kwargs)
    with warehouse.connect(db) as con, pytest.raises(InputError) as info:
        wv.import_answers(con, path, today=TODAY)
    assert message in info.value.one_line() and str(path) in info.value.one_line()
    assert counts(db) == (0, 0)


def test_workbook_of_another_clinic_with_mo(db, tmp_path):
    path = write_fixlist(tmp_path / "500102.xlsx", [("PAT.SNILS.MISSING", "P2", "ok", None)],
                         mo_code="500102")
    with warehouse.connect(db) as con, pytest.raises(InputError,
                                                     match="MO 500102's fix list, not MO 500101's"):
        wv.import_answers(con, path, mo="500101", today=TODAY)


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04broken"])
def test_not_a_workbook(db, tmp_path, content):
    path = tmp_path / "x.xlsx"
    path.write_bytes(content)
    with warehouse.connect(db) as con, pytest.raises(InputError, match="not an XLSX workbook"):
        wv.import_answers(con, path, today=TODAY)


def test_unknown_suffix(db, tmp_path):
    path = _write(tmp_path / "answers.txt", "x")
    with warehouse.connect(db) as con, pytest.raises(InputError, match=r"\.csv or as the fix"):
        wv.import_answers(con, path, today=TODAY)


def test_events_and_listing_per_clinic(db):
    with warehouse.connect(db) as con:
        wv.add_waiver(con, "PAT.SNILS.MISSING", "P1", "a", today=TODAY)
        wv.add_waiver(con, "PAT.SNILS.MISSING", "P2", "b", today=TODAY)
        assert wv.list_waivers(con, "500102")["record_id"].to_list() == ["P2"]
        assert wv.list_events(con, mo="500101")["record_id"].to_list() == ["P1"]
        assert wv.list_events(con)["event"].to_list() == ["added", "added"]


def test_answer_headers_match_the_fix_list_writer():
    from reports.i18n import LANGS, Texts

    assert wv.ANSWER_HEADERS == tuple(Texts(lang)["answer_reason"] for lang in LANGS)
    assert wv.UNTIL_HEADERS == tuple(Texts(lang)["answer_until"] for lang in LANGS)


def test_csv_blank_mo_code_states_nothing(db, tmp_path):
    path = _write(tmp_path / "a.csv", "check_code;record_id;reason;mo_code\n"
                  "PAT.SNILS.MISSING;P1;иностранец;\nPAT.SNILS.MISSING;P2;иностранец;500102\n")
    with warehouse.connect(db) as con:
        assert len(wv.import_answers(con, path, today=TODAY).added) == 2
