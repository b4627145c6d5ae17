"""Waivers: a clinic's answer "this finding is not an error" (issue 13).

A waiver names one finding by (check_code, record_id) and says why it is not a defect (a
foreign citizen who has no SNILS, a doctor on long leave whose slots are already blocked),
optionally until a date. From the next run on, routing (checks/findings.py) sets
`findings.waiver_id` on the finding it covers: the finding stays in the warehouse, but leaves
the clinic's fix list and the booking impact, and the auditors' report lists every waiver
(reports/waivers.py) so that an auditor can judge it.

Tables (flows/warehouse.py): `waivers` holds each waiver's current state (status active |
removed | expired; one active waiver per (check_code, record_id)); `waiver_events` is the
append-only audit trail (added | changed | expired | removed, with time, author and a JSON
detail). Nothing is ever deleted: a removed or expired waiver keeps its row and its events, and
a new answer for the same finding starts a new waiver.

Answers come one at a time (`talon waive --check --record --reason`), or many at once from a CSV
(columns check_code, record_id, reason, until, by, optionally mo_code) or from the clinic's own
fix-list workbook returned with its answer column filled in. A file is all or nothing: every
answer is checked first, and one bad answer refuses the whole file with a one-line message
naming the file, line (or sheet and row) and column; nothing is written then.

Plain functions (no Prefect): the CLI (flows/cli.py `waive`, `waivers`) takes the warehouse lock
around them.
"""
from __future__ import annotations

import csv
import getpass
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from checks import catalogue
from flows.errors import InputError

ACTIVE, REMOVED, EXPIRED = "active", "removed", "expired"
STATUSES = (ACTIVE, REMOVED, EXPIRED)
ADDED, CHANGED = "added", "changed"
EVENTS = (ADDED, CHANGED, EXPIRED, REMOVED)
#: Author of the events Talon itself records (expiry during a run).
SYSTEM = "talon"
#: A broken line must be fixed, not waived.
NOT_WAIVABLE = {"ROW.MALFORMED": "a malformed line must be fixed in the extract, not waived"}

#: The fix-list workbook's answer columns (design13.md): exactly these header texts, either
#: language, so the import does not depend on the language the list was written in.
ANSWER_HEADERS = ("Ответ МО: не ошибка — причина", "Clinic's answer: not an error — reason")
UNTIL_HEADERS = ("Ответ МО: до (ДД.ММ.ГГГГ)", "Answer: until (DD.MM.YYYY)")
#: The workbook's custom document properties that identify a Talon fix list.
PROP_FIXLIST, PROP_MO, PROP_RUN = "talon_fixlist", "talon_mo_code", "talon_run_id"
#: A clinic code longer than a custom property may be (Excel: 255 UTF-16 units; xlsxwriter
#: warns) is stored in parts instead of PROP_MO: PROP_MO_PARTS holds their number n (2 or
#: more) and PROP_MO_PART.format(i) for i = 1..n the code's consecutive pieces of at most
#: MO_PART_CHARS characters (at most 254 UTF-16 units even of characters outside the BMP).
#: A workbook has either PROP_MO or the parts, never both (`fixlist_mo_properties`).
PROP_MO_PARTS, PROP_MO_PART = "talon_mo_code_parts", "talon_mo_code_{}"
MO_PART_CHARS = 127
MAX_MO_PARTS = 64

CSV_REQUIRED = ("check_code", "record_id", "reason")
CSV_OPTIONAL = ("until", "by", "mo_code")
#: A run of this many digits (spaces and dashes between them ignored) in a reason looks like a
#: SNILS, an ENP or a policy number: reasons are shown to auditors, so they must not quote one.
IDENTIFIER_DIGITS = 9
_DIGIT_RUN = re.compile(r"\d(?:[ \-]?\d){%d,}" % (IDENTIFIER_DIGITS - 1))
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M:%S",
                 "%Y-%m-%dT%H:%M:%S")
#: Unread limits of a returned workbook: a real fix list is far below both.
MAX_CUSTOM_XML = 1 << 20


def _headers(key: str) -> tuple[str, ...]:
    """Both languages' header of a fix-list column (reports/i18n.py)."""
    from reports.i18n import LANGS, Texts

    return tuple(Texts(lang)[key] for lang in LANGS)


