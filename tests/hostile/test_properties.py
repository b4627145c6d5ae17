"""Property tests for the one dialect tests/extract/test_properties.py leaves out: every field
quoted (how slots.csv is written), quoted header included, with or without a final line end.
The other dialects (encodings, delimiters, line ends, minimal quoting, extra and shuffled
columns) and the SNILS/ENP properties are covered in tests/extract and tests/checks."""
from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.extract.contract import SLOTS
from flows.extract.reader import read_extract_file

_CHARS = st.one_of(
    st.sampled_from(list(';,"\' \t') + ['""', '","', '";"']),
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.characters(min_codepoint=0x410, max_codepoint=0x44F),
)
_VALUE = st.lists(_CHARS, max_size=6).map("".join)
_ROW = st.lists(_VALUE, min_size=len(SLOTS.columns), max_size=len(SLOTS.columns))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=st.lists(_ROW, max_size=10), encoding=st.sampled_from(["utf-8", "utf-8-sig"]),
       delimiter=st.sampled_from([";", ","]), terminator=st.sampled_from(["\r\n", "\n", "\r"]),
       final=st.booleans())
def test_every_field_quoted_round_trips(tmp_path_factory, table, encoding, delimiter,
                                        terminator, final):
    rows = [[f"{i}|{r[0]}", *r[1:]] for i, r in enumerate(table)]  # unique ids
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=terminator,
                        quoting=csv.QUOTE_ALL)
    writer.writerow(SLOTS.columns)
    writer.writerows(rows)
    text = buf.getvalue()
    if not final:
        text = text[: -len(terminator)]
    path = tmp_path_factory.mktemp("qa") / "slots.csv"
    path.write_bytes(text.encode(encoding))
    r = read_extract_file(path, SLOTS)
    assert (r.delimiter, r.encoding) == (delimiter, encoding)
    assert r.quarantined.height == 0 and r.blank_lines == 0
    assert r.loaded.drop("line_no").rows() == [tuple(row) for row in rows]
    assert r.loaded["line_no"].to_list() == list(range(2, len(rows) + 2))
