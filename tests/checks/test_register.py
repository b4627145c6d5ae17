"""Register reconciliation (catalogue v1.2, checks/register.py and checks/sql/REG.*.sql): the
SQL macros (norm, dl1, near dates), each linking tier with its uniqueness rule, each REG code
on violating and passing data, suggested values and the v1.2 routing.

The MIS side is built as in test_set_rules (World: typed TEMP stg_* tables from strict
mini-parsers); the register goes in as raw text rows (raw_registry) and is staged by Talon, as
in a run.
"""
from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
import pytest

from checks import findings as findings_mod
from checks import register, staging
from checks.set_rules import render_sql
from checks.staging import REGISTER_COLUMNS, STAGED_COLUMNS
from flows.extract.contract import PATIENTS, REGISTRY
from flows.warehouse import ensure_schema
from tests.checks.test_set_rules import AS_OF, RUN, World, con  # noqa: F401  (fixture)

D = AS_OF.date()  # 2025-03-10


def enp(n: int) -> str:
    """A valid ENP: 15 digits from n plus the Luhn check digit."""
    body = f"{n:015d}"
    total = 0
    for i, ch in enumerate(reversed(body)):  # the check digit will be position 0
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def snils(n: int, dashed: bool = True) -> str:
    """A valid SNILS with body 100_000_000 + n (checksum per the Pension Fund's rule)."""
    body = f"{100_000_000 + n:09d}"
    s = sum(int(body[i]) * (9 - i) for i in range(9))
    check = s if s < 100 else (0 if s in (100, 101) else s % 101 % 100)
    digits = body + f"{check:02d}"
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:]}" if dashed else digits


def test_helpers_make_valid_identifiers():
    from checks.identifiers import enp_valid, snils_valid

    frame = pl.DataFrame({"e": [enp(i) for i in range(1, 30)],
                          "s": [snils(i) for i in range(1, 30)]})
    assert frame.select(enp_valid(pl.col("e")).all()).item()
    assert frame.select(snils_valid(pl.col("s")).all()).item()


PERSON = {"enp": "", "last_name": "ИВАНОВ", "first_name": "ИВАН", "middle_name": "ИВАНОВИЧ",
          "birth_date": "05.05.1980", "sex": "1", "snils": "", "smo_code": "45001",
          "policy_begin": "01.01.2015", "policy_end": "", "death_date": "",
          "attach_mo_code": "4501001", "attach_date": "01.01.2021"}