class AnswerError(InputError):
    """A refused answer: names the file, the line (CSV) or sheet and row (XLSX) and the
    column, like the extract reader's errors (exit code 2)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: str | int | None = None, sheet: str | None = None):
        self.sheet = sheet
        super().__init__(message, file=file, line=line, column=column)

    def one_line(self) -> str:
        if self.sheet is None:
            return super().one_line()
        where = [w for w in (self.file, f"sheet {self.sheet!r}",
                             f"row {self.line}" if self.line is not None else None,
                             f"column {self.column!r}" if self.column is not None else None) if w]
        return f"{', '.join(where)}: {self.message}"


#: The `talon waive` option of each answer field (errors about a single answer name it).
_OPTION = {"check_code": "--check", "record_id": "--record", "reason": "--reason",
           "until": "--until", "mo_code": "--mo"}


@dataclass(frozen=True)
class Where:
    """Where an answer came from, for its error messages and its audit detail."""
    file: str | None = None
    line: int | None = None  # CSV line (header = 1) or workbook row (header = 1)
    sheet: str | None = None
    columns: dict = field(default_factory=dict)  # answer field -> its column's header

    def error(self, message: str, what: str | None = None) -> AnswerError:
        column = self.columns.get(what, what) if self.file else None
        if self.file is None and what:  # a single answer from the command line
            message = f"{_OPTION.get(what, '--' + what)}: {message}"
        return AnswerError(message, file=self.file, line=self.line, column=column,
                           sheet=self.sheet)

    def source(self) -> str:
        if self.file is None:
            return "command line"
        name = Path(self.file).name
        if self.sheet is not None:
            return f"{name} sheet {self.sheet} row {self.line}"
        return f"{name} line {self.line}"


@dataclass(frozen=True)
class Answer:
    check_code: str
    record_id: str
    reason: str
    until: date | None = None
    by: str | None = None
    mo_code: str | None = None  # the MO that answers (None: not stated)
    mo_stated: bool = False  # mo_code was stated ("" or None then means the unassigned list)
    where: Where = Where()


@dataclass
class Outcome:
    """What an import did: waiver ids added, changed, and answers that changed nothing."""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.added) + len(self.changed) + len(self.unchanged)


# ---------------------------------------------------------------------------------------------
# Reading answers


def parse_until(text: str | None, where: Where) -> date | None:
    """A date as YYYY-MM-DD or DD.MM.YYYY (a workbook's date cell reads as
    'YYYY-MM-DD 00:00:00'); empty: None."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise where.error(f"{text!r} is not a date (use YYYY-MM-DD or DD.MM.YYYY)", "until")


def _clean(value) -> str:
    return "" if value is None else str(value).strip()


#: What a spreadsheet would read as a formula: the fix lists prefix such text with `'`
#: (reports/safe.py), which the import takes off again.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _key_cell(value) -> str:
    """A check code or record id cell as the finding has it: without the `'` the writer put
    before text that starts like a formula, and without surrounding spaces."""
    text = "" if value is None else str(value)
    if text.startswith("'") and text[1:].startswith(_FORMULA_LEADS):
        return text[1:]
    return text.strip()


def read_answers_csv(path: Path) -> list[Answer]:
    """Answers from a CSV: UTF-8 with or without BOM, `;` or `,` between fields, a header row
    with check_code, record_id, reason and optionally until, by, mo_code (any order and case).
    Blank lines are skipped."""
    path = Path(path)
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AnswerError(f"cannot read the file: {exc.strerror or exc}", file=file) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise AnswerError("not UTF-8 text (save the CSV as UTF-8)", file=file,
                          line=line) from None
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise AnswerError("no header row (expected check_code, record_id, reason, until, by)",
                          file=file, line=1)
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    for i, name in enumerate(header):
        if name not in CSV_REQUIRED + CSV_OPTIONAL:
            raise AnswerError(f"unknown column {name!r} (expected "
                              f"{', '.join(CSV_REQUIRED + CSV_OPTIONAL)})", file=file, line=1,
                              column=i + 1)
        if header.index(name) != i:
            raise AnswerError(f"column {name!r} appears twice", file=file, line=1, column=i + 1)
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise AnswerError(f"missing column(s) {', '.join(missing)}", file=file, line=1)
    columns = {c: c for c in header}
    answers = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = Where(file, line, None, columns)
        if len(row) != len(header):
            raise where.error(f"{len(row)} fields, the header has {len(header)}")
        cells = dict(zip(header, (cell.strip() for cell in row)))
        mo_stated = bool(cells.get("mo_code"))  # a blank mo_code states nothing
        answers.append(Answer(cells["check_code"], cells["record_id"], cells["reason"],
                              parse_until(cells.get("until"), where), cells.get("by") or None,
                              cells.get("mo_code") or None, mo_stated, where))
    if not answers:
        raise AnswerError("no answers in the file (only a header)", file=file)
    return answers


