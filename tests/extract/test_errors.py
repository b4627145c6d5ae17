"""Input that cannot be processed at all: InputError (exit code 2) naming file, line, column."""
from __future__ import annotations

import os

import pytest

from flows.errors import InputError
from flows.extract import dialect
from flows.extract.batch import locate_files
from flows.extract.contract import FILES, PATIENTS
from tests.extract.helpers import HEADER, patient, read, write_lines


def _batch(folder, skip=(), suffix=".csv"):
    folder.mkdir(exist_ok=True)
    for spec in FILES:
        if spec.name not in skip:
            write_lines(folder / f"{spec.name}{suffix}", [";".join(spec.columns)])
    return folder


def _error(fn, *args) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)
    return info.value


# ----------------------------------------------------------------------------- batch


def test_locate_files_finds_each_file_in_either_format(tmp_path):
    folder = _batch(tmp_path / "x", skip=("slots",))
    (folder / "slots.parquet").write_bytes(b"PAR1")
    (folder / "manifest.json").write_text("{}")
    (folder / "notes.txt").write_text("ignored")
    found = locate_files(folder)
    assert {k: v.name for k, v in found.items()} == {
        "patients": "patients.csv", "policies": "policies.csv",
        "attachments": "attachments.csv", "slots": "slots.parquet"}


def test_missing_folder(tmp_path):
    err = _error(locate_files, tmp_path / "nope")
    assert err.file == str(tmp_path / "nope") and "not found" in err.message


def test_folder_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    assert "not a folder" in _error(locate_files, tmp_path / "f").message


def test_missing_file(tmp_path):
    err = _error(locate_files, _batch(tmp_path / "x", skip=("policies",)))
    assert err.file == "policies.csv"
    assert "policies.csv or policies.parquet" in str(err)


def test_both_csv_and_parquet(tmp_path):
    folder = _batch(tmp_path / "x")
    (folder / "attachments.parquet").write_bytes(b"PAR1")
    err = _error(locate_files, folder)
    assert err.file == "attachments.csv" and "attachments.parquet" in err.message


def test_folder_where_a_file_should_be(tmp_path):
    folder = _batch(tmp_path / "x", skip=("patients",))
    (folder / "patients.csv").mkdir()
    err = _error(locate_files, folder)
    assert err.file == "patients.csv" and "a folder" in err.message
    assert "a folder" in _error(read, folder / "patients.csv").message


def test_symlink_where_a_file_should_be_is_not_followed(tmp_path):
    folder = _batch(tmp_path / "x", skip=("patients",))
    target = write_lines(tmp_path / "real.csv", [HEADER, ";".join(patient(1))])
    os.symlink(target, folder / "patients.csv")
    err = _error(locate_files, folder)
    assert err.file == "patients.csv" and "symbolic link" in err.message
    assert "symbolic link" in _error(read, folder / "patients.csv").message


def test_dangling_symlink_is_not_a_missing_file(tmp_path):
    folder = _batch(tmp_path / "x", skip=("slots",))
    os.symlink(tmp_path / "nowhere.csv", folder / "slots.csv")
    assert "symbolic link" in _error(locate_files, folder).message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_where_a_file_should_be(tmp_path):
    folder = _batch(tmp_path / "x", skip=("policies",))
    os.mkfifo(folder / "policies.csv")
    assert "FIFO" in _error(locate_files, folder).message
    assert "FIFO" in _error(read, folder / "policies.csv").message  # does not block


def test_a_complete_batch_passes(tmp_path):
    assert len(locate_files(_batch(tmp_path / "x"))) == len(FILES)


# ----------------------------------------------------------------------------- one file


def test_empty_file(tmp_path):
    (tmp_path / "patients.csv").write_bytes(b"")
    err = _error(read, tmp_path / "patients.csv")
    assert err.file == "patients.csv" and "empty" in err.message


def test_bom_only_file_is_empty(tmp_path):
    (tmp_path / "patients.csv").write_bytes(dialect.BOM)
    assert "empty" in _error(read, tmp_path / "patients.csv").message


