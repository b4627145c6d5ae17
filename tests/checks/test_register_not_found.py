"""REG.PERSON.NOT_FOUND reads reg_unlinked (the patients of reg_rest that tiers 2 to 4 left
unlinked) instead of probing every patient against reg_values: a patient linked by any tier is
never reported, every patient no tier links is."""
from __future__ import annotations

from tests.checks.test_register import Reg, enp, ids, reg_findings, snils
from tests.checks.test_set_rules import con  # noqa: F401  (fixture)


def test_not_found_is_exactly_the_patients_no_tier_links(con):
    e = [enp(i) for i in range(10)]
    reg = (Reg()
           .patient("P1").policy("X1", "P1", enp=e[1]).person(e[1])  # tier 1
           .patient("P2", last_name="Петров", snils=snils(2))  # tier 2
           .person(e[2], last_name="СИДОРОВ", snils=snils(2))
           .patient("P3", last_name="Орлов", birth_date="1970-01-01")  # tier 3
           .person(e[3], last_name="ОРЛОВ", birth_date="01.01.1970")
           .patient("P4", last_name="Белова", first_name="Анна", birth_date="1975-03-11")
           .person(e[4], last_name="БЕЛОВА", first_name="АНА", birth_date="11.03.1975")  # tier 4
           .patient("P5", last_name="Неизвестный", birth_date="1999-01-01")
           # a valid ENP that is no person's: tier 1 leaves P6, no other tier links
           .patient("P6", last_name="Никто", birth_date="1998-01-01")
           .policy("X6", "P6", enp=e[9]))
    found = reg_findings(con, reg)
    tiers = dict(con.execute("SELECT patient_id, tier FROM reg_links").fetchall())
    assert tiers == {"P1": 1, "P2": 2, "P3": 3, "P4": 4}
    assert ids(found, "REG.PERSON.NOT_FOUND") == {"P5", "P6"}