class Reg:
    """A World plus the register: raw_patients and raw_registry rows of the run."""

    def __init__(self):
        self.world = World()
        self.persons: list[dict] = []

    def patient(self, pid: str, **kw) -> Reg:
        kw.setdefault("last_name", "Иванов")
        kw.setdefault("middle_name", "Иванович")
        self.world.patient(pid, **kw)
        return self

    def person(self, enp_text: str, **kw) -> Reg:
        self.persons.append(PERSON | {"enp": enp_text} | kw)
        return self

    def policy(self, pol_id, pid, **kw) -> Reg:
        self.world.policy(pol_id, pid, **kw)
        return self

    def attachment(self, att_id, pid, **kw) -> Reg:
        self.world.attachment(att_id, pid, **kw)
        return self

    def load(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        ensure_schema(con)
        self.world.load(con)
        # stg_patients as a run with a register stages it: with names, as written and normed
        columns = STAGED_COLUMNS["patients"] + REGISTER_COLUMNS["patients"]
        patients = staging.with_name_norms(pl.DataFrame(
            self.world.patients, schema={**{c: pl.Utf8 for c in PATIENTS.columns},
                                         "birth_date_d": pl.Date, "snils_digits": pl.Utf8,
                                         "snils_valid": pl.Boolean})).select(columns)
        con.register("_src", patients.to_arrow())
        con.execute("CREATE OR REPLACE TEMP TABLE stg_patients AS SELECT * FROM _src")
        con.unregister("_src")
        raw_p = pl.DataFrame([{"run_id": RUN, "line_no": i + 2,
                               **{c: r[c] for c in PATIENTS.columns}}
                              for i, r in enumerate(self.world.patients)],
                             schema={"run_id": pl.Utf8, "line_no": pl.Int64,
                                     **{c: pl.Utf8 for c in PATIENTS.columns}})
        raw_r = pl.DataFrame([{"run_id": RUN, "line_no": i + 2, **p}
                              for i, p in enumerate(self.persons)],
                             schema={"run_id": pl.Utf8, "line_no": pl.Int64,
                                     **{c: pl.Utf8 for c in REGISTRY.columns}})
        for table, frame in (("raw_patients", raw_p), ("raw_registry", raw_r)):
            con.register("_src", frame.to_arrow())
            con.execute(f"INSERT INTO {table} SELECT * FROM _src")
            con.unregister("_src")
        con.execute("INSERT INTO run_files (run_id, file_name, entity, format, size_bytes, "
                    "sha256) VALUES (?, 'registry.csv', 'insured', 'csv', 0, '')", [RUN])
        return con


def links(con, reg: Reg) -> dict[str, tuple[str, int]]:
    reg.load(con)
    register.link_patients(con, RUN, AS_OF)
    return {p: (e, t) for p, e, t in con.execute(
        "SELECT patient_id, enp, tier FROM reg_links WHERE run_id = ?", [RUN]).fetchall()}


def reg_findings(con, reg: Reg, earlier: list[tuple[str, str]] = ()) -> pl.DataFrame:
    reg.load(con)
    found = register.check_register(con, RUN, AS_OF, pl.DataFrame(
        list(earlier), schema={"check_code": pl.Utf8, "record_id": pl.Utf8}, orient="row"))
    return found


def ids(found: pl.DataFrame, code: str) -> set[str]:
    return set(found.filter(pl.col("check_code") == code)["record_id"].to_list())


# --- the macros ------------------------------------------------------------------------------

@pytest.fixture
def sql(con):
    register.install_macros(con)

    def run(expr: str, *args):
        return con.execute(f"SELECT {expr}", list(args)).fetchall()[0][0]
    return run


@pytest.mark.parametrize("text, normed", [
    ("Ёлкина", "ЕЛКИНА"),
    ("ёЛКИНА", "ЕЛКИНА"),
    ("  Анна   Мария  ", "АННА МАРИЯ"),
    ("Римский - Корсаков", "РИМСКИЙ-КОРСАКОВ"),
    ("Римский  -Корсаков", "РИМСКИЙ-КОРСАКОВ"),
    ("Римский-   Корсаков", "РИМСКИЙ-КОРСАКОВ"),
    ("Ан\u00a0на", "АН\u00a0НА"),  # a no-break space is not a space of norm()
    ("\tАнна", "\tАННА"),  # nor is a tab: not trimmed
    ("Aнна", "AННА"),  # Latin A is not mapped to Cyrillic
    ("", ""),
    ("  ", ""),
    ("Анна -  - Мария", "АННА--МАРИЯ"),
])
def test_norm(text, normed):
    frame = pl.DataFrame({"name": [text]}, schema={"name": pl.Utf8})
    assert frame.select(register.norm_name(pl.col("name"))).item() == normed


@pytest.mark.parametrize("a, b, near", [
    ("ИВАНОВ", "ИВАНОВ", True),
    ("ИВАНОВ", "ИВАНОВА", True),  # insertion
    ("ИВАНОВА", "ИВАНОВ", True),  # deletion
    ("ИВАНОВ", "ИВАНЕВ", True),  # substitution (one Cyrillic letter = one character)
    ("ИВАНОВ", "ИВАНВО", True),  # adjacent swap
    ("ИВАНОВ", "ИВНАВО", False),  # two swaps
    ("ИВАНОВ", "ОВАНИВ", False),  # non-adjacent swap = two edits
    ("ИВАНОВ", "ИВАНОВСКИЙ", False),
    ("", "А", True),
    ("", "АБ", False),
])
def test_dl1(sql, a, b, near):
    assert sql("talon_dl1(?, ?)", a, b) is near


@pytest.mark.parametrize("a, b, near", [
    ("1980-05-06", "1980-06-05", True),  # day and month exchanged
    ("1980-12-01", "1980-01-12", True),
    ("1980-05-06", "1980-05-07", True),  # one substitution in the text
    ("1980-01-01", "1908-01-01", True),  # adjacent swap in the year
    ("1980-05-16", "1980-05-61", None),  # not a date: cannot be compared
    ("1980-05-06", "1981-05-07", False),  # two edits
    ("1980-05-06", "1980-05-06", False),  # the same date is not a near date
    ("1980-05-05", "1980-05-05", False),
    ("1980-03-10", "1980-10-03", True),
    ("1980-03-10", "1981-10-03", False),  # exchanged but another year
])
def test_near_dates(sql, a, b, near):
    if near is None:
        with pytest.raises(duckdb.Error):
            sql("talon_near_dates(CAST(? AS DATE), CAST(? AS DATE))", a, b)
        return
    assert sql("talon_near_dates(CAST(? AS DATE), CAST(? AS DATE))", a, b) is near


# --- tiers -----------------------------------------------------------------------------------

def test_tier1_policy_order_active_then_latest_begin_then_smallest_id(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg().patient("P1").patient("P2").patient("P3").patient("P4")
           .person(e[1]).person(e[2]).person(e[3]).person(e[4]).person(e[5]).person(e[6]))
    # P1: the inactive policy begins later, the active one wins
    reg.policy("A1", "P1", enp=e[1], begin="2024-01-01").policy(
        "A2", "P1", enp=e[2], begin="2025-01-01", end="2025-02-01")
    # P2: two active: the later date_begin wins; an unparseable begin is last
    reg.policy("B1", "P2", enp=e[3], begin="2020-01-01", end="2025-12-31").policy(
        "B2", "P2", enp=e[4], begin="2022-01-01", end="2025-12-31")
    # P3: two inactive: begin unparseable vs parseable -> the parseable one
    reg.policy("C1", "P3", enp=e[5], begin="xx", end="2019-01-01").policy(
        "C2", "P3", enp=e[6], begin="2010-01-01", end="2019-01-01")
    # P4: same begin: smallest policy_id as text ("D10" < "D9"); a valid ENP absent from the
    # register is skipped
    reg.policy("D9", "P4", enp=e[6], begin="2020-01-01").policy(
        "D10", "P4", enp=e[5], begin="2020-01-01").policy(
        "D0", "P4", enp=enp(99), begin="2024-01-01")
    got = links(con, reg)
    assert got == {"P1": (e[1], 1), "P2": (e[4], 1), "P3": (e[6], 1), "P4": (e[5], 1)}


def test_tier1_skips_invalid_enp_and_tier2_needs_a_unique_valid_snils(con):
    e = [enp(i) for i in range(20)]
    bad = e[1][:-1] + str((int(e[1][-1]) + 1) % 10)  # Luhn fails
    reg = (Reg()
           .patient("P1", snils=snils(1)).policy("X1", "P1", enp=bad)
           .person(bad, snils=snils(1))  # not a register person: its enp is no valid ENP
           .person(e[1], snils=snils(1, dashed=False), last_name="ПЕТРОВ")
           .patient("P2", snils=snils(2)).person(e[2], snils=snils(2), last_name="СИДОРОВ")
           .person(e[3], snils=snils(2), last_name="КОЗЛОВ")  # P2's SNILS is on two persons
           .patient("P3", snils=snils(3)[:-1] + "0", first_name="Пётр"))  # invalid SNILS
    got = links(con, reg)
    assert got["P1"] == (e[1], 2)
    assert "P2" not in got and "P3" not in got


def test_tier3_name_and_birth_date_unique_and_normalised(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           .patient("P1", last_name="Ёлкин", first_name="Пётр", middle_name="",
                    birth_date="1970-02-03")
           .person(e[1], last_name="ЕЛКИН", first_name="ПЕТР", middle_name="",
                   birth_date="03.02.1970")
           # namesakes with the same birth date: tier 3 does not link, nor does tier 4
           .patient("P2", last_name="Смирнов", first_name="Олег", birth_date="1960-01-01")
           .person(e[2], last_name="СМИРНОВ", first_name="ОЛЕГ", birth_date="01.01.1960")
           .person(e[3], last_name="СМИРНОВ", first_name="ОЛЕГ", birth_date="01.01.1960"))
    got = links(con, reg)
    assert got == {"P1": (e[1], 3)}


def test_tier4_near_matches_and_contradictions(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           # (a) same birth date, one-letter typo in the last name
           .patient("P1", last_name="Кузнецова", first_name="Анна", middle_name="Петровна",
                    sex="2", birth_date="1990-04-12")
           .person(e[1], last_name="КУЗНЕЦОВА", first_name="АННА", middle_name="ПЕТРОВНЯ",
                   sex="2", birth_date="12.04.1990")
           # (a) with the patient's middle name empty
           .patient("P2", last_name="Орлов", first_name="Игорь", middle_name="",
                    birth_date="1985-07-07")
           .person(e[2], last_name="ОРЛОВВ", first_name="ИГОРЬ", middle_name="СЕРГЕЕВИЧ",
                   birth_date="07.07.1985")
           # (b) same name, day and month exchanged
           .patient("P3", last_name="Белов", first_name="Юрий", birth_date="1975-03-11")
           .person(e[3], last_name="БЕЛОВ", first_name="ЮРИЙ", middle_name="ИВАНОВИЧ",
                   birth_date="03.11.1975")
           # contradicted by SNILS: both valid, different
           .patient("P4", last_name="Громов", first_name="Иван", birth_date="1975-03-11",
                    snils=snils(4))
           .person(e[4], last_name="ГРОМОВ", first_name="ИВАН", birth_date="11.03.1976",
                   snils=snils(5))
           # contradicted by sex
           .patient("P5", last_name="Зайцев", first_name="Иван", birth_date="1975-03-11",
                    sex="1")
           .person(e[5], last_name="ЗАЙЦЕВ", first_name="ИВАН", birth_date="11.03.1976",
                   sex="2")
           # two qualifying persons: not linked
           .patient("P6", last_name="Волков", first_name="Иван", birth_date="1975-03-11")
           .person(e[6], last_name="ВОЛКОВ", first_name="ИВАН", birth_date="11.03.1976")
           .person(e[7], last_name="ВОЛКОВА", first_name="ИВАН", birth_date="11.03.1975")
           # two letters differ: no match
           .patient("P7", last_name="Лебедев", first_name="Иван", birth_date="1975-03-11")
           .person(e[8], last_name="ЛЕБЕДЕВАА", first_name="ИВАН", birth_date="11.03.1975")
           # an unparseable patient birth date: tiers 3 and 4 cannot link
           .patient("P8", last_name="Соколов", first_name="Иван", birth_date="1975-02-30")
           .person(e[9], last_name="СОКОЛОВ", first_name="ИВАН", birth_date="30.02.1975")
           # (b) same name, an adjacent swap in the year: another year, same month and day
           .patient("P9", last_name="Новиков", first_name="Иван", birth_date="1980-05-06")
           .person(e[10], last_name="НОВИКОВ", first_name="ИВАН", birth_date="06.05.1908"))
    got = links(con, reg)
    assert got == {"P1": (e[1], 4), "P2": (e[2], 4), "P3": (e[3], 4), "P9": (e[10], 4)}


def test_near_dates_share_the_year_or_month_and_day(con):
    """Tier 4 (b) joins on the year, and on month and day: every pair of near dates meets
    one of the two (dates of every shape: one- and two-digit days and months, years 1000 to
    9999, day-month exchanges)."""
    register.install_macros(con)
    con.execute("CREATE TEMP TABLE d AS SELECT make_date(y, m, dd) AS d "
                "FROM unnest([1000, 1008, 1080, 1800, 1908, 1980, 1989, 1998, 2000, 2001, "
                "2010, 9999]) AS a(y), unnest([1, 2, 3, 10, 11, 12]) AS b(m), "
                "unnest([1, 2, 3, 10, 11, 12, 13, 20, 21, 28, 30, 31]) AS c(dd) "
                "WHERE NOT (m = 2 AND dd > 28) AND NOT (m = 11 AND dd = 31)")
    near, missed = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT (year(a.d) = year(b.d) OR "
        "(month(a.d) = month(b.d) AND day(a.d) = day(b.d)))) FROM d a, d b "
        "WHERE talon_near_dates(a.d, b.d)").fetchall()[0]
    assert near > 1000 and missed == 0


def test_first_tier_that_links_decides_and_persons_may_be_shared(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           .patient("P1", snils=snils(1)).policy("X1", "P1", enp=e[1])
           .person(e[1], snils=snils(1)).person(e[2], snils=snils(9))
           .patient("P2", snils=snils(1))  # tier 2: the same person as P1
           .patient("P3", snils=snils(9)).policy("X3", "P3", enp=e[1]))  # tier 1 beats tier 2
    got = links(con, reg)
    assert got == {"P1": (e[1], 1), "P2": (e[1], 2), "P3": (e[1], 1)}



def test_tiers_2_and_3_count_every_person_of_the_register_and_tier_2_comes_first(con):
    """Tiers 2, 3 and 4 (b) read reg_near, the persons sharing a SNILS or a last and first
    name with a patient tier 1 left: a key's count there is still the whole register's (a
    person sharing only the SNILS still makes it ambiguous), and a patient with both a unique
    SNILS and a unique name and birth date takes the SNILS's person."""
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           # P1's SNILS is on two persons; the second shares nothing else with P1: no tier 2,
           # and tier 3 links P1 to the only person with its name and birth date
           .patient("P1", last_name="Ершов", first_name="Олег", birth_date="1961-06-01",
                    snils=snils(1))
           .person(e[1], last_name="ЕРШОВ", first_name="ОЛЕГ", birth_date="01.06.1961",
                   snils=snils(1))
           .person(e[2], last_name="ЖУКОВ", first_name="ПАВЕЛ", birth_date="02.07.1972",
                   snils=snils(1))
           # P2: its SNILS on one person, its name and birth date on another: tier 2 wins
           .patient("P2", last_name="Титов", first_name="Яков", birth_date="1963-08-09",
                    snils=snils(2))
           .person(e[3], last_name="ТИТОВ", first_name="ЯКОВ", birth_date="09.08.1963")
           .person(e[4], last_name="ФРОЛОВ", first_name="ЯКОВ", birth_date="10.10.1950",
                   snils=snils(2))
           # P3: its name and birth date on two persons: no tier 3, and tier 4 finds both
           # qualifying: not linked
           .patient("P3", last_name="Панов", first_name="Иван", birth_date="1966-01-02")
           .person(e[5], last_name="ПАНОВ", first_name="ИВАН", birth_date="02.01.1966")
           .person(e[6], last_name="ПАНОВ", first_name="ИВАН", birth_date="02.01.1966",
                   snils=snils(6))
           # P4 is linked by tier 1 although its SNILS is another person's
           .patient("P4", snils=snils(7)).policy("X4", "P4", enp=e[7]).person(e[7])
           .person(e[8], last_name="ПЕТРОВ", snils=snils(7)))
    got = links(con, reg)
    assert got == {"P1": (e[1], 3), "P2": (e[4], 2), "P4": (e[7], 1)}