def workbook_properties(path: Path) -> dict[str, str]:
    """The workbook's custom document properties (docProps/custom.xml) as text; {} when it has
    none. Refuses a file that is not an XLSX (a ZIP package) at all."""
    from defusedxml import ElementTree

    file = str(path)
    try:
        with zipfile.ZipFile(path) as package:
            try:
                info = package.getinfo("docProps/custom.xml")
            except KeyError:
                return {}
            if info.file_size > MAX_CUSTOM_XML:
                raise AnswerError("not a Talon fix list (its custom properties are too large)",
                                  file=file)
            xml = package.read(info)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AnswerError(f"not an XLSX workbook ({type(exc).__name__})", file=file) from None
    try:
        root = ElementTree.fromstring(xml)
    except Exception:  # noqa: BLE001  (defusedxml refuses entities; any parse error alike)
        raise AnswerError("not a Talon fix list (unreadable custom properties)",
                          file=file) from None
    props = {}
    for prop in root:
        name = prop.get("name")
        if name:
            props[name] = "".join(child.text or "" for child in prop)
    return props


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fixlist_mo_properties(mo_code: str | None) -> dict[str, str]:
    """The custom properties naming a fix list's clinic (None or "": the unassigned list):
    PROP_MO where the code fits a property (255 UTF-16 units), else its parts (PROP_MO_PARTS
    and PROP_MO_PART): `fixlist_mo_code` reads either back to the same code."""
    code = mo_code or ""
    if _utf16_len(code) <= 255:
        return {PROP_MO: code}
    parts = [code[i:i + MO_PART_CHARS] for i in range(0, len(code), MO_PART_CHARS)]
    return {PROP_MO_PARTS: str(len(parts))} | {PROP_MO_PART.format(i): part
                                                for i, part in enumerate(parts, start=1)}


def _lacks_properties(file: str | None) -> AnswerError:
    return AnswerError("not a Talon fix list (the workbook lacks Talon's document properties "
                       f"{PROP_FIXLIST}, {PROP_MO}, {PROP_RUN}): answer in the XLSX that "
                       "Talon sent", file=file)


def fixlist_mo_code(props: dict[str, str], file: str | None = None) -> str | None:
    """The clinic a fix list's custom properties name (`fixlist_mo_properties`; None: the
    unassigned list). Refuses a workbook whose properties name none, or name it both ways, or
    whose parts are not 2..MAX_MO_PARTS consecutive pieces (a part missing, empty or one too
    many): it is not a list Talon wrote."""
    parts = props.get(PROP_MO_PARTS)
    extra = [k for k in props if k.startswith(PROP_MO_PART.format(""))
             and k != PROP_MO_PARTS]
    if parts is None:
        if PROP_MO not in props or extra:
            raise _lacks_properties(file)
        return props[PROP_MO].strip() or None
    bad = AnswerError(f"not a Talon fix list (its clinic code properties {PROP_MO_PARTS} and "
                      f"{PROP_MO_PART.format('N')} do not fit together): answer in the XLSX "
                      "that Talon sent", file=file)
    if PROP_MO in props or not parts.strip().isdigit():
        raise bad
    n = int(parts)
    names = [PROP_MO_PART.format(i) for i in range(1, n + 1)]
    if not 2 <= n <= MAX_MO_PARTS or sorted(extra) != sorted(names) or not all(
            props[k] for k in names):
        raise bad
    return "".join(props[k] for k in names).strip() or None


@dataclass(frozen=True)
class FixListWorkbook:
    mo_code: str | None  # None: the unassigned list (talon_mo_code ""); fixlist_mo_code
    run_id: str
    answers: list[Answer]


