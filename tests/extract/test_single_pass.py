"""One pass per CSV file: the encoding decided while the file is decoded (dialect.DecodedFile)
gives what detect_encoding decides on the whole file, and the fast path for fully quoted lines
gives what the quoting grammar gives."""
from __future__ import annotations

import csv
import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.extract import dialect, reader
from flows.extract.contract import PATIENTS, SLOTS
from flows.extract.reader import read_extract_file

from .helpers import HEADER, patient, write_lines

_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


def _summary(r: reader.ReadResult) -> tuple:
    return (r.encoding, r.delimiter, r.rows_read, r.blank_lines, r.ignored_columns, r.warnings,
            r.sha256, r.loaded.rows(), r.quarantined.rows())


def _read_into(path, spec=PATIENTS, known=None) -> reader.ReadResult:
    return reader._read_csv_into(path, spec, reader._Sink(spec, None), known)


def _read_retrying(path, spec=PATIENTS) -> reader.ReadResult:
    """What _read_csv does when the end of a file overturns its start's encoding."""
    try:
        return _read_into(path, spec)
    except dialect.EncodingChanged as changed:
        return _read_into(path, spec, changed.decision)


def _reference(path, spec=PATIENTS) -> reader.ReadResult:
    """The file read in the encoding detect_encoding decides on the whole file (as before)."""
    return _read_into(path, spec, dialect.detect_encoding(path))


def _decoded(path, known=None) -> tuple[dialect.EncodingDecision, list]:
    d = dialect.DecodedFile(path, known=known)
    lines = [None if frame is None else frame.rows() for _, frame in d]
    return d.decision, lines


def _reference_lines(path) -> tuple[dialect.EncodingDecision, list]:
    decision = dialect.detect_encoding(path)
    with dialect.open_regular(path) as fh:
        blocks = list(dialect.iter_blocks(fh, strip_bom=decision.encoding == dialect.UTF8_SIG))
    return decision, [None if b.data is None else dialect.decode_lines(b.data, decision.encoding)
                      .rows() for b in blocks]


@pytest.fixture
def tiny(monkeypatch):
    """Blocks of a line or so, and an encoding guessed from the first ~40 bytes."""
    monkeypatch.setattr(dialect, "BLOCK_BYTES", 16)
    monkeypatch.setattr(dialect, "GUESS_BYTES", 40)
    monkeypatch.setattr(dialect, "MAX_LINE_BYTES", 200)
    monkeypatch.setattr(dialect, "_HEAD_BYTES", 20)


# --------------------------------------------------------------------------- encoding

_LINES = st.lists(st.one_of(
    st.sampled_from(["plain ascii", "", "Иванов", "Пётр;Ёж", "中文", "\ufffd", "x\x98y"]),
    st.text(alphabet=st.sampled_from(list("ab;\"ЖжЁё№é\u00a0")), max_size=12)),
    max_size=14)


@_SETTINGS
@given(lines=_LINES, encodings=st.lists(st.sampled_from(["utf-8", "cp1251"]), min_size=14,
                                        max_size=14),
       bom=st.booleans(), long_line=st.booleans(), sep=st.sampled_from(["\n", "\r\n", "\r"]))