# --- REG codes -------------------------------------------------------------------------------

def test_not_found_and_duplicates(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           .patient("P1").policy("X1", "P1", enp=e[1]).person(e[1])
           .patient("P2").policy("X2", "P2", enp=e[1])
           .patient("P3", last_name="Неизвестный", birth_date="1999-01-01"))
    found = reg_findings(con, reg)
    assert ids(found, "REG.PERSON.NOT_FOUND") == {"P3"}
    assert ids(found, "REG.PATIENT.DUPLICATE") == {"P1", "P2"}


def test_without_register_nothing_runs(con):
    reg = Reg().patient("P1")
    reg.world.load(con)
    ensure_schema(con)
    found = register.check_register(con, RUN, AS_OF, pl.DataFrame(
        schema={"check_code": pl.Utf8, "record_id": pl.Utf8}))
    assert found.height == 0
    assert con.execute("SELECT count(*) FROM reg_values").fetchall()[0][0] == 0


def test_deceased_needs_an_active_policy_or_attachment(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           .patient("P1").policy("X1", "P1", enp=e[1]).person(e[1], death_date="10.03.2025")
           .patient("P2").policy("X2", "P2", enp=e[2], end="2024-01-01")  # inactive
           .person(e[2], death_date="2024-12-31")
           .patient("P3").policy("X3", "P3", enp=e[3]).person(e[3], death_date="11.03.2025")
           .patient("P4", snils=snils(4)).attachment("A4", "P4")
           .person(e[4], snils=snils(4), death_date="01.01.2025")
           .patient("P5").policy("X5", "P5", enp=e[5]).person(e[5], death_date="31.02.2025")
           # P6 died before D, its only policy inactive; P7, alive, has active ones
           .patient("P6").policy("X6", "P6", enp=e[6], end="2024-01-01")
           .person(e[6], death_date="01.01.2025")
           .patient("P7").policy("X7", "P7", enp=e[7]).attachment("A7", "P7").person(e[7]))
    found = reg_findings(con, reg)
    # P1 died on D; P3 after D; P5's death date does not parse
    assert ids(found, "REG.PERSON.DECEASED") == {"P1", "P4"}


