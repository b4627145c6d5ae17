"""The reporting side of feed health (catalogue v1.3) on a small hand-built warehouse
(feed_fixtures.py: three nights of history, a failed and a later night that must be ignored,
and the night reported, whose suite checks/feed.py built from that history):

- the GX page shows the suite's bounds with the history they came from and GX's verdicts, even
  when the set-rule cross-check did not run; gx/feed_suite.json is the stored suite as is;
- the auditors' feed page: rows per file and future slots per MO per night (charts and tables),
  the run's feed findings; linked from the index, as the GX page is;
- an MO's own FEED.MO.SILENT / SHRUNK lead its fix list (HTML, XLSX, CSV);
- `talon send`: the clinic's message says its schedule did not arrive / shrank, the steward's
  names the file-level feed findings.
Browser-free: the pages are parsed, nothing is fetched."""
from __future__ import annotations

import json
import re
from email import policy
from email.parser import BytesParser

import openpyxl
import polars as pl
import pytest

from feed_fixtures import (NAMES, ROWS, RUN, XSS, build_feed_warehouse, suite_text)
from report_fixtures import html_tables
from worklist_pages import read_worklist
from flows import delivery
from reports.auditor import write_auditor_report
from reports.clinic import write_clinic_reports
from reports.feed import write_feed_page
from reports.i18n import Texts
from reports.validation import write_gx_page

FOLDER = "2026-11-25_n4"  # a run folder as `talon run` names it
FAILED = {("FEED.VOLUME.DROP", "patients.csv"), ("FEED.MO.SILENT", "5002"),
          ("FEED.MO.SHRUNK", "5003"), ("FEED.COLUMN.EMPTY", "patients.csv:snils")}
NBSP = "\u202f"  # thin space between thousands


def _num(text: str) -> str:
    return text.replace(NBSP, "")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """RUN rendered as the national flow does (GX page first, then the lists and the index,
    which finds the GX page's file), into OUT/<date>_<run>; the warehouse stays open."""
    root = tmp_path_factory.mktemp("feed")
    con = build_feed_warehouse(root / "w.duckdb")
    folder = root / "out" / FOLDER
    gx = write_gx_page(con, RUN, folder)
    write_clinic_reports(con, RUN, folder, workers=1)
    index = write_auditor_report(con, RUN, folder, workers=1)
    yield con, folder, gx, index
    con.close()


# --------------------------------------------------------------------------- the GX page


def test_gx_page_exists_without_the_crosscheck_and_the_index_links_it(run):
    con, folder, gx, index = run
    assert con.execute("SELECT count(*) FROM gx_results").fetchall()[0][0] == 0
    assert gx == folder / "gx" / "index.html"
    html = gx.read_text(encoding="utf-8")
    assert '<html lang="ru">' in html and 'id="crosscheck-none"' in html
    assert "--gx-crosscheck" in html and 'id="table-gx"' not in html
    links = index.read_text(encoding="utf-8")
    assert 'href="gx/index.html"' in links and 'href="feed.html"' in links


def test_the_suite_json_is_the_stored_suite(run):
    con, folder, _, _ = run
    written = (folder / "gx" / "feed_suite.json").read_bytes()
    assert written == suite_text(con).encode("utf-8")
    assert json.loads(written)["run_id"] == RUN
    assert 'href="feed_suite.json"' in (folder / "gx" / "index.html").read_text(encoding="utf-8")


