"""Quarantine: every malformed kind and duplicate ids, reconciled line by line."""
from __future__ import annotations

import pytest

from flows.extract import dialect
from flows.extract.contract import SLOTS
from tests.extract.helpers import HEADER, patient, quarantine, read, rows, write_lines


def _line(i, last="Иванов", **kw):
    return ";".join(patient(i, last, **kw))


def test_every_malformed_kind_and_duplicates_reconcile_exactly(tmp_path):
    lines = [
        HEADER,                                   # 1
        _line(1),                                 # 2 loaded
        _line(2) + ";",                           # 3 trailing delimiter
        "3;Иванов;Иван",                          # 4 too few fields
        '4;"Иванов;Иван;И;01.02.1980;1;x',        # 5 unclosed quote
        '5;"Иванов"ич;Иван;И;01.02.1980;1;x',     # 6 text after closing quote
        '6;Ива"нов;Иван;И;01.02.1980;1;x',        # 7 quote inside an unquoted field
        _line(7, "Ива\x00нов"),                   # 8 NUL
        _line(8, "Ива\ufeffнов"),                 # 9 BOM in the middle
        _line(9, "Ива\x07нов"),                   # 10 other control character
        "",                                       # 11 blank: not a row
        _line(1, "Петров"),                       # 12 duplicate of line 2
        " ",                                      # 13 whitespace only: one field
        _line(10),                                # 14 loaded
        _line(1, "Сидоров"),                      # 15 duplicate of line 2 again
        _line(11, "Ива\tнов"),                    # 16 TAB is fine
        _line(12, "x" * (dialect.MAX_LINE_CHARS + 1)),  # 17 overlong
        _line(10, 'q"'),                          # 18 malformed (quote inside) with id 10
        '10;"Квот""ед";a;b;c;d;e',                # 19 duplicate of 14, quoted
        _line(4),                                 # 20 id 4 only malformed before: loaded
        _line(""),                                # 21 empty id
        _line(""),                                # 22 empty id again: duplicate
    ]
    path = write_lines(tmp_path / "patients.csv", lines)
    r = read(path)
    m = "ROW.MALFORMED"
    assert quarantine(r) == [
        (3, m, "expected 7 fields, found 8", None),
        (4, m, "expected 7 fields, found 3", None),
        (5, m, "unclosed quote", None),
        (6, m, "text after closing quote", None),
        (7, m, "quote inside an unquoted field", None),
        (8, m, "NUL byte", None),
        (9, m, "byte order mark inside the file", None),
        (10, m, "control character other than TAB", None),
        (12, "ROW.DUPLICATE_ID", "patient_id already on line 2", "1"),
        (13, m, "expected 7 fields, found 1", None),
        (15, "ROW.DUPLICATE_ID", "patient_id already on line 2", "1"),
        (17, m, f"line longer than {dialect.MAX_LINE_CHARS} characters", None),
        (18, m, "quote inside an unquoted field", None),
        (19, "ROW.DUPLICATE_ID", "patient_id already on line 14", "10"),
        (22, "ROW.DUPLICATE_ID", "patient_id already on line 21", ""),
    ]
    assert [row[:2] for row in rows(r)] == [(2, "1"), (14, "10"), (16, "11"), (20, "4"),
                                            (21, "")]
    assert r.blank_lines == 1
    assert r.rows_read == len(lines) - 1 - 1 == r.loaded.height + r.quarantined.height
    raw = dict(zip(r.quarantined["line_no"], r.quarantined["raw_line"]))
    assert raw[12] == lines[11] and raw[19] == lines[18] and raw[8] == lines[7]
    assert raw[17].startswith(lines[16][:dialect.RAW_LINE_CAP])
    assert raw[17].endswith(f"[truncated; the line has {len(lines[16])} characters]")
    assert rows(r)[2][2] == "Ива\tнов"


def test_overlong_lines_are_streamed_over_without_holding_them(tmp_path, small_blocks):
    # limits shrunk by the fixture: 80 characters, 320 bytes streamed, blocks of 7 bytes
    long_line = "9;" + "Ж" * 200 + ";a;b;c;d;e"  # > 320 bytes: skipped while reading
    mid_line = "8;" + "x" * 100 + ";a;b;c;d;e"  # > 80 characters, held
    lines = [HEADER, "1;a;b;c;d;e;f", long_line, "2;a;b;c;d;e;f", mid_line, "3;a;b;c;d;e;f"]
    for sep in ("\n", "\r\n", "\r"):
        path = write_lines(tmp_path / "patients.csv", lines, sep=sep)
        r = read(path)
        assert [row[:2] for row in rows(r)] == [(2, "1"), (4, "2"), (6, "3")]
        assert quarantine(r) == [(3, "ROW.MALFORMED", "line longer than 80 characters", None),
                                 (5, "ROW.MALFORMED", "line longer than 80 characters", None)]
        raw = r.quarantined["raw_line"].to_list()
        assert raw[0] == f"9;{'Ж' * 18} … [truncated; the line has {len(long_line.encode())} bytes]"
        assert raw[1] == f"8;{'x' * 18} … [truncated; the line has {len(mid_line)} characters]"


