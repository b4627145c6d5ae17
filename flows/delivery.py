"""`talon send`: e-mail each clinic its own fix list of a published run.

One message per clinic with open findings, to the e-mail address F003 of that run gives for the
clinic, with that clinic's XLSX attached and nothing else: a list never goes to any other
address. A clinic without a usable address is reported, and the data steward gets a notice
naming it; the steward also receives the unassigned list. Messages go over SMTP (standard
library: optional STARTTLS and login) or, with `--dry-run DIR`, are written as `DIR/<stem>.eml`.

Who gets a message ("all clear" is told once, so silence after it means "still nothing"):
- every clinic with open findings in this run: its fix list and the counts;
- every clinic of the run's F003 that is known and not excluded on the run's date, had open
  findings in the previous run (the lifecycle's previous completed run, checks/lifecycle.py)
  and has none now: an "all clear" message that thanks it and says its previous findings were
  fixed or answered "not an error", with its (empty) list attached when the run folder has one;
- nobody else: a clinic that never had a finding, or already got its "all clear" and still has
  nothing, gets no mail (a region has hundreds of clinics; a nightly "nothing found" to each
  would teach them to ignore Talon's mail).
A finding is open unless it is waived (`findings.waiver_id IS NOT NULL`; a warehouse without
that column has no waivers): waived findings are not counted in any message, in this run or in
the previous one. A run with nothing to send sends nothing and exits 0.
Feed health (flows/feed_mail.py): a clinic whose own schedule did not arrive or shrank
(FEED.MO.SILENT / SHRUNK) reads that first; the steward's message names the file-level feed
findings (volume drops, empty columns) and those MOs.

`--starttls` verifies the server's certificate and host name against the system's CAs, or only
against the CA certificates of `--smtp-ca FILE` (PEM) when given. The SMTP password is taken
from `--password` or TALON_SMTP_PASSWORD and is never printed: every message shown is scrubbed
of it. Exit codes: 0 all sent (clinics without an address are listed, not failures), 2 bad
input (a missing, unreadable or non-PEM `--smtp-ca` too), 5 some messages could not be sent (the
others were; an untrusted server certificate fails them all).
"""
from __future__ import annotations

import os
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from enum import Enum
from pathlib import Path
from typing import Optional

import duckdb
import polars as pl
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from flows import feed_mail
from flows.errors import InputError
from flows.publish import LATEST
from flows.warehouse import DEFAULT_WAREHOUSE

EXIT_SEND_FAILED = 5
DEFAULT_OUT = Path("data/out")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
#: Dry-run file of the steward's notice: `+` never occurs in a clinic's file stem (reports/safe.py).
NOTICE_STEM = "steward+notice"
PASSWORD_ENV = "TALON_SMTP_PASSWORD"

console = Console()
err = Console(stderr=True)

# ---------------------------------------------------------------------------------------------
# Addresses


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MAILBOX = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_MAILBOX_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")  # allows @localhost
_SPLIT = re.compile(r"[,;\s]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def valid_address(text: str, *, dotless_domain: bool = False) -> bool:
    """A plain ASCII `local@domain` (no display name, comments or quoting), at most 254 chars."""
    pattern = _MAILBOX_LOCAL if dotless_domain else _MAILBOX
    return len(text) <= 254 and pattern.fullmatch(text) is not None


def clinic_addresses(e_mail: str | None) -> tuple[list[str], str | None]:
    """The clinic's addresses from F003's e_mail: ([addresses], None), or ([], "missing" |
    "invalid"). Several addresses separated by `,`, `;` or blanks are all the clinic's; one
    unusable part makes the whole value invalid (so `a@x.ru\\nBcc: b@y.ru` sends nothing)."""
    if e_mail is None:
        return [], "missing"
    parts = [p for p in _SPLIT.split(e_mail) if p]
    if not parts:
        return [], "missing"
    if not all(valid_address(p) for p in parts):
        return [], "invalid"
    return list(dict.fromkeys(parts)), None


def one_line(text: str | None, limit: int = 120) -> str:
    """Data shown in a header, a body line or the terminal: control characters made visible."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_smtp(value: str) -> tuple[str, int]:
    """`host:port` or `[ipv6]:port` -> (host, port); anything else is an InputError."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})|([A-Za-z0-9._-]+):([0-9]{1,5})", value or "")
    port = int(m.group(2) or m.group(4)) if m else 0
    if not m or not 1 <= port <= 65535:
        raise InputError(f"--smtp must be host:port with a port from 1 to 65535, got {one_line(value)!r}")
    return (m.group(1) or m.group(3)), port


# ---------------------------------------------------------------------------------------------
# The run to send


@dataclass(frozen=True)
class RunFolder:
    label: str  # <as_of date>_<run_id>
    run_id: str
    folder: Path