def test_name_birth_date_and_snils_mismatch(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           .patient("P1", last_name="Иванова").policy("X1", "P1", enp=e[1]).person(e[1])
           .patient("P2", last_name="иванов", middle_name="Иванович ").policy("X2", "P2", enp=e[2])
           .person(e[2])  # case and a trailing space: no mismatch (PAT.NAME.INVALID says it)
           .patient("P3", last_name="Иванофф").policy("X3", "P3", enp=e[3]).person(e[3])
           .patient("P4", birth_date="1980-05-06").policy("X4", "P4", enp=e[4]).person(e[4])
           .patient("P5", birth_date="1980-05-06").policy("X5", "P5", enp=e[5])
           .person(e[5], birth_date="1980-13-01")  # the register's date does not parse
           .patient("P6", snils=snils(6)).policy("X6", "P6", enp=e[6])
           .person(e[6], snils=snils(7))
           .patient("P7", snils=snils(7, dashed=False)).policy("X7", "P7", enp=e[7])
           .person(e[7], snils=snils(7))  # same digits, another form: no mismatch
           .patient("P8", snils=snils(8)).policy("X8", "P8", enp=e[8])
           .person(e[8], snils="123"))  # the register's SNILS is not valid
    found = reg_findings(con, reg, earlier=[("PAT.NAME.INVALID", "P3")])
    assert ids(found, "REG.NAME.MISMATCH") == {"P1"}  # P3 has PAT.NAME.INVALID this run
    assert ids(found, "REG.BIRTHDATE.MISMATCH") == {"P4"}
    assert ids(found, "REG.SNILS.MISMATCH") == {"P6"}
    found = reg_findings(duckdb.connect(), reg, earlier=[("PAT.BIRTHDATE.INVALID", "P4")])
    assert ids(found, "REG.BIRTHDATE.MISMATCH") == set()
    assert ids(found, "REG.NAME.MISMATCH") == {"P1", "P3"}