def test_overlong_last_line_without_terminator(tmp_path, small_blocks):
    path = write_lines(tmp_path / "patients.csv", [HEADER, "1;a;b;c;d;e;f", "z" * 500],
                       final=False)
    r = read(path)
    assert quarantine(r) == [(3, "ROW.MALFORMED", "line longer than 80 characters", None)]


def test_a_million_column_line_is_quarantined(tmp_path):
    path = write_lines(tmp_path / "patients.csv",
                       [HEADER, ";".join(["x"] * 1_000_000), ";" * 999_999, _line(1)])
    r = read(path)
    assert quarantine(r) == [
        (2, "ROW.MALFORMED", f"line longer than {dialect.MAX_LINE_CHARS} characters", None),
        (3, "ROW.MALFORMED", "expected 7 fields, found 1000000", None)]
    assert [row[:2] for row in rows(r)] == [(4, "1")]


def test_a_10_mb_field_is_quarantined(tmp_path):
    path = write_lines(tmp_path / "patients.csv",
                       [HEADER, _line(1, "Я" * 10_000_000), _line(2)])
    r = read(path)
    assert quarantine(r)[0][:2] == (2, "ROW.MALFORMED")
    assert len(r.quarantined["raw_line"][0]) < 2 * dialect.RAW_LINE_CAP
    assert [row[:2] for row in rows(r)] == [(3, "2")]


def test_no_duplicates_no_quarantine(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, _line(1), _line(2), _line("01")])
    r = read(path)
    assert r.quarantined.height == 0 and r.loaded.height == 3


def test_ids_are_exact_text(tmp_path):
    path = write_lines(tmp_path / "patients.csv", [HEADER, _line("1"), _line(" 1"), _line("01"),
                                                   _line("1 ")])
    assert read(path).quarantined.height == 0


def test_duplicates_use_the_files_id_column(tmp_path):
    header = ";".join(SLOTS.columns)
    slot = ["s1", "mo", "d1", "", "active", "1", "2025-01-01 10:00", "2025-01-01 10:15",
            "free", "", "2025-01-01 09:00"]
    other = ["s2"] + slot[1:]
    path = write_lines(tmp_path / "slots.csv", [header, ";".join(slot), ";".join(other),
                                                ";".join(slot)])
    r = read(path, SLOTS)
    assert quarantine(r) == [(4, "ROW.DUPLICATE_ID", "slot_id already on line 2", "s1")]


def test_undecodable_lines_in_a_bom_file(tmp_path):
    data = ("\ufeff" + HEADER + "\n" + _line(1) + "\n").encode()
    data += _line(2, "Жуков").encode("cp1251") + b"\n" + b"3;\xff\xfe;b;c;d;e;f\n"
    (tmp_path / "patients.csv").write_bytes(data)
    r = read(tmp_path / "patients.csv")
    assert r.encoding == "utf-8-sig"
    assert quarantine(r) == [(3, "ROW.MALFORMED", "undecodable bytes in UTF-8", None),
                             (4, "ROW.MALFORMED", "undecodable bytes in UTF-8", None)]
    assert r.quarantined["raw_line"][0] == _line(2, "Жуков")


@pytest.mark.parametrize("spec_columns", [7])
def test_rows_read_excludes_header_and_blank_lines(tmp_path, spec_columns):
    path = write_lines(tmp_path / "patients.csv", [HEADER, "", _line(1), "", ""])
    r = read(path)
    assert (r.rows_read, r.blank_lines, r.loaded.height) == (1, 3, 1)
    assert rows(r)[0][0] == 3


def test_random_bytes_lose_nothing(tmp_path):
    import random

    rnd = random.Random(5)
    body = b"\n".join(bytes(rnd.randrange(256) for _ in range(rnd.randrange(60)))
                      for _ in range(300))
    (tmp_path / "patients.csv").write_bytes(HEADER.encode() + b"\n" + body)
    r = read(tmp_path / "patients.csv")
    assert r.rows_read == r.loaded.height + r.quarantined.height > 0
    assert set(r.quarantined["reason"]) <= {"ROW.MALFORMED", "ROW.DUPLICATE_ID"}
    numbers = r.loaded["line_no"].to_list() + r.quarantined["line_no"].to_list()
    assert len(numbers) == len(set(numbers)) and min(numbers) >= 2


def test_mixed_delimiters(tmp_path):
    path = write_lines(tmp_path / "patients.csv",
                       [HEADER, _line(1), ",".join(patient(2)), _line(3)])
    r = read(path)
    assert quarantine(r) == [(3, "ROW.MALFORMED", "expected 7 fields, found 1", None)]
    assert [row[1] for row in rows(r)] == ["1", "3"]