def read_answers_xlsx(path: Path) -> FixListWorkbook:
    """The answers a clinic wrote into its fix-list workbook: every sheet whose header row has
    the answer column; a row with an empty answer (and no until) is no answer."""
    path = Path(path)
    file = str(path)
    props = workbook_properties(path)
    if props.get(PROP_FIXLIST) != "1" or not props.get(PROP_RUN):
        raise _lacks_properties(file)
    mo_code = fixlist_mo_code(props, file)
    try:
        sheets = pl.read_excel(path, sheet_id=0, engine="calamine", infer_schema_length=0,
                               drop_empty_rows=False, raise_if_empty=False)
    except Exception as exc:  # noqa: BLE001  (calamine's errors have no common base)
        raise AnswerError(f"unreadable workbook: {type(exc).__name__}: {exc}"[:300],
                          file=file) from None
    answers, found = [], False
    checks, records = _headers("check_code"), _headers("record_id")
    for sheet, frame in sheets.items():
        answer_col = next((c for c in frame.columns if c.strip() in ANSWER_HEADERS), None)
        if answer_col is None:
            continue
        found = True
        check_col = next((c for c in frame.columns if c.strip() in checks), None)
        record_col = next((c for c in frame.columns if c.strip() in records), None)
        until_col = next((c for c in frame.columns if c.strip() in UNTIL_HEADERS), None)
        if check_col is None or record_col is None:
            raise AnswerError("not a Talon fix list: the sheet has the answer column but no "
                              f"{' / '.join(checks)} or {' / '.join(records)} column",
                              file=file, line=1, sheet=sheet)
        columns = {"check_code": check_col, "record_id": record_col, "reason": answer_col,
                   "until": until_col or UNTIL_HEADERS[0]}
        wanted = [check_col, record_col, answer_col] + ([until_col] if until_col else [])
        for i, row in enumerate(frame.select(wanted).iter_rows()):
            reason, until = _clean(row[2]), _clean(row[3]) if until_col else ""
            if not reason and not until:
                continue
            where = Where(file, i + 2, sheet, columns)  # header = row 1
            answers.append(Answer(_key_cell(row[0]), _key_cell(row[1]), reason,
                                  parse_until(until, where), None, mo_code, True, where))
    if not found:
        raise AnswerError(f"not a Talon fix list: no sheet has the answer column "
                          f"{ANSWER_HEADERS[0]!r}", file=file)
    if not answers:
        raise AnswerError(f"no answers: the column {ANSWER_HEADERS[0]!r} is empty in every "
                          "sheet", file=file)
    return FixListWorkbook(mo_code, props[PROP_RUN].strip(), answers)


# ---------------------------------------------------------------------------------------------
# Checking answers against the warehouse


def _today(today: date | None) -> date:
    return today or date.today()


def default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001  (no user name in this environment)
        return "unknown"


_REPORTED_SQL = """
SELECT a.i, f.entity, f.mo_code
FROM answers_view a
JOIN findings f ON f.check_code = a.check_code AND f.record_id = a.record_id
JOIN runs r ON r.run_id = f.run_id
QUALIFY row_number() OVER (PARTITION BY a.i ORDER BY (r.status = 'completed') DESC, r.as_of DESC,
                                                     r.started_at DESC, r.run_id DESC) = 1
"""


def _reported(con: duckdb.DuckDBPyConnection, answers: list[Answer]) -> dict[int, tuple]:
    """answer index -> (entity, mo_code) of the latest finding with its check and record (the
    latest completed run first): the warehouse reported it."""
    frame = pl.DataFrame({"i": list(range(len(answers))),
                          "check_code": [a.check_code for a in answers],
                          "record_id": [a.record_id for a in answers]},
                         schema={"i": pl.Int64, "check_code": pl.String, "record_id": pl.String})
    con.register("answers_view", frame.to_arrow())
    try:
        rows = con.execute(_REPORTED_SQL).fetchall()
    finally:
        con.unregister("answers_view")
    return {i: (entity, mo) for i, entity, mo in rows}


def _mo_label(mo: str | None) -> str:
    return f"MO {mo}" if mo else "the unassigned list"