def test_policy_codes(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           # REG.POLICY.ENP: another person's ENP; an old-format type 1 policy without ENP
           .patient("P1").policy("X1", "P1", enp=e[1]).person(e[1])
           .policy("X1b", "P1", enp=e[9], begin="2021-01-01")
           .patient("P2", snils=snils(2)).person(e[2], snils=snils(2))
           .policy("X2", "P2", policy_type="1", enp="", policy_series="ЕА", policy_number="1")
           # type 3 with an empty or invalid enp: POL.ENP.* says it, not REG.POLICY.ENP
           .policy("X2b", "P2", enp="").policy("X2c", "P2", enp="123")
           # an inactive policy with another ENP: nothing
           .policy("X2d", "P2", enp=e[10], end="2020-01-01")
           # REG.POLICY.CLOSED, not for the deceased
           .patient("P3").policy("X3", "P3", enp=e[3]).person(e[3], policy_end="09.03.2025")
           .patient("P4").policy("X4", "P4", enp=e[4]).person(e[4], policy_end="10.03.2025")
           .patient("P5").policy("X5", "P5", enp=e[5])
           .person(e[5], policy_end="01.01.2025", death_date="01.01.2025")
           # REG.POLICY.SMO
           .patient("P6").policy("X6", "P6", enp=e[6], smo="45001").person(e[6], smo_code="45002")
           .patient("P7").policy("X7", "P7", enp=e[7], smo="45099").person(e[7], smo_code="45002")
           .patient("P8").policy("X8", "P8", enp=e[8], smo="45001")
           .person(e[8], smo_code="45002", policy_end="01.01.2025"))
    found = reg_findings(con, reg, earlier=[("POL.SMO.UNKNOWN", "X7")])
    assert ids(found, "REG.POLICY.ENP") == {"X1b", "X2"}
    assert ids(found, "REG.POLICY.CLOSED") == {"X3", "X8"}
    # X1b carries another ENP; X7 has POL.SMO.UNKNOWN; X8's register policy is closed
    assert ids(found, "REG.POLICY.SMO") == {"X6"}