def resolve_run(out: Path, run: str | None) -> RunFolder:
    """OUT/latest, or the folder of `run` (a run id or a whole `<date>_<run_id>` label)."""
    out = Path(out)
    if run is None:
        latest = out / LATEST
        if not latest.is_dir():
            raise InputError("no published run here (OUT/latest is missing); give --out or --run",
                             file=str(out))
        folder = latest.resolve()
    else:
        found = [p for p in (out.iterdir() if out.is_dir() else ())
                 if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
                 and (p.name == run or p.name.endswith(f"_{run}"))]
        if len(found) != 1:
            raise InputError(f"no published run {one_line(run)!r} here" if not found else
                             f"run {one_line(run)!r} matches several folders", file=str(out))
        folder = found[0]
    if "_" not in folder.name:
        raise InputError("not a run folder (expected <as_of date>_<run_id>)", file=str(folder))
    return RunFolder(folder.name, folder.name.split("_", 1)[1], folder)


@dataclass
class Clinic:
    """One fix list to deliver: a clinic's (mo_code set) or the steward's unassigned one."""

    mo_code: str | None
    stem: str
    name: str
    xlsx: Path | None  # None: an all-clear clinic whose list the run folder does not have
    counts: dict[str, int]
    new: int | None  # its open findings absent from the previous run; None: no previous run
    fixed: int | None  # its open findings of the previous run absent now; None: no previous run
    e_mail: str | None = None
    waived: int = 0  # its findings of this run answered "not an error" (not counted above)
    all_clear: bool = False  # open findings in the previous run, none now
    back: int = 0  # its findings back on the list: answered "not an error" last time, no longer
    feed: dict = field(default_factory=dict)  # its own open FEED.MO.* findings: code -> value


@dataclass
class RunData:
    run_id: str
    as_of: datetime
    folder: Path
    clinics: list[Clinic]  # by mo_code, all-clear ones among them
    unassigned: Clinic | None
    previous_run: str | None
    feed: list = field(default_factory=list)  # feed findings for the steward (flows/feed_mail.py)


_EMAIL_SQL = """
    SELECT mcod, FIRST(e_mail ORDER BY d_begin DESC NULLS LAST, d_end DESC NULLS FIRST, name)
    FROM ref_f003 WHERE run_id = ? AND mcod IS NOT NULL GROUP BY mcod"""
#: Known and not excluded on D, with the rule of checks/staging.py (cur_mo.excluded): excluded
#: = every inclusion period ended before D; a member without periods is not excluded.
_CURRENT_MO_SQL = """
    SELECT mcod FROM ref_f003 WHERE run_id = $run_id AND mcod IS NOT NULL GROUP BY mcod
    HAVING NOT COALESCE(BOOL_AND(d_end IS NOT NULL AND d_end < $d)
                        FILTER (WHERE d_begin IS NOT NULL OR d_end IS NOT NULL), TRUE)"""
_KEY = ["check_code", "entity", "record_id"]
_KEY_SCHEMA = {k: pl.String for k in _KEY}


