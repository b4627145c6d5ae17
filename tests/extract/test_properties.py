"""Property tests: tables written by Python's csv module in every dialect read back exactly;
line cutting and UTF-8 validation agree with plain Python on arbitrary bytes."""
from __future__ import annotations

import csv
import io
import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flows.extract import dialect
from flows.extract.contract import PATIENTS
from flows.extract.reader import read_extract_file

_CP1251_CHARS = st.one_of(
    st.sampled_from(list(';,"\' \t') + ["''", '""']),
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.characters(min_codepoint=0x410, max_codepoint=0x44F),
    st.sampled_from(list("ЁёЇї№€«»—…")),
)
_UTF8_CHARS = st.one_of(_CP1251_CHARS, st.sampled_from(list("é中😀\ufffd\u00a0")))
_SETTINGS = settings(max_examples=50, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.filter_too_much])


def _decided(data: bytes, bom: bool) -> str:
    """The encoding rule, written per line in plain Python as an oracle."""
    if bom:
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    ok = bad = 0
    for line in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        if max(line, default=0) < 0x80:
            continue
        try:
            line.decode("utf-8")
            ok += 1
        except UnicodeDecodeError:
            bad += 1
    return "utf-8" if ok > bad else "cp1251"


@st.composite
def _tables(draw):
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1251"]))
    value = st.lists(_CP1251_CHARS if encoding == "cp1251" else _UTF8_CHARS,
                     max_size=8).map("".join)
    width = len(PATIENTS.columns)
    return encoding, draw(st.lists(st.lists(value, min_size=width, max_size=width),
                                   max_size=12))


@_SETTINGS
@given(
    encoded_table=_tables(),
    delimiter=st.sampled_from([";", ","]),
    terminator=st.sampled_from(["\r\n", "\n", "\r"]),
    extra=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_csv_module_output_round_trips(tmp_path_factory, encoded_table, delimiter,
                                       terminator, extra, seed):
    encoding, table = encoded_table
    columns = list(PATIENTS.columns)
    random.Random(seed).shuffle(columns)
    header = columns + (["note"] if extra else [])
    records = []
    for i, values in enumerate(table):
        row = dict(zip(PATIENTS.columns, values))
        row["patient_id"] = f"{i}#{row['patient_id']}"  # unique ids: no duplicates
        records.append(row)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=terminator,
                        quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in records:
        writer.writerow([row[c] for c in columns] + (["n;,\""] if extra else []))
    data = buf.getvalue().encode(encoding)
    expected_encoding = _decided(data, encoding == "utf-8-sig")
    # cp1251 bytes that happen to be valid UTF-8 are read as UTF-8 (the documented rule)
    assume(expected_encoding.startswith("utf-8") == encoding.startswith("utf-8"))

    path = tmp_path_factory.mktemp("rt") / "patients.csv"
    path.write_bytes(data)
    r = read_extract_file(path, PATIENTS)
    assert r.encoding == expected_encoding
    assert r.delimiter == delimiter
    assert r.quarantined.height == 0 and r.blank_lines == 0
    assert r.loaded.to_dicts() == [{"line_no": i + 2, **row} for i, row in enumerate(records)]
    assert r.ignored_columns == (["note"] if extra else [])


@_SETTINGS
@given(
    lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                   max_size=10),
    terminators=st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=10, max_size=10),
    final=st.booleans(),
    block=st.integers(1, 9),
)
def test_blocks_cut_lines_like_python(tmp_path_factory, lines, terminators, final, block):
    data = b"".join(line + terminators[i] for i, line in enumerate(lines))
    if lines and not final:
        data = data[: -len(terminators[len(lines) - 1])]
    expected = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if data.endswith((b"\n", b"\r")) or not data:
        expected = expected[:-1]
    path = tmp_path_factory.mktemp("blk") / "f.csv"
    path.write_bytes(data)
    got = []
    with dialect.open_regular(path) as fh:
        for b in dialect.iter_blocks(fh, strip_bom=False, block_bytes=block, max_line_bytes=10**6):
            text = b.data.decode("latin-1").encode("utf-8")
            got.extend(x.encode("latin-1") for x in dialect.split_lines(text).to_list())
    assert got == expected


_BYTES = st.lists(st.sampled_from([0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xA8, 0xBF, 0xC0,
                                    0xC2, 0xD0, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]),
                   max_size=8).map(bytes)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_BYTES, min_size=1, max_size=6),
       terminator=st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_utf8_line_stats_agree_with_python(lines, terminator):
    non_ascii, bad = dialect.utf8_line_stats(terminator.join(lines) + terminator)
    assert len(bad) == len(lines)
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        assert bool(bad[i]) == (not valid), line
        assert bool(non_ascii[i]) == (max(line, default=0) >= 0x80)
