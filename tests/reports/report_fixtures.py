"""Test data of the report tests: a small warehouse built by hand with three runs (one
failed), F003 names, findings for several clinics (two with hostile codes) and unassigned
findings of each reason; plus helpers to read the rendered pages.

Findings are inserted directly: the reports read the table, they recompute nothing.
"""
from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import polars as pl

from checks import catalogue
from flows import warehouse

RUN = "r-current"
OLD_RUN = "r-old"
FAILED_RUN = "r-failed"
XSS = "<script>alert(1)</script>"
EVIL_MO = "../../evil"
DEVICE_MO = "CON"
NO_FINDINGS_MO = "500199"

CLINIC_NAMES = {
    "500101": "ГБУЗ МО «Поликлиника №1»",
    "500102": f"Больница {XSS}",
    EVIL_MO: "Клиника с опасным кодом",
    DEVICE_MO: "=HYPERLINK(\"x\")",
    NO_FINDINGS_MO: "Поликлиника без замечаний",
}

# check_code, severity, entity, record_id, mo_code, unassigned_reason, field, value, patient_id
FINDINGS = [
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P1", "500101", None, "snils", "112-233-445 96", "P1"),
    ("PAT.NAME.INVALID", "blocker", "patient", "P2", "500101", None,
     "last_name, first_name, middle_name", "Ивaнов, Пётр, Сергеевич", "P2"),
    ("PAT.BIRTHDATE.INVALID", "blocker", "patient", "P3", "500101", None, "birth_date", "14.03.2099", "P3"),
    ("PAT.SEX.INVALID", "warning", "patient", "P1", "500101", None, "sex", "-1", "P1"),
    ("POL.ENP.CHECKSUM", "blocker", "policy", "POL2", "500101", None, "enp", "1234567890123456", "P2"),
    ("POL.NUMBER.FORMAT", "blocker", "policy", "POL3", "500101", None,
     "policy_series, policy_number", "987654321012", "P3"),
    ("SCH.STALE", "blocker", "doctor", "D1", "500101", None, "updated_at", "2026-11-01 10:00", None),
    ("SCH.HORIZON.EMPTY", "warning", "mo_specialty", "500101/27", "500101", None, "status", "booked", None),
    ("SCH.SLOT.INVALID", "warning", "slot", "S9", "500101", None,
     "slot_start, slot_end, status, patient_id", "+booked", None),
    ("PAT.NAME.INVALID", "blocker", "patient", "P4", "500102", None,
     "last_name, first_name, middle_name", f"{XSS}, Анна, ", "P4"),
    ("PAT.SNILS.FORMAT", "blocker", "patient", "P5", "500102", None, "snils", "402-102-488-0O", "P5"),
    ("SCH.DOUBLE_BOOKING", "blocker", "slot", "S1", "500102", None, "slot_start, slot_end",
     "2026-11-26 10:00", "P4"),
    ("SCH.DOUBLE_BOOKING", "blocker", "slot", "S2", "500102", None, "slot_start, slot_end",
     "2026-11-26 10:05", "P6"),
    ("SCH.SLOT.INVALID", "warning", "slot", "<img src=x onerror=alert(2)>", "500102", None,
     "slot_start, slot_end, status, patient_id", XSS, None),
    ("ATT.METHOD.INVALID", "warning", "attachment", "A9", EVIL_MO, None, "attach_method", "=1+2", "P9"),
    ("ATT.DOCTOR.SNILS", "warning", "attachment", "A8", DEVICE_MO, None, "doctor_snils", "@SUM(A1)", "P8"),
    ("ATT.DOCTOR.SNILS", "warning", "attachment", "A7", DEVICE_MO, None, "doctor_snils", "\t-2", "P7"),
    ("ROW.MALFORMED", "blocker", "file", "patients.csv:17", None, "file_level", "line",
     "P77;Петров;Иван;;01.01.1980;1;141-141-702 00;extra", None),
    ("POL.PATIENT.ORPHAN", "blocker", "policy", "POL9", None, "patient_not_found", "patient_id", "P404", "P404"),
    ("ATT.MO.UNKNOWN", "blocker", "attachment", "A10", None, "mo_not_in_registry", "mo_code", "999999", "P10"),
    ("PAT.POLICY.NONE", "blocker", "patient", "P11", None, "no_active_attachment_to_known_mo",
     "patient_id", "P11", "P11"),
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P11", None, "no_active_attachment_to_known_mo",
     "snils", "642-185-924 01", "P11"),
]

