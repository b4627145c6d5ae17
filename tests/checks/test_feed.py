"""Feed health (catalogue v1.3, checks/feed.py): each FEED code evaluated by Great Expectations
on a warehouse with earlier nights, on violating and passing data at its boundaries; the plan
(bounds and the history they came from) stored with the run; the thresholds validated."""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from concurrent.futures import Future

import duckdb
import polars as pl
import pytest

from checks import feed
from flows.errors import ConfigError
from flows.extract.contract import ALL_FILES
from flows import parallel
from flows.warehouse import connect
from tests.raw_rows import write_raw

AS_OF = datetime(2026, 11, 25, 23, 0)
MOS = {"5001": False, "5002": False, "5003": False, "5009": True}  # mcod -> excluded


class Nights:
    """A warehouse whose earlier nights are stored as feed history (run ledger, run_files,
    feed_stats) and whose current night has raw rows and TEMP stg_slots / cur_mo."""

    def __init__(self, path):
        self.con = connect(path)
        self.n = 0

    def past(self, *, rows: dict[str, int] | None = None, future: dict[str, int] | None = None,
             horizon: dict[str, int] | None = None, empty: dict[str, int] | None = None,
             status: str = "completed") -> str:
        """An earlier night: loaded rows per entity, future and horizon slots per MO, empty
        values per patients.csv column."""
        self.n += 1
        run_id = f"r{self.n:02d}"
        as_of = AS_OF - timedelta(days=10 - self.n)
        self._run(run_id, as_of, status)
        for entity, n in (rows or {"patient": 2000}).items():
            self._file(run_id, entity, n)
        stats = [("future_slots", None, None, m, v) for m, v in (future or {}).items()]
        stats += [("horizon_slots", None, None, m, v) for m, v in (horizon or {}).items()]
        stats += [("empty", "patients.csv", c, None, v) for c, v in (empty or {}).items()]
        for metric, file_name, column, mo, value in stats:
            self.con.execute("INSERT INTO feed_stats VALUES (?, ?, ?, ?, ?, ?)",
                             [run_id, metric, file_name, column, mo, value])
        return run_id

    def tonight(self, *, patients: int = 2000, empty_snils: int = 0,
                slots: dict[str, tuple[int, int]] | None = None, mask: bool = False) -> str:
        """The current run: `patients` raw patient rows (the first `empty_snils` without SNILS)
        and per MO (future slots within the horizon, future slots beyond it); with `mask` the
        raw rows carry the filled flags the reader computes (feed.FILLED_MASK)."""
        run_id = "tonight"
        self._run(run_id, AS_OF, "running")
        self._file(run_id, "patient", patients)
        rows = self.con.sql(
            """SELECT $run AS run_id, i + 2 AS line_no, CAST(i AS VARCHAR) AS patient_id,
                      'ИВАНОВ' AS last_name, 'ИВАН' AS first_name, '01.01.1980' AS birth_date,
                      '1' AS sex, CASE WHEN i < $empty THEN '' ELSE '112-233-445 95' END AS snils
               FROM range($n) t(i)""", params={"run": run_id, "empty": empty_snils,
                                               "n": patients}).pl()
        if mask:
            columns = next(f for f in ALL_FILES if f.name == "patients").columns
            rows = rows.with_columns(pl.lit("").alias(c) for c in columns
                                     if c not in rows.columns)
            rows = rows.with_columns(feed.filled_mask(columns))
        write_raw(self.con, "raw_patients", rows)
        self.con.execute("CREATE OR REPLACE TEMP TABLE stg_slots (mo_code VARCHAR, "
                         "start_ts TIMESTAMP, is_future BOOLEAN)")
        for mo, (near, far) in (slots or {}).items():
            for k in range(near):
                self.con.execute("INSERT INTO stg_slots VALUES (?, ?, true)",
                                 [mo, AS_OF + timedelta(hours=1 + k)])
            for k in range(far):
                self.con.execute("INSERT INTO stg_slots VALUES (?, ?, true)",
                                 [mo, AS_OF + timedelta(days=20, hours=k)])
        self.con.execute("INSERT INTO stg_slots VALUES ('5001', ?, false)",
                         [AS_OF - timedelta(hours=1)])  # a past slot: no feed
        self.con.execute("CREATE OR REPLACE TEMP TABLE cur_mo (mcod VARCHAR, excluded BOOLEAN)")
        self.con.executemany("INSERT INTO cur_mo VALUES (?, ?)", [list(x) for x in MOS.items()])
        return run_id

    def check(self, **params):
        found = feed.check_feed(self.con, "tonight", AS_OF, feed.FeedParams(**params), 14)
        return {(r["check_code"], r["record_id"]): r for r in found.to_dicts()}

    def _run(self, run_id, as_of, status):
        self.con.execute(
            "INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, reference_dir, "
            "started_at, status) VALUES (?, ?, 'cli', '.', '.', ?, ?)",
            [run_id, as_of, as_of, status])

    def _file(self, run_id, entity, n):
        name = {"patient": "patients.csv", "slot": "slots.csv"}[entity]
        self.con.execute(
            "INSERT INTO run_files (run_id, file_name, entity, format, size_bytes, sha256, "
            "rows_read, rows_loaded, rows_quarantined) VALUES (?, ?, ?, 'csv', 0, '', ?, ?, 0)",
            [run_id, name, entity, n, n])


