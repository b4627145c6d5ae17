"""`talon send` against a real SMTP peer (aiosmtpd on 127.0.0.1): who received what.

One small region is checked and published once (plain pipeline functions, no Prefect); two of
its clinics get a broken F003 e-mail (missing; a header-injection attempt), and a fake previous
run lacking three findings of one clinic gives "new since the last run" something to count.
Two clinics had findings in the previous run only: one known and current in F003 (it gets its
"all clear"), one excluded from F003 before the run's date (it gets nothing).
"""
from __future__ import annotations

import email
import io
import re
import shutil
import socket
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.policy import default as DEFAULT_POLICY
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from flows import pipeline, warehouse
from flows.delivery import (NOTICE_STEM, clinic_addresses, one_line, parse_smtp,
                            valid_address)
from flows.errors import InputError
from flows.publish import publish, run_label
from flows.synth import generate_region
from reports.clinic import write_clinic_reports
from tests.e2e.delivery_world import app, runner  # `send` registered as in `talon`

AS_OF = datetime(2026, 11, 25, 23, 0)
STEWARD = "steward@talon.example"
SENDER = "talon@talon.example"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
THIEF = "thief@evil.example"
INJECTED = f"mo@clinic.example\r\nBcc: {THIEF}"
PASSWORD = "s3cret-Pa55word"

@dataclass
class Published:
    db: Path
    out: Path
    folder: Path
    run_id: str
    emails: dict[str, str]  # mo_code -> address, clinics that must get their list
    broken: dict[str, str | None]  # mo_code -> F003 value, clinics that must get nothing
    new: dict[str, int]  # mo_code -> findings absent from the previous run
    fixed: dict[str, int]  # mo_code -> findings of the previous run absent now
    findings: pl.DataFrame
    clear: dict[str, str]  # mo_code -> address, a clinic whose findings were all fixed
    excluded: str  # a clinic excluded on D whose findings were all fixed: gets nothing


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Published:
    root = tmp_path_factory.mktemp("delivery")
    generate_region(root / "region", patients=800, seed=5, region="50", as_of=AS_OF)
    prepared = pipeline.prepare(root / "region" / "extract", root / "region" / "reference")
    db, out = root / "w.duckdb", root / "out"
    with warehouse.connect(db) as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        pipeline.run_checks(con, run_id, prepared.as_of, pipeline.CheckParams(gx_crosscheck=False))
        pipeline.finish_run(con, run_id, "completed")
        findings = con.sql("SELECT * FROM findings WHERE run_id = ?", params=[run_id]).pl()
        clinics = sorted(findings["mo_code"].drop_nulls().unique())
        assert len(clinics) >= 5, clinics
        missing, injected, fresh = clinics[-1], clinics[-2], clinics[0]
        con.execute("UPDATE ref_f003 SET e_mail = NULL WHERE run_id = ? AND mcod = ?", [run_id, missing])
        con.execute("UPDATE ref_f003 SET e_mail = ? WHERE run_id = ? AND mcod = ?",
                    [INJECTED, run_id, injected])
        emails = dict(con.execute("SELECT DISTINCT mcod, e_mail FROM ref_f003 WHERE run_id = ?",
                                  [run_id]).fetchall())
        # A previous completed run with the same findings except three of `fresh`, and one
        # more of `fresh` that this run no longer has (fixed).
        con.execute("""INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, reference_dir,
                                         started_at, status)
                       VALUES ('previous', ?, 'cli', '', '', ?, 'completed')""",
                    [AS_OF - timedelta(days=1), datetime.now() - timedelta(days=1)])
        con.execute("INSERT INTO findings SELECT * REPLACE ('previous' AS run_id) FROM findings "
                    "WHERE run_id = ?", [run_id])
        gone = findings.filter(pl.col("mo_code") == fresh).head(3)
        for code, record in gone.select("check_code", "record_id").rows():
            con.execute("DELETE FROM findings WHERE run_id = 'previous' AND check_code = ? "
                        "AND record_id = ?", [code, record])
        con.execute("INSERT INTO findings (run_id, check_code, severity, entity, record_id, "
                    "mo_code) VALUES ('previous', 'ATT.GONE', 'blocker', 'attachment', 'gone-1', ?)",
                    [fresh])
        # Two clinics fixed everything since: one current in F003, one excluded on D.
        excluded = {mo for (mo,) in con.execute(
            "SELECT mcod FROM ref_f003 WHERE run_id = ? GROUP BY mcod "
            "HAVING bool_and(d_end IS NOT NULL AND d_end < ?)", [run_id, AS_OF.date()]).fetchall()}
        others = [mo for mo in clinics if mo not in (missing, injected, fresh)]
        per_mo = dict(findings.group_by("mo_code").len().iter_rows())
        cleared = min((mo for mo in others if mo not in excluded), key=per_mo.get)
        [dropped, *_] = sorted(mo for mo in others if mo in excluded)
        con.execute("DELETE FROM findings WHERE run_id = ? AND mo_code IN (?, ?)",
                    [run_id, cleared, dropped])
        findings = con.sql("SELECT * FROM findings WHERE run_id = ?", params=[run_id]).pl()
        clinics = sorted(findings["mo_code"].drop_nulls().unique())
        folder = publish(out, run_label(prepared.as_of, run_id),
                         lambda d: write_clinic_reports(con, run_id, d, "ru"))
    good = {mo: emails[mo] for mo in clinics if mo not in (missing, injected)}
    assert len(set(good.values())) == len(good)  # distinct: an envelope names its clinic
    return Published(db, out, folder, run_id, good, {missing: None, injected: INJECTED},
                     {mo: 3 if mo == fresh else 0 for mo in clinics + [cleared]},
                     {mo: 1 if mo == fresh else per_mo[cleared] if mo == cleared else 0
                      for mo in clinics + [cleared]},
                     findings, {cleared: emails[cleared]}, dropped)