def test_attachment_codes(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           .patient("P1").policy("X1", "P1", enp=e[1]).person(e[1], attach_mo_code="4501002")
           .attachment("A1", "P1", mo="4501001")
           .patient("P2").policy("X2", "P2", enp=e[2]).person(e[2], attach_mo_code="")
           .attachment("A2", "P2", mo="4501001")
           .attachment("A2b", "P2", mo="4501001", detach="2024-01-01")  # inactive
           .patient("P3").policy("X3", "P3", enp=e[3]).person(e[3], attach_mo_code="4501001")
           .attachment("A3", "P3", mo="4501001")  # agrees
           # to an excluded / unknown MO: ATT.MO.*, never REG.ATTACHMENT.*
           .patient("P4").policy("X4", "P4", enp=e[4]).person(e[4], attach_mo_code="")
           .attachment("A4", "P4", mo="4501009").attachment("A4b", "P4", mo="4509999")
           # two active attachments: each on its own
           .patient("P5").policy("X5", "P5", enp=e[5]).person(e[5], attach_mo_code="4501002")
           .attachment("A5", "P5", mo="4501001").attachment("A5b", "P5", mo="4501002"))
    found = reg_findings(con, reg)
    assert ids(found, "REG.ATTACHMENT.MISMATCH") == {"A1", "A5"}
    assert ids(found, "REG.ATTACHMENT.UNREGISTERED") == {"A2"}
    routed = found.filter(pl.col("check_code").str.starts_with("REG.ATTACHMENT"))
    assert dict(routed.select("record_id", "route_mo").iter_rows()) == {
        "A1": "4501001", "A5": "4501001", "A2": "4501001"}


# --- suggestions and routing -----------------------------------------------------------------

def route(con, reg: Reg, raw: list[dict]) -> dict[tuple[str, str], dict]:
    found = reg_findings(con, reg)
    frame = pl.concat([found, pl.DataFrame(raw, schema={c: pl.Utf8 for c in found.columns})])
    out = findings_mod.route_and_store(con, RUN, frame)
    return {(r["check_code"], r["record_id"]): r for r in out.to_dicts()}


def test_name_suggestion_is_the_register_name_as_written(con):
    """reg_values holds the register's name as written only where it is not the normalised
    one; the suggestion is the name as written either way."""
    e = [enp(i) for i in range(4)]
    reg = (Reg()
           .patient("P1").policy("X1", "P1", enp=e[1])
           .person(e[1], last_name="Семёнова", first_name="Анна", middle_name="Петровна")
           .patient("P2").policy("X2", "P2", enp=e[2])
           .person(e[2], last_name="ПЕТРОВ", first_name="ПЁТР", middle_name="")
           .patient("P3").policy("X3", "P3", enp=e[3])
           .person(e[3], last_name="СИДОРОВ", first_name="ИВАН", middle_name="ИВАНОВИЧ"))
    rows = route(con, reg, [])
    assert {pid: rows[("REG.NAME.MISMATCH", pid)]["suggested_value"] for pid in ("P1", "P2", "P3")} \
        == {"P1": "Семёнова Анна Петровна", "P2": "ПЕТРОВ ПЁТР", "P3": "СИДОРОВ ИВАН ИВАНОВИЧ"}
    stored = dict(con.execute("SELECT patient_id, name FROM reg_values").fetchall())
    assert stored == {"P1": "Семёнова Анна Петровна", "P2": "ПЕТРОВ ПЁТР", "P3": None}