@pytest.mark.parametrize("content", [b"\n", b"\r\n" + HEADER.encode(), b"   \n1;2"])
def test_blank_header(tmp_path, content):
    (tmp_path / "patients.csv").write_bytes(content)
    err = _error(read, tmp_path / "patients.csv")
    assert (err.line, err.message) == (1, "the header line is blank")


def test_header_only_is_valid_with_zero_rows(tmp_path):
    r = read(write_lines(tmp_path / "patients.csv", [HEADER]))
    assert (r.rows_read, r.loaded.height, r.quarantined.height) == (0, 0, 0)
    assert r.loaded.columns == ["line_no", *PATIENTS.columns]


def test_header_only_without_newline(tmp_path):
    r = read(write_lines(tmp_path / "patients.csv", [HEADER], final=False))
    assert r.rows_read == 0


def test_missing_required_column(tmp_path):
    header = HEADER.replace(";snils", "")
    err = _error(read, write_lines(tmp_path / "patients.csv", [header, "1;a;b;c;d;e"]))
    assert (err.file, err.line, err.column) == ("patients.csv", 1, "snils")
    assert str(err) == "patients.csv, line 1, column snils: missing required column snils"


def test_several_missing_columns_are_all_named(tmp_path):
    err = _error(read, write_lines(tmp_path / "patients.csv", ["patient_id;sex"]))
    assert err.column == "last_name"
    assert "last_name, first_name, middle_name, birth_date, snils" in err.message


def test_unknown_columns_only(tmp_path):
    err = _error(read, write_lines(tmp_path / "patients.csv", ["foo;bar", "1;2"]))
    assert err.column == "patient_id"


def test_duplicate_required_column(tmp_path):
    err = _error(read, write_lines(tmp_path / "patients.csv", [HEADER + "; SNILS"]))
    assert (err.line, err.column) == (1, "snils")
    assert "appears 2 times (columns 7, 8)" in err.message


def test_duplicate_extra_columns_are_fine(tmp_path):
    r = read(write_lines(tmp_path / "patients.csv", [HEADER + ";x;x"]))
    assert r.ignored_columns == ["x", "x"]


def test_header_with_broken_quoting(tmp_path):
    err = _error(read, write_lines(tmp_path / "patients.csv", ['"patient_id;' + HEADER]))
    assert err.line == 1 and "unclosed quote" in err.message


def test_header_with_control_character(tmp_path):
    err = _error(read, write_lines(tmp_path / "patients.csv", [HEADER + "\x00"]))
    assert err.line == 1 and "control character" in err.message


def test_header_that_does_not_decode(tmp_path):
    # most non-ASCII lines are UTF-8, so the file is UTF-8 and its cp1251 header cannot be read
    data = ("пациент;" + HEADER).encode("cp1251") + b"\n"
    data += b"".join((";".join(patient(i)) + "\n").encode() for i in range(3))
    (tmp_path / "patients.csv").write_bytes(data)
    err = _error(read, tmp_path / "patients.csv")
    assert err.line == 1 and "does not decode as UTF-8" in err.message


def test_overlong_header(tmp_path, small_blocks):
    err = _error(read, write_lines(tmp_path / "patients.csv", [HEADER + ";" + "x" * 400]))
    assert err.line == 1 and "longer than" in err.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_is_refused_with_a_clear_message(tmp_path, encoding):
    data = ("\ufeff" + HEADER + "\n").encode(encoding)
    (tmp_path / "patients.csv").write_bytes(data)
    err = _error(read, tmp_path / "patients.csv")
    assert err.file == "patients.csv" and "UTF-16" in err.message


def test_unsupported_suffix(tmp_path):
    (tmp_path / "patients.txt").write_text(HEADER)
    assert "unsupported" in _error(read, tmp_path / "patients.txt").message


def test_missing_file_given_to_the_reader(tmp_path):
    assert "not found" in _error(read, tmp_path / "patients.csv").message
