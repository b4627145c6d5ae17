"""ATT.POLICY.REGION splits its attachment-policy join at the okato most active policies carry
(`home`): the findings must not depend on which okato that is. Random worlds are checked
against the reading computed pair by pair in Python, then again with filler patients (active
policies, no attachments, so no findings of their own) making each okato in turn, the empty
one and a tie the most frequent.
"""
from __future__ import annotations

import random

import pytest

from checks.set_rules import entity_table, render_sql, SET_RULES
from tests.checks.test_set_rules import AS_OF, RUN, World, con, findings  # noqa: F401  (fixture)

OKATOS = ("45000", "77000", "46000", "50000", "")
MOS = ("4501001", "4501009", "7701001", "7799999", "5001001", "")


def _world(seed: int) -> World:
    rng = random.Random(seed)
    w = World()
    w.mo = w.mo + [("5001001", False)]
    w.f010 = w.f010 + [("50000", "45"), ("50000", "50")]
    for i in range(60):
        pid = f"P{i}" if rng.random() > 0.1 else "ghost"
        if pid != "ghost" and not any(p["patient_id"] == pid for p in w.patients):
            w.patient(pid)
        for j in range(rng.choice((0, 1, 1, 1, 2))):
            w.policy(f"Q{i}_{j}", pid, okato=rng.choice(OKATOS),
                     end=rng.choice(("", "", "", "2025-01-01")))
        for j in range(rng.choice((0, 1, 1, 2))):
            w.attachment(f"A{i}_{j}", pid, mo=rng.choice(MOS),
                         detach=rng.choice(("", "", "", "2025-03-01")))
    return w


def _expected(w: World) -> set[str]:
    """The reading, pair by pair: an active attachment to a known MO whose patient_id has
    exactly one active policy, of an okato in F010 none of whose KOD_TF starts the MO code."""
    known = {m for m, _ in w.mo}
    tf: dict[str, set[str]] = {}
    for okato, kod in w.f010:
        tf.setdefault(okato, set()).add(kod)
    out = set()
    for a in w.attachments:
        if not a["is_active"] or a["mo_code"] not in known:
            continue
        active = [q for q in w.policies if q["is_active"] and q["patient_id"] == a["patient_id"]]
        if len(active) == 1 and active[0]["okato"] in tf \
                and a["mo_code"][:2] not in tf[active[0]["okato"]]:
            out.add(a["attachment_id"])
    return out


def _fill(w: World, okato: str, n: int) -> World:
    for k in range(n):
        w.patient(f"F{okato}_{k}").policy(f"QF{okato}_{k}", f"F{okato}_{k}", okato=okato)
    return w


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("home", [None, *OKATOS, "tie"])
def test_policy_region_does_not_depend_on_the_home_okato(con, seed, home):
    w = _world(seed)
    expected = _expected(w)
    if home == "tie":   # two okatos level at the top
        _fill(_fill(w, "45000", 200), "77000", 200 + sum(
            q["is_active"] and q["okato"] == "45000" for q in w.policies) - sum(
            q["is_active"] and q["okato"] == "77000" for q in w.policies))
    elif home is not None:
        _fill(w, home, 200)
    w.load(con)
    # a list, not a set: halves that overlapped would find an attachment twice
    assert sorted(findings(con, "ATT.POLICY.REGION")["record_id"]) == sorted(expected)
    # as GX runs it: the entity table a derived table
    sql = render_sql(SET_RULES["ATT.POLICY.REGION"],
                     batch=f"(SELECT * FROM {entity_table('ATT.POLICY.REGION')})",
                     run_id=RUN, as_of=AS_OF)
    assert sorted(r[1] for r in con.execute(sql).fetchall()) == sorted(expected)


def test_policy_region_every_finding_of_either_half(con):
    """Home 45000 (the filler): a home policy with an MO of another region (the at_home half)
    and another okato's policy with a home MO (the away half) are both found; a home policy
    with a home MO, and an okato outside F010, are not."""
    w = (_fill(World(), "45000", 5)
         .patient("P1").policy("Q1", "P1", okato="45000").attachment("A1", "P1", mo="7701001")
         .patient("P2").policy("Q2", "P2", okato="77000").attachment("B1", "P2", mo="4501001")
         .patient("P3").policy("Q3", "P3", okato="45000").attachment("C1", "P3", mo="4501001")
         .patient("P4").policy("Q4", "P4", okato="46000").attachment("D1", "P4", mo="7701001"))
    w.load(con)
    assert sorted(findings(con, "ATT.POLICY.REGION")["record_id"]) == ["A1", "B1"]