@dataclass(frozen=True)
class Checked:
    answer: Answer
    entity: str
    mo_code: str | None  # the finding's clinic


def check_answers(con: duckdb.DuckDBPyConnection, answers: list[Answer], *,
                  mo: str | None = None, today: date | None = None) -> list[Checked]:
    """Check every answer; raise AnswerError at the first bad one (in file order; within an
    answer: check code, record, reason, until, then the warehouse and the MO).

    `mo`: the clinic answering (`--mo`): it may answer only findings routed to it. Without it
    (the data steward), an answer that states its MO (a CSV's mo_code column, the workbook's
    clinic) must match the finding's; the waiver records the finding's MO either way."""
    today = _today(today)
    reported = _reported(con, answers)
    seen: dict[tuple[str, str], Answer] = {}
    checked = []
    for i, a in enumerate(answers):
        w = a.where
        if not a.check_code:
            raise w.error("empty check code", "check_code")
        if a.check_code not in catalogue.BY_CODE:
            raise w.error(f"unknown check code {a.check_code!r} (see checks/CATALOGUE.md)",
                          "check_code")
        if a.check_code in NOT_WAIVABLE:
            raise w.error(f"{a.check_code} cannot be waived: {NOT_WAIVABLE[a.check_code]}",
                          "check_code")
        if not a.record_id:
            raise w.error("empty record id", "record_id")
        if not a.reason.strip():
            raise w.error("empty reason: say why this is not an error", "reason")
        if _DIGIT_RUN.search(a.reason):
            raise w.error("the reason quotes a number of 9 or more digits (a SNILS, ENP or "
                          "policy number?): auditors read reasons, describe the case without "
                          "personal identifiers", "reason")
        if a.until is not None and a.until < today:
            raise w.error(f"until {a.until:%Y-%m-%d} is in the past (today is "
                          f"{today:%Y-%m-%d})", "until")
        if i not in reported:
            raise w.error(f"the warehouse never reported {a.check_code} for record "
                          f"{a.record_id!r}", "record_id")
        entity, found_mo = reported[i]
        if mo is not None and found_mo != mo:
            raise w.error(f"{a.check_code} on record {a.record_id!r} is not a finding of MO "
                          f"{mo} (it is on {_mo_label(found_mo)}'s list): a clinic answers "
                          "only its own findings", "record_id")
        if a.mo_stated and (a.mo_code or None) != found_mo:
            raise w.error(f"{a.check_code} on record {a.record_id!r} is on "
                          f"{_mo_label(found_mo)}'s list, not {_mo_label(a.mo_code)}'s",
                          "mo_code" if a.where.sheet is None else "record_id")
        key = (a.check_code, a.record_id)
        if key in seen:
            first = seen[key]
            if (first.reason, first.until) != (a.reason, a.until):
                raise w.error(f"a second, different answer for {a.check_code} on record "
                              f"{a.record_id!r} (first at {first.where.source()})", "reason")
            continue
        seen[key] = a
        checked.append(Checked(a, entity, found_mo))
    return checked


# ---------------------------------------------------------------------------------------------
# Writing waivers


def new_waiver_id() -> str:
    return f"W{date.today():%Y%m%d}-{uuid.uuid4().hex[:10]}"


def _event(con, waiver_id: str, event: str, at: datetime, by: str, detail: dict) -> None:
    con.execute('INSERT INTO waiver_events (waiver_id, event, "at", "by", detail) '
                "VALUES (?, ?, ?, ?, ?)",
                [waiver_id, event, at, by, json.dumps(detail, ensure_ascii=False, default=str)])


def _active(con, check_code: str, record_id: str):
    rows = con.execute(  # (fetchall: DuckDB 2 keeps a half-fetched result open)
        "SELECT waiver_id, reason, until, mo_code FROM waivers "
        "WHERE check_code = ? AND record_id = ? AND status = ?",
        [check_code, record_id, ACTIVE]).fetchall()
    return rows[0] if rows else None


def _transaction(con, work):
    con.execute("BEGIN TRANSACTION")
    try:
        result = work()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return result


