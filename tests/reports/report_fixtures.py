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


def patch_catalogue(monkeypatch, rows=FINDINGS) -> None:
    """Until the catalogue is declared, a stand-in with the codes these tests use (`rows`:
    finding rows as FINDINGS)."""
    if {r[0] for r in rows} <= set(catalogue.BY_CODE):
        return
    checks = tuple(
        catalogue.Check(code, catalogue.Severity(sev), entity, "f", catalogue.Engine.SQL,
                        "004F.00.0480", f"Заголовок {code}", f"Title {code}",
                        f"Ошибка {code}", f"Defect {code}", f"Исправьте {code}", f"Fix {code}")
        for code, sev, entity in {r[0]: (r[0], r[1], r[2]) for r in rows}.values())
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


# --- The insured-persons register (issue 12): a run with a register, one without

REG_RUN = "g-reg"  # the run being reported: it read registry.csv
NOREG_RUN = "g-noreg"  # an earlier run of the same warehouse without a register
REG_NAMES = {"500101": "Поликлиника №1", "500102": "Больница №2", "500103": "Амбулатория №3"}
REG_PATIENTS = 10  # patients loaded from the extract: P1..P10
#: patient -> linking tier (reg_links): P8, P9, P10 are not found.
REG_LINKS = {"P1": 1, "P2": 1, "P6": 1, "P7": 1, "P3": 2, "P4": 3, "P5": 4}
INSURED_ENP = "7700000000009999"  # a register row's ENP twice in registry.csv: its record id

# As FINDINGS, plus the suggested value and the field whose mask the suggestion gets (as
# checks.register.SUGGESTION_MASK_FIELD: "" = no suggestion).
# check_code, severity, entity, record_id, mo_code, unassigned_reason, field, value, patient_id,
# suggested_value, suggestion mask field
_NAME = "last_name, first_name, middle_name"
REG_FINDINGS = [
    # 500101: REG blockers for P2 (two), P4, P6, P8; P1 only a REG warning (and a v1.1 blocker)
    ("REG.NAME.MISMATCH", "blocker", "patient", "P2", "500101", None, _NAME,
     "Ивaнов, Пётр, Сергеевич", "P2", "Иванов Пётр Сергеевич", _NAME),
    ("REG.ATTACHMENT.MISMATCH", "blocker", "attachment", "A2", "500101", None, "mo_code",
     "500101", "P2", "500102", "mo_code"),
    ("REG.BIRTHDATE.MISMATCH", "blocker", "patient", "P4", "500101", None, "birth_date",
     "03.04.1980", "P4", "04.03.1980", "birth_date"),
    ("REG.PATIENT.DUPLICATE", "blocker", "patient", "P6", "500101", None, "patient_id", "P6",
     "P6", "P7", "patient_id"),
    ("REG.PERSON.NOT_FOUND", "blocker", "patient", "P8", "500101", None, _NAME,
     "Кузнецова, Ольга, Игоревна", "P8", "", ""),
    ("REG.POLICY.SMO", "warning", "policy", "POL1", "500101", None, "smo_code", "50001", "P1",
     "50099", "smo_code"),
    ("PAT.SNILS.CHECKSUM", "blocker", "patient", "P1", "500101", None, "snils",
     "112-233-445 97", "P1", "254-837-019 62", "snils"),
    ("PAT.SEX.INVALID", "warning", "patient", "P1", "500101", None, "sex", "9", "P1", "", ""),
    # 500102: REG blockers for P3, P5, P9; P5 also a REG warning
    ("REG.SNILS.MISMATCH", "blocker", "patient", "P3", "500102", None, "snils",
     "402-102-488 01", "P3", "156-715-032 41", "snils"),
    ("REG.POLICY.ENP", "blocker", "policy", "POL5", "500102", None, "enp", "7700000000001111",
     "P5", "5098765432109876", "enp"),
    ("REG.PERSON.DECEASED", "warning", "patient", "P5", "500102", None, "patient_id", "P5",
     "P5", "12.05.2025", "birth_date"),
    ("REG.PERSON.NOT_FOUND", "blocker", "patient", "P9", "500102", None, _NAME,
     "Смирнов, Олег, ", "P9", "", ""),
    ("POL.ENP.CHECKSUM", "blocker", "policy", "POL3", "500102", None, "enp", "1234567890123456",
     "P3", "5012345678901234", "enp"),
    # 500103: three REG blockers, all of P7
    ("REG.PATIENT.DUPLICATE", "blocker", "patient", "P7", "500103", None, "patient_id", "P7",
     "P7", "P6", "patient_id"),
    ("REG.POLICY.CLOSED", "blocker", "policy", "POL7", "500103", None, "date_end", "", "P7",
     "31.12.2025", "date_end"),
    ("REG.ATTACHMENT.UNREGISTERED", "blocker", "attachment", "A7", "500103", None, "mo_code",
     "500103", "P7", "", ""),
    # unassigned: P10 not found and without an attachment; a register row's duplicate ENP; an
    # attachment to an unknown MO with the register's attachment as the suggestion
    ("REG.PERSON.NOT_FOUND", "blocker", "patient", "P10", None,
     "no_active_attachment_to_known_mo", _NAME, "Попова, Анна, Викторовна", "P10", "", ""),
    ("ROW.DUPLICATE_ID", "blocker", "insured", INSURED_ENP, None, "register_record", "enp",
     INSURED_ENP, None, "", ""),
    ("ATT.MO.UNKNOWN", "blocker", "attachment", "A10", None, "mo_not_in_registry", "mo_code",
     "999999", "P11", "500103", "mo_code"),
]
#: What the register section must show for REG_RUN.
REG_EXPECTED = {
    "tiers": {1: 4, 2: 1, 3: 1, 4: 1}, "linked": 7, "not_found": 3, "blocked": 9,
    "suggestions": sum(1 for r in REG_FINDINGS if r[9]),
    # mo_code -> (patients blocked, blockers, warnings, findings, patients affected), REG only
    "by_clinic": {"500101": (4, 5, 1, 6, 5), "500102": (3, 3, 1, 4, 3), "500103": (1, 3, 0, 3, 1),
                  None: (1, 1, 0, 1, 1)},
}
#: Full values a clinic list may show and an auditor's output never: suggestions of personal
#: kinds, the insured record id, the personal current values.
REG_PII = sorted({r[9] for r in REG_FINDINGS if r[10] in (_NAME, "snils", "enp", "birth_date")}
                 | {r[7] for r in REG_FINDINGS if r[6] in (_NAME, "snils", "enp", "birth_date")
                    and r[7]} | {INSURED_ENP, "Иванов", "Кузнецова", "Попова", "Викторовна"})