def test_every_bound_with_its_history_and_verdict(run):
    _, folder, _, _ = run
    tables = html_tables(folder / "gx" / "index.html")
    bounds = tables["table-feed-bounds"]
    # #, code, title, object, bound, basis, this run, verdict
    verdicts = {(r[1], r[3]): r[7] for r in bounds}
    suite = json.loads((folder / "gx" / "feed_suite.json").read_text(encoding="utf-8"))
    objects = {(e["code"], r) for e in suite["expectations"] for r in e["record_ids"]}
    assert set(verdicts) == objects and len(bounds) == len(objects)
    assert {k for k, v in verdicts.items() if v == "не пройдено"} == FAILED
    assert {v for k, v in verdicts.items() if k not in FAILED} == {"пройдено"}
    assert {(r[1], r[3]) for r in bounds[:len(FAILED)]} == FAILED  # failed first
    row = {(r[1], r[3]): [_num(c) for c in r] for r in bounds}
    volume = row[("FEED.VOLUME.DROP", "patients.csv")]
    assert "min_value = 1400" in volume[4]
    assert "(1900, 2000, 2100) = 2000" in volume[5] and "0,7 = 1400" in volume[5]
    assert "1200" in volume[6]
    silent = row[("FEED.MO.SILENT", "5002")]
    assert "value_set" in silent[4] and "n3: 55" in silent[5] and silent[6].startswith("0 ")
    shrunk = row[("FEED.MO.SHRUNK", "5003")]
    assert "40" in shrunk[4] and "14" in shrunk[4] and "n3: 80" in shrunk[5]
    assert shrunk[6].startswith("30 ")
    assert row[("FEED.MO.SHRUNK", "5001")][4].startswith("не меньше 50 ")
    empty = row[("FEED.COLUMN.EMPTY", "patients.csv:snils")]
    mostly = next(e["kwargs"]["mostly"] for e in suite["expectations"]
                  if e["record_ids"] == ["patients.csv:snils"])
    assert "mostly); замечание от 11,05 %" in empty[4] and repr(mostly) in empty[4]
    assert "20 из 1900 (1,05 %)" in empty[5] and "+ 10 п.п." in empty[5]
    assert "600 из 1200 (50,00 %)" in empty[6]
    # no bound for 5004 (15 future slots, under --mo-silent-min 20)
    assert not any(r[3] == "5004" for r in bounds)


def test_history_params_and_the_expectations_as_given_to_gx(run):
    _, folder, _, _ = run
    tables = html_tables(folder / "gx" / "index.html")
    assert [r[0] for r in tables["table-feed-history"]] == ["n3", "n2", "n1"]  # not nf, n9
    assert tables["table-feed-history"][0][2] == "предыдущий завершённый запуск"
    assert [r[1] for r in tables["table-feed-params"]] == ["0,7", "20", "0,5", "10", "14"]
    suite = json.loads((folder / "gx" / "feed_suite.json").read_text(encoding="utf-8"))
    expectations = tables["table-feed-expectations"]
    assert [(r[1], r[2], json.loads(r[4])) for r in expectations] == [
        (e["code"], e["gx_type"], e["kwargs"]) for e in suite["expectations"]]
    failed = {r[1] for r in expectations if r[6] == "не пройдено"}
    assert failed == {code for code, _ in FAILED}


def test_english_gx_page(run, tmp_path):
    con, _, _, _ = run
    page = write_gx_page(con, RUN, tmp_path, "en")
    html = page.read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Feed health: this run&#39;s GX expectation suite" in html
    bounds = html_tables(page)["table-feed-bounds"]
    assert {(r[1], r[3]) for r in bounds if r[7] == "failed"} == FAILED
    assert "median of the loaded rows over 3 nights" in html
    assert "The cross-check of the SQL set rules in GX did not run" in html


def test_gx_page_with_the_crosscheck_shows_both(tmp_path):
    con = build_feed_warehouse(tmp_path / "w.duckdb")
    con.execute("INSERT INTO gx_results VALUES (?, 'PAT.SNILS.CHECKSUM', 'talon_set_rules', "
                "true, 0, 0, NULL, 'SELECT 1')", [RUN])
    html = write_gx_page(con, RUN, tmp_path / "out").read_text(encoding="utf-8")
    con.close()
    assert 'id="table-gx"' in html and 'id="table-feed-bounds"' in html
    assert 'id="crosscheck-none"' not in html