OLD_FINDINGS = [
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P1", "500101", None, "snils", "112-233-445 96", "P1"),
    ("PAT.SEX.INVALID", "warning", "patient", "P1", "500101", None, "sex", "-1", "P1"),
]

#: Fields whose full values are personal identifiers (never on auditors' pages).
PII_FIELDS = ("snils", "doctor_snils", "enp", "policy_number", "last_name", "birth_date", "line")


def _mask(frame: pl.DataFrame) -> pl.DataFrame:
    """value_masked as checks.findings stores it (a crude stand-in if masking is not there)."""
    try:
        from checks.masking import mask_value
    except ImportError:  # pragma: no cover - only while checks/masking.py is being written
        def mask_value(field, value):
            return pl.lit("***") + value.str.tail(2)
    return frame.with_columns(mask_value(pl.col("field"), pl.col("value")).alias("value_masked"))


def pii_values() -> list[str]:
    """Full personal identifiers of the test findings, as they must never reach auditors:
    whole values, each name part of 4+ letters, SNILS also as bare digits."""
    values = set()
    for row in FINDINGS:
        field, value = row[6], row[7]
        fields = set(field.split(", "))
        if not fields & set(PII_FIELDS) or not value:
            continue
        values.add(value)
        if fields & {"last_name", "first_name", "middle_name"}:
            values |= {p for p in value.split(", ") if len(p) >= 4 and p != XSS}
        if fields & {"snils", "doctor_snils"}:
            values.add(value.replace("-", "").replace(" ", ""))
    return sorted(v for v in values if len(v) >= 4 and v[0] not in "=+-@\t\r")


def clinic_findings(mo_code: str | None) -> set[tuple[str, str]]:
    """(check_code, record_id) of the current run routed to `mo_code` (None: unassigned)."""
    return {(r[0], r[3]) for r in FINDINGS if r[4] == mo_code}


def findings_frame(rows, run_id: str) -> pl.DataFrame:
    cols = ["check_code", "severity", "entity", "record_id", "mo_code", "unassigned_reason",
            "field", "value", "patient_id"]
    frame = pl.DataFrame(rows, schema={c: pl.String for c in cols}, orient="row")
    return _mask(frame.with_columns(pl.lit(run_id).alias("run_id")))


def patch_catalogue(monkeypatch) -> None:
    """Until the catalogue is declared, a stand-in with the codes these tests use."""
    if {r[0] for r in FINDINGS} <= set(catalogue.BY_CODE):
        return
    checks = tuple(
        catalogue.Check(code, catalogue.Severity(sev), entity, "f", catalogue.Engine.SQL,
                        "004F.00.0480", f"Заголовок {code}", f"Title {code}",
                        f"Ошибка {code}", f"Defect {code}", f"Исправьте {code}", f"Fix {code}")
        for code, sev, entity in {(r[0], r[1], r[2]) for r in FINDINGS})
    monkeypatch.setattr(catalogue, "CHECKS", checks)
    monkeypatch.setattr(catalogue, "BY_CODE", {c.code: c for c in checks})


def build_warehouse(path: Path):
    con = warehouse.connect(path)
    runs = [(OLD_RUN, datetime(2026, 11, 24, 23, 0), "completed"),
            (FAILED_RUN, datetime(2026, 11, 25, 1, 0), "failed"),
            (RUN, datetime(2026, 11, 25, 23, 0), "running")]
    for run_id, as_of, status in runs:
        con.execute(
            "INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir, "
            "reference_dir, started_at, status) VALUES (?, ?, 'cli', '50', 'x', 'y', ?, ?)",
            [run_id, as_of, as_of.replace(hour=23, minute=30), status])
        for mcod, name in CLINIC_NAMES.items():
            con.execute("INSERT INTO ref_f003 (run_id, mcod, tf_okato, name, e_mail, d_begin) "
                        "VALUES (?, ?, '46000', ?, 'mo@example.invalid', DATE '2020-01-01')",
                        [run_id, mcod, name])
    # An older inclusion period with another name: the latest period's name wins.
    con.execute("INSERT INTO ref_f003 (run_id, mcod, name, d_begin) VALUES (?, '500101', "
                "'Старое название', DATE '2001-01-01')", [RUN])
    for run_id, rows in ((RUN, FINDINGS), (OLD_RUN, OLD_FINDINGS), (FAILED_RUN, FINDINGS[:3])):
        frame = findings_frame(rows, run_id)
        con.register("f_view", frame.to_arrow())
        con.execute("INSERT INTO findings BY NAME SELECT * FROM f_view")
        con.unregister("f_view")
    return con


