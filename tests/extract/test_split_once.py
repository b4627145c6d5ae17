"""The reader's cheaper paths give what the paths they replace gave:

- lines without a quote are split on the delimiter once (reader._plain_fields) instead of being
  joined back into CSV text and parsed by the CSV reader (reader._fields, still used for lines
  with quotes);
- the raw text of duplicate lines is read back at the byte offsets kept while the file was read
  (reader._LineSpans) instead of by reading the whole file again (reader._raw_lines);
- dialect.iter_blocks says where each block starts in the file;
- the spool is written plain.
"""
from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.extract import dialect, reader
from flows.extract.contract import PATIENTS
from flows.extract.reader import read_extract_file

from .helpers import HEADER, patient, quarantine, rows, write_lines

_SETTINGS = settings(max_examples=80, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


def _summary(r: reader.ReadResult) -> tuple:
    return (r.encoding, r.delimiter, r.rows_read, r.blank_lines, r.warnings, r.sha256,
            r.loaded.rows(), r.quarantined.rows())


def _parse_everything_as_csv(lines, layout):
    """The path before split-once: every line parsed by the CSV reader with a sentinel."""
    fields = reader._fields(lines, layout)
    return fields, (fields[f"f{layout.n_fields}"] == reader._SENTINEL).fill_null(False)


def _read_both_ways(path, monkeypatch, spec=PATIENTS):
    new = read_extract_file(path, spec)
    with monkeypatch.context() as m:
        m.setattr(reader, "_plain_fields", _parse_everything_as_csv)
        old = read_extract_file(path, spec)
    return new, old


# --------------------------------------------------------------------------- split once

def test_plain_lines_split_once_next_to_quoted_ones(tmp_path, monkeypatch):
    lines = [
        HEADER,                                        # 1
        ";".join(patient(1)),                          # 2 plain: loaded
        ";".join(patient(2, middle_name="")),          # 3 plain, an empty field
        ";".join(patient(3, snils="")),                # 4 plain, the last field empty
        "4;Иванов;Иван",                               # 5 plain, too few fields
        ";".join(patient(5)) + ";x;y",                 # 6 plain, too many fields
        ";".join(patient(6)) + ";",                    # 7 plain, a trailing delimiter
        '7;"Ива;нов";"Ив""ан";И;01.02.1980;1;x',       # 8 quoted: delimiter and quote inside
        '8;"";Иван;И;01.02.1980;1;x',                  # 9 quoted empty field
        '9;"a;b";c',                                   # 10 quoted, too few fields
        " ",                                           # 11 whitespace only: one field
        ";;;;;;",                                      # 12 seven empty fields: loaded
        " 10 ; Петров ;Иван;И;01.02.1980;1;x ",        # 13 spaces kept as written
    ]
    path = write_lines(tmp_path / "patients.csv", lines)
    new, old = _read_both_ways(path, monkeypatch)
    assert _summary(new) == _summary(old)
    m = "ROW.MALFORMED"
    assert quarantine(new) == [
        (5, m, "expected 7 fields, found 3", None),
        (6, m, "expected 7 fields, found 9", None),
        (7, m, "expected 7 fields, found 8", None),
        (10, m, "expected 7 fields, found 3", None),
        (11, m, "expected 7 fields, found 1", None),
    ]
    loaded = {row[0]: row[1:] for row in rows(new)}
    assert sorted(loaded) == [2, 3, 4, 8, 9, 12, 13]
    assert loaded[3][3] == "" and loaded[4][6] == ""
    assert loaded[8][:3] == ("7", "Ива;нов", 'Ив"ан')
    assert loaded[9][1] == ""
    assert loaded[12] == ("",) * 7
    assert loaded[13][0] == " 10 " and loaded[13][1] == " Петров " and loaded[13][6] == "x "


def test_a_cp1251_comma_file_splits_like_the_csv_reader(tmp_path, monkeypatch, small_blocks):
    header = ",".join(PATIENTS.columns)
    lines = [header] + [",".join(patient(i, last="Щукин-Ёлкин")) for i in range(1, 6)]
    lines += ['6,"Щукин, Ёлкин",Иван,И,01.02.1980,1,x', "7,Ёлкин,Иван", ",".join(patient(1))]
    path = write_lines(tmp_path / "patients.csv", lines, encoding="cp1251", sep="\r\n")
    new, old = _read_both_ways(path, monkeypatch)
    assert new.encoding == "cp1251"
    assert _summary(new) == _summary(old)
    assert quarantine(new) == [(8, "ROW.MALFORMED", "expected 7 fields, found 3", None),
                               (9, "ROW.DUPLICATE_ID", "patient_id already on line 2", "1")]
    assert dict((r[0], r[2]) for r in rows(new))[7] == "Щукин, Ёлкин"


_value = st.one_of(
    st.text(alphabet="abЖё ;,\t", max_size=5),                    # may hold a delimiter
    st.sampled_from(['"x"', '"a;b"', '"a,b"', '"q""q"', '""', 'a"b', '"x"y', '"open']),
)


@_SETTINGS
@given(table=st.lists(st.lists(_value, min_size=1, max_size=9), min_size=1, max_size=25),
       delimiter=st.sampled_from([";", ","]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]),
       terminator=st.sampled_from(["\n", "\r\n", "\r"]))
