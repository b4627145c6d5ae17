"""Tier 1 and linked_patients at their boundaries: an ENP with leading zeros links and is
stored as written, a text that is no valid ENP (the same digits without a leading zero, with a
space or a sign) never links by tier 1 even when its number is a person's ENP, and the patients
linked to one person are counted (a key compared as a number instead of the text would fail
these)."""
from __future__ import annotations

from tests.checks.test_register import Reg, enp, links
from tests.checks.test_set_rules import con  # noqa: F401  (fixture)


def test_tier1_leading_zeros_link_and_are_stored_as_written(con):
    zeros = enp(0)  # '0000000000000000': all zeros is a valid ENP
    small = enp(1)  # '0000000000000018'
    assert zeros == "0" * 16 and small.startswith("0" * 14)
    reg = (Reg().patient("P1").policy("X1", "P1", enp=zeros).person(zeros)
           .patient("P2", last_name="Петров").policy("X2", "P2", enp=small)
           .person(small, last_name="ПЕТРОВ"))
    assert links(con, reg) == {"P1": (zeros, 1), "P2": (small, 1)}
    assert con.execute("SELECT enp FROM reg_values ORDER BY patient_id").fetchall() == [
        (zeros,), (small,)]


def test_tier1_no_match_by_number_for_a_text_that_is_not_a_valid_enp(con):
    e = enp(123)  # '0000000000001230' plus check digit: leading zeros
    # the same number without its leading zero, padded with a space, with a sign: not 16
    # digits, no valid ENP, so no tier 1 link (the names differ, so no other tier links)
    reg = Reg()
    for i, text in enumerate((e[1:], " " + e[1:], "+" + e[1:], e + " ", "")):
        reg.patient(f"P{i}", last_name=f"Другой{'а' * i}", birth_date="1990-01-01")
        reg.policy(f"X{i}", f"P{i}", enp=text)
    reg.person(e)
    assert links(con, reg) == {}


def test_tier1_first_matching_policy_across_keys(con):
    """A patient's policies with ENPs absent from the register, invalid, or present: the
    first policy in the contract's order among those whose ENP is a person's decides."""
    e = [enp(i) for i in range(10)]
    reg = (Reg().patient("P1")
           .policy("A1", "P1", enp=enp(7777), begin="2025-01-01")  # not in the register
           .policy("A2", "P1", enp=e[2][1:] + "0", begin="2025-02-01")  # invalid
           .policy("A3", "P1", enp=e[3], begin="2024-01-01")
           .policy("A4", "P1", enp=e[4], begin="2023-01-01")
           .person(e[3]).person(e[4]))
    assert links(con, reg) == {"P1": (e[3], 1)}


def test_linked_patients_counts_each_person_with_one_for_a_single_link(con):
    e = [enp(i) for i in range(10)]
    reg = (Reg().patient("P1").policy("X1", "P1", enp=e[1]).person(e[1])
           .patient("P2").policy("X2", "P2", enp=e[1])
           .patient("P3").policy("X3", "P3", enp=e[1])
           .patient("P4", last_name="Петров").policy("X4", "P4", enp=e[2])
           .person(e[2], last_name="ПЕТРОВ"))
    links(con, reg)
    assert con.execute("SELECT patient_id, linked_patients FROM reg_values "
                       "ORDER BY patient_id").fetchall() == [
        ("P1", 3), ("P2", 3), ("P3", 3), ("P4", 1)]