def test_gx_page_without_suite_or_crosscheck(tmp_path):
    con = build_feed_warehouse(tmp_path / "w.duckdb", suite=False)
    assert write_gx_page(con, RUN, tmp_path / "out") is None
    assert not (tmp_path / "out" / "gx").exists()
    con.execute("INSERT INTO gx_results VALUES (?, 'PAT.SNILS.CHECKSUM', 'talon_set_rules', "
                "true, 0, 0, NULL, 'SELECT 1')", [RUN])
    page = write_gx_page(con, RUN, tmp_path / "out")
    con.close()
    html = page.read_text(encoding="utf-8")
    assert 'id="feed-suite-none"' in html and 'id="table-gx"' in html
    assert not (tmp_path / "out" / "gx" / "feed_suite.json").exists()


def test_a_first_night_has_a_suite_without_history(tmp_path):
    from datetime import datetime

    from checks import feed
    from flows import warehouse

    con = warehouse.connect(tmp_path / "w.duckdb")
    con.execute("INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, reference_dir, "
                "started_at, status) VALUES ('first', ?, 'cli', 'x', 'y', ?, 'running')",
                [datetime(2026, 11, 25, 23), datetime(2026, 11, 25, 23, 30)])
    con.execute("CREATE TEMP TABLE cur_mo (mcod VARCHAR, excluded BOOLEAN)")
    plan = feed.build_plan(con, "first", datetime(2026, 11, 25, 23), feed.FeedParams(), 14)
    con.execute("INSERT INTO feed_suites VALUES ('first', ?)", [plan.to_json()])
    html = write_gx_page(con, "first", tmp_path).read_text(encoding="utf-8")
    feed_page = write_feed_page(con, "first", tmp_path).read_text(encoding="utf-8")
    con.close()
    assert 'id="feed-no-history"' in html and 'id="feed-bounds"' not in html
    assert 'id="feed-findings-none"' in feed_page


def test_a_short_history_has_no_expectation_and_says_why(tmp_path):
    from datetime import datetime

    from checks import feed
    from flows import warehouse

    con = warehouse.connect(tmp_path / "w.duckdb")
    for run_id, day, status in (("before", 24, "completed"), ("now", 25, "running")):
        con.execute("INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, "
                    "reference_dir, started_at, status) VALUES (?, ?, 'cli', 'x', 'y', ?, ?)",
                    [run_id, datetime(2026, 11, day, 23), datetime(2026, 11, day, 23, 30),
                     status])
    con.execute("CREATE TEMP TABLE cur_mo (mcod VARCHAR, excluded BOOLEAN)")
    plan = feed.build_plan(con, "now", datetime(2026, 11, 25, 23), feed.FeedParams(), 14)
    con.execute("INSERT INTO feed_suites VALUES ('now', ?)", [plan.to_json()])
    page = write_gx_page(con, "now", tmp_path)
    con.close()
    html = page.read_text(encoding="utf-8")
    assert 'id="feed-no-expectations"' in html and 'id="table-feed-bounds"' not in html
    assert [r[0] for r in html_tables(page)["table-feed-history"]] == ["before"]


# --------------------------------------------------------------------------- the feed page


def test_feed_page_rows_per_file_and_night(run):
    _, folder, _, _ = run
    tables = html_tables(folder / "feed.html")
    rows = tables["table-feed-rows"]
    assert [r[1] for r in rows] == ["n1", "n2", "n3", RUN]  # not the failed or the later run
    files = sorted(ROWS[RUN])
    assert [[int(_num(c)) for c in r[2:]] for r in rows] == [
        [ROWS[run_id][f] for f in files] for run_id in ("n1", "n2", "n3", RUN)]
    assert rows[-1][0] == "2026-11-25 23:00"


