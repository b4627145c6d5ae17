"""Report files written by worker processes (flows.parallel) are the files the serial path
writes, and the workbook shortcuts (reports.xlsx._Worksheet) write xlsxwriter's own bytes."""
from __future__ import annotations

import stat
import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from xlsxwriter import Workbook
from xlsxwriter.worksheet import Worksheet

from report_fixtures import HIST_RUN, RUN, build_history_warehouse, build_warehouse
from flows import parallel
from reports import xlsx
from reports.auditor import write_auditor_report
from reports.clinic import submit_clinic_reports, write_clinic_reports


def _contents(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative path; a workbook by its parts, except the one that
    holds the creation time."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                found |= {f"{rel}:{n}": z.read(n) for n in z.namelist()
                          if n != "docProps/core.xml"}
        else:
            found[rel] = path.read_bytes()
    return found


@pytest.fixture
def pools(monkeypatch):
    """Pools even for the fixtures' few clinics; counts the pools started."""
    started = []

    class Counting(parallel.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            started.append(kwargs.get("mp_context"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(parallel, "MIN_JOBS", 1)
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Counting)
    return started


@pytest.mark.parametrize("build, run", [(build_warehouse, RUN),
                                        (build_history_warehouse, HIST_RUN)])
def test_worker_processes_write_the_serial_files(tmp_path, monkeypatch, pools, build, run):
    con = build(tmp_path / "wh.duckdb")
    serial = tmp_path / "serial"
    serial_paths = write_clinic_reports(con, run, serial, workers=1)
    serial_index = write_auditor_report(con, run, serial, workers=1)
    assert not pools
    # A relative folder: the workers' working directory is not the caller's.
    monkeypatch.chdir(tmp_path)
    pooled_paths = write_clinic_reports(con, run, Path("pooled"), workers=2)
    pooled_index = write_auditor_report(con, run, Path("pooled"), workers=2)
    con.close()
    assert len(pools) == 2 and all(c.get_start_method() != "fork" for c in pools)
    pooled = tmp_path / "pooled"
    assert [p.relative_to(serial) for p in serial_paths] == \
        [p.relative_to(pooled) for p in pooled_paths]
    assert pooled_index == Path("pooled") / "index.html"
    assert serial_index.relative_to(serial) == Path("index.html")
    files = _contents(serial)
    assert any(k.startswith("clinic/") for k in files) and "index.html" in files
    assert _contents(pooled) == files
    modes = {p.relative_to(serial): stat.S_IMODE(p.stat().st_mode) for p in serial.rglob("*")}
    assert {p.relative_to(pooled): stat.S_IMODE(p.stat().st_mode)
            for p in pooled.rglob("*")} == modes
    assert {m for p, m in modes.items() if (serial / p).is_file()} == {0o600}


def test_one_pool_for_both_writers_writes_the_serial_files(tmp_path, pools):
    """pipeline.render_outputs: the clinic lists are handed to the pool, the auditor report is
    prepared meanwhile and shares it."""
    con = build_history_warehouse(tmp_path / "wh.duckdb")
    serial, shared = tmp_path / "serial", tmp_path / "shared"
    write_clinic_reports(con, HIST_RUN, serial, workers=1)
    write_auditor_report(con, HIST_RUN, serial, workers=1)
    assert not pools
    with parallel.Pool(2) as pool:
        clinic_jobs = submit_clinic_reports(con, HIST_RUN, shared, "ru", pool)
        write_auditor_report(con, HIST_RUN, shared, pool=pool)
        paths = [path for job in clinic_jobs for path in job.result()]
    con.close()
    assert len(pools) == 1 and paths and all(p.is_file() for p in paths)
    assert _contents(shared) == _contents(serial)


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_lists_and_pages_read_the_findings_once_and_write_the_serial_files(tmp_path, pools,
                                                                          monkeypatch, lang):
    """pipeline.write_lists_and_pages: the run's findings and lifecycle are read once for the
    clinic lists, the auditor report and the feed page, and the files are those each writer
    writes reading them itself (waived, fixed and reopened findings in the history run)."""
    from flows import pipeline
    from reports import data

    con = build_history_warehouse(tmp_path / "wh.duckdb")
    serial, shared = tmp_path / "serial", tmp_path / "shared"
    write_clinic_reports(con, HIST_RUN, serial, lang, workers=1)
    write_auditor_report(con, HIST_RUN, serial, lang, workers=1, gx_page=True)
    assert not pools
    reads, statuses = [], []
    load, status = data.load_findings, data.lifecycle.finding_status
    monkeypatch.setattr(data, "load_findings", lambda *a: reads.append(a) or load(*a))
    monkeypatch.setattr(data.lifecycle, "finding_status",
                        lambda *a: statuses.append(a) or status(*a))
    pipeline.write_lists_and_pages(con, HIST_RUN, shared, lang)
    con.close()
    assert len(pools) == 1 and len(reads) == 1 and len(statuses) == 1
    files = _contents(serial)
    assert "feed.html" in files and any(k.startswith("clinics/") for k in files)
    assert _contents(shared) == files


def test_lists_and_pages_hand_the_charts_to_the_pool_first(tmp_path, pools, monkeypatch):
    """pipeline.write_lists_and_pages: the report's charts (index, trends, feed page) are the
    pool's first job, one job for all (vl-convert starts in one worker), so that a worker
    draws them while this process reads the lists' data; this process draws none."""
    from flows import pipeline
    from reports import charts

    con = build_history_warehouse(tmp_path / "wh.duckdb")
    jobs = []
    submit, submit_all = parallel.Pool.submit, parallel.Pool.submit_all
    monkeypatch.setattr(parallel.Pool, "submit",
                        lambda self, fn, *args: jobs.append(fn) or submit(self, fn, *args))
    monkeypatch.setattr(parallel.Pool, "submit_all", lambda self, fn, todo, weights: (
        jobs.extend([fn] * len(todo)) or submit_all(self, fn, todo, weights)))

    def drawn_here(*args, **kwargs):
        raise AssertionError("a chart drawn in the calling process")

    monkeypatch.setattr(charts.vlc, "vegalite_to_svg", drawn_here)
    pipeline.write_lists_and_pages(con, HIST_RUN, tmp_path / "out", "ru")
    con.close()
    assert jobs[0] is charts.draw and jobs.count(charts.draw) == 1 and len(jobs) > 2
    html = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 5 and (tmp_path / "out" / "feed.html").is_file()


def test_a_failing_job_fails_the_call(pools):
    with parallel.Pool(2) as pool, pytest.raises(ValueError):
        pool.map(int, ["1", "not a number", "3"], [1, 1, 1])


def test_small_runs_and_single_workers_stay_in_process(monkeypatch):
    assert parallel.use_pool(parallel.MIN_JOBS - 1, 8) == 0
    assert parallel.use_pool(500, 1) == 0
    assert parallel.use_pool(500, 4) == 4
    assert parallel.use_pool(parallel.MIN_JOBS, 500) == parallel.MIN_JOBS
    monkeypatch.setenv("TALON_REPORT_WORKERS", "1")
    assert parallel.use_pool(500, None) == 0
    monkeypatch.setenv("TALON_REPORT_WORKERS", "3")
    assert parallel.use_pool(500, None) == 3


@pytest.mark.parametrize("blocker", ["Блокирующая", 'Блок ("1")'])  # the second: a regex path
@pytest.mark.parametrize("bulk_min", [1, xlsx.BULK_MIN_ROWS, "prepared"])
def test_worksheet_shortcuts_write_xlsxwriters_bytes(tmp_path, monkeypatch, blocker, bulk_min):
    """Every way a findings sheet's rows are stored (`_store_bulk` from BULK_MIN_ROWS rows,
    or of rows prepared with other tables' by `bulk_rows`; the cell loop below) writes
    xlsxwriter's own bytes."""
    prepared = bulk_min == "prepared"
    monkeypatch.setattr(xlsx, "BULK_MIN_ROWS", xlsx.BULK_MIN_ROWS if prepared else bulk_min)
    rows = pl.DataFrame({  # the last value is longer than a cell takes: truncated
        "Важность": [blocker, "Предупреждение", blocker, "", blocker],
        "Статус": ["Новое", None, "Открыто", "Новое", "Новое"],
        "Дней": [0, 3, None, 12345, 1],
        "Значение": ["a & <b> \"c\"", "'=1+1", " x ", "\x07", "я" * 40_000],
        # a date column whose unparseable values show their text (xlsx.Table.text_for)
        "Дата": [date(1980, 3, 14), None, None, date(2026, 11, 25), None],
        "raw": [None, "31.02.1980", None, None, "1.2.1985"]})
    # many rows (row spans per 16 rows) and strings xlsxwriter writes its own way (escapes,
    # whitespace at an end, control characters, rich-text look-alikes)
    # ("Код": a string the summary sheet numbered first)
    odd = ["_x0041_", "<r>a</r>", "x\n", "\u00a0y", "a\tb", 'q"', "&amp;", "\u3000", "z", "",
           "Код"]
    n = xlsx.BULK_MIN_ROWS + 50  # (in bulk by default too)
    many = pl.DataFrame({"Т": [odd[i % len(odd)] + ("" if i % 3 else str(i)) for i in range(n)],
                         "Ч": [i if i % 4 else None for i in range(n)]})
    checks = pl.DataFrame({"Код": ["X.1", "Y"], "Число": [2, 1]},
                          schema={"Код": pl.String, "Число": pl.UInt32})

    # the patients' rows cut from a frame of two tables (strings numbered per table)
    both = pl.concat([rows.reverse().with_columns(pl.lit("b").alias("k")),
                      rows.with_columns(pl.lit(None, pl.String).alias("k"))])
    cut = xlsx.bulk_rows(both, "k", {"Дата": "raw"})[None] if prepared else None

    def write(path: Path) -> dict[str, bytes]:
        table = xlsx.Table(rows, "t_p", wrap=("Значение",), caps={"Значение": 300},
                           text_for={"Дата": "raw"}, rows=cut)
        xlsx.write_workbook(
            path, page=xlsx.Page("=T", "R", "&P"),
            summary=xlsx.Summary("Итоги", "=T", [
                ("Как", "Текст"), ("", xlsx.Table(pl.DataFrame({"k": ["Код", "Имя"],
                                                                "v": ["500101", "-x"]}), "summary")),
                ("По проверкам", xlsx.Table(checks, "by_check"))]),
            sheets=[xlsx.Sheet("Пациенты", table, blocker=("Важность", blocker),
                               new=("Статус", "Новое"),
                               inputs={"Значение": {"validate": "any"}}),
                    xlsx.Sheet("Пусто", xlsx.Table(rows.clear(), "t_e",
                                                   text_for={"Дата": "raw"})),
                    xlsx.Sheet("Много", xlsx.Table(many, "t_m"))],
            custom={"talon_fixlist": "1"})
        return _contents(path.parent)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fast = write(tmp_path / "a" / "w.xlsx")
    monkeypatch.setattr(xlsx, "_Worksheet", Worksheet)
    monkeypatch.setattr(xlsx, "_Workbook", Workbook)
    assert fast == write(tmp_path / "b" / "w.xlsx")


@pytest.mark.parametrize("prepared", [False, True])
def test_bulk_rows_with_two_digit_style_numbers_write_xlsxwriters_bytes(tmp_path, monkeypatch,
                                                                         prepared):
    """A findings sheet stored in bulk whose cell formats number 10 and more (every column
    kind, wrapped and not): its style numbers are put in one column at a time (the one-pass
    `str.translate` takes single digits only), xlsxwriter's own bytes all the same."""
    monkeypatch.setattr(xlsx, "BULK_MIN_ROWS", 1)
    frame = pl.DataFrame({"Число": [1, None, 3], "Обёрнутое число": [None, 20, 30],
                          "Дата": [date(1980, 3, 14), None, date(2026, 1, 2)],
                          "Обёрнутая дата": [None, date(1990, 5, 6), date(2001, 7, 8)],
                          "Текст": ["a", "", "b & c"], "Обёрнутый текст": ["x", None, "a"]})
    wrap = ("Обёрнутое число", "Обёрнутая дата", "Обёрнутый текст")
    cut = (xlsx.bulk_rows(frame.with_columns(pl.lit(1).alias("k")), "k")[1] if prepared
           else None)

    def write(path: Path) -> dict[str, bytes]:
        xlsx.write_workbook(
            path, page=xlsx.Page("L", "R", "&P"),
            summary=xlsx.Summary("Итоги", "T", [("Как", "Текст")]),
            sheets=[xlsx.Sheet("Все", xlsx.Table(frame, "t_all", wrap=wrap, rows=cut))])
        return _contents(path.parent)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    fast = write(tmp_path / "a" / "w.xlsx")
    assert b' s="10"' in fast["w.xlsx:xl/worksheets/sheet2.xml"]
    monkeypatch.setattr(xlsx, "_Worksheet", Worksheet)
    monkeypatch.setattr(xlsx, "_Workbook", Workbook)
    assert fast == write(tmp_path / "b" / "w.xlsx")


@pytest.mark.parametrize("per_write", [10**9, 2, 0])
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_csv_cut_from_one_write_matches_each_clinics_own(lang, per_write, monkeypatch):
    """The clinics' CSV texts cut from one `write_csv` of all of them (clinic._csv_texts) are
    what each clinic's own `write_csv` writes: values with line breaks, quotes, separators,
    nulls, a clinic without code (the unassigned list); and so are those written clinic by
    clinic (from CSV_ROWS_PER_WRITE rows a clinic: 2 and 0 here)."""
    from reports import clinic
    monkeypatch.setattr(clinic, "CSV_ROWS_PER_WRITE", per_write)
    keyed = pl.DataFrame({
        "Текст": ["a\nb", 'q "x"', "с;,запятой", None, "\r\nz\n", "", "plain", "x\n\ny"],
        "Дней": [1, None, 3, 4, 5, 6, 7, 8],
        clinic._MO: ["500101", "500101", None, "500102", "500102", None, "500103", "500101"]})
    texts = clinic._csv_texts(keyed, lang)
    separator = clinic.CSV_SEPARATOR[lang]
    assert texts == {key: part.write_csv(separator=separator)
                     for key, part in clinic._cut(keyed).items()}


def test_parts_cut_the_lists_between_clinics_and_build_the_same_lists(tmp_path):
    """The fix lists built part by part (each worker builds some) are the lists built at once:
    every clinic in one part, in list order, the unassigned list last."""
    from reports import clinic, data

    con = build_warehouse(tmp_path / "wh.duckdb")
    run = data.load_run(con, RUN)
    whole = clinic._parts(con, RUN, run, "ru", None, 1)
    cut = clinic._parts(con, RUN, run, "ru", None, 3)
    con.close()
    assert len(whole) == 1 and len(cut) > 1
    assert [c for p in cut for c in p.codes] == whole[0].codes and whole[0].codes[-1] is None
    assert sum(p.findings.height for p in cut) == whole[0].findings.height
    lists = [job for p in cut for job in clinic._lists_of(p, "ru")]
    once = clinic._lists_of(whole[0], "ru")
    assert [j.stem for j in lists] == [j.stem for j in once]
    for a, b in zip(lists, once):
        assert (a.csv, a.groups, a.summary, a.fixed) == (b.csv, b.groups, b.summary, b.fixed)
        assert a.sheets.keys() == b.sheets.keys()
        for key in a.sheets:
            assert a.sheets[key][0].equals(b.sheets[key][0]) and a.sheets[key][1:] == \
                b.sheets[key][1:]


_PROBE = """
import gc, os, sys
import polars as pl
from flows import parallel
if __name__ == "__main__":
    with parallel.Pool(2) as pool:
        found = [f.result() for f in [pool.submit(pl.thread_pool_size),
                                      pool.submit(gc.get_freeze_count)]]
    print(found[0], found[1], parallel.worker_threads(), pl.thread_pool_size(),
          "POLARS_MAX_THREADS" in os.environ)
"""


def test_workers_freeze_what_they_inherit_and_take_their_share_of_polars_threads(tmp_path):
    """A pool's workers run polars on their share of the cores (set in the forkserver's
    environment; this process's own polars and environment unchanged) and leave what they
    inherited out of the garbage collector's walks (gc.freeze)."""
    import os
    import subprocess
    import sys

    if "forkserver" not in parallel.mp.get_all_start_methods():
        pytest.skip("no forkserver here")
    script = tmp_path / "probe.py"
    script.write_text(_PROBE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    for workers in ("", "1"):
        env["TALON_REPORT_WORKERS"] = workers
        out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                             text=True, check=True, timeout=120).stdout.split()
        threads, frozen, expected, own, leaked = out
        cores = len(os.sched_getaffinity(0))
        assert int(expected) == (1 if not workers else cores)
        assert int(threads) == int(expected) and int(frozen) > 0
        assert int(own) == pl.thread_pool_size() and leaked == "False"


def test_workbook_parts_are_xlsxwriters_deflated_at_zip_level(tmp_path, monkeypatch):
    """The workbook's parts: xlsxwriter's names, timestamps and bytes, in its order, each
    deflated at xlsx.ZIP_LEVEL (not zlib's default) by zlib-ng."""
    many = pl.DataFrame({"Т": [f"строка {i % 97}" for i in range(3000)],
                         "Ч": list(range(3000))})

    def write(path: Path) -> list:
        xlsx.write_workbook(path, page=xlsx.Page("L", "R", "&P"),
                            summary=xlsx.Summary("Итоги", "T", [("Как", "Текст")]),
                            sheets=[xlsx.Sheet("Много", xlsx.Table(many, "t_m"))])
        with zipfile.ZipFile(path) as z:
            return [(i.filename, i.date_time, i.compress_type, i.compress_size,
                     z.read(i.filename) if i.filename != "docProps/core.xml" else b"")
                    for i in z.infolist()]

    ours = write(tmp_path / "a.xlsx")
    for name, _, _, size, data in ours:
        if name != "docProps/core.xml":
            deflate = xlsx._deflate.compressobj(xlsx.ZIP_LEVEL, xlsx._deflate.DEFLATED, -15)
            assert size == len(deflate.compress(data) + deflate.flush()), name
    monkeypatch.setattr(xlsx, "_Workbook", Workbook)
    theirs = write(tmp_path / "b.xlsx")
    assert [(n, t, c, d) for n, t, c, _, d in ours] == [(n, t, c, d) for n, t, c, _, d in theirs]


def test_workbooks_are_deflated_by_zlib_ng():
    """zlib-ng is a dependency: the workbooks' parts are deflated by it, not by zlib (a
    venv installed before it falls back to zlib quietly; this says so)."""
    from zlib_ng import zlib_ng

    assert xlsx._deflate is zlib_ng


@pytest.mark.parametrize("names", [["[Content_Types].xml", "xl/worksheets/sheet1.xml",
                                    "docProps/app.xml"], ["один/имя.xml", "b"], []])
def test_write_zip_writes_zipfiles_bytes(tmp_path, names):
    """xlsx.write_zip deflating by zlib writes the very bytes of zipfile (xlsxwriter's
    `writestr` of a ZipInfo at 1980-01-01 per part, deflated at ZIP_LEVEL); by zlib-ng, a
    ZIP file of the same names, timestamps and parts (another deflate stream)."""
    import os
    import zlib

    datas = [b"<row>" * 5000 + os.urandom(3000), b"", "текст".encode() * 999]
    parts = list(zip(names, datas))
    xlsx.write_zip(tmp_path / "ours.zip", parts, deflate=zlib)
    with zipfile.ZipFile(tmp_path / "theirs.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in parts:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data, compresslevel=xlsx.ZIP_LEVEL)
    assert (tmp_path / "ours.zip").read_bytes() == (tmp_path / "theirs.zip").read_bytes()
    xlsx.write_zip(tmp_path / "ng.zip", parts)
    with zipfile.ZipFile(tmp_path / "ng.zip") as z, zipfile.ZipFile(tmp_path / "theirs.zip") as t:
        assert z.testzip() is None
        assert ([(i.filename, i.date_time, i.compress_type, i.external_attr, i.create_system)
                 for i in z.infolist()]
                == [(i.filename, i.date_time, i.compress_type, i.external_attr, i.create_system)
                    for i in t.infolist()])
        assert [z.read(n) for n in names] == datas[:len(names)]


@pytest.mark.parametrize("text", ["", "plain", "a&b<c>d\"e'f", "&amp;&lt;", "'\"'<<>>&&",
                                  "ничего & всё <b>", None])
def test_escaped_is_markupsafes_escape(text):
    from markupsafe import escape

    from reports.html import escaped

    got = pl.DataFrame({"s": [text]}, schema={"s": pl.String}).select(escaped(pl.col("s")))
    assert got.item() == (None if text is None else str(escape(text)))
