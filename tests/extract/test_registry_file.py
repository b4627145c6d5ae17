"""The optional fifth file, registry.csv (catalogue v1.2): located when present, read with the
same dialect rules, its header in contract names or FFOMS element names (any case), duplicate
enps quarantined, and input errors naming the file, line and column."""
from __future__ import annotations

import polars as pl
import pytest

from flows.errors import InputError
from flows.extract.batch import locate_files
from flows.extract.contract import FILES, REGISTRY
from tests.extract.helpers import read, write_lines

FFOMS = ("ENP", "FAM", "IM", "OT", "DR", "W", "SS", "SMO", "DBEG", "DEND", "death_date", "LPU",
         "LPUDT")
ROW = ("7788899730000765", "ИВАНОВ", "ИВАН", "ИВАНОВИЧ", "01.02.1980", "1", "11223344595",
       "45001", "01.01.2015", "", "", "4501001", "01.01.2021")


def _batch(folder, registry: tuple[str, ...] = ()):
    folder.mkdir(exist_ok=True)
    for spec in FILES:
        write_lines(folder / f"{spec.name}.csv", [";".join(spec.columns)])
    for suffix in registry:
        write_lines(folder / f"registry{suffix}", [";".join(REGISTRY.columns)])
    return folder


def _error(fn, *args) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args)
    assert info.value.exit_code == 2
    return info.value


def test_registry_is_optional_and_located_when_present(tmp_path):
    assert "registry" not in locate_files(_batch(tmp_path / "a"))
    assert locate_files(_batch(tmp_path / "b", (".csv",)))["registry"].name == "registry.csv"
    err = _error(locate_files, _batch(tmp_path / "c", (".csv", ".parquet")))
    assert err.file == "registry.csv" and "keep exactly one" in err.message


@pytest.mark.parametrize("names", [
    FFOMS,
    tuple(n.lower() for n in FFOMS),
    ("Enp", "Fam", "Im", "Ot", "Dr", "w", "SNILS", "Smo", "DBeg", "DEnd", "DEATH_DATE",
     "CODE_MO", "DATE_ATTACH"),
    tuple(f" {n} " for n in REGISTRY.columns),
])
def test_header_in_either_spelling(tmp_path, names):
    result = read(write_lines(tmp_path / "registry.csv",
                              [";".join(names), ";".join(ROW)]), REGISTRY)
    assert result.rows_loaded == 1 and result.entity == "insured"
    assert result.loaded.row(0, named=True) == {"line_no": 2, **dict(zip(REGISTRY.columns, ROW))}


def test_cp1251_comma_bom_variants(tmp_path):
    text = ",".join(FFOMS) + "\n" + ",".join(ROW) + "\n"
    for name, data in (("a.csv", text.encode("cp1251")),
                       ("b.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))):
        (tmp_path / name).write_bytes(data)
        result = read(tmp_path / name, REGISTRY)
        assert result.loaded["last_name"].to_list() == ["ИВАНОВ"]


def test_both_spellings_of_one_column_is_an_input_error(tmp_path):
    names = list(FFOMS) + ["snils"]
    err = _error(read, write_lines(tmp_path / "registry.csv", [";".join(names)]), REGISTRY)
    assert (err.file, err.line, err.column) == ("registry.csv", 1, "snils")
    assert "as SS and snils" in err.message


def test_two_alias_spellings_of_one_column_is_an_input_error(tmp_path):
    names = list(FFOMS) + ["CODE_MO"]
    err = _error(read, write_lines(tmp_path / "registry.csv", [";".join(names)]), REGISTRY)
    assert err.column == "attach_mo_code" and "LPU and CODE_MO" in err.message


def test_missing_column_names_its_spellings(tmp_path):
    names = [n for n in FFOMS if n != "DR"]
    err = _error(read, write_lines(tmp_path / "registry.csv", [";".join(names)]), REGISTRY)
    assert err.column == "birth_date" and "birth_date or DR" in err.message
    err = _error(read, write_lines(tmp_path / "r2.csv",
                                   [";".join(n for n in FFOMS if n != "death_date")]), REGISTRY)
    assert err.column == "death_date"


def test_unknown_columns_are_extras_with_a_warning(tmp_path):
    names = list(FFOMS) + ["VPOLIS", "NPOLIS"]
    result = read(write_lines(tmp_path / "registry.csv",
                              [";".join(names), ";".join(ROW + ("3", "123"))]), REGISTRY)
    assert result.ignored_columns == ["VPOLIS", "NPOLIS"] and result.rows_loaded == 1
    assert any("VPOLIS" in w for w in result.warnings)


def test_duplicate_enp_text_is_quarantined_valid_or_not(tmp_path):
    bad = ("", "ПЕТРОВ") + ROW[2:]
    lines = [";".join(REGISTRY.columns), ";".join(ROW), ";".join(ROW), ";".join(bad),
             ";".join(bad), "a;b"]
    result = read(write_lines(tmp_path / "registry.csv", lines), REGISTRY)
    q = result.quarantined.select("line_no", "reason", "record_id").rows()
    assert q == [(3, "ROW.DUPLICATE_ID", ROW[0]), (5, "ROW.DUPLICATE_ID", ""),
                 (6, "ROW.MALFORMED", None)]
    assert result.rows_read == 5 == result.rows_loaded + result.rows_quarantined


def test_parquet_with_ffoms_names(tmp_path):
    frame = pl.DataFrame({n: [v] for n, v in zip(FFOMS, ROW)})
    frame.write_parquet(tmp_path / "registry.parquet")
    result = read(tmp_path / "registry.parquet", REGISTRY)
    assert result.loaded.drop("line_no").row(0) == ROW