@pytest.fixture
def nights(tmp_path):
    w = Nights(tmp_path / "w.duckdb")
    yield w
    w.con.close()


def test_first_night_has_no_history_and_no_finding(nights):
    nights.tonight(patients=10, slots={"5001": (1, 0)})
    assert nights.check() == {}
    plan = json.loads(nights.con.execute("SELECT suite_json FROM feed_suites").fetchall()[0][0])
    assert plan["history"] == [] and plan["expectations"] == []
    stats = dict(nights.con.execute(
        "SELECT metric || ':' || coalesce(mo_code, column_name), value FROM feed_stats "
        "WHERE run_id = 'tonight'").fetchall())
    assert stats["future_slots:5001"] == 1 and stats["horizon_slots:5001"] == 1
    assert stats["empty:snils"] == 0 and stats["empty:middle_name"] == 10


@pytest.mark.parametrize("history, tonight, dropped", [
    ([1000, 1000, 1000], 700, False),  # exactly 70 % of the median: no drop
    ([1000, 1000, 1000], 699, True),
    ([1000, 2000, 3000, 4000], 1750, False),  # even history: median 2500, bound 1750
    ([1000, 2000, 3000, 4000], 1749, True),
    ([1000, 1000], 10, False),  # two runs of history are not enough
])
def test_volume_drop(nights, history, tonight, dropped):
    for rows in history:
        nights.past(rows={"patient": rows})
    nights.tonight(patients=tonight)
    found = nights.check()
    assert (("FEED.VOLUME.DROP", "patients.csv") in found) is dropped
    if dropped:
        f = found[("FEED.VOLUME.DROP", "patients.csv")]
        assert (f["entity"], f["field"], f["value"]) == ("file", "rows", str(tonight))


def test_volume_drop_ignores_failed_and_later_runs(nights):
    for rows in (1000, 1000, 1000):
        nights.past(rows={"patient": rows})
    nights.past(rows={"patient": 5000}, status="failed")
    nights._run("later", AS_OF + timedelta(days=1), "completed")  # a replayed later night
    nights._file("later", "patient", 9000)
    nights.tonight(patients=700)
    assert ("FEED.VOLUME.DROP", "patients.csv") not in nights.check(volume_drop=0.7)
    assert ("FEED.VOLUME.DROP", "patients.csv") in nights.check(volume_drop=0.71)


def test_mo_silent(nights):
    nights.past(future={"5001": 20, "5002": 19, "5003": 40, "5009": 30, "7777": 50})
    nights.tonight(slots={"5003": (0, 1)})
    found = nights.check()
    silent = {k[1] for k in found if k[0] == "FEED.MO.SILENT"}
    # 5001: had 20, now none; 5002 had 19; 5003 has a future slot; 5009 excluded; 7777 unknown
    assert silent == {"5001"}
    f = found[("FEED.MO.SILENT", "5001")]
    assert (f["entity"], f["route_mo"], f["value"]) == ("mo", "5001", "0")
    assert {k[1] for k in nights.check(mo_silent_min=19) if k[0] == "FEED.MO.SILENT"} == \
        {"5001", "5002"}