class _Tables(HTMLParser):
    """Cell texts of every <table id=...> of a page: {id: [[cell, ...], ...]} (body rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif tag == "tbody" and self._table:
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.tables[self._table].append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_tables(path: Path) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tables


# --- History: several runs for the defect lifecycle (tests/reports/test_lifecycle_reports.py)

HIST_RUNS = {  # run_id -> (as_of, status), in as_of order
    "h1": (datetime(2026, 11, 20, 23, 0), "completed"),
    "h2": (datetime(2026, 11, 21, 23, 0), "completed"),
    "hf": (datetime(2026, 11, 22, 23, 0), "failed"),  # ignored: neither fixes nor opens
    "h3": (datetime(2026, 11, 23, 23, 0), "completed"),
    "h4": (datetime(2026, 11, 24, 23, 0), "running"),  # the run being reported
}
HIST_RUN = "h4"
HIST_NAMES = {"500101": "Поликлиника №1", "500102": "Больница №2"}
# finding row (as in FINDINGS) -> runs where it is present
HIST_FINDINGS = {
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P1", "500101", None, "snils", "112-233-445 96", "P1"):
        ("h1", "h2", "hf", "h3", "h4"),  # open since h1: 4 days
    ("PAT.SEX.INVALID", "warning", "patient", "P2", "500101", None, "sex", "7", "P2"):
        ("h1", "h2", "h4"),  # gone at h3, back at h4: reopened
    ("SCH.STALE", "blocker", "doctor", "D1", "500101", None, "updated_at", "2026-11-01 10:00", None):
        ("h4",),  # new
    ("POL.ENP.CHECKSUM", "blocker", "policy", "POL1", "500101", None, "enp", "7700000000004444", "P1"):
        ("h1", "h2", "hf", "h3"),  # fixed at h4 (500101)
    ("SCH.DOUBLE_BOOKING", "blocker", "slot", "S1", "500102", None, "slot_start, slot_end",
     "2026-11-26 10:00", "P4"): ("h2", "h3", "h4"),  # open since h2: 3 days
    ("SCH.DOUBLE_BOOKING", "blocker", "slot", "S2", "500102", None, "slot_start, slot_end",
     "2026-11-26 10:05", "P6"): ("hf", "h3"),  # fixed at h4 (500102)
    ("ATT.MO.UNKNOWN", "blocker", "attachment", "A1", None, "mo_not_in_registry", "mo_code",
     "999999", "P10"): ("h3", "h4"),  # open since h3 (unassigned): 1 day
    ("PAT.NAME.INVALID", "blocker", "patient", "P9", None, "patient_not_found",
     "last_name, first_name, middle_name", "Сидорова, Мария, Ивановна", "P9"): ("h3",),  # fixed
    ("PAT.SNILS.FORMAT", "blocker", "patient", "P5", "500102", None, "snils", "402-102-488-0O", "P5"):
        ("hf", "h4"),  # only the failed run had it before: new
    ("SCH.SLOT.INVALID", "warning", "slot", "S3", "500102", None, "status", "x", None):
        ("h1",),  # fixed at h2, long ago: not "fixed since the last run" at h4
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P7", "500102", None, "snils", "642-185-924 01", "P7"):
        ("h2", "h3", "h4"),  # absent in the failed run only: still open since h2
}


def build_history_warehouse(path: Path, runs: dict = HIST_RUNS):
    """Runs h1..h4 (+ failed hf) with findings that appear, persist, disappear and reappear."""
    con = warehouse.connect(path)
    for run_id, (as_of, status) in runs.items():
        con.execute(
            "INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir, "
            "reference_dir, started_at, status) VALUES (?, ?, 'cli', '50', 'x', 'y', ?, ?)",
            [run_id, as_of, as_of.replace(minute=30), status])
        for mcod, name in HIST_NAMES.items():
            con.execute("INSERT INTO ref_f003 (run_id, mcod, name, d_begin) VALUES "
                        "(?, ?, ?, DATE '2020-01-01')", [run_id, mcod, name])
    for run_id in runs:
        rows = [row for row, present in HIST_FINDINGS.items() if run_id in present]
        if rows:
            con.register("f_view", findings_frame(rows, run_id).to_arrow())
            con.execute("INSERT INTO findings BY NAME SELECT * FROM f_view")
            con.unregister("f_view")
    return con
