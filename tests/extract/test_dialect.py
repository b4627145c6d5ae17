"""Dialect detection on each variation the contract allows (issue 2 §2, issue 3 reading 5)."""
from __future__ import annotations

import polars as pl
import pytest

from flows.extract import dialect
from flows.extract.contract import PATIENTS, POLICIES
from tests.extract.helpers import HEADER, patient, quarantine, read, rows, write_lines


def test_utf8_bom_and_comma(tmp_path):
    path = write_lines(tmp_path / "patients.csv",
                       [",".join(PATIENTS.columns), ",".join(patient(1, "Ёлкина"))],
                       encoding="utf-8-sig")
    r = read(path)
    assert (r.encoding, r.delimiter) == ("utf-8-sig", ",")
    assert rows(r) == [(2, *patient(1, "Ёлкина"))]
    assert r.loaded.columns == ["line_no", *PATIENTS.columns]


def test_cp1251_and_semicolon(tmp_path):
    path = write_lines(tmp_path / "patients.csv",
                       [HEADER, ";".join(patient(1, "Щукина")), ";".join(patient(2, "Ёжиков"))],
                       encoding="cp1251")
    r = read(path)
    assert (r.encoding, r.delimiter) == ("cp1251", ";")
    assert [row[2] for row in rows(r)] == ["Щукина", "Ёжиков"]
    assert r.warnings == []  # a plain Windows-1251 file is not worth a warning


def test_plain_utf8_without_bom(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, ";".join(patient(1, "Щукина"))])
    r = read(path)
    assert (r.encoding, r.delimiter) == ("utf-8", ";")
    assert rows(r)[0][2] == "Щукина"


def test_quoted_delimiters(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [
        HEADER,
        '1;"Иванов; мл.";"Иван,Петр";;01.02.1980;1;"112-233-445 95"',
        '2,"a;b",c,d,e,f,g',  # the other delimiter is text: a quote inside a field
        "3,a,b,c,d,e,f",
    ])
    r = read(path)
    assert rows(r) == [(2, "1", "Иванов; мл.", "Иван,Петр", "", "01.02.1980", "1",
                        "112-233-445 95")]
    assert quarantine(r) == [(3, "ROW.MALFORMED", "quote inside an unquoted field", None),
                             (4, "ROW.MALFORMED", "expected 7 fields, found 1", None)]


@pytest.mark.parametrize("field, value", [
    ('"Пе""тров"', 'Пе"тров'),
    ('""""', '"'),
    ('""', ""),
    ('"""a"""', '"a"'),
    ('"a"";""b"', 'a";"b'),
    ('"  spaced  "', "  spaced  "),
])
def test_escaped_quotes(tmp_path, field, value):
    path = write_lines(tmp_path / "patients.csv", [HEADER, f"1;{field};a;b;c;d;e"])
    r = read(path)
    assert rows(r) == [(2, "1", value, "a", "b", "c", "d", "e")]


def test_shuffled_columns_and_name_normalisation(tmp_path):
    cols = list(reversed(PATIENTS.columns))
    header = ";".join(f" {c.upper()} " if i % 2 else c for i, c in enumerate(cols))
    values = dict(zip(PATIENTS.columns, patient(7, "Петрова", sex="2")))
    path = write_lines(tmp_path / "patients.csv", [header, ";".join(values[c] for c in cols)])
    r = read(path)
    assert rows(r) == [(2, *patient(7, "Петрова", sex="2"))]
    assert r.ignored_columns == [] and r.warnings == []


def test_extra_columns_are_ignored_with_a_warning(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [
        "comment;" + HEADER + ";Source",
        "note;" + ";".join(patient(1)) + ";mis",
    ])
    r = read(path)
    assert rows(r) == [(2, *patient(1))]
    assert r.ignored_columns == ["comment", "Source"]
    assert r.warnings == ['patients.csv: extra columns ignored: "comment", "Source"']


@pytest.mark.parametrize("sep", ["\r\n", "\r", "\n"])
def test_line_ends(tmp_path, sep):
    path = write_lines(tmp_path / "patients.csv",
                       [HEADER, ";".join(patient(1)), "", ";".join(patient(2))], sep=sep)
    r = read(path)
    assert [row[:2] for row in rows(r)] == [(2, "1"), (4, "2")]
    assert r.blank_lines == 1 and r.rows_read == 2
    assert not any("\r" in v or "\n" in v for row in rows(r) for v in row[1:])


def test_mixed_line_ends_in_one_file(tmp_path):
    body = (HEADER + "\r\n" + ";".join(patient(1)) + "\r" + ";".join(patient(2)) + "\n"
            + ";".join(patient(3)) + "\r\n")
    (tmp_path / "patients.csv").write_bytes(body.encode())
    r = read(tmp_path / "patients.csv")
    assert [row[:2] for row in rows(r)] == [(2, "1"), (3, "2"), (4, "3")]