def test_suggestions_forms_and_masks(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           .patient("P1", snils="").policy("X1", "P1", enp=e[1])
           .person(e[1], snils=snils(1, dashed=False), last_name="ПЕТРОВ", middle_name="",
                   birth_date="1980-06-05")
           .patient("P2").policy("X2", "P2", enp=e[2])
           .person(e[2], death_date="2025-01-02", attach_mo_code="4501002")
           .patient("P3", snils=snils(3)).person(e[3], snils=snils(3), policy_end="2025-01-01")
           .patient("P4", snils=snils(4)).person(e[4], snils=snils(4))
           .patient("P5").policy("X5", "P5", enp=e[1]))  # a second card of P1's person
    rows = route(con, reg, [
        {"check_code": "PAT.SNILS.MISSING", "record_id": "P1", "field": "snils", "value": "",
         "patient_id": "P1"},
        {"check_code": "PAT.POLICY.NONE", "record_id": "P3", "field": "patient_id",
         "value": "P3", "patient_id": "P3"},
        {"check_code": "PAT.POLICY.NONE", "record_id": "P4", "field": "patient_id",
         "value": "P4", "patient_id": "P4"},
        {"check_code": "PAT.SEX.INVALID", "record_id": "P4", "field": "sex", "value": "9",
         "patient_id": "P4"},
    ])
    p1 = rows[("PAT.SNILS.MISSING", "P1")]
    digits = snils(1, dashed=False)
    assert p1["suggested_value"] == f"{digits[:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:]}"
    assert p1["suggested_masked"] == f"***-***-*{digits[7:9]} {digits[9:]}"
    name = rows[("REG.NAME.MISMATCH", "P1")]
    assert name["suggested_value"] == "ПЕТРОВ ИВАН"  # an empty middle name omitted
    assert name["suggested_masked"] == "П.И."
    assert rows[("REG.BIRTHDATE.MISMATCH", "P1")]["suggested_value"] == "05.06.1980"
    assert rows[("REG.BIRTHDATE.MISMATCH", "P1")]["suggested_masked"] == "**.**.****"
    assert rows[("REG.PATIENT.DUPLICATE", "P1")]["suggested_value"] == "P5"
    assert rows[("REG.PATIENT.DUPLICATE", "P5")]["suggested_value"] == "P1"
    dead = rows[("REG.PERSON.DECEASED", "P2")]
    assert (dead["suggested_value"], dead["suggested_masked"]) == ("02.01.2025", "**.**.****")
    # PAT.POLICY.NONE: the register's ENP unless its policy is closed (P3)
    assert rows[("PAT.POLICY.NONE", "P3")]["suggested_value"] == ""
    assert rows[("PAT.POLICY.NONE", "P4")]["suggested_value"] == e[4]
    assert rows[("PAT.POLICY.NONE", "P4")]["suggested_masked"] == "*" * 12 + e[4][-4:]
    assert rows[("PAT.SEX.INVALID", "P4")]["suggested_value"] == ""  # no suggestion declared


def test_routing_falls_back_to_the_registers_attachment(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           # no attachment at all: routed to the register's MO (known, not excluded)
           .patient("P1").policy("X1", "P1", enp=e[1]).person(e[1], attach_mo_code="4501002")
           # the register's MO is excluded: suggested, but not routed there
           .patient("P2").policy("X2", "P2", enp=e[2]).person(e[2], attach_mo_code="4501009")
           # an own active attachment to a known MO wins over the register
           .patient("P3").policy("X3", "P3", enp=e[3]).person(e[3], attach_mo_code="4501002")
           .attachment("A3", "P3", mo="4501001"))
    rows = route(con, reg, [
        {"check_code": "PAT.ATTACHMENT.NONE", "record_id": p, "field": "patient_id",
         "value": p, "patient_id": p} for p in ("P1", "P2")] + [
        {"check_code": "POL.DATES.INVALID", "record_id": x, "field": "date_end", "value": "x",
         "patient_id": p} for x, p in (("X1", "P1"), ("X2", "P2"), ("X3", "P3"))])
    assert rows[("PAT.ATTACHMENT.NONE", "P1")]["mo_code"] == "4501002"
    assert rows[("PAT.ATTACHMENT.NONE", "P1")]["suggested_value"] == "4501002"
    assert rows[("PAT.ATTACHMENT.NONE", "P2")]["mo_code"] is None
    assert rows[("PAT.ATTACHMENT.NONE", "P2")]["suggested_value"] == "4501009"
    assert rows[("PAT.ATTACHMENT.NONE", "P2")]["unassigned_reason"] == \
        findings_mod.REASON_NO_ATTACHMENT
    assert rows[("POL.DATES.INVALID", "X1")]["mo_code"] == "4501002"
    assert rows[("POL.DATES.INVALID", "X2")]["mo_code"] is None
    assert rows[("POL.DATES.INVALID", "X3")]["mo_code"] == "4501001"
    assert con.execute("SELECT count(*) FROM findings WHERE run_id = ?",
                       [RUN]).fetchall()[0][0] == len(rows)