def waived_keys(con: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """(check_code, entity, record_id) of the run's waived findings (none without the column)."""
    from checks import lifecycle

    if not lifecycle.has_waivers(con):
        return pl.DataFrame(schema=_KEY_SCHEMA)
    rows = con.execute("SELECT DISTINCT check_code, entity, record_id FROM findings "
                       "WHERE run_id = ? AND waiver_id IS NOT NULL", [run_id]).fetchall()
    return pl.DataFrame(rows, schema=_KEY_SCHEMA, orient="row")


def _changes(con: duckdb.DuckDBPyConnection, run_id: str, findings: pl.DataFrame
             ) -> tuple[dict, dict, dict, set[str], str | None]:
    """Per clinic: open findings absent from the previous run (new or reopened), findings
    back on the list because their answer "not an error" ended (waiver_ended: on no list last
    time, but not new either), open findings of the previous run absent now (fixed), as the
    lifecycle of checks/lifecycle.py defines them, and the clinics with open findings in the
    previous run. `findings`: this run's open ones."""
    from checks import lifecycle

    previous_run = lifecycle.previous_run(con, run_id)
    if previous_run is None:
        return {}, {}, {}, set(), None
    status = lifecycle.finding_status(con, run_id)

    def per_clinic(statuses: tuple[str, ...]) -> dict:
        keys = status.filter(pl.col("status").is_in(statuses))
        return dict(findings.join(keys, on=_KEY, how="semi").group_by("mo_code").len().iter_rows())

    new, back = per_clinic(("new", "reopened")), per_clinic((lifecycle.WAIVER_ENDED,))
    fixed = lifecycle.fixed_findings(con, run_id).group_by("mo_code").len()
    had = {row[0] for row in con.execute(
        "SELECT DISTINCT mo_code FROM findings WHERE run_id = ? AND mo_code IS NOT NULL"
        + lifecycle.open_sql(con), [previous_run]).fetchall()}
    return new, back, dict(fixed.iter_rows()), had, previous_run


def load_run_data(con: duckdb.DuckDBPyConnection, where: RunFolder) -> RunData:
    """Everything the messages say, read from the warehouse, and each list's file in the folder:
    the clinics with open findings, the all-clear clinics (see the module's docstring) and the
    unassigned list."""
    from reports import data
    from reports.clinic import clinic_stems

    try:
        run = data.load_run(con, where.run_id)
    except ValueError as exc:
        raise InputError(str(exc), file=str(where.folder)) from None
    clinics_dir = where.folder / "clinics"
    if not clinics_dir.is_dir():
        raise InputError("this run has no fix lists (no clinics folder)", file=str(clinics_dir))
    every = data.load_findings(con, where.run_id)
    waived = every.join(waived_keys(con, where.run_id), on=_KEY, how="semi")
    findings = every.join(waived, on=_KEY, how="anti")
    waived_by = dict(waived.group_by("mo_code").len().iter_rows())
    names = data.clinic_names(con, where.run_id)
    emails = dict(con.execute(_EMAIL_SQL, [where.run_id]).fetchall())
    new, back, fixed, had, previous_run = _changes(con, where.run_id, findings)
    parts = {mo: frame for (mo,), frame in
             findings.partition_by("mo_code", as_dict=True).items()}
    current = {row[0] for row in con.execute(
        _CURRENT_MO_SQL, {"run_id": where.run_id, "d": run.as_of.date()}).fetchall()}
    clear = sorted((had & current) - set(parts))
    stems = clinic_stems([*parts, *clear])
    empty = data.summary(findings.clear())

    def clinic(mo: str | None, frame: pl.DataFrame | None) -> Clinic:
        path = clinics_dir / f"{stems[mo]}.xlsx"
        if frame is None and not path.is_file():
            path = None  # all clear, and the run folder has no list to attach: the text says so
        return Clinic(mo, stems[mo], names.get(mo, "") if mo is not None else "", path,
                      data.summary(frame) if frame is not None else dict(empty),
                      new.get(mo, 0) if previous_run else None,
                      fixed.get(mo, 0) if previous_run else None, emails.get(mo),
                      waived_by.get(mo, 0), all_clear=frame is None, back=back.get(mo, 0),
                      feed=feed_mail.own_feed(frame) if frame is not None else {})

    lists = {mo: clinic(mo, frame) for mo, frame in parts.items()}
    lists |= {mo: clinic(mo, None) for mo in clear}
    unassigned = lists.pop(None, None)
    return RunData(where.run_id, run.as_of, where.folder,
                   [lists[k] for k in sorted(lists)], unassigned, previous_run,
                   feed=feed_mail.for_steward(findings))


# ---------------------------------------------------------------------------------------------
# Messages


class MailLang(str, Enum):
    ru = "ru"
    en = "en"


_TEXTS = {
    "ru": {
        "date": "%d.%m.%Y",
        "subject_clinic": "Talon: список исправлений для МО {code} на {date}",
        "subject_unassigned": "Talon: нераспределённые замечания на {date}",
        "subject_notice": "Talon: списки исправлений не отправлены (нет адреса в F003) на {date}",
        "file": "Исправления_{stem}_{iso}.xlsx",
        "hello": "Здравствуйте!",
        "clinic_intro": "Talon, ночная проверка данных для онлайн-записи к врачу, нашёл ошибки "
                        "в данных вашей медицинской организации.",
        "mo": "МО", "as_of": "Данные на", "run": "Запуск",
        "blockers": "Блокирующих замечаний", "warnings": "Предупреждений",
        "patients": "Затронуто пациентов", "new": "Новых с прошлого запуска",
        "fixed": "Исправлено с прошлого запуска",
        "back": "Снова в списке: ответ «не ошибка» истёк или отменён",
        "waived": "Снято по ответу МО («не ошибка»)",
        "subject_clear": "Talon: замечаний нет — МО {code} на {date}",
        "clear_intro": "Talon, ночная проверка данных для онлайн-записи к врачу, больше не "
                       "находит открытых замечаний в данных вашей медицинской организации: все "
                       "замечания прошлого списка исправлены или сняты по вашему ответу "
                       "(«не ошибка»). Спасибо за работу!",
        "clear_file": "Во вложении ({file}) список этого запуска: исправлять в нём нечего.",
        "clear_no_file": "Файл списка к письму не приложен: исправлять нечего.",
        "clear_quiet": "Пока в ваших данных нет новых замечаний, писем от Talon не будет: "
                       "отсутствие письма значит, что замечаний по-прежнему нет. Если они "
                       "появятся, придёт новый список.",
        "questions_clear": "Вопросы направляйте администратору данных: {steward} (ответ на "
                           "это письмо придёт ему).",
        "todo": "Что сделать:\n"
                "1. Откройте приложенный файл {file}: на первом листе сводка, на остальных "
                "по строке на каждую ошибку, с текущим значением и подсказкой, как исправить.\n"
                "2. Исправьте в своей информационной системе сначала блокирующие замечания: "
                "из-за них пациенты не могут записаться к врачу онлайн. Затем предупреждения.\n"
                "3. Исправления попадут в следующую ночную выгрузку; Talon проверит их снова "
                "и пришлёт новый список.\n"
                "4. Если замечание — не ошибка (например, у иностранного гражданина нет СНИЛС), "
                "впишите причину в столбец «Ответ МО: не ошибка — причина» этого файла и "
                "пришлите файл ответом на это письмо: принятый ответ снимает замечание со "
                "следующего запуска.",
        "questions": "Вопросы по списку направляйте администратору данных: {steward} "
                     "(ответ на это письмо придёт ему).",
        "auto": "Письмо сформировано автоматически.",
        "unassigned_intro": "Во вложении ({file}) нераспределённые замечания: их не удалось "
                            "передать ни одной известной медицинской организации; в столбце "
                            "«Причина» указано, почему.",
        "notice_intro": "Списки исправлений этих медицинских организаций НЕ отправлены: в "
                        "справочнике F003 запуска {run} у них нет пригодного адреса электронной "
                        "почты (поле e_mail).",
        "clear_mark": "замечаний нет, письмо «всё исправлено»",
        "missing": "адрес не указан", "invalid": "непригодный адрес «{value}»",
        "notice_todo": "Исправьте адрес в F003 или передайте списки иначе: файлы лежат в {dir}.",
    },
    "en": {
        "date": "%Y-%m-%d",
        "subject_clinic": "Talon: fix list for MO {code} as of {date}",
        "subject_unassigned": "Talon: unassigned findings as of {date}",
        "subject_notice": "Talon: fix lists not sent (no address in F003) as of {date}",
        "file": "fixlist_{stem}_{iso}.xlsx",
        "hello": "Hello,",
        "clinic_intro": "Talon, the nightly data check for online booking, found defects in "
                        "your clinic's data.",
        "mo": "MO", "as_of": "Data as of", "run": "Run",
        "blockers": "Blockers", "warnings": "Warnings",
        "patients": "Patients affected", "new": "New since the last run",
        "fixed": "Fixed since the last run",
        "back": "Back on the list: the answer \"not an error\" expired or was withdrawn",
        "waived": "Answered \"not an error\" by the clinic",
        "subject_clear": "Talon: all clear for MO {code} as of {date}",
        "clear_intro": "Talon, the nightly data check for online booking, no longer finds "
                       "open defects in your clinic's data: every finding of your previous list "
                       "was fixed or answered \"not an error\". Thank you!",
        "clear_file": "Attached ({file}): this run's list, with nothing to fix.",
        "clear_no_file": "No list is attached: there is nothing to fix.",
        "clear_quiet": "While your data has no new findings, Talon sends you no more messages: "
                       "no message means still nothing to fix. If new findings appear, a new "
                       "list follows.",
        "questions_clear": "Questions: the data steward, {steward} (replies to this message go "
                           "there).",
        "todo": "What to do:\n"
                "1. Open the attached file {file}: the first sheet is a summary, the others have "
                "one row per defect with its current value and how to fix it.\n"
                "2. Fix the blockers first in your information system: they stop patients "
                "booking a doctor online. Then the warnings.\n"
                "3. Your fixes reach Talon with the next nightly extract; it checks them again "
                "and sends a new list.\n"
                "4. If a finding is not an error (say, a foreign citizen has no SNILS), write "
                "why in the column \"Clinic's answer: not an error — reason\" of the file and "
                "send the file back as a reply to this message: an accepted answer takes the "
                "finding off the next run's list.",
        "questions": "Questions about the list: the data steward, {steward} (replies to this "
                     "message go there).",
        "auto": "This message was generated automatically.",
        "unassigned_intro": "Attached ({file}): findings no known clinic can fix; the column "
                            "\"Reason\" says why.",
        "notice_intro": "The fix lists of these clinics were NOT sent: F003 of run {run} has no "
                        "usable e-mail address for them (field e_mail).",
        "clear_mark": "all clear: the thank-you message",
        "missing": "no address", "invalid": "unusable address \"{value}\"",
        "notice_todo": "Correct the address in F003 or deliver the lists another way: the files "
                       "are in {dir}.",
    },
}


@dataclass
class Outgoing:
    """One message to send (or a clinic that cannot get one), and what became of it."""

    kind: str  # clinic | unassigned | notice
    stem: str
    mo_code: str | None
    name: str
    recipients: list[str]
    message: EmailMessage | None
    counts: dict[str, int] = field(default_factory=dict)
    new: int | None = None
    status: str = "pending"  # pending | sent | written | failed | no_address
    detail: str = ""
    all_clear: bool = False


def _header_address(addr: str, display: str = "") -> Address:
    local, domain = addr.rsplit("@", 1)
    return Address(display_name=display, username=local, domain=domain)


def _base_message(sender: str, recipients: list[str], subject: str, body: str,
                  reply_to: str | None = None) -> EmailMessage:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = _header_address(sender, "Talon")
    msg["To"] = [_header_address(a) for a in recipients]
    if reply_to:
        msg["Reply-To"] = _header_address(reply_to)
    msg["Subject"] = one_line(subject, 300)
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = make_msgid("talon", domain=sender.rsplit("@", 1)[1])
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body, cte="base64")
    return msg


