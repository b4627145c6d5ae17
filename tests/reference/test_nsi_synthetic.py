"""F003 loading, record-level errors and the validity/exclusion rules on small synthetic files."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from flows.errors import InputError
from flows.reference import (excluded_codes, load_classifier, registry_status, valid_codes,
                             valid_on)
from flows.reference.nsi import BY_KEY
from nsi_helpers import DECL, f003_text, f008_zap, medcompany, zap_text

D = date(2026, 11, 25)


def _load_f003(write, *companies):
    return load_classifier(write("F003.xml", f003_text(*companies)), "f003")[0]


def test_f003_rows_per_period(write):
    df = _load_f003(
        write,
        medcompany("500101", [("01.01.2015", None)], e_mail="gp1@mz.ru"),
        medcompany("500102", [("01.01.2010", "31.12.2014"), ("01.01.2016", "")]),
        medcompany("500103", [], e_mail=None),
    )
    assert df.schema == pl.Schema(BY_KEY["f003"].schema)
    assert df.rows() == [
        ("500101", "46000", "ГБУЗ Поликлиника", "gp1@mz.ru", date(2015, 1, 1), None),
        ("500102", "46000", "ГБУЗ Поликлиника", "mo@example.ru", date(2010, 1, 1),
         date(2014, 12, 31)),
        ("500102", "46000", "ГБУЗ Поликлиника", "mo@example.ru", date(2016, 1, 1), None),
        ("500103", "46000", "ГБУЗ Поликлиника", None, None, None),  # no medInclude at all
    ]


def test_exact_text_only_xml_space_stripped(write):
    """XML white space around text goes; inner spaces, NBSP and leading zeros stay."""
    df = _load_f003(write, medcompany("\n   050010\t ", [("01.01.2015", None)],
                                      name="ГБУЗ  «Поликлиника №1»\u00a0", e_mail=""))
    row = df.row(0, named=True)
    assert row["mcod"] == "050010"
    assert row["name"] == "ГБУЗ  «Поликлиника №1»\u00a0"
    assert row["e_mail"] == ""  # empty element: empty string, absent element: null


@pytest.mark.parametrize(("periods", "excluded"), [
    ([("01.01.2015", "24.11.2026")], True),                           # ended the day before D
    ([("01.01.2010", "31.12.2012"), ("01.01.2014", "01.06.2020")], True),  # all ended
    ([], True),                                                       # no period: vacuously
    ([("01.01.2015", "25.11.2026")], False),                          # ends on D: still in
    ([("01.01.2015", None)], False),                                  # open
    ([("01.01.2010", "31.12.2012"), ("01.01.2014", None)], False),    # one ended, one open
    ([("01.12.2026", None)], False),                                  # starts after D: not ended
])
def test_excluded_rule(write, periods, excluded):
    df = _load_f003(write, medcompany("500201", periods),
                    medcompany("500999", [("01.01.2011", "")]))
    assert excluded_codes(df, "mcod", D) == ({"500201"} if excluded else set())
    status = dict(registry_status(df, "mcod", D).rows())
    assert status == {"500201": excluded, "500999": False}


def test_valid_on_boundaries(write):
    df = load_classifier(write("F008.xml", zap_text(
        f008_zap("1", "01.01.2011", "31.12.2020") + f008_zap("1", "01.01.2022", "")
        + f008_zap("7", "26.11.2026", ""))), "f008")[0]
    assert valid_codes(df, "iddoc", date(2011, 1, 1)) == {"1"}        # begin inclusive
    assert valid_codes(df, "iddoc", date(2020, 12, 31)) == {"1"}      # end inclusive
    assert valid_codes(df, "iddoc", date(2021, 6, 1)) == set()        # gap between versions
    assert valid_codes(df, "iddoc", date(2010, 12, 31)) == set()
    assert valid_codes(df, "iddoc", D) == {"1"}                        # 7 begins tomorrow
    assert valid_codes(df, "iddoc", date(2026, 11, 26)) == {"1", "7"}
    assert valid_on(df, date(2025, 1, 1))["date_begin"].to_list() == [date(2022, 1, 1)]


@pytest.mark.parametrize(("company", "message"), [
    (medcompany("500002", [("31.02.2020", None)]),
     "medCompany #2 (mcod 500002): d_begin '31.02.2020' is not DD.MM.YYYY"),
    (medcompany("500002", [("01.01.2020", "1.2.2021")]),
     "medCompany #2 (mcod 500002): d_end '1.2.2021' is not DD.MM.YYYY"),
    (medcompany("500002", [("01.01.2010", "31.12.2012"), ("2014-01-01", None)]),
     "medCompany #2 (mcod 500002) medInclude #2: d_begin '2014-01-01' is not DD.MM.YYYY"),
    (medcompany("500002", [("", None)]), "medCompany #2 (mcod 500002): d_begin is empty"),
    (medcompany("500002", [("X", None)]).replace("<d_begin>X</d_begin>", ""),
     "medCompany #2 (mcod 500002): missing required element <d_begin>"),
    (medcompany("", [("01.01.2020", None)]), "medCompany #2: element <mcod> is empty"),
    (medcompany("500002", []).replace("<mcod>500002</mcod>", ""),
     "medCompany #2: missing required element <mcod>"),
    (medcompany("500002", []).replace("<nam_mok>ГБУЗ Поликлиника</nam_mok>", ""),
     "medCompany #2 (mcod 500002): missing required element <nam_mok>"),
    (medcompany("500002", []).replace("<mcod>500002</mcod>", "<mcod>500002</mcod><mcod>7</mcod>"),
     "medCompany #2: element <mcod> occurs 2 times, expected once"),
])
def test_record_errors_name_file_and_record(write, company, message):
    path = write("F003.xml", f003_text(medcompany("500001", [("01.01.2015", None)]), company))
    with pytest.raises(InputError) as err:
        load_classifier(path, "f003")
    assert str(err.value) == f"{path}: {message}"


def test_valid_file_of_same_shape_loads(write):
    """The passing twin of the record errors above."""
    path = write("F003.xml", f003_text(medcompany("500001", [("01.01.2015", None)]),
                                       medcompany("500002", [("29.02.2020", "31.12.2099")])))
    assert load_classifier(path, "f003")[0]["mcod"].to_list() == ["500001", "500002"]


def test_zap_missing_datebeg_and_bad_dateend(write):
    path = write("V021.xml", zap_text("<zap><IDSPEC>9</IDSPEC><SPECNAME>x</SPECNAME></zap>"))
    with pytest.raises(InputError, match=r"zap #1 \(IDSPEC 9\): missing required element "
                                         r"<DATEBEG>"):
        load_classifier(path, "v021")
    path = write("F008.xml", zap_text(f008_zap("1") + f008_zap("2", end="31.12.20")))
    with pytest.raises(InputError, match=r"zap #2 \(IDDOC 2\): DATEEND '31.12.20' is not"):
        load_classifier(path, "f008")


def test_structure_errors(write):
    path = write("F008.xml", DECL + "<root><zap/></root>")
    with pytest.raises(InputError, match="root element is <root>, expected <packet>"):
        load_classifier(path, "f008")
    path = write("F008.xml", zap_text(""))
    with pytest.raises(InputError, match="contains no <zap> records"):
        load_classifier(path, "f008")
    path = write("F003.xml", f003_text(medcompany("500001", [("01.01.2015", None)])))
    with pytest.raises(InputError, match="contains no <insCompany> records"):
        load_classifier(path, "f002")  # an F003 passed where F002 is expected