def test_last_line_without_terminator(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, ";".join(patient(1))], final=False)
    assert [row[:2] for row in rows(read(path))] == [(2, "1")]


def test_utf8_file_with_one_cp1251_line(tmp_path):
    lines = [HEADER] + [";".join(patient(i, "Иванов")) for i in range(1, 4)]
    data = ("\n".join(lines) + "\n").encode() + ";".join(patient(4, "Петров")).encode("cp1251")
    (tmp_path / "patients.csv").write_bytes(data + b"\n" + ";".join(patient(5)).encode() + b"\n")
    r = read(tmp_path / "patients.csv")
    assert r.encoding == "utf-8"
    assert [row[1] for row in rows(r)] == ["1", "2", "3", "5"]
    assert quarantine(r) == [(5, "ROW.MALFORMED", "undecodable bytes in UTF-8", None)]
    # the undecodable line is kept readable, shown as Windows-1251
    assert r.quarantined["raw_line"][0] == ";".join(patient(4, "Петров"))
    assert any("read as UTF-8" in w for w in r.warnings)


def test_byte_0x98_is_undefined_in_cp1251(tmp_path):
    good = ";".join(patient(1, "Сидоров")).encode("cp1251")
    bad = ";".join(patient(2, "Сидоров")).encode("cp1251").replace("С".encode("cp1251"), b"\x98")
    (tmp_path / "patients.csv").write_bytes(HEADER.encode() + b"\r\n" + good + b"\r\n"
                                            + bad + b"\r\n")
    r = read(tmp_path / "patients.csv")
    assert r.encoding == "cp1251"
    assert [row[:2] for row in rows(r)] == [(2, "1")]
    assert quarantine(r) == [(3, "ROW.MALFORMED", "undecodable bytes in cp1251", None)]
    assert "\ufffd" in r.quarantined["raw_line"][0]


def test_majority_cp1251_reads_a_stray_utf8_line_as_cp1251(tmp_path):
    cp = [";".join(patient(i, "Кузнецова")).encode("cp1251") for i in (1, 2, 6)]
    utf = ";".join(patient(3, "Ёж", first_name="Ivan", middle_name="")).encode("utf-8")
    # "И" in UTF-8 is D0 98, and 0x98 is undefined in Windows-1251
    utf_98 = ";".join(patient(4, "Ёж", first_name="Иван")).encode("utf-8")
    (tmp_path / "patients.csv").write_bytes(
        b"\n".join([HEADER.encode(), cp[0], cp[1], utf, utf_98, cp[2]]) + b"\n")
    r = read(tmp_path / "patients.csv")
    assert r.encoding == "cp1251"
    assert [row[:3] for row in rows(r)] == [(2, "1", "Кузнецова"), (3, "2", "Кузнецова"),
                                            (4, "3", "Ёж".encode().decode("cp1251")),
                                            (6, "6", "Кузнецова")]
    assert quarantine(r) == [(5, "ROW.MALFORMED", "undecodable bytes in cp1251", None)]


def test_tie_between_utf8_and_cp1251_lines_goes_to_cp1251(tmp_path):
    cp = ";".join(patient(1, "Орлов")).encode("cp1251")
    utf = ";".join(patient(2, "Орлов")).encode("utf-8")
    (tmp_path / "patients.csv").write_bytes(b"\n".join([HEADER.encode(), cp, utf]) + b"\n")
    assert read(tmp_path / "patients.csv").encoding == "cp1251"


def test_real_replacement_character_in_utf8_is_text(tmp_path):
    # U+FFFD written by the source is data, in a valid file and in a mixed one
    lines = [HEADER, ";".join(patient(1, "Ив\ufffdнов")), ";".join(patient(2, "Ёж"))]
    data = "\n".join(lines).encode() + b"\n" + ";".join(patient(3, "Жук")).encode("cp1251")
    (tmp_path / "patients.csv").write_bytes(data + b"\n")
    r = read(tmp_path / "patients.csv")
    assert r.encoding == "utf-8"
    assert [row[2] for row in rows(r)] == ["Ив\ufffdнов", "Ёж"]
    assert quarantine(r) == [(4, "ROW.MALFORMED", "undecodable bytes in UTF-8", None)]


def test_ascii_only_file_is_utf8(tmp_path):
    ascii_row = patient(1, "Ivanov", first_name="Ivan", middle_name="")
    path = write_lines(tmp_path / "patients.csv", [HEADER, ";".join(ascii_row)],
                       encoding="cp1251")
    assert read(path).encoding == "utf-8"