def test_split_once_reads_any_lines_as_the_csv_reader_did(tmp_path_factory, monkeypatch, table,
                                                          delimiter, encoding, terminator):
    """Lines with and without quotes, any field count, delimiters inside fields (quoted or
    not): the result is the one every line parsed by the CSV reader gave."""
    path = tmp_path_factory.mktemp("split") / "patients.csv"
    lines = [delimiter.join(PATIENTS.columns)] + [delimiter.join(r) for r in table]
    write_lines(path, lines, encoding=encoding, sep=terminator)
    new, old = _read_both_ways(path, monkeypatch)
    assert _summary(new) == _summary(old)


# --------------------------------------------------------------------------- duplicates' raw text

def _duplicated_file(tmp_path, encoding, terminator, last="Ёлкин"):
    lines = [HEADER] + [";".join(patient(i % 4, last=f"{last}{i}")) for i in range(12)]
    lines.insert(5, "")                      # a blank line shifts the numbers
    lines.insert(7, "x" * 400)               # an overlong line (skipped with small_blocks)
    lines.append(";".join(patient(2, last="Ё" * 30)))  # a long duplicate: capped raw text
    return lines, write_lines(tmp_path / "patients.csv", lines, encoding=encoding, sep=terminator)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251"])
@pytest.mark.parametrize("terminator", ["\n", "\r\n", "\r"])
def test_duplicates_raw_text_from_the_kept_offsets(tmp_path, small_blocks, encoding, terminator):
    lines, path = _duplicated_file(tmp_path, encoding, terminator)
    r = read_extract_file(path, PATIENTS)
    dup = r.quarantined.filter(reason="ROW.DUPLICATE_ID")
    assert dup.height == 9
    line_nos = dup["line_no"]
    for line_no, raw in zip(line_nos, dup["raw_line"]):
        text = lines[line_no - 1]
        if len(text) > dialect.RAW_LINE_CAP:
            assert raw == (f"{text[:dialect.RAW_LINE_CAP]} … [truncated; the line has "
                           f"{len(text)} characters]")
        else:
            assert raw == text
    # the fallback that reads the file again gives the same text
    again = reader._raw_lines(path, r.encoding, line_nos)
    assert again.rows() == dup.select("line_no", "raw_line").rows()


def test_duplicates_raw_text_falls_back_when_offsets_do_not_match(tmp_path, monkeypatch):
    lines, path = _duplicated_file(tmp_path, "utf-8", "\n")
    expected = read_extract_file(path, PATIENTS).quarantined

    def mismatched(self, first, block, n_lines):
        self.usable = False

    monkeypatch.setattr(reader._LineSpans, "add", mismatched)
    calls = []
    real = reader._raw_lines
    monkeypatch.setattr(reader, "_raw_lines", lambda *a: calls.append(a) or real(*a))
    assert read_extract_file(path, PATIENTS).quarantined.rows() == expected.rows()
    assert len(calls) == 1


def test_line_spans_refuse_a_block_whose_lines_do_not_match():
    spans = reader._LineSpans()
    block = dialect.Block(data=b"a\nb\n", start=0, offsets=dialect.line_offsets(b"a\nb\n"))
    spans.add(1, block, 2)
    assert spans.usable
    spans.add(3, dialect.Block(data=b"c\n", start=4), 1)  # no offsets kept
    assert not spans.usable


def test_no_duplicates_reads_nothing_back(tmp_path, monkeypatch):
    path = write_lines(tmp_path / "patients.csv",
                       [HEADER] + [";".join(patient(i)) for i in range(5)])
    monkeypatch.setattr(reader._LineSpans, "raw_lines",
                        lambda *a: pytest.fail("raw text read without duplicates"))
    assert read_extract_file(path, PATIENTS).quarantined.height == 0


# --------------------------------------------------------------------------- block starts

@settings(max_examples=80, deadline=None)
@given(data=st.binary(max_size=200).map(lambda b: b.replace(b"x", b"\n")),
       bom=st.booleans(), block=st.integers(1, 17), max_line=st.integers(4, 40))