def test_mo_silent_lists_every_mo_beyond_gx_list_cap(nights):
    mos = {f"50{i:03d}": 25 for i in range(45)}  # more than GX lists per expectation
    nights.past(future=mos)
    nights.tonight()
    nights.con.executemany("INSERT INTO cur_mo VALUES (?, false)", [[m] for m in mos])
    silent = {k[1] for k in nights.check() if k[0] == "FEED.MO.SILENT"}
    assert silent == set(mos)


def test_mo_shrunk(nights):
    nights.past(future={"5001": 40, "5002": 40, "5003": 40},
                horizon={"5001": 20, "5002": 20, "5003": 19})
    nights.tonight(slots={"5001": (10, 0), "5002": (9, 5), "5003": (1, 0)})
    found = nights.check()
    shrunk = {k[1]: v for k, v in found.items() if k[0] == "FEED.MO.SHRUNK"}
    # 5001: 10 = 50 % of 20 (not less); 5002: 9 < 10 (its later slots do not count);
    # 5003: the previous count 19 was below the minimum
    assert set(shrunk) == {"5002"} and shrunk["5002"]["value"] == "9"
    assert shrunk["5002"]["route_mo"] == "5002"


def test_a_silent_mo_is_not_also_shrunk(nights):
    nights.past(future={"5001": 40}, horizon={"5001": 30})
    nights.tonight(slots={"5002": (5, 0)})
    found = nights.check()
    assert ("FEED.MO.SILENT", "5001") in found and ("FEED.MO.SHRUNK", "5001") not in found


def test_an_excluded_or_unknown_mo_falling_silent_is_not_shrunk(nights):
    # 5009 is excluded on D, 7777 not in F003: without a future slot neither is FEED.MO.SILENT,
    # and a silent MO is never FEED.MO.SHRUNK (nothing reports an excluded MO's ended schedule)
    nights.past(future={"5009": 40, "7777": 40}, horizon={"5009": 30, "7777": 30})
    nights.tonight(slots={"5001": (5, 0)})
    assert nights.check() == {}


@pytest.mark.parametrize("before, tonight, rows_before, rows_now, raised", [
    (100, 300, 2000, 2000, True),  # 5 % -> 15 %: exactly 10 points more
    (100, 299, 2000, 2000, False),  # 14.95 %
    (0, 200, 2000, 2000, True),
    (0, 200, 999, 2000, False),  # the previous night had fewer than 1,000 rows
    (0, 200, 2000, 999, False),  # tonight has fewer than 1,000 rows
    (1900, 2000, 2000, 2000, False),  # 95 % -> 100 %: cannot rise 10 points
])
def test_column_empty(nights, before, tonight, rows_before, rows_now, raised):
    nights.past(rows={"patient": rows_before}, empty={"snils": before, "last_name": 0})
    nights.tonight(patients=rows_now, empty_snils=tonight)
    found = nights.check()
    assert (("FEED.COLUMN.EMPTY", "patients.csv:snils") in found) is raised
    assert ("FEED.COLUMN.EMPTY", "patients.csv:last_name") not in found
    if raised:
        f = found[("FEED.COLUMN.EMPTY", "patients.csv:snils")]
        assert f["field"] == "empty_share" and f["value"] == f"{100 * tonight / rows_now:.1f}%"


@pytest.mark.parametrize("before, tonight, raised", [(100, 300, True), (100, 299, False)])
def test_column_empty_from_the_readers_filled_flags(nights, before, tonight, raised):
    """The reader's filled flags (FILLED_MASK) give the counts and verdicts the text gives."""
    nights.past(empty={"snils": before, "last_name": 0, "middle_name": 2000})
    nights.tonight(empty_snils=tonight, mask=True)
    assert feed._masked_rows(nights.con, feed._spec("patient"), "tonight") is not None
    found = nights.check()
    assert (("FEED.COLUMN.EMPTY", "patients.csv:snils") in found) is raised
    assert ("FEED.COLUMN.EMPTY", "patients.csv:last_name") not in found
    empty = dict(nights.con.execute(
        "SELECT column_name, value FROM feed_stats WHERE run_id = 'tonight' AND metric = "
        "'empty'").fetchall())
    assert empty == {"patient_id": 0, "last_name": 0, "first_name": 0, "middle_name": 2000,
                     "birth_date": 0, "sex": 0, "snils": tonight}