# --- reg_values with the joins as written ----------------------------------------------------

def test_reg_values_as_written_equal_the_optimizers_plan(con):
    """VALUES_SQL runs with the links as the hash join's build side (execute_as_written):
    the same table as DuckDB's own plan gives, shared persons counted."""
    e = [enp(i) for i in range(20)]
    reg = (Reg()
           .patient("P1", snils=snils(1)).policy("X1", "P1", enp=e[1])
           .person(e[1], snils=snils(1), death_date="01.01.2020").person(e[2], snils=snils(9))
           .patient("P2", snils=snils(1))
           .patient("P3", snils=snils(9))
           .patient("P4", last_name="Неизвестный"))
    links(con, reg)
    as_written = con.sql("SELECT * FROM reg_values ORDER BY patient_id").pl()
    con.execute(render_sql(register.VALUES_SQL, batch="", run_id=RUN, as_of=AS_OF))
    planned = con.sql("SELECT * FROM reg_values ORDER BY patient_id").pl()
    assert as_written.equals(planned)
    assert as_written.select("patient_id", "linked_patients", "deceased").rows() == [
        ("P1", 2, True), ("P2", 2, True), ("P3", 1, False)]


def test_execute_as_written_restores_the_optimizers(con):
    con.execute("SET disabled_optimizers = 'filter_pullup'")
    register.execute_as_written(con, "CREATE OR REPLACE TEMP TABLE t AS SELECT 1 AS x")
    with pytest.raises(duckdb.Error):
        register.execute_as_written(con, "SELECT * FROM no_such_table")
    assert con.execute("SELECT current_setting('disabled_optimizers')").fetchall() == [
        ("filter_pullup",)]
    con.execute("SET disabled_optimizers = ''")


def test_the_register_step_releases_what_only_linking_reads(con):
    e = [enp(i) for i in range(20)]
    reg = (Reg().patient("P1").policy("X1", "P1", enp=e[1]).person(e[1])
           .patient("P2", last_name="Неизвестный", birth_date="1999-01-01"))
    found = reg_findings(con, reg)
    assert ids(found, "REG.PERSON.NOT_FOUND") == {"P2"}
    left = {r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary UNION ALL "
        "SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()}
    assert not set(register.LINKING_ONLY) & left
    assert {"reg_values", "stg_patients"} <= left
    assert con.execute("SELECT patient_id, tier FROM reg_values").fetchall() == [("P1", 1)]


def test_duplicate_suggestion_names_only_the_same_clinics_records(con):
    """REG.PATIENT.DUPLICATE names the other records of the person that go to the same clinic;
    another clinic's record is never named (a clinic sees only its own), and the steward's
    unassigned list names them all."""
    e = enp(7)
    reg = (Reg().person(e, attach_mo_code="4501009")  # an excluded MO: never routed to
           .patient("P1").policy("X1", "P1", enp=e).attachment("A1", "P1", mo="4501001")
           .patient("P2").policy("X2", "P2", enp=e).attachment("A2", "P2", mo="4501001")
           .patient("P3").policy("X3", "P3", enp=e).attachment("A3", "P3", mo="4501002")
           # no attachment and no register attachment: unassigned, the steward sees all
           .patient("P4").policy("X4", "P4", enp=e))
    rows = route(con, reg, [])
    dup = {p: rows[("REG.PATIENT.DUPLICATE", p)] for p in ("P1", "P2", "P3", "P4")}
    assert [dup[p]["mo_code"] for p in ("P1", "P2", "P3", "P4")] == [
        "4501001", "4501001", "4501002", None]
    assert dup["P1"]["suggested_value"] == "P2" and dup["P2"]["suggested_value"] == "P1"
    assert dup["P3"]["suggested_value"] == ""  # its person's other records are elsewhere
    assert dup["P4"]["suggested_value"] == "P1, P2, P3"
    assert dup["P4"]["suggested_masked"] != ""