def apply_answers(con: duckdb.DuckDBPyConnection, answers: list[Answer], *, mo: str | None = None,
                  by: str | None = None, today: date | None = None,
                  now: datetime | None = None) -> Outcome:
    """Check all `answers`, then record them in one transaction (all or nothing): a new
    waiver per finding without an active one, a change of reason or until of an active one
    (event `changed`); an answer equal to the active waiver changes nothing (a workbook may
    be imported twice)."""
    checked = check_answers(con, answers, mo=mo, today=today)
    now = now or datetime.now()
    default_by = by or default_author()
    outcome = Outcome()

    def work():
        for c in checked:
            a = c.answer
            author = a.by or default_by
            current = _active(con, a.check_code, a.record_id)
            if current is None:
                waiver_id = new_waiver_id()
                con.execute(
                    "INSERT INTO waivers (waiver_id, check_code, record_id, entity, mo_code, "
                    "reason, created_by, created_at, until, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [waiver_id, a.check_code, a.record_id, c.entity, c.mo_code, a.reason,
                     author, now, a.until, ACTIVE])
                _event(con, waiver_id, ADDED, now, author, {
                    "check_code": a.check_code, "record_id": a.record_id, "mo_code": c.mo_code,
                    "reason": a.reason, "until": a.until, "source": a.where.source()})
                outcome.added.append(waiver_id)
                continue
            waiver_id, old_reason, old_until, _ = current
            if (old_reason, old_until) == (a.reason, a.until):
                outcome.unchanged.append(waiver_id)
                continue
            change = {k: [old, new] for k, old, new in (("reason", old_reason, a.reason),
                                                        ("until", old_until, a.until))
                      if old != new}
            con.execute("UPDATE waivers SET reason = ?, until = ?, mo_code = ? "
                        "WHERE waiver_id = ?", [a.reason, a.until, c.mo_code, waiver_id])
            _event(con, waiver_id, CHANGED, now, author, change | {"source": a.where.source()})
            outcome.changed.append(waiver_id)

    _transaction(con, work)
    return outcome


def add_waiver(con: duckdb.DuckDBPyConnection, check_code: str, record_id: str, reason: str,
               until: date | None = None, *, by: str | None = None, mo: str | None = None,
               today: date | None = None, now: datetime | None = None) -> Outcome:
    """One answer from the command line (`talon waive --check --record --reason`)."""
    answer = Answer(check_code.strip(), record_id.strip(), reason.strip(), until, by)
    return apply_answers(con, [answer], mo=mo, by=by, today=today, now=now)


def import_answers(con: duckdb.DuckDBPyConnection, path: Path, *, mo: str | None = None,
                   by: str | None = None, today: date | None = None,
                   now: datetime | None = None) -> Outcome:
    """Every answer of a CSV or of a returned fix-list workbook (by the file's suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        answers = read_answers_csv(path)
    elif suffix in (".xlsx", ".xlsm"):
        book = read_answers_xlsx(path)
        if mo is not None and book.mo_code != mo:
            raise AnswerError(f"this is {_mo_label(book.mo_code)}'s fix list, not MO {mo}'s",
                              file=str(path))
        if not con.execute("SELECT count(*) FROM runs WHERE run_id = ?",
                           [book.run_id]).fetchall()[0][0]:
            raise AnswerError(f"the fix list is of run {book.run_id}, which is not in this "
                              "warehouse (another region's warehouse?)", file=str(path))
        answers = book.answers
    else:
        raise AnswerError("answers come as .csv or as the fix list's .xlsx", file=str(path))
    return apply_answers(con, answers, mo=mo, by=by, today=today, now=now)


def remove_waiver(con: duckdb.DuckDBPyConnection, check_code: str, record_id: str, *,
                  by: str | None = None, mo: str | None = None, note: str | None = None,
                  now: datetime | None = None) -> str:
    """Withdraw the active waiver of a finding (status `removed`, event `removed`); its rows
    stay. The finding is back on the clinic's list from the next run."""
    row = _active(con, check_code, record_id)
    if row is None:
        raise InputError(f"--record: no active waiver for {check_code} on record {record_id!r}")
    waiver_id, _, _, waiver_mo = row
    if mo is not None and waiver_mo != mo:
        raise InputError(f"--mo: the waiver of {check_code} on record {record_id!r} belongs to "
                         f"{_mo_label(waiver_mo)}, not MO {mo}")
    now = now or datetime.now()
    author = by or default_author()

    def work():
        con.execute("UPDATE waivers SET status = ? WHERE waiver_id = ?", [REMOVED, waiver_id])
        _event(con, waiver_id, REMOVED, now, author, {"note": note} if note else {})

    _transaction(con, work)
    return waiver_id