def test_blocks_know_where_they_start(tmp_path_factory, data, bom, block, max_line):
    raw = (dialect.BOM if bom else b"") + data
    path = tmp_path_factory.mktemp("blocks") / "f.csv"
    path.write_bytes(raw)
    with dialect.open_regular(path) as fh:
        for b in dialect.iter_blocks(fh, strip_bom=bom, block_bytes=block,
                                     max_line_bytes=max_line):
            if b.data is not None:
                assert raw[b.start:b.start + len(b.data)] == b.data


# --------------------------------------------------------------------------- spool

def test_the_spool_is_written_as_a_compressed_raw_file(tmp_path):
    path = write_lines(tmp_path / "patients.csv",
                       [HEADER] + [";".join(patient(i)) for i in range(5)])
    spool = tmp_path / "spool"
    spool.mkdir()
    r = read_extract_file(path, PATIENTS, spool)
    meta = pq.ParquetFile(r.spool_path).metadata
    column = meta.row_group(0).column(1)
    assert column.compression == "LZ4"  # it becomes the run's raw file in the raw store
    assert not column.is_stats_set
    assert "PLAIN_DICTIONARY" not in column.encodings and "RLE_DICTIONARY" not in column.encodings
    assert r.loaded.rows() == read_extract_file(path, PATIENTS).loaded.rows()


# --------------------------------------------------------------------------- UTF-8 with a few bad lines

_LINE_BYTES = st.lists(st.sampled_from([0x41, 0x3B, 0x22, 0x80, 0x8F, 0x98, 0xA0, 0xBF, 0xC0,
                                        0xC2, 0xD0, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]),
                       max_size=8).map(bytes)
_UTF8_LINE = st.text(alphabet="aЖё;€\ufffd𝄞", max_size=6).map(lambda t: t.encode("utf-8"))


def _python_lines(lines: list[bytes]) -> tuple[list[str], list[bool]]:
    """Each line decoded alone: UTF-8, or when it is not valid UTF-8 Windows-1251 (undecodable)."""
    text, bad = [], []
    for line in lines:
        try:
            text.append(line.decode("utf-8"))
            bad.append(False)
        except UnicodeDecodeError:
            text.append(line.decode("cp1251", "replace"))
            bad.append(True)
    return text, bad


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.one_of(_LINE_BYTES, _UTF8_LINE), min_size=1, max_size=8),
       terminator=st.sampled_from([b"\n", b"\r\n", b"\r"]), final=st.booleans())
def test_utf8_stats_and_mixed_text_agree_with_python_on_every_path(lines, terminator, final):
    """utf8_line_stats expecting UTF-8 (bad lines found by halving; past FEW_HALVED_LINES the
    whole block decoded; and past FEW_UTF8_ERRORS the prefilter) and _utf8_mixed (few bad lines replaced in place; and past FEW_BAD_LINES the
    set-based groups) give what each line decoded alone gives."""
    data = terminator.join(lines) + (terminator if final else b"")
    if not final and not lines[-1]:
        lines = lines[:-1]  # nothing after the last terminator is no line
    expected_text, expected_bad = _python_lines(lines)
    results = []
    for few_errors, few_bad, halved in ((10_000, 1_000, 64), (10_000, 1_000, 0),
                                        (10_000, 1_000, 1), (0, 1_000, 0), (10_000, 0, 0),
                                        (0, 0, 0), (0, 0, 64)):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(dialect, "FEW_UTF8_ERRORS", few_errors)
            m.setattr(dialect, "FEW_BAD_LINES", few_bad)
            m.setattr(dialect, "FEW_HALVED_LINES", halved)
            stats = dialect.utf8_line_stats(data, expect_utf8=True)
            assert stats[1].tolist() == expected_bad
            assert stats[0].tolist() == [max(line, default=0) >= 0x80 for line in lines]
            if any(expected_bad):
                text, bad = dialect._utf8_mixed(data)
                assert bad.to_list() == expected_bad
                results.append(text.to_list())
    assert all(r == expected_text for r in results)


