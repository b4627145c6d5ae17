"""The loaders on the real FFOMS classifiers in ../shared/reference/nsi."""
from __future__ import annotations

import hashlib
import shutil
from datetime import date

import duckdb
import polars as pl
import pytest

from flows.errors import InputError
from flows.reference import (excluded_codes, file_metadata, load_classifier, load_reference,
                             store_reference, valid_codes, valid_on)
from flows.reference.nsi import BY_KEY
from flows.warehouse import ensure_schema
from nsi_helpers import f003_text, medcompany

pytestmark = pytest.mark.nsi


def _rows(df: pl.DataFrame, col: str, code: str) -> list[tuple]:
    return sorted(df.filter(pl.col(col) == code).select(df.columns[-2:]).rows(),
                  key=lambda r: r[0])


def test_f002_insurers_and_periods(nsi_dir):
    df, meta = load_classifier(nsi_dir / "F002.xml", "f002")
    assert df.schema == pl.Schema(BY_KEY["f002"].schema)
    assert df["smocod"].n_unique() == 204
    assert df.height == 232  # one row per insInclude period
    assert meta.encoding == "windows-1251" and meta.rows == 232
    assert meta.sha256 == hashlib.sha256((nsi_dir / "F002.xml").read_bytes()).hexdigest()
    assert _rows(df, "smocod", "21003") == [
        (date(2012, 8, 28), date(2014, 12, 31)),
        (date(2016, 8, 22), date(2018, 12, 31)),
        (date(2021, 7, 20), None),
    ]
    assert df.filter(pl.col("smocod") == "55044").height == 4
    multi = df.group_by("smocod").len().filter(pl.col("len") > 1)
    assert multi.height == 18
    first = df.row(0, named=True)
    assert first["smocod"] == "01004" and first["tf_okato"] == "79000"
    assert first["name"] == 'АДЫГЕЙСКИЙ ФИЛИАЛ АО "СТРАХОВАЯ КОМПАНИЯ "СОГАЗ-МЕД"'


def test_f002_excluded_insurer(nsi_dir):
    """63001's only period ends 15.03.2023: in the registry that day, out the next."""
    df, _ = load_classifier(nsi_dir / "F002.xml", "f002")
    assert "63001" not in excluded_codes(df, "smocod", date(2023, 3, 15))
    assert excluded_codes(df, "smocod", date(2023, 3, 16)) == {"63001"}
    # an insurer with an ended period and a later open one stays in
    assert "21003" not in excluded_codes(df, "smocod", date(2026, 11, 25))


def test_f010_versioned_regions(nsi_dir):
    df, _ = load_classifier(nsi_dir / "F010.xml", "f010")
    assert df.schema == pl.Schema(BY_KEY["f010"].schema)
    assert df.height == 95
    kod03 = df.filter(pl.col("kod_tf") == "03").sort("date_begin")
    assert kod03.rows() == [
        ("03", "81000", "Республика Бурятия", date(2011, 1, 1), date(2018, 11, 2)),
        ("03", "81000", "Республика Бурятия", date(2018, 11, 3), None),
    ]
    assert valid_on(kod03, date(2018, 11, 2))["date_begin"].to_list() == [date(2011, 1, 1)]
    assert valid_on(kod03, date(2018, 11, 3))["date_begin"].to_list() == [date(2018, 11, 3)]
    dups = df.group_by("kod_tf").len().filter(pl.col("len") > 1)["kod_tf"].sort().to_list()
    assert dups == ["03", "42", "75", "85", "86"]
    assert "3" not in set(df["kod_tf"])  # codes are exact text


def test_v021_versioned_specialties(nsi_dir):
    df, _ = load_classifier(nsi_dir / "V021.xml", "v021")
    assert df.schema == pl.Schema(BY_KEY["v021"].schema)
    assert df.height == 239 and df["idspec"].n_unique() == 127
    assert _rows(df, "idspec", "1") == [(date(2015, 11, 28), date(2019, 10, 31)),
                                        (date(2019, 11, 1), None)]
    assert "1" in valid_codes(df, "idspec", date(2019, 10, 31))
    assert "1" in valid_codes(df, "idspec", date(2019, 11, 1))
    assert "1" not in valid_codes(df, "idspec", date(2015, 11, 27))


def test_f008_policy_types(nsi_dir):
    df, _ = load_classifier(nsi_dir / "F008.xml", "f008")
    assert df.schema == pl.Schema(BY_KEY["f008"].schema)
    assert df["iddoc"].to_list() == ["1", "2", "3", "4", "5"]
    assert df["date_end"].null_count() == 5
    assert valid_codes(df, "iddoc", date(2026, 11, 25)) == {"1", "2", "3", "4", "5"}
    assert valid_codes(df, "iddoc", date(2013, 6, 1)) == {"1", "2", "3"}


def test_load_and_store_reference_folder(nsi_dir, tmp_path):
    """Whole folder (real files copied to tmp + a synthetic F003) → warehouse tables + ledger."""
    ref = tmp_path / "reference"
    ref.mkdir()
    for name in ("F002.xml", "F008.xml", "F010.xml", "V021.xml"):
        shutil.copyfile(nsi_dir / name, ref / name)
    (ref / "F003.xml").write_bytes(f003_text(
        medcompany("500001", [("01.01.2015", None)]),
        medcompany("500002", [("01.01.2015", "31.12.2020")]),
    ).encode("cp1251"))
    loaded = load_reference(ref)
    assert file_metadata(loaded) == loaded.files
    con = duckdb.connect()
    ensure_schema(con)
    store_reference(con, "run-1", loaded)
    for key, frame in loaded.frames().items():
        stored = con.sql(f"SELECT * EXCLUDE (run_id) FROM ref_{key} WHERE run_id = 'run-1'").pl()
        assert stored.sort(stored.columns).equals(frame.sort(frame.columns)), key
    ledger = con.sql("SELECT file_name, entity, format, encoding, size_bytes, sha256, rows_read,"
                     " rows_loaded, rows_quarantined FROM run_files ORDER BY file_name").fetchall()
    assert [r[0] for r in ledger] == ["F002.xml", "F003.xml", "F008.xml", "F010.xml", "V021.xml"]
    expected_rows = {"F002.xml": 232, "F003.xml": 2, "F008.xml": 5, "F010.xml": 95,
                     "V021.xml": 239}
    for name, entity, fmt, enc, size, sha, read, loaded_n, quarantined in ledger:
        data = (ref / name).read_bytes()
        assert (entity, fmt, enc) == ("reference", "xml", "windows-1251")
        assert size == len(data) and sha == hashlib.sha256(data).hexdigest()
        assert read == loaded_n == expected_rows[name] and quarantined == 0


def test_bad_date_in_real_f002_names_the_record(nsi_dir, tmp_path):
    data = (nsi_dir / "F002.xml").read_bytes()
    assert data.count(b"<d_begin>27.08.2019</d_begin>") == 1  # insCompany #1, smocod 01004
    path = tmp_path / "F002.xml"
    path.write_bytes(data.replace(b"<d_begin>27.08.2019</d_begin>",
                                  b"<d_begin>31.02.2020</d_begin>"))
    with pytest.raises(InputError) as err:
        load_classifier(path, "f002")
    assert str(err.value) == \
        f"{path}: insCompany #1 (smocod 01004): d_begin '31.02.2020' is not DD.MM.YYYY"