# ---------------------------------------------------------------------------------------------
# Runs: expiry and matching (called by checks/findings.py inside its transaction)


def expire(con: duckdb.DuckDBPyConnection, run_id: str, day: date,
           now: datetime | None = None) -> list[str]:
    """Mark expired every active waiver whose until is before `day` (the run's D), with an
    `expired` event; the caller holds the transaction."""
    expired = [r[0] for r in con.execute(
        "SELECT waiver_id FROM waivers WHERE status = ? AND until < ? ORDER BY waiver_id",
        [ACTIVE, day]).fetchall()]
    now = now or datetime.now()
    for waiver_id in expired:
        con.execute("UPDATE waivers SET status = ? WHERE waiver_id = ?", [EXPIRED, waiver_id])
        _event(con, waiver_id, EXPIRED, now, SYSTEM, {"run_id": run_id, "as_of": day})
    return expired


def matching(con: duckdb.DuckDBPyConnection, day: date) -> pl.DataFrame:
    """(check_code, entity, record_id, waiver_id) of the waivers that apply on `day`: active,
    with no until or an until on or after it."""
    return con.sql(
        "SELECT check_code, entity, record_id, waiver_id FROM waivers "
        "WHERE status = ? AND (until IS NULL OR until >= ?)", params=[ACTIVE, day]).pl().cast(
        pl.String)


# ---------------------------------------------------------------------------------------------
# Reading waivers


def has_tables(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has the waiver tables (a read-only connection to a warehouse
    written before issue 13 does not create them)."""
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'waivers'"
    ).fetchall()[0][0])


WAIVER_COLUMNS = ("waiver_id", "check_code", "record_id", "entity", "mo_code", "reason",
                  "created_by", "created_at", "until", "status")


def list_waivers(con: duckdb.DuckDBPyConnection, mo: str | None = None,
                 statuses: tuple[str, ...] = STATUSES) -> pl.DataFrame:
    """Waivers (of one clinic with `mo`), by clinic, check and record; with `last_change`,
    the time of their latest event."""
    schema = {c: pl.String for c in WAIVER_COLUMNS} | {"created_at": pl.Datetime("us"),
                                                       "until": pl.Date,
                                                       "last_change": pl.Datetime("us")}
    if not has_tables(con):
        return pl.DataFrame(schema=schema)
    where = ["list_contains(?, w.status)"]
    params: list = [list(statuses)]
    if mo is not None:
        where.append("w.mo_code = ?")
        params.append(mo)
    frame = con.sql(
        f"""SELECT {', '.join('w.' + c for c in WAIVER_COLUMNS)},
                   (SELECT max(e."at") FROM waiver_events e WHERE e.waiver_id = w.waiver_id)
                     AS last_change
            FROM waivers w WHERE {' AND '.join(where)}
            ORDER BY w.mo_code NULLS LAST, w.check_code, w.record_id, w.created_at""",
        params=params).pl()
    return frame.cast(schema) if frame.height else pl.DataFrame(schema=schema)


def list_events(con: duckdb.DuckDBPyConnection, waiver_ids: list[str] | None = None,
                mo: str | None = None) -> pl.DataFrame:
    """The audit trail, oldest first, with each event's waiver's check, record and clinic."""
    if not has_tables(con):
        return pl.DataFrame(schema={c: pl.String for c in (
            "event_id", "waiver_id", "event", "at", "by", "detail", "check_code", "record_id",
            "entity", "mo_code")})
    where, params = ["TRUE"], []
    if waiver_ids is not None:
        where.append("list_contains(?, e.waiver_id)")
        params.append(list(waiver_ids))
    if mo is not None:
        where.append("w.mo_code = ?")
        params.append(mo)
    return con.sql(
        f"""SELECT e.event_id, e.waiver_id, e.event, e."at", e."by", e.detail, w.check_code,
                   w.record_id, w.entity, w.mo_code
            FROM waiver_events e JOIN waivers w USING (waiver_id)
            WHERE {' AND '.join(where)} ORDER BY e.event_id""", params=params).pl()
