"""`talon send` for clinics whose findings were all fixed or waived: one "all clear" message
(thanks, nothing to fix, silence from now on means still nothing), to exactly the clinics a
steward expects: known and not excluded in the run's F003, open findings in the previous run,
none now. Waived findings are not counted anywhere (and a warehouse without `waiver_id` has
none). Built by hand (tests/e2e/delivery_world.py): no generator, no checks."""
from __future__ import annotations

from datetime import date

import pytest

from tests.e2e.delivery_world import (STEWARD, Mo, body, build, read_eml, send, xlsx_bytes)

B, W = "blocker", "warning"


def _clinics() -> list[Mo]:
    return [
        # open findings in both runs (one of them waived now): its usual list
        Mo("100001", "open@mo.example", {"r1": [("ATT.X", B, "a1", False), ("ATT.Y", W, "a2", False)],
                                         "r2": [("ATT.X", B, "a1", False), ("ATT.Z", W, "a3", False),
                                                ("ATT.Y", W, "a2", True)]}),
        # everything fixed: all clear, and the run folder has no list for it
        Mo("100002", "fixed@mo.example", {"r1": [("ATT.X", B, "b1", False), ("ATT.Y", W, "b2", False)]}),
        # its one finding is still seen but waived now: all clear, and a list to attach
        Mo("100003", "waived@mo.example", {"r1": [("ATT.X", B, "c1", False)],
                                           "r2": [("ATT.X", B, "c1", True)]}),
        # excluded from F003 before the run's date: nothing
        Mo("100004", "excluded@mo.example", {"r1": [("ATT.X", B, "d1", False)]},
           d_end=date(2026, 1, 1)),
        # never had a finding: nothing
        Mo("100005", "never@mo.example"),
        # only waived findings last time (so it got no list then): nothing
        Mo("100006", "quiet@mo.example", {"r1": [("ATT.X", B, "f1", True)]}),
        # all clear but no address: named in the steward's notice
        Mo("100007", None, {"r1": [("ATT.X", B, "g1", False)]}),
        # no longer in F003: nothing
        Mo("100008", "gone@mo.example", {"r1": [("ATT.X", B, "h1", False)]}, in_f003=False),
    ]