def test_feed_page_slots_per_mo_and_charts(run):
    _, folder, _, _ = run
    html = (folder / "feed.html").read_text(encoding="utf-8")
    mos = html_tables(folder / "feed.html")["table-feed-mo"]
    assert [r[0] for r in mos] == ["5002", "5003", "5004", "5001"]  # findings, then the falls
    assert mos[0][2:] == ["55", "0", "-100,0", "FEED.MO.SILENT"]
    assert mos[1][2:] == ["80", "30", "-62,5", "FEED.MO.SHRUNK"]
    assert mos[3][2:] == ["100", "100", "0,0", ""]
    for chart in ("chart-feed-rows", "chart-feed-slots"):
        figure = re.search(rf'<figure class="chart wide" id="{chart}">(.*?)</figure>', html, re.S)
        assert figure and "<svg" in figure.group(1)
    slots = re.search(r'id="chart-feed-slots">(.*?)</figure>', html, re.S).group(1)
    assert all(mo in slots for mo in ("5001", "5002", "5003", "5004"))
    assert 'href="gx/index.html"' in html


def test_feed_page_lists_the_runs_feed_findings_and_nothing_personal(run):
    _, folder, _, _ = run
    found = html_tables(folder / "feed.html")["table-feed-findings"]
    # code, title, severity, record, MO, name, value, status, waived
    assert [(r[0], r[3]) for r in found] == [
        ("FEED.MO.SILENT", "5002"), ("FEED.MO.SHRUNK", "5003"),
        ("FEED.COLUMN.EMPTY", "patients.csv:snils"), ("FEED.VOLUME.DROP", "patients.csv")]
    assert found[0][4:6] == ["5002", NAMES["5002"]] and found[0][6] == "0"
    assert found[3][4] == Texts("ru").unassigned_name and found[3][6] == "1200"
    html = (folder / "feed.html").read_text(encoding="utf-8")
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "112-233-445" not in html and "P1" not in html
    assert 'href="check/FEED.MO.SILENT.html"' in html
    assert (folder / "check" / "FEED.MO.SILENT.html").is_file()


def test_feed_pages_are_offline(run, tmp_path):
    con, folder, _, _ = run
    english = write_feed_page(con, RUN, tmp_path, "en")
    for page in (folder / "feed.html", folder / "gx" / "index.html", english):
        html = page.read_text(encoding="utf-8")
        assert "http://" not in html and "https://" not in html, page
        assert html.count("<script") == 1 and " src=" not in html, page
    assert "Feed health night by night" in english.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the fix lists


def _summary_checks(path) -> list[str]:
    rows = list(openpyxl.load_workbook(path)["Сводка"].iter_rows(values_only=True))
    ru = Texts("ru")
    at = next(i for i, r in enumerate(rows) if r[0] == ru.order_col)
    head = rows[at]
    return [dict(zip(head, r))[ru.check_code] for r in rows[at + 1:] if r[0] is not None]


@pytest.mark.parametrize("mo, first", [("5002", "FEED.MO.SILENT"), ("5003", "FEED.MO.SHRUNK")])
def test_an_mos_own_feed_finding_leads_its_list(run, mo, first):
    _, folder, _, _ = run
    stem = folder / "clinics" / mo
    page = read_worklist(stem.with_suffix(".html"))
    assert page.groups[0].code == first and page.toc[0][2] == first
    assert [g.code for g in page.groups] == [first, "PAT.SNILS.CHECKSUM"]  # a blocker after it
    assert page.groups[0].rows[0][Texts("ru").mo_code] == mo
    wb = openpyxl.load_workbook(stem.with_suffix(".xlsx"))
    assert wb.sheetnames == ["Сводка", "Поступление расписания", "Пациенты"]
    assert _summary_checks(stem.with_suffix(".xlsx")) == [first, "PAT.SNILS.CHECKSUM"]
    csv = pl.read_csv(stem.with_suffix(".csv"), separator=";", infer_schema=False)
    assert csv[Texts("ru").check_code][0] == first


def test_lists_without_feed_findings_keep_their_order(run):
    _, folder, _, _ = run
    assert openpyxl.load_workbook(folder / "clinics" / "5001.xlsx").sheetnames == [
        "Сводка", "Пациенты"]
    unassigned = read_worklist(folder / "clinics" / "unassigned.html")
    assert {g.code for g in unassigned.groups} == {"FEED.VOLUME.DROP", "FEED.COLUMN.EMPTY"}