def attach_xlsx(msg: EmailMessage, content: bytes, filename: str) -> None:
    """Attach a workbook with its registered MIME type; a non-ASCII file name is written as
    an RFC 2231 parameter (`filename*=utf-8''...`) by the standard library's policy."""
    msg.add_attachment(content, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=filename)


def _counts_lines(t: dict, c: Clinic) -> list[str]:
    lines = [f"{t['blockers']}: {c.counts['blockers']}", f"{t['warnings']}: {c.counts['warnings']}",
             f"{t['patients']}: {c.counts['patients_affected']}"]
    if c.new is not None:
        lines += [f"{t['new']}: {c.new}", f"{t['fixed']}: {c.fixed}"]
    if c.back:
        lines.append(f"{t['back']}: {c.back}")
    if c.waived:
        lines.append(f"{t['waived']}: {c.waived}")
    return lines


def _header_lines(t: dict, run: RunData) -> list[str]:
    return [f"{t['as_of']}: {run.as_of:{t['date']} %H:%M}", f"{t['run']}: {run.run_id}"]


def build_outbox(run: RunData, *, sender: str, steward: str, lang: str = "ru") -> list[Outgoing]:
    """Every message of the run: one per clinic with an address (its fix list, or its "all
    clear"), the unassigned list, and the notice naming clinics without an address. Reads each
    list's file; builds, sends nothing."""
    t = _TEXTS[lang]
    date, iso = f"{run.as_of:{t['date']}}", f"{run.as_of:%Y-%m-%d}"
    outbox: list[Outgoing] = []
    lacking: list[tuple[Clinic, str]] = []
    for c in run.clinics:
        recipients, problem = clinic_addresses(c.e_mail)
        if problem:
            lacking.append((c, problem))
            outbox.append(Outgoing("clinic", c.stem, c.mo_code, c.name, [], None, c.counts, c.new,
                                   "no_address", t[problem].format(value=one_line(c.e_mail, 80)),
                                   all_clear=c.all_clear))
            continue
        filename = t["file"].format(stem=c.stem, iso=iso)
        mo_line = f"{t['mo']}: {one_line(c.mo_code)} — {one_line(c.name, 300)}"
        if c.all_clear:
            attached = t["clear_file" if c.xlsx else "clear_no_file"].format(file=filename)
            body = "\n".join([t["hello"], "", t["clear_intro"], "", mo_line,
                              *_header_lines(t, run), "", *_counts_lines(t, c), "", attached,
                              "", t["clear_quiet"], "",
                              t["questions_clear"].format(steward=steward), "", t["auto"], ""])
            subject = t["subject_clear"].format(code=c.mo_code, date=date)
        else:
            body = "\n".join([t["hello"], "", *feed_mail.clinic_lines(c.feed, lang),
                              t["clinic_intro"], "", mo_line,
                              *_header_lines(t, run), "", *_counts_lines(t, c), "",
                              t["todo"].format(file=filename), "",
                              t["questions"].format(steward=steward), "", t["auto"], ""])
            subject = t["subject_clinic"].format(code=c.mo_code, date=date)
        msg = _base_message(sender, recipients, subject, body, reply_to=steward)
        outbox.append(Outgoing("clinic", c.stem, c.mo_code, c.name, recipients, msg, c.counts,
                               c.new, all_clear=c.all_clear))
        if c.xlsx is not None:
            _attach_or_fail(outbox[-1], c.xlsx, filename)
    if run.unassigned is not None:
        c = run.unassigned
        filename = t["file"].format(stem=c.stem, iso=iso)
        body = "\n".join([t["hello"], "", t["unassigned_intro"].format(file=filename), "",
                          *_header_lines(t, run), "", *_counts_lines(t, c), "",
                          *feed_mail.steward_lines(run.feed, lang), t["auto"], ""])
        msg = _base_message(sender, [steward], t["subject_unassigned"].format(date=date), body)
        outbox.append(Outgoing("unassigned", c.stem, None, "", [steward], msg, c.counts, c.new))
        _attach_or_fail(outbox[-1], c.xlsx, filename)
    if lacking:
        rows = [f"- {one_line(c.mo_code)} — {one_line(c.name, 200)}: "
                f"{t[p].format(value=one_line(c.e_mail, 80))}"
                + (f" ({t['clear_mark']})" if c.all_clear else "") for c, p in lacking]
        body = "\n".join([t["hello"], "", t["notice_intro"].format(run=run.run_id), "", *rows, "",
                          t["notice_todo"].format(dir=run.folder / "clinics"), "", t["auto"], ""])
        msg = _base_message(sender, [steward], t["subject_notice"].format(date=date), body)
        outbox.append(Outgoing("notice", NOTICE_STEM, None, "", [steward], msg))
    return outbox


