"""Tier 4 (a) joins a patient to the persons born the same day and tests each pair first with
cheap necessary conditions (checks/register.py, tier 4): the same first letter of the last
name, or else the person's last name ends with the patient's from its third letter on (an
edit at the first letter keeps that tail; '' for names of at most two letters, which every
name ends with). These tests fail if a case of one edit is lost, a letter is taken from the
wrong end or the tail is wrong."""
from __future__ import annotations

import itertools

import pytest

from checks import register
from tests.checks.test_register import Reg, enp, links
from tests.checks.test_set_rules import con  # noqa: F401  (fixture)


@pytest.mark.parametrize("patient_last, person_last, linked", [
    ("Иванов", "ЫВАНОВ", True),  # first letter substituted: the last one is kept
    ("Иванов", "ИВАНОЫ", True),  # last letter substituted: the first one is kept
    ("Иванов", "ВИАНОВ", True),  # first two letters swapped
    ("Иванов", "ИВАНВО", True),  # last two letters swapped
    ("Иванов", "АИВАНОВ", True),  # a letter inserted in front
    ("Иванов", "ИВАНОВА", True),  # a letter appended
    ("Иванов", "ВАНОВ", True),  # the first letter deleted
    ("Иванов", "ИВАНО", True),  # the last letter deleted
    ("Ли", "ИЛ", True),  # two letters swapped: neither end kept
    ("Ли", "ЛЮ", True),
    ("Ли", "ЮИ", True),
    ("Ли", "Л", True),
    ("Ю", "Я", True),  # one letter substituted
    ("Ю", "", True),  # an empty name and one letter
    ("Ю", "ЮЯ", True),
    ("Иванов", "ЫВАНОЫ", False),  # both ends substituted: two edits
    ("Лиа", "АИЛ", False),  # first and last exchanged: two edits
    ("Ли", "ЮЯ", False),
])
def test_tier4_a_one_edit_in_the_last_name_at_either_end(con, patient_last, person_last, linked):
    e = enp(5)
    reg = (Reg()
           .patient("P1", last_name=patient_last, first_name="Анна", middle_name="Петровна",
                    sex="2", birth_date="1990-04-12")
           .person(e, last_name=person_last, first_name="АННА", middle_name="ПЕТРОВНА",
                   sex="2", birth_date="12.04.1990"))
    assert links(con, reg) == ({"P1": (e, 4)} if linked else {})


def test_tier4_a_two_persons_found_by_different_letters_are_two(con):
    """One person shares the first letter, the other the last: both qualify, no link; a
    person sharing both is one candidate, counted once: linked."""
    e = [enp(i) for i in range(10)]
    reg = (Reg()
           .patient("P1", last_name="Иванов", first_name="Анна", birth_date="1990-04-12")
           .person(e[1], last_name="ИВАНОЫ", first_name="АННА", birth_date="12.04.1990")
           .person(e[2], last_name="ЫВАНОВ", first_name="АННА", birth_date="12.04.1990")
           .patient("P2", last_name="Петров", first_name="Иван", birth_date="1991-04-12")
           .person(e[3], last_name="ПЕТРОВА", first_name="ИВАН", birth_date="12.04.1991"))
    assert links(con, reg) == {"P2": (e[3], 4)}


def test_an_edit_at_the_first_letter_keeps_the_tail_from_the_third_letter():
    """The condition for a differing first letter, exhaustively over a small alphabet: for
    every pair within one edit whose first letters differ (unicode(): the first character's
    code, -1 for ''), the person's name ends with the patient's from its third letter on."""
    import duckdb

    words = ["".join(p) for n in range(0, 6) for p in itertools.product("АБВ", repeat=n)]
    c = duckdb.connect()
    c.execute("CREATE TABLE w AS SELECT unnest(?) AS s", [words])
    register.install_macros(c)
    pairs, missed = c.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT ends_with(b.s, substr(a.s, 3))) "
        "FROM w a, w b WHERE talon_dl1(a.s, b.s) AND unicode(a.s) <> unicode(b.s)"
    ).fetchall()[0]
    assert pairs > 500 and missed == 0
    # and the condition is not vacuous: pairs two edits apart fail it
    assert c.execute("SELECT ends_with('ВБВАА', substr('АБВАБ', 3))").fetchall()[0][0] is False


def test_tiers_2_and_3_group_only_the_unlinked_patients_keys_but_count_whole_groups(con):
    """Tier 2 and 3 count a key's persons over the whole register though only the keys of the
    patients tier 1 left are grouped: two persons on a SNILS or on a name and birth date still
    block the link."""
    e = [enp(i) for i in range(10)]
    reg = (Reg()
           .patient("P1", last_name="Смирнов", first_name="Олег", birth_date="1970-01-01")
           .person(e[1], last_name="СМИРНОВ", first_name="ОЛЕГ", middle_name="ИВАНОВИЧ",
                   birth_date="01.01.1970")
           .person(e[2], last_name="СМИРНОВ", first_name="ОЛЕГ", middle_name="ИВАНОВИЧ",
                   birth_date="01.01.1970")
           .patient("P2", last_name="Смирнов", first_name="Олег", birth_date="1971-01-01")
           .person(e[3], last_name="СМИРНОВ", first_name="ОЛЕГ", middle_name="ИВАНОВИЧ",
                   birth_date="01.01.1971"))
    assert links(con, reg) == {"P2": (e[3], 3)}