class Collector:
    """aiosmtpd handler keeping every envelope; refuses the recipients in `refuse`."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.refuse: set[str] = set()
        self.logins: list[tuple[str, bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=DEFAULT_POLICY)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), msg,
                               envelope.original_content))
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"talon"
              and auth_data.password == PASSWORD.encode())
        self.logins.append((mechanism, getattr(auth_data, "login", None), ok))
        return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_peer(**kwargs):
    handler = Collector()
    if kwargs.pop("auth", False):
        kwargs.update(authenticator=handler.authenticator, auth_require_tls=False,
                      auth_required=True)
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), **kwargs)
    controller.start()
    try:
        yield handler, f"127.0.0.1:{controller.port}"
    finally:
        controller.stop()


def send(p: Published, *args: str, env: dict | None = None):
    return runner.invoke(app, ["send", "--warehouse", str(p.db), "--out", str(p.out),
                               "--from", SENDER, "--steward", STEWARD, *args], env=env)


def _cells(content: bytes) -> set[str]:
    book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
    return {str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
            for v in row if v is not None}


def _body(msg) -> str:
    return "\n".join(msg.get_body(("plain",)).get_content().splitlines()) + "\n"


def _xlsx(p: Published, stem: str) -> bytes:
    return (p.folder / "clinics" / f"{stem}.xlsx").read_bytes()


# ------------------------------------------------------------------------------------------


def test_each_clinic_gets_only_its_own_list(published):
    p = published
    with smtp_peer() as (peer, address):
        result = send(p, "--smtp", address)
    assert result.exit_code == 0, result.output
    by_rcpt = {}
    for mail_from, rcpts, msg, raw in peer.envelopes:
        assert mail_from == SENDER
        by_rcpt.setdefault(tuple(rcpts), []).append((msg, raw))
    assert set(by_rcpt) == {(e,) for e in (p.emails | p.clear).values()} | {(STEWARD,)}
    assert all(THIEF not in r for rcpts in by_rcpt for r in rcpts)
    # each row names its record (record_id, a text cell in every fix list); the patient id is
    # not necessarily shown (the work lists name the patient instead)
    records = {mo: set(f["record_id"]) for (mo,), f in
               p.findings.partition_by("mo_code", as_dict=True).items()}
    for mo, addr in p.emails.items():
        [(msg, raw)] = by_rcpt[(addr,)]
        assert msg["To"].addresses[0].addr_spec == addr
        assert msg["Subject"] == f"Talon: список исправлений для МО {mo} на 25.11.2026"
        assert msg["Reply-To"].addresses[0].addr_spec == STEWARD
        [attachment] = list(msg.iter_attachments())
        assert attachment.get_content_type() == XLSX
        assert attachment.get_filename() == f"Исправления_{mo}_2026-11-25.xlsx"
        assert re.search(rb"filename\*(0\*)?=utf-8''", raw)  # RFC 2231 for the Cyrillic name
        content = attachment.get_content()
        assert content == _xlsx(p, mo)
        cells = _cells(content)
        assert records[mo] <= cells  # own records are in it, so the next check can fail
        own = p.findings.filter(pl.col("mo_code") == mo)
        # another clinic's code is in the list only as one of its own values (the register's
        # attachment suggested by REG.ATTACHMENT.MISMATCH), never as a row of that clinic
        others = set(p.findings["mo_code"].drop_nulls()) - {mo}
        assert not cells & others - set(own["value"]) - set(own["suggested_value"])
        foreign = set().union(*(records[o] for o in others)) - records[mo]
        foreign = {r for r in foreign if len(r) >= 6}  # not "1", a count's cell as well
        # ... less what the clinic's own rows name: their patient (another clinic's patient
        # finding may concern a patient attached here), values and suggestions
        leaked = cells & foreign - set().union(*(set(own[c]) for c in
                                                 ("patient_id", "value", "suggested_value")))
        assert foreign and not leaked, (mo, leaked)
        body = _body(msg)
        counts = p.findings.filter(pl.col("mo_code") == mo)
        blockers = counts.filter(pl.col("severity") == "blocker").height
        assert f"Блокирующих замечаний: {blockers}" in body
        assert f"Предупреждений: {counts.height - blockers}" in body
        assert f"Затронуто пациентов: {counts['patient_id'].drop_nulls().n_unique()}" in body
        assert f"Новых с прошлого запуска: {p.new[mo]}\n" in body
        assert f"Исправлено с прошлого запуска: {p.fixed[mo]}\n" in body
        assert "Что сделать" in body and STEWARD in body
        # no other clinic's code (the run id's random part may be six digits too)
        assert set(re.findall(r"(?<![0-9A-Za-z])[0-9]{6}(?![0-9A-Za-z])",
                              body.replace(p.run_id, ""))) == {mo}
    [(mo, addr)] = p.clear.items()
    [(msg, raw)] = by_rcpt[(addr,)]
    assert msg["Subject"] == f"Talon: замечаний нет — МО {mo} на 25.11.2026"
    body = _body(msg)
    assert "Блокирующих замечаний: 0\n" in body and "Спасибо" in body
    assert f"Исправлено с прошлого запуска: {p.fixed[mo]}\n" in body and p.fixed[mo] > 0
    attachments = list(msg.iter_attachments())
    path = p.folder / "clinics" / f"{mo}.xlsx"
    if path.is_file():  # whether the fix lists write an empty list for an all-clear clinic
        assert [a.get_content() for a in attachments] == [path.read_bytes()]
    else:
        assert attachments == [] and "Файл списка к письму не приложен" in body
    steward = {m["Subject"]: (m, raw) for m, raw in by_rcpt[(STEWARD,)]}
    assert set(steward) == {"Talon: нераспределённые замечания на 25.11.2026",
                            "Talon: списки исправлений не отправлены (нет адреса в F003) на 25.11.2026"}
    unassigned, _ = steward["Talon: нераспределённые замечания на 25.11.2026"]
    [attachment] = list(unassigned.iter_attachments())
    assert attachment.get_content() == _xlsx(p, "unassigned")
    unassigned_rows = p.findings.filter(pl.col("mo_code").is_null())
    blockers = unassigned_rows.filter(pl.col("severity") == "blocker").height
    assert f"Блокирующих замечаний: {blockers}" in _body(unassigned)
    assert "Новых с прошлого запуска: 0\n" in _body(unassigned)
    notice, _ = steward["Talon: списки исправлений не отправлены (нет адреса в F003) на 25.11.2026"]
    assert list(notice.iter_attachments()) == []
    text = _body(notice)
    missing, injected = p.broken
    assert f"- {missing} — " in text and "адрес не указан" in text
    assert f"- {injected} — " in text and "непригодный адрес «mo@clinic.example\\x0d\\x0aBcc:" in text
    assert all(f"- {mo} — " not in text for mo in p.emails)
    out = result.output
    assert f"{len(p.emails) + 3} message(s) sent (1 all clear)" in out and "2 clinic(s) without" in out
    assert p.excluded not in out and p.excluded not in text
    assert f"no address: MO {missing}" in out and f"no address: MO {injected}" in out


def test_dry_run_writes_eml_and_sends_nothing(published, tmp_path):
    p = published
    target = tmp_path / "eml"
    with smtp_peer() as (peer, address):
        result = send(p, "--smtp", address, "--dry-run", str(target), "--run", p.run_id)
    assert result.exit_code == 0, result.output
    assert peer.envelopes == []
    names = {f.name for f in target.iterdir()}
    assert names == {f"{mo}.eml" for mo in p.emails | p.clear} | {"unassigned.eml",
                                                                  f"{NOTICE_STEM}.eml"}
    for mo, addr in p.emails.items():
        path = target / f"{mo}.eml"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        msg = email.message_from_bytes(path.read_bytes(), policy=DEFAULT_POLICY)
        assert [a.addr_spec for a in msg["To"].addresses] == [addr]
        assert next(msg.iter_attachments()).get_content() == _xlsx(p, mo)
        assert "Блокирующих замечаний" in _body(msg)
    assert "written to" in result.output


def test_first_run_has_no_new_count_and_english(published, tmp_path):
    p = published
    db = tmp_path / "w.duckdb"
    shutil.copy(p.db, db)
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM findings WHERE run_id = 'previous'")
        con.execute("DELETE FROM runs WHERE run_id = 'previous'")
    target = tmp_path / "eml"
    result = runner.invoke(app, ["send", "--warehouse", str(db), "--out", str(p.out), "--steward",
                                 STEWARD, "--dry-run", str(target), "--lang", "en"])
    assert result.exit_code == 0, result.output
    mo = next(iter(p.emails))
    msg = email.message_from_bytes((target / f"{mo}.eml").read_bytes(), policy=DEFAULT_POLICY)
    assert msg["Subject"] == f"Talon: fix list for MO {mo} as of 2026-11-25"
    assert msg["From"].addresses[0].addr_spec == "talon@localhost"
    body = _body(msg)
    assert "Blockers: " in body and "New since" not in body and "Fixed since" not in body
    assert not any((target / f"{mo}.eml").exists() for mo in p.clear)  # no run to be clear of


def test_partial_failure_still_sends_the_rest(published):
    p = published
    refused_mo, refused = next(iter(p.emails.items()))
    with smtp_peer() as (peer, address):
        peer.refuse.add(refused)
        result = send(p, "--smtp", address)
    assert result.exit_code == 5, result.output
    assert f"failed: MO {refused_mo} -> {refused}: recipient refused" in result.output
    assert "550" in result.output
    delivered = {tuple(r) for _, r, _, _ in peer.envelopes}
    assert delivered == {(e,) for e in (p.emails | p.clear).values() if e != refused} | {(STEWARD,)}
    assert len(peer.envelopes) == len(p.emails) - 1 + 3


AUTH_WITHOUT_TLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@AUTH_WITHOUT_TLS
@pytest.mark.parametrize("via", ["option", "env"])
def test_login(published, via):
    p = published
    with smtp_peer(auth=True) as (peer, address):
        if via == "option":
            result = send(p, "--smtp", address, "--user", "talon", "--password", PASSWORD)
        else:
            result = send(p, "--smtp", address, "--user", "talon",
                          env={"TALON_SMTP_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert peer.logins == [(peer.logins[0][0], b"talon", True)]  # one session, one login
    assert len(peer.envelopes) == len(p.emails) + 3
    assert PASSWORD not in result.output


@AUTH_WITHOUT_TLS
def test_wrong_password_and_no_login(published):
    p = published
    with smtp_peer(auth=True) as (peer, address):
        wrong = send(p, "--smtp", address, "--user", "talon", "--password", "not-" + PASSWORD)
        anonymous = send(p, "--smtp", address)
    assert wrong.exit_code == 5, wrong.output
    assert "SMTP login as 'talon' refused" in wrong.output and "535" in wrong.output
    assert PASSWORD not in wrong.output
    assert peer.logins and not any(ok for _, _, ok in peer.logins)
    assert len(peer.logins) <= 2  # one session (smtplib tries PLAIN, then LOGIN), not one per message
    assert anonymous.exit_code == 5 and "530" in anonymous.output  # the server demands login
    assert peer.envelopes == []


def test_unreachable_and_missing_starttls(published):
    p = published
    closed = send(p, "--smtp", f"127.0.0.1:{_free_port()}")
    assert closed.exit_code == 5
    assert "cannot connect to SMTP server" in closed.output
    assert all(f"failed: MO {mo}" in closed.output for mo in p.emails)
    with smtp_peer() as (peer, address):
        tls = send(p, "--smtp", address, "--starttls")
    assert tls.exit_code == 5 and "does not offer STARTTLS" in tls.output
    assert peer.envelopes == []


@pytest.mark.parametrize("args, needle", [
    (["--smtp", "127.0.0.1:25", "--run", "no-such-run"], "no published run"),
    (["--smtp", "localhost"], "--smtp must be host:port"),
    (["--smtp", "localhost:0"], "--smtp must be host:port"),
    (["--smtp", "localhost:70000"], "--smtp must be host:port"),
    (["--smtp", "mail host:25"], "--smtp must be host:port"),
    ([], "--smtp host:port is required"),
    (["--smtp", "127.0.0.1:25", "--steward", "not an address"], "--steward must be"),
    (["--smtp", "127.0.0.1:25", "--user", "talon"], "without a password"),
])
def test_bad_input_exits_2(published, args, needle):
    result = send(published, *args)
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_bad_folders_exit_2(published, tmp_path):
    p = published
    empty = runner.invoke(app, ["send", "--warehouse", str(p.db), "--out", str(tmp_path),
                                "--steward", STEWARD, "--dry-run", str(tmp_path / "e")])
    assert empty.exit_code == 2 and "OUT/latest is missing" in empty.output
    (tmp_path / f"2026-11-25_{p.run_id}").mkdir()
    no_lists = runner.invoke(app, ["send", "--warehouse", str(p.db), "--out", str(tmp_path),
                                   "--steward", STEWARD, "--run", p.run_id,
                                   "--dry-run", str(tmp_path / "e")])
    assert no_lists.exit_code == 2 and "no fix lists" in no_lists.output
    no_db = runner.invoke(app, ["send", "--warehouse", str(tmp_path / "none.duckdb"), "--out",
                                str(p.out), "--steward", STEWARD, "--dry-run", str(tmp_path / "e")])
    assert no_db.exit_code == 2 and "no warehouse here" in no_db.output
    assert not (tmp_path / "e").exists()


# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("mo1@zdrav50.ru", (["mo1@zdrav50.ru"], None)),
    ("a@x.ru; b@x.ru", (["a@x.ru", "b@x.ru"], None)),
    ("a@x.ru,a@x.ru", (["a@x.ru"], None)),
    (None, ([], "missing")),
    ("", ([], "missing")),
    (" ; ", ([], "missing")),
    (INJECTED, ([], "invalid")),
    ("Клиника <a@x.ru>", ([], "invalid")),
    ("a@localhost", ([], "invalid")),
    ("a@x..ru", ([], "invalid")),
    ("почта@пример.рф", ([], "invalid")),
    ("a@-x.ru", ([], "invalid")),
])
def test_clinic_addresses(value, expected):
    assert clinic_addresses(value) == expected


def test_addresses_and_smtp_parsing():
    assert valid_address("talon@localhost", dotless_domain=True)
    assert not valid_address("talon@localhost")
    assert not valid_address("x" * 250 + "@a.ru")
    assert parse_smtp("mail.example.ru:587") == ("mail.example.ru", 587)
    assert parse_smtp("[::1]:25") == ("::1", 25)
    for bad in ("mail.example.ru", ":25", "host:", "host:65536", "host:25\n", "ho st:25"):
        with pytest.raises(InputError):
            parse_smtp(bad)
    assert one_line("a\r\nb") == "a\\x0d\\x0ab"


def test_missing_list_file_fails_that_clinic_only(published, tmp_path):
    p = published
    out = tmp_path / "out"
    shutil.copytree(p.out, out, symlinks=True)
    gone = next(iter(p.emails))
    (out / p.folder.name / "clinics" / f"{gone}.xlsx").unlink()
    result = runner.invoke(app, ["send", "--warehouse", str(p.db), "--out", str(out), "--steward",
                                 STEWARD, "--dry-run", str(tmp_path / "eml")])
    assert result.exit_code == 5, result.output
    assert f"failed: MO {gone}" in result.output and "fix list file unreadable" in result.output
    written = {f.name for f in (tmp_path / "eml").iterdir()}
    assert f"{gone}.eml" not in written and len(written) == len(p.emails) - 1 + 3