@pytest.mark.parametrize("header, expected", [
    ("a;b;c", ";"), ("a,b,c", ","), ("a;b,c", ","), ("a", ","), ("a;b;c,d", ";"),
    ('"x,y";b;c', ";"),
])
def test_delimiter_is_the_more_frequent_one_and_a_tie_is_comma(header, expected):
    assert dialect.detect_delimiter(header) == expected


def test_comma_file_with_semicolons_in_values(tmp_path):
    path = write_lines(tmp_path / "patients.csv",
                       [",".join(PATIENTS.columns), '1,"a;b;c;d;e;f;g;h",x,,d,1,s'])
    r = read(path)
    assert r.delimiter == "," and rows(r)[0][2] == "a;b;c;d;e;f;g;h"


def test_tab_is_allowed_inside_values(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, "1;a\tb;c;d;e;f;g"])
    assert rows(read(path))[0][2] == "a\tb"


def test_nothing_is_trimmed(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, " 1 ;  Иванов;Иван ;;e;f;g"])
    assert rows(read(path)) == [(2, " 1 ", "  Иванов", "Иван ", "", "e", "f", "g")]


def test_trailing_delimiter_is_an_extra_field(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, ";".join(patient(1)) + ";"])
    assert quarantine(read(path)) == [(2, "ROW.MALFORMED", "expected 7 fields, found 8", None)]


def test_trailing_delimiter_on_header_and_rows_is_an_unnamed_extra_column(tmp_path):
    path = write_lines(tmp_path / "patients.csv",
                       [HEADER + ";", ";".join(patient(1)) + ";", ";".join(patient(2))])
    r = read(path)
    assert [row[:2] for row in rows(r)] == [(2, "1")]
    assert r.ignored_columns == [""]
    assert quarantine(r) == [(3, "ROW.MALFORMED", "expected 8 fields, found 7", None)]


def test_quoted_header(tmp_path):
    header = ";".join(f'"{c}"' for c in POLICIES.columns)
    values = [str(i) for i in range(len(POLICIES.columns))]
    path = write_lines(tmp_path / "policies.csv", [header, ";".join(values)])
    r = read(path, POLICIES)
    assert rows(r) == [(2, *values)]


def test_block_boundaries_do_not_change_the_result(tmp_path, monkeypatch):
    lines = [HEADER] + [";".join(patient(i, "Иванов" if i % 2 else '"Пе""тров"'))
                        for i in range(1, 20)]
    lines[5] = "broken;line"
    body = "\r\n".join(lines[:10]) + "\r" + "\n".join(lines[10:]) + "\r\n"
    (tmp_path / "patients.csv").write_bytes(body.encode("cp1251"))
    reference = read(tmp_path / "patients.csv")
    for size in (1, 9):
        monkeypatch.setattr(dialect, "BLOCK_BYTES", size)
        r = read(tmp_path / "patients.csv")
        assert r.loaded.equals(reference.loaded)
        assert r.quarantined.equals(reference.quarantined)
        assert (r.sha256, r.rows_read, r.encoding) == (reference.sha256, reference.rows_read,
                                                      "cp1251")
    assert reference.rows_read == 19 and reference.quarantined.height == 1


def test_loaded_frame_types(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, ";".join(patient(1, ""))])
    r = read(path)
    assert r.loaded.schema == {"line_no": pl.Int64, **{c: pl.String for c in PATIENTS.columns}}
    assert r.loaded["last_name"].to_list() == [""]
    assert r.loaded.null_count().sum_horizontal()[0] == 0


@pytest.mark.parametrize("data", [
    b"",
    "Ё".encode("cp1251"),
    "Сидоров;\r\nЁж\n".encode("cp1251"),
    "Сидоров;\r\nЁ\x98ж\n".encode("cp1251", "replace").replace(b"?", b"\x98") + b"x\x98\r",
    bytes(range(256)) + b"\n" + bytes(range(255, -1, -1)),
])
def test_cp1251_is_decoded_in_pieces_as_a_whole(monkeypatch, data):
    """cp1251_to_utf8 cuts a block into pieces anywhere (a single-byte encoding): the text is
    the block's decoded at once, 0x98 (undefined) included, and decode_lines flags a line
    undecodable exactly when it holds one."""
    monkeypatch.setattr(dialect, "CP1251_PIECE_BYTES", 3)
    assert dialect.cp1251_to_utf8(data) == data.decode("cp1251", "replace").encode("utf-8")
    frame = dialect.decode_lines(data, "cp1251")
    assert frame["undecodable"].to_list() == ["\ufffd" in line for line in frame["line"]]
    assert frame["undecodable"].any() == (b"\x98" in data)