def test_a_utf8_file_with_a_few_windows_1251_lines(tmp_path, monkeypatch):
    """Read end to end: the Windows-1251 lines quarantined with their text shown as
    Windows-1251, the others loaded; the same with the paths for many bad lines."""
    lines = [HEADER.encode()] + [";".join(patient(i, last="Ёлкин")).encode("utf-8")
                                 for i in range(1, 8)]
    lines[3] = ";".join(patient(3, last="Ёлкин")).encode("cp1251")
    lines[6] = ";".join(patient(6, last="Щукин")).encode("cp1251")
    path = tmp_path / "patients.csv"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")
    r = read_extract_file(path, PATIENTS)
    assert r.encoding == "utf-8-sig"
    assert [q[:3] for q in r.quarantined.rows()] == [
        (4, "ROW.MALFORMED", "undecodable bytes in UTF-8"),
        (7, "ROW.MALFORMED", "undecodable bytes in UTF-8")]
    assert r.quarantined["raw_line"].to_list() == [";".join(patient(3, last="Ёлкин")),
                                                   ";".join(patient(6, last="Щукин"))]
    assert [row[0] for row in rows(r)] == [2, 3, 5, 6, 8]
    monkeypatch.setattr(dialect, "FEW_HALVED_LINES", 0)
    assert _summary(read_extract_file(path, PATIENTS)) == _summary(r)
    monkeypatch.setattr(dialect, "FEW_UTF8_ERRORS", 0)
    monkeypatch.setattr(dialect, "FEW_BAD_LINES", 0)
    assert _summary(read_extract_file(path, PATIENTS)) == _summary(r)


def test_invalid_lines_found_by_halving():
    good, bad = "строка;ok\n".encode(), "строка;bad\n".encode("cp1251")
    lines = [good] * 1000
    for i in (0, 1, 517, 998):
        lines[i] = bad
    lines.append("конец".encode()[:-1])  # the last line, without terminator, cut mid-letter
    data = b"".join(lines)
    offsets = dialect.line_offsets(data)
    assert dialect._invalid_lines(data, offsets, 64).tolist() == [0, 1, 517, 998, 1000]
    assert dialect._invalid_lines(data, offsets, 4) is None
    assert dialect._invalid_lines(good * 3, dialect.line_offsets(good * 3), 0).tolist() == []


# --------------------------------------------------------------------------- blocks free of bad characters

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1251"])
def test_free_of_bad_chars(encoding):
    def block(*lines: str) -> bytes:
        return "\r\n".join(lines).encode("cp1251" if encoding == "cp1251" else "utf-8")

    assert dialect.free_of_bad_chars(block("a;б\tв", "г;д", ""), encoding)
    assert dialect.free_of_bad_chars(b"a\rb\nc\r\n", encoding)
    for bad in ("\x00", "\x07", "\x0b", "\x0c", "\x1b", "\x1f"):
        assert not dialect.free_of_bad_chars(block("a;б", f"x{bad}y"), encoding), repr(bad)
    bom_inside = b"a;b\n" + dialect.BOM + b"c;d\n"
    # in Windows-1251 those bytes are three letters, in UTF-8 a byte order mark
    assert dialect.free_of_bad_chars(bom_inside, encoding) == (encoding == "cp1251")


@_SETTINGS
@given(table=st.lists(st.lists(st.text(alphabet="aЖ;\t\x00\x07\x1f\ufeff\x85", max_size=4),
                                min_size=7, max_size=7), min_size=1, max_size=12),
       encoding=st.sampled_from(["utf-8", "cp1251"]))
def test_lines_with_bad_characters_are_quarantined_whatever_the_block_test(
        tmp_path_factory, monkeypatch, table, encoding):
    """The block-level test only skips the per-line one when it cannot matter: the result is
    the one of testing every line."""
    if encoding == "cp1251":
        table = [[v.replace("\ufeff", "").replace("\x85", "") for v in r] for r in table]
    path = tmp_path_factory.mktemp("bad") / "patients.csv"
    write_lines(path, [HEADER] + [";".join(r) for r in table], encoding=encoding)
    new = read_extract_file(path, PATIENTS)
    with monkeypatch.context() as m:
        m.setattr(dialect, "free_of_bad_chars", lambda data, enc: False)
        old = read_extract_file(path, PATIENTS)
    assert _summary(new) == _summary(old)


def test_the_spool_dictionary_encodes_only_columns_of_few_values(tmp_path):
    # 400 patients: one surname, ten birth dates, an id and a SNILS each
    lines = [HEADER] + [";".join(patient(i, birth_date=f"{1 + i % 10:02d}.02.1980",
                                         snils=f"{i:011d}")) for i in range(400)]
    path = write_lines(tmp_path / "patients.csv", lines)
    spool = tmp_path / "spool"
    spool.mkdir()
    r = read_extract_file(path, PATIENTS, spool)
    group = pq.ParquetFile(r.spool_path).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings
                 for i in range(group.num_columns)}
    dictionary = {c for c, e in encodings.items() if "RLE_DICTIONARY" in e}
    assert {"last_name", "birth_date", "sex"} <= dictionary
    assert not {"line_no", "patient_id", "snils"} & dictionary
    assert group.column(1).compression == "LZ4"
    assert r.loaded.rows() == read_extract_file(path, PATIENTS).loaded.rows()
    assert reader._dictionary_columns(pl.DataFrame(schema={"a": pl.String})) == []
