"""PAT.SNILS.FORMAT and PAT.SNILS.CHECKSUM read the accepted form off the staged snils_digits
(non-null exactly on identifiers.snils_form_ok) instead of matching the pattern again: on
every spelling below, their verdicts are those of the pattern itself."""
from __future__ import annotations

import polars as pl

from checks.identifiers import snils_form_ok
from tests.checks.test_row_rules import row_findings

SPELLINGS = [
    "", " ", "11223344595", "112-233-445 95", "112-233-445-95", "112 233 445 95",
    "112-233-44595", "112233-445 95", "1122334459", "112233445950", "112-233-445 96",
    "001-001-998 64", "642-185-924 00", "112-233-445  95", "112-233-445_95", " 11223344595",
    "11223344595 ", "1122334459O", "١١٢٢٣٣٤٤٥٩٥", "112-233-445 9", "000-000-000 00",
]


def test_snils_form_and_checksum_follow_the_pattern():
    rows = [{"patient_id": f"P{i}", "snils": s} for i, s in enumerate(SPELLINGS)]
    found = row_findings(patients=rows)
    form = pl.Series(SPELLINGS).to_frame("s").select(snils_form_ok(pl.col("s")))["s"].to_list()
    for i, (spelling, accepted) in enumerate(zip(SPELLINGS, form)):
        codes = set(found.filter(pl.col("record_id") == f"P{i}")["check_code"])
        assert ("PAT.SNILS.FORMAT" in codes) == (spelling != "" and not accepted), spelling
        if not accepted:
            assert "PAT.SNILS.CHECKSUM" not in codes, spelling
    # the accepted spellings with a wrong check number are the CHECKSUM findings
    checksum = set(found.filter(pl.col("check_code") == "PAT.SNILS.CHECKSUM")["record_id"])
    assert checksum == {f"P{SPELLINGS.index(s)}" for s in
                        ("112-233-445 96", "001-001-998 64", "000-000-000 00")}