def test_decoded_file_decides_as_detect_encoding(tmp_path, tiny, lines, encodings, bom,
                                                 long_line, sep):
    data = [line.encode(enc, "replace") if enc == "cp1251" else line.encode(enc)
            for line, enc in zip(lines, encodings)]
    if long_line:  # overlong lines take no part in the decision
        data.insert(len(data) // 2, "Ж".encode("cp1251") * 300)
    path = tmp_path / "f.csv"
    path.write_bytes((dialect.BOM if bom else b"") + sep.encode().join(data))
    expected = _reference_lines(path)
    try:
        got = _decoded(path)
    except dialect.EncodingChanged as changed:
        assert changed.decision == expected[0]
        assert not bom and len(path.read_bytes()) > dialect.GUESS_BYTES  # else decided at once
        got = _decoded(path, known=changed.decision)
    assert got == expected


def _mixed(tmp_path, first: str, first_n: int, then: str, then_n: int):
    lines = [HEADER] + [";".join(patient(i, "Жуков")) for i in range(1, first_n + then_n + 1)]
    data = [line.encode(first if i <= first_n else then) for i, line in enumerate(lines)]
    path = tmp_path / "patients.csv"
    path.write_bytes(b"\n".join(data) + b"\n")
    return path


@pytest.mark.parametrize("first, then, n_first, n_then, guessed, final", [
    ("utf-8", "cp1251", 2, 5, "utf-8", "cp1251"),   # Windows-1251 lines all come late
    ("cp1251", "utf-8", 2, 5, "cp1251", "utf-8"),   # and the other way round
    ("utf-8", "cp1251", 5, 2, "utf-8", "utf-8"),    # a late minority: no second reading
    ("cp1251", "utf-8", 5, 2, "cp1251", "cp1251"),
])
def test_a_late_block_overturns_the_guess(tmp_path, monkeypatch, first, then, n_first, n_then,
                                          guessed, final):
    monkeypatch.setattr(dialect, "BLOCK_BYTES", 16)
    path = _mixed(tmp_path, first, n_first, then, n_then)
    monkeypatch.setattr(dialect, "GUESS_BYTES", len(path.read_bytes()) // 3)
    decided = dialect.detect_encoding(path)
    assert decided.encoding == final
    decoded = dialect.DecodedFile(path)
    assert decoded.encoding == guessed
    if guessed != final:
        with pytest.raises(dialect.EncodingChanged) as changed:
            list(decoded)
        assert changed.value.decision == decided
        result = _read_retrying(path)
    else:
        list(decoded)
        assert decoded.decision == decided and decoded.note == decided.note is not None
        result = _read_into(path)
    assert _summary(result) == _summary(_reference(path))
    assert any(decided.note in w for w in result.warnings)


def test_a_file_smaller_than_the_guess_is_decided_on_opening(tmp_path):
    path = _mixed(tmp_path, "utf-8", 5, "cp1251", 6)
    decoded = dialect.DecodedFile(path)
    assert decoded.decision == dialect.detect_encoding(path)
    assert decoded.encoding == "cp1251" and decoded.note.startswith("read as Windows-1251")
    assert _summary(_read_into(path)) == _summary(_reference(path))


def test_utf16_and_bom_are_decided_from_the_first_bytes(tmp_path):
    path = tmp_path / "patients.csv"
    path.write_bytes((HEADER + "\n").encode("utf-16"))
    with pytest.raises(reader.InputError, match="UTF-16"):
        dialect.DecodedFile(path)
    path.write_bytes(dialect.BOM + (HEADER + "\n" + ";".join(patient(1)) + "\n").encode())
    assert dialect.DecodedFile(path).decision == dialect.EncodingDecision("utf-8-sig")
    assert _summary(_read_into(path)) == _summary(_reference(path))


def test_read_extract_file_reads_again_when_the_encoding_is_overturned(tmp_path, monkeypatch):
    monkeypatch.setattr(dialect, "BLOCK_BYTES", 16)
    path = _mixed(tmp_path, "utf-8", 2, "cp1251", 5)
    monkeypatch.setattr(dialect, "GUESS_BYTES", 40)
    assert _summary(read_extract_file(path, PATIENTS)) == _summary(_reference(path))
    spool = tmp_path / "spool"  # the rows of the first reading leave the spool file
    spool.mkdir()
    spooled = read_extract_file(path, PATIENTS, spool)
    assert spooled.spool_path.is_file() and _summary(spooled) == _summary(_reference(path))


# --------------------------------------------------------------------------- fully quoted lines

def _general_only(monkeypatch):
    """Turn the fast path off: its pattern then matches no line."""
    monkeypatch.setattr(dialect.Grammar, "fully_quoted", lambda self, n: r"[^\s\S]")


def _both_paths(path, monkeypatch, spec=PATIENTS):
    fast = _summary(_read_into(path, spec))
    with monkeypatch.context() as m:
        _general_only(m)
        general = _summary(_read_into(path, spec))
    assert fast == general
    return fast


def _q(values, d=";") -> str:
    return d.join('"' + v.replace('"', '""') + '"' for v in values)


@pytest.mark.parametrize("d", [";", ","])
def test_fully_quoted_edge_cases_read_as_by_the_grammar(tmp_path, monkeypatch, d):
    header = _q(PATIENTS.columns, d)
    lines = [
        header,
        _q(patient(1), d),                                    # the fast path
        _q(patient(2, 'Пе"тров'), d),                         # doubled quotes: the grammar
        _q(patient(3, ""), d),                                # an empty quoted field
        _q(patient(4, f"a{d}b"), d),                          # the delimiter inside quotes
        _q(patient(5), d)[:-1],                               # missing closing quote
        _q(patient(6), d) + "x",                              # text after the closing quote
        _q(patient(7), d) + d + '""',                         # one field too many
        _q(patient(8)[:-1], d),                               # one field too few
        d.join(patient(9)),                                   # unquoted
        _q(patient(10, f'"{d}"'), d),                         # a quoted "D" inside a value
        '""',                                                 # one empty field
        _q(patient(11), d).replace(f'"{d}"', f'"{d} "', 1),  # a space before a quote
        _q(patient(12, "\t"), d),                             # a TAB value
        _q(patient(1, "dup"), d),                             # a duplicate id
    ]
    path = write_lines(tmp_path / "patients.csv", lines, sep="\r\n")
    encoding, _, rows_read, *_, loaded, quarantined = _both_paths(path, monkeypatch)
    assert rows_read == len(lines) - 1
    by_line = {row[0]: row for row in loaded}
    assert by_line[2][2] == "Иванов" and by_line[3][2] == 'Пе"тров' and by_line[4][2] == ""
    assert by_line[5][2] == f"a{d}b" and by_line[11][2] == f'"{d}"'
    assert by_line[14][2] == "\t" and by_line[10][1] == "9"
    details = {row[0]: row[2] for row in quarantined}
    assert details == {6: "unclosed quote", 7: "text after closing quote",
                       8: "expected 7 fields, found 8", 9: "expected 7 fields, found 6",
                       12: "expected 7 fields, found 1", 13: "quote inside an unquoted field",
                       15: "patient_id already on line 2"}


def test_fully_quoted_block_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(dialect, "BLOCK_BYTES", 7)
    lines = [_q(SLOTS.columns, ",")] + [
        _q([f"{i}", "1", "2", "", "a,b", "active", "x", "y", "z", "free", "" if i % 3 else 'q"q',
            "w"], ",") for i in range(1, 30)]
    lines[7] = lines[7][:-1]
    path = write_lines(tmp_path / "slots.csv", lines)
    _both_paths(path, monkeypatch, SLOTS)


_VALUES = st.text(alphabet=st.sampled_from(list(';,"\' \tabЖ')), max_size=6)


@_SETTINGS
@given(table=st.lists(st.lists(_VALUES, min_size=7, max_size=7), max_size=10),
       d=st.sampled_from([";", ","]), seed=st.integers(0, 2 ** 16))
def test_quote_all_tables_read_the_same_on_both_paths(tmp_path, monkeypatch, table, d, seed):
    out = io.StringIO()
    csv.writer(out, delimiter=d, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(
        [list(PATIENTS.columns)] + [[str(i), *row[1:]] for i, row in enumerate(table)])
    lines = out.getvalue().split("\n")
    rng = random.Random(seed)
    for i in range(1, len(lines) - 1):  # damage some lines
        kind = rng.randrange(6)
        if kind == 0:
            lines[i] = lines[i][:-1]
        elif kind == 1:
            lines[i] += d + '"x"'
        elif kind == 2:
            lines[i] = lines[i].replace(f'"{d}"', f'"x{d}"', 1)
    path = tmp_path / "patients.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    fast = _both_paths(path, monkeypatch)
    assert fast[2] == len(fast[7]) + len(fast[8])  # rows read = loaded + quarantined