def register_findings_frame(rows, run_id: str) -> pl.DataFrame:
    """findings_frame plus suggested_value and suggested_masked (masked by its own field)."""
    base = findings_frame([r[:9] for r in rows], run_id)
    from checks.masking import mask_value

    extra = pl.DataFrame([(r[9], r[10]) for r in rows], schema={
        "suggested_value": pl.String, "mask_field": pl.String}, orient="row")
    extra = extra.with_columns(mask_value(pl.col("mask_field"), pl.col("suggested_value"))
                               .alias("suggested_masked")).drop("mask_field")
    return pl.concat([base, extra], how="horizontal")


def build_register_warehouse(path: Path):
    """REG_RUN (with a register: run_files row of entity insured, reg_links, REG findings with
    suggestions) after NOREG_RUN (no register; one v1.1 finding), clinics REG_NAMES."""
    con = warehouse.connect(path)
    for run_id, as_of, status in ((NOREG_RUN, datetime(2026, 11, 24, 23, 0), "completed"),
                                  (REG_RUN, datetime(2026, 11, 25, 23, 0), "running")):
        con.execute(
            "INSERT INTO runs (run_id, as_of, as_of_source, region_code, extracts_dir, "
            "reference_dir, started_at, status) VALUES (?, ?, 'cli', '50', 'x', 'y', ?, ?)",
            [run_id, as_of, as_of.replace(minute=30), status])
        for mcod, name in REG_NAMES.items():
            con.execute("INSERT INTO ref_f003 (run_id, mcod, name, d_begin) VALUES "
                        "(?, ?, ?, DATE '2020-01-01')", [run_id, mcod, name])
        files = [("patients.csv", "patient", REG_PATIENTS), ("policies.csv", "policy", 12),
                 ("attachments.csv", "attachment", 11), ("slots.csv", "slot", 0)]
        if run_id == REG_RUN:
            files.append(("registry.csv", "insured", 9))
        for name, entity, n in files:
            con.execute("INSERT INTO run_files (run_id, file_name, entity, format, size_bytes, "
                        "sha256, rows_read, rows_loaded, rows_quarantined) VALUES "
                        "(?, ?, ?, 'csv', 1, 'x', ?, ?, 0)", [run_id, name, entity, n, n])
    con.executemany("INSERT INTO reg_links VALUES (?, ?, ?, ?)",
                    [(REG_RUN, p, f"50000000000000{i:02d}", tier)
                     for i, (p, tier) in enumerate(REG_LINKS.items())])
    for run_id, rows in ((REG_RUN, REG_FINDINGS), (NOREG_RUN, [
            ("PAT.SEX.INVALID", "warning", "patient", "P1", "500101", None, "sex", "9", "P1",
             "", "")])):
        con.register("f_view", register_findings_frame(rows, run_id).to_arrow())
        con.execute("INSERT INTO findings BY NAME SELECT * FROM f_view")
        con.unregister("f_view")
    return con