UNASSIGNED = {"r1": [("ATT.MO.UNKNOWN", B, "u1", False)],
              "r2": [("ATT.MO.UNKNOWN", B, "u1", False), ("ATT.MO.UNKNOWN", B, "u2", True)]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    files = {"r2": {"100001", "100003", "unassigned"}}
    return build(tmp_path_factory.mktemp("clear"), _clinics(), ["r1", "r2"],
                 unassigned=UNASSIGNED, files=files)


def _dry_run(world, tmp_path, *args):
    target = tmp_path / "eml"
    result = send(world, "--dry-run", str(target), *args)
    assert result.exit_code == 0, result.output
    return result, {f.stem: read_eml(f) for f in target.iterdir()}


def test_all_clear_goes_to_the_clinics_a_steward_expects(world, tmp_path):
    result, mails = _dry_run(world, tmp_path)
    assert set(mails) == {"100001", "100002", "100003", "unassigned", "steward+notice"}
    assert "3 message(s) written" not in result.output
    assert "5 message(s) written" in result.output and "(2 all clear)" in result.output

    fixed = mails["100002"]
    assert fixed["Subject"] == "Talon: замечаний нет — МО 100002 на 25.11.2026"
    assert [a.addr_spec for a in fixed["To"].addresses] == ["fixed@mo.example"]
    assert fixed["Reply-To"].addresses[0].addr_spec == STEWARD
    text = body(fixed)
    assert "Спасибо" in text and "исправлены или сняты по вашему ответу" in text
    assert "Блокирующих замечаний: 0\n" in text and "Предупреждений: 0\n" in text
    assert "Исправлено с прошлого запуска: 2\n" in text and "Снято по ответу" not in text
    assert list(fixed.iter_attachments()) == []
    assert "Файл списка к письму не приложен: исправлять нечего." in text
    assert "писем от Talon не будет" in text  # silence from now on means still all clear
    assert "Что сделать" not in text

    waived = mails["100003"]
    assert waived["Subject"] == "Talon: замечаний нет — МО 100003 на 25.11.2026"
    text = body(waived)
    assert "Блокирующих замечаний: 0\n" in text
    assert "Исправлено с прошлого запуска: 0\n" in text  # still seen, so not fixed: waived
    assert "Снято по ответу МО («не ошибка»): 1\n" in text
    [attachment] = list(waived.iter_attachments())
    assert attachment.get_filename() == "Исправления_100003_2026-11-25.xlsx"
    assert attachment.get_content() == xlsx_bytes("100003", "r2")
    assert "Во вложении (Исправления_100003_2026-11-25.xlsx) список этого запуска" in text

    usual = mails["100001"]
    assert usual["Subject"] == "Talon: список исправлений для МО 100001 на 25.11.2026"
    text = body(usual)
    assert "Блокирующих замечаний: 1\n" in text and "Предупреждений: 1\n" in text  # not the waived one
    assert "Новых с прошлого запуска: 1\n" in text and "Исправлено с прошлого запуска: 0\n" in text
    assert "Снято по ответу МО («не ошибка»): 1\n" in text
    assert "Ответ МО: не ошибка — причина" in text  # how to answer
    assert next(usual.iter_attachments()).get_content() == xlsx_bytes("100001", "r2")

    assert "Блокирующих замечаний: 1\n" in body(mails["unassigned"])  # u2 is waived

    notice = body(mails["steward+notice"])
    assert "- 100007 — Поликлиника 100007: адрес не указан (замечаний нет" in notice
    for silent in ("100004", "100005", "100006", "100008"):
        assert silent not in notice and silent not in result.output
    assert "100007 (all clear)" in result.output


def test_english_all_clear(world, tmp_path):
    _, mails = _dry_run(world, tmp_path, "--lang", "en")
    msg = mails["100002"]
    assert msg["Subject"] == "Talon: all clear for MO 100002 as of 2026-11-25"
    text = body(msg)
    assert "Thank you!" in text and "No list is attached: there is nothing to fix." in text
    assert "Fixed since the last run: 2\n" in text
    assert "Clinic's answer: not an error — reason" in body(mails["100001"])


def test_all_clear_is_told_once(tmp_path):
    clinics = [Mo("100001", "a@mo.example", {"r1": [("ATT.X", B, "a1", False)],
                                             "r3": [("ATT.X", B, "a1", False)]}),
               Mo("100002", "b@mo.example", {"r1": [("ATT.X", B, "b1", False)]})]
    world = build(tmp_path / "w", clinics, ["r1", "r2", "r3"])
    _, second = _dry_run(world, tmp_path / "r2", "--run", "r2")
    assert {k: m["Subject"].split(" — ")[0].split(" для ")[0] for k, m in second.items()} == {
        "100001": "Talon: замечаний нет", "100002": "Talon: замечаний нет"}
    _, third = _dry_run(world, tmp_path / "r3")  # latest = r3: 100002 already got its all clear
    assert set(third) == {"100001"}
    assert third["100001"]["Subject"].startswith("Talon: список исправлений")
    assert "Новых с прошлого запуска: 1\n" in body(third["100001"])  # reopened


def test_without_the_waiver_column_nothing_is_waived(tmp_path):
    clinics = [Mo("100001", "a@mo.example", {"r1": [("ATT.X", B, "a1", False)],
                                             "r2": [("ATT.X", B, "a1", False)]}),
               Mo("100002", "b@mo.example", {"r1": [("ATT.X", B, "b1", False)]})]
    world = build(tmp_path / "w", clinics, ["r1", "r2"], waivers=False)
    _, mails = _dry_run(world, tmp_path)
    assert set(mails) == {"100001", "100002"}
    assert "Снято" not in body(mails["100001"]) and "Блокирующих замечаний: 1\n" in body(mails["100001"])
    assert mails["100002"]["Subject"].startswith("Talon: замечаний нет")


def test_first_run_and_nothing_to_send(tmp_path):
    first = build(tmp_path / "first", [Mo("100001", "a@mo.example", {"r1": [("ATT.X", B, "a1", True)]})],
                  ["r1"])
    result, mails = _dry_run(first, tmp_path / "a")
    assert mails == {} and "nothing to send" in result.output  # all waived, no previous run
    clean = build(tmp_path / "clean", [Mo("100001", "a@mo.example")], ["r1", "r2"])
    result, mails = _dry_run(clean, tmp_path / "b")
    assert mails == {} and "0 message(s) written" in result.output and "nothing to send" in result.output


def test_all_clear_with_a_list_file_missing_where_one_is_due(tmp_path):
    """An all-clear clinic without a file is not a failure; a clinic with open findings and
    no file still is (its list would be lost)."""
    clinics = [Mo("100001", "a@mo.example", {"r1": [("ATT.X", B, "a1", False)],
                                             "r2": [("ATT.X", B, "a1", False)]}),
               Mo("100002", "b@mo.example", {"r1": [("ATT.X", B, "b1", False)]})]
    world = build(tmp_path / "w", clinics, ["r1", "r2"], files={"r2": set()})
    result = send(world, "--dry-run", str(tmp_path / "eml"))
    assert result.exit_code == 5, result.output
    assert "failed: MO 100001" in result.output and "fix list file unreadable" in result.output
    assert {f.name for f in (tmp_path / "eml").iterdir()} == {"100002.eml"}