def test_filled_mask_bits():
    frame = pl.DataFrame({"a": ["x", "", None, "y"], "b": ["", "y", "z", "w"]})
    assert frame.select(feed.filled_mask(("a", "b")))[feed.FILLED_MASK].to_list() == [
        1, 2, 2, 3]
    with pytest.raises(ValueError):
        feed.filled_mask(tuple(f"c{i}" for i in range(33)))


def test_validation_in_a_worker_finds_what_it_finds_here(nights):
    """start_feed(worker=True) hands GX's validation to a worker process (where the machine
    lets this process start workers) and returns the very findings of the in-process run."""
    for rows in (2000, 2000, 2000):
        nights.past(rows={"patient": rows}, future={"5001": 30, "5002": 30},
                    horizon={"5001": 30, "5002": 30}, empty={"snils": 0})
    nights.tonight(patients=1000, empty_snils=400, slots={"5002": (3, 0)})
    here = nights.check()
    assert {k[0] for k in here} == {"FEED.VOLUME.DROP", "FEED.MO.SILENT", "FEED.MO.SHRUNK",
                                    "FEED.COLUMN.EMPTY"}
    with feed.start_feed(nights.con, "tonight", AS_OF, feed.FeedParams(), 14,
                         worker=True) as job:
        assert isinstance(job._future, Future) is parallel.can_fork_workers()
        there = job.result()
    assert {(r["check_code"], r["record_id"]): r for r in there.to_dicts()} == here


def test_plan_keeps_bounds_and_history(nights):
    for rows in (1000, 1200, 1400):
        nights.past(rows={"patient": rows}, future={"5001": 30}, horizon={"5001": 30},
                    empty={"snils": 0})
    nights.tonight(patients=1100, slots={"5001": (20, 0)})
    nights.check()
    plan = json.loads(nights.con.execute(
        "SELECT suite_json FROM feed_suites WHERE run_id = 'tonight'").fetchall()[0][0])
    assert [h["run_id"] for h in plan["history"]] == ["r03", "r02", "r01"]
    assert plan["previous"] == "r03" and plan["params"]["volume_drop"] == 0.7
    volume = next(e for e in plan["expectations"] if e["code"] == "FEED.VOLUME.DROP")
    assert volume["kwargs"] == {"min_value": 840}  # ceil(0.7 x 1200)
    assert volume["basis"]["median"] == 1200 and volume["basis"]["history_rows"] == [
        1000, 1200, 1400]
    shrunk = next(e for e in plan["expectations"] if e["code"] == "FEED.MO.SHRUNK")
    assert shrunk["basis"]["bounds"] == {"5001": 15}
    codes = {e["code"] for e in plan["expectations"]}
    assert codes == {"FEED.VOLUME.DROP", "FEED.MO.SILENT", "FEED.MO.SHRUNK",
                     "FEED.COLUMN.EMPTY"}


@pytest.mark.parametrize("kwargs, option", [
    ({"volume_drop": 0}, "--volume-drop"),
    ({"volume_drop": 1.5}, "--volume-drop"),
    ({"mo_shrunk": -0.1}, "--mo-shrunk"),
    ({"mo_silent_min": -1}, "--mo-silent-min"),
    ({"column_empty_points": 0}, "--column-empty-points"),
    ({"column_empty_points": float("nan")}, "--column-empty-points"),
])
def test_thresholds_are_validated(kwargs, option):
    with pytest.raises(ConfigError) as info:
        feed.FeedParams(**kwargs)
    assert info.value.message.startswith(option) and info.value.exit_code == 2


def test_in_memory_warehouse_stores_stats_and_a_first_night_runs_no_gx():
    con = duckdb.connect()
    from flows.warehouse import ensure_schema

    ensure_schema(con)
    con.execute("CREATE TEMP TABLE stg_slots (mo_code VARCHAR, start_ts TIMESTAMP, "
                "is_future BOOLEAN)")
    con.execute("CREATE TEMP TABLE cur_mo (mcod VARCHAR, excluded BOOLEAN)")
    con.execute("INSERT INTO runs (run_id, as_of, as_of_source, extracts_dir, reference_dir, "
                "started_at, status) VALUES ('x', ?, 'cli', '.', '.', ?, 'running')",
                [AS_OF, AS_OF])
    assert feed.check_feed(con, "x", AS_OF, feed.FeedParams(), 14).height == 0