# --------------------------------------------------------------------------- talon send


def _outbox(con, folder, lang="ru"):
    where = delivery.resolve_run(folder.parent, RUN)
    data = delivery.load_run_data(con, where)
    out = delivery.build_outbox(data, sender="talon@tfoms.example",
                                steward="steward@tfoms.example", lang=lang)
    return {item.stem: item for item in out}


def _body(item) -> str:
    msg = BytesParser(policy=policy.default).parsebytes(item.message.as_bytes())
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_send_tells_a_clinic_its_schedule_did_not_arrive_or_shrank(run):
    con, folder, _, _ = run
    mails = _outbox(con, folder)
    silent, shrunk, steady = (_body(mails[m]) for m in ("5002", "5003", "5001"))
    assert silent.index("расписание вашей МО в эту ночь не поступило") < silent.index("Talon, ")
    assert "сократилось" not in silent
    assert "резко сократилось: 30 слотов" in shrunk and shrunk.index("ВНИМАНИЕ") < shrunk.index(
        "Блокирующих замечаний")
    assert "ВНИМАНИЕ" not in steady
    english = _body(_outbox(con, folder, "en")["5002"])
    assert english.startswith("Hello,\n\nATTENTION: your clinic's schedule did not arrive")


def test_send_tells_the_steward_the_file_level_feed_findings(run):
    con, folder, _, _ = run
    steward = _body(_outbox(con, folder)["unassigned"])
    assert "Поступление данных этой ночью (файлы выгрузки):" in steward
    assert "- patients.csv: загружено 1200 строк — намного меньше обычного" in steward
    assert "- patients.csv, столбец snils: пустых значений 50.0%" in steward
    assert "(FEED.MO.SILENT): 5002" in steward and "(FEED.MO.SHRUNK): 5003" in steward
    english = _body(_outbox(con, folder, "en")["unassigned"])
    assert "- patients.csv: 1200 rows loaded, far fewer than usual (FEED.VOLUME.DROP)" in english
    assert "- patients.csv, column snils: 50.0% of the values empty" in english


def test_send_leaves_out_a_waived_feed_finding(tmp_path):
    con = build_feed_warehouse(tmp_path / "w.duckdb")
    con.execute("UPDATE findings SET waiver_id = 'w1' WHERE run_id = ? "
                "AND check_code IN ('FEED.MO.SHRUNK', 'FEED.VOLUME.DROP')", [RUN])
    folder = tmp_path / "out" / FOLDER
    write_clinic_reports(con, RUN, folder, workers=1)
    mails = _outbox(con, folder)
    con.close()
    assert "ВНИМАНИЕ" not in _body(mails["5003"])
    steward = _body(mails["unassigned"])
    assert "FEED.VOLUME.DROP" not in steward and "FEED.COLUMN.EMPTY" in steward
    assert "FEED.MO.SHRUNK" not in steward
    assert read_worklist(folder / "clinics" / "5003.html").groups[0].code == "PAT.SNILS.CHECKSUM"


def test_slots_per_mo_come_in_the_runs_order_then_by_mo(run):
    """The slots chart's points in a fixed order: the page's bytes must not depend on the
    order a hash table gives the MOs."""
    from reports.feed import mo_slots

    con, _, _, _ = run
    shown = pl.DataFrame({"run_id": ["n3", "n1", RUN, "n2"], "run": ["c", "a", "d", "b"]})
    slots = mo_slots(con, shown)
    assert slots.height > 4
    order = {r: i for i, r in enumerate(shown["run_id"])}
    keys = [(order[r], mo) for r, mo in slots.select("run_id", "mo_code").iter_rows()]
    assert keys == sorted(keys)
    assert slots["run_id"].unique(maintain_order=True).to_list() == ["n3", "n1", RUN, "n2"]