def _attach_or_fail(item: Outgoing, path: Path, filename: str) -> None:
    try:
        attach_xlsx(item.message, path.read_bytes(), filename)
    except OSError as exc:
        item.message, item.status = None, "failed"
        item.detail = f"fix list file unreadable: {path} ({exc.strerror or exc})"


# ---------------------------------------------------------------------------------------------
# Delivery


def write_eml(outbox: list[Outgoing], folder: Path) -> None:
    """Dry run: each message as `folder/<stem>.eml` (owner-only: lists hold patient data)."""
    from reports.safe import inside

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for item in outbox:
        if item.status != "pending":
            continue
        path = inside(folder, f"{item.stem}.eml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(item.message.as_bytes(policy=SMTP_POLICY))
        item.status, item.detail = "written", str(path)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_file: str | None = None  # --smtp-ca: the only CAs trusted for STARTTLS
    tls: ssl.SSLContext | None = field(default=None, repr=False, compare=False)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The STARTTLS context: certificate and host name verified, against the system's CAs or,
    with `ca_file` (PEM), only against the CA certificates in it. A missing, unreadable or
    non-PEM file is an InputError (exit 2) before anything is sent."""
    if ca_file is None:
        return ssl.create_default_context()
    where = str(ca_file)
    if not Path(ca_file).is_file():
        raise InputError("--smtp-ca: no such file" if not Path(ca_file).exists()
                         else "--smtp-ca: not a file", file=where)
    try:
        content = Path(ca_file).read_bytes()
    except OSError as exc:
        raise InputError(f"--smtp-ca: cannot read the file ({exc.strerror or exc})",
                         file=where) from None
    if b"-----BEGIN CERTIFICATE-----" not in content:
        raise InputError("--smtp-ca: not a PEM certificate file (no \"-----BEGIN CERTIFICATE-----\" "
                         "block; convert DER with `openssl x509 -inform der -in CA.cer -out CA.pem`)",
                         file=where)
    try:
        return ssl.create_default_context(cafile=where)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or one_line(str(exc), 200)
        raise InputError(f"--smtp-ca: the PEM certificates cannot be loaded ({reason})",
                         file=where) from None
    except OSError as exc:
        raise InputError(f"--smtp-ca: cannot read the file ({exc.strerror or exc})",
                         file=where) from None


class _Fatal(Exception):
    """The session cannot be opened (connect, STARTTLS, login): no message can go."""


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
        else str(exc.smtp_error)
    return f"{exc.smtp_code} {one_line(text, 200)}"


def _open(s: SmtpSettings) -> smtplib.SMTP:
    where = f"{s.host}:{s.port}"
    try:
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise _Fatal(f"cannot connect to SMTP server {where}: {one_line(str(exc), 200)}") from None
    try:
        smtp.ehlo()
        if s.starttls:
            if not smtp.has_extn("starttls"):
                raise _Fatal(f"SMTP server {where} does not offer STARTTLS (--starttls given)")
            _starttls(smtp, s, where)
            smtp.ehlo()
        if s.user:
            if not smtp.has_extn("auth"):
                raise _Fatal(f"SMTP server {where} does not offer login (AUTH) for --user")
            try:
                smtp.login(s.user, s.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                raise _Fatal(f"SMTP login as {one_line(s.user)!r} refused by {where}: "
                             f"{_reply(exc)}") from None
    except _Fatal:
        _close(smtp)
        raise
    except (OSError, smtplib.SMTPException) as exc:
        _close(smtp)
        raise _Fatal(f"SMTP session with {where} failed: {one_line(str(exc), 200)}") from None
    return smtp


#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH / _IP_ADDRESS_MISMATCH: the certificate names another host.
_NAME_MISMATCH = (62, 64)


def _starttls(smtp: smtplib.SMTP, s: SmtpSettings, where: str) -> None:
    try:
        smtp.starttls(context=s.tls or tls_context(None))
    except ssl.SSLCertVerificationError as exc:
        reason = one_line(exc.verify_message or exc.reason or str(exc), 200)
        if exc.verify_code in _NAME_MISMATCH:
            hint = f"the certificate does not name {s.host}; connect with a name it has"
        elif s.ca_file:
            hint = f"the certificate is not signed by a CA of --smtp-ca {one_line(s.ca_file, 200)}"
        else:
            hint = "give the CA that signed it with --smtp-ca FILE (PEM)"
        raise _Fatal(f"the TLS certificate of SMTP server {where} is not trusted: {reason} "
                     f"({hint})") from None
    except ssl.SSLError as exc:
        raise _Fatal(f"STARTTLS with SMTP server {where} failed: "
                     f"{one_line(exc.reason or str(exc), 200)}") from None


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def send_smtp(outbox: list[Outgoing], settings: SmtpSettings, sender: str) -> str | None:
    """Send every pending message in one session (reopened after a dropped connection). A
    refused message is marked failed and the others still go; a session that cannot be opened
    (connect, STARTTLS, login) fails all remaining messages, and its reason is returned.
    Envelope recipients are the message's own, never taken from headers."""
    smtp = None
    pending = [item for item in outbox if item.status == "pending"]
    try:
        for i, item in enumerate(pending):
            try:
                smtp = smtp or _open(settings)
            except _Fatal as exc:
                for rest in pending[i:]:
                    rest.status, rest.detail = "failed", "not sent: the SMTP session failed"
                return str(exc)
            try:
                refused = smtp.send_message(item.message, from_addr=sender, to_addrs=item.recipients)
            except smtplib.SMTPRecipientsRefused as exc:
                item.status = "failed"
                item.detail = "recipient refused: " + "; ".join(
                    f"{a}: {c} {one_line(m.decode('utf-8', 'replace') if isinstance(m, bytes) else str(m), 200)}"
                    for a, (c, m) in exc.recipients.items())
                continue
            except smtplib.SMTPResponseException as exc:
                item.status, item.detail = "failed", f"refused by the server: {_reply(exc)}"
                _reset(smtp)
                continue
            except (OSError, smtplib.SMTPException) as exc:
                item.status, item.detail = "failed", f"connection lost: {one_line(str(exc), 200)}"
                smtp.close()
                smtp = None
                continue
            if refused:
                item.status = "failed"
                item.detail = "recipient refused: " + ", ".join(refused)
            else:
                item.status = "sent"
    finally:
        _close(smtp)
    return None


def _reset(smtp: smtplib.SMTP) -> None:
    try:
        smtp.rset()
    except (OSError, smtplib.SMTPException):
        pass


# ---------------------------------------------------------------------------------------------
# The command


def _scrub(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


_STATUS = {"sent": "sent", "written": "written", "failed": "FAILED", "no_address": "not sent"}


def _print_summary(outbox: list[Outgoing], password: str | None, dry_run: bool) -> None:
    table = Table(title="Delivery" + (" (dry run: nothing sent)" if dry_run else ""))
    for col in ("MO", "to", "blockers", "warnings", "patients", "new", "status"):
        table.add_column(col, justify="right" if col in ("blockers", "warnings", "patients", "new")
                         else "left", overflow="fold")
    for item in outbox:
        c = item.counts
        mo = one_line(item.mo_code) if item.kind == "clinic" else f"({item.kind})"
        mo += " (all clear)" if item.all_clear else ""
        table.add_row(Text(mo), Text(", ".join(item.recipients) or "-"),
                      *(str(c[k]) if c else "" for k in ("blockers", "warnings", "patients_affected")),
                      "" if item.new is None else str(item.new),
                      Text(_STATUS[item.status] + (f": {_scrub(item.detail, password)}"
                                                   if item.status in ("failed", "no_address") else "")))
    console.print(table)


def send_command(
    warehouse: Path = typer.Option(DEFAULT_WAREHOUSE, "--warehouse", help="DuckDB warehouse file."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output root of `talon run` (the run folder is OUT/latest unless --run)."),
    run: Optional[str] = typer.Option(None, "--run", help="Send this run's lists (run id or <date>_<run_id> folder name)."),
    smtp: Optional[str] = typer.Option(None, "--smtp", help="SMTP server host:port (required unless --dry-run)."),
    starttls: bool = typer.Option(False, "--starttls/--no-starttls", help="Upgrade the SMTP session with STARTTLS (certificate and host name verified)."),
    smtp_ca: Optional[Path] = typer.Option(None, "--smtp-ca", help="PEM file of the CA certificate(s) to trust for --starttls instead of the system's (e.g. the hospital network's own CA)."),
    user: Optional[str] = typer.Option(None, "--user", help="SMTP login name (login only when given)."),
    password: Optional[str] = typer.Option(
        None, "--password", envvar=PASSWORD_ENV, show_envvar=True, show_default=False,
        help=f"SMTP password (prefer the {PASSWORD_ENV} environment variable); never printed."),
    sender: str = typer.Option("talon@localhost", "--from", help="Sender address."),
    steward: str = typer.Option(..., "--steward", help="Data steward's address: gets the unassigned list and the notice of clinics without an address."),
    dry_run: Optional[Path] = typer.Option(None, "--dry-run", help="Write each message as DIR/<stem>.eml instead of sending."),
    lang: MailLang = typer.Option(MailLang.ru, "--lang", help="Language of the messages."),
    timeout: float = typer.Option(30.0, "--timeout", min=1, help="SMTP timeout in seconds."),
) -> None:
    """E-mail each clinic its fix list of a published run (the unassigned list to the steward)."""
    fatal = None
    try:
        outbox, settings = _prepare(warehouse, out, run, smtp, starttls, user, password, sender,
                                    steward, dry_run, lang.value, timeout, smtp_ca)
        if settings is not None:
            if not settings.starttls and settings.user:
                err.print("warning: logging in without --starttls sends the password unencrypted",
                          soft_wrap=True)
            fatal = send_smtp(outbox, settings, sender)
    except InputError as exc:
        err.print(Text(f"error: {_scrub(exc.one_line(), password)}"), soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except Exception as exc:  # noqa: BLE001  (one line, never a traceback with settings in it)
        err.print(Text(f"internal error: {type(exc).__name__}: {_scrub(str(exc), password)}"),
                  soft_wrap=True)
        raise typer.Exit(3) from None
    _print_summary(outbox, password, dry_run is not None)
    _report(outbox, password, dry_run, fatal)


def _prepare(warehouse: Path, out: Path, run: str | None, smtp: str | None, starttls: bool,
             user: str | None, password: str | None, sender: str, steward: str,
             dry_run: Path | None, lang: str, timeout: float, smtp_ca: Path | None = None
             ) -> tuple[list[Outgoing], SmtpSettings | None]:
    """Validate the options, read the run and build (dry run: also write) every message."""
    from flows.warehouse import connect

    for flag, addr in (("--from", sender), ("--steward", steward)):
        if not valid_address(addr, dotless_domain=True):
            raise InputError(f"{flag} must be a plain address like name@example.ru, "
                             f"got {one_line(addr)!r}")
    settings = None
    if smtp_ca is not None and not starttls:
        raise InputError("--smtp-ca is for --starttls: give both, or neither")
    context = tls_context(smtp_ca) if starttls else None
    if smtp:
        host, port = parse_smtp(smtp)
    if dry_run is None:
        if not smtp:
            raise InputError("--smtp host:port is required (or --dry-run DIR)")
        if user and not password:
            raise InputError(f"--user given without a password (--password or {PASSWORD_ENV})")
        settings = SmtpSettings(host, port, starttls, user or None, password if user else None,
                                timeout, str(smtp_ca) if smtp_ca is not None else None, context)
    where = resolve_run(out, run)
    if not Path(warehouse).is_file():
        raise InputError("no warehouse here", file=str(warehouse))
    try:
        con = connect(warehouse, read_only=True)
    except duckdb.Error as exc:
        raise InputError(f"cannot open the warehouse: {one_line(str(exc), 200)}",
                         file=str(warehouse)) from None
    try:
        run_data = load_run_data(con, where)
    finally:
        con.close()
    outbox = build_outbox(run_data, sender=sender, steward=steward, lang=lang)
    if dry_run is not None:
        write_eml(outbox, dry_run)
    return outbox, settings


def _report(outbox: list[Outgoing], password: str | None, dry_run: Path | None,
            fatal: str | None = None) -> None:
    done = sum(item.status in ("sent", "written") for item in outbox)
    failed = [item for item in outbox if item.status == "failed"]
    lacking = [item for item in outbox if item.status == "no_address"]
    verb = f"written to {dry_run}" if dry_run is not None else "sent"
    clear = sum(item.all_clear and item.status in ("sent", "written") for item in outbox)
    console.print(Text(f"{done} message(s) {verb} ({clear} all clear); {len(lacking)} clinic(s) "
                       f"without a usable e-mail in F003 (named in the steward's notice); "
                       f"{len(failed)} failed."), soft_wrap=True)
    if not outbox:
        console.print(Text("nothing to send: no open findings in this run, and no clinic had "
                           "open findings in the previous one"), soft_wrap=True)
    for item in lacking:
        mark = " (all clear)" if item.all_clear else ""
        console.print(Text(f"no address: MO {one_line(item.mo_code)}{mark}: {item.detail}"),
                      soft_wrap=True)
    for item in failed:
        who = f"MO {one_line(item.mo_code)}" if item.kind == "clinic" else f"steward ({item.kind})"
        err.print(Text(f"failed: {who} -> {', '.join(item.recipients) or '-'}: "
                       f"{_scrub(item.detail, password)}"), soft_wrap=True)
    if fatal:
        err.print(Text(f"error: {_scrub(fatal, password)}"), soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_SEND_FAILED)
