"""The auditor pages' examples tables, built by polars for all rows at once
(auditor._examples_bodies), are the rows the template loop wrote, byte for byte."""
from __future__ import annotations

import polars as pl
import pytest

from reports.auditor import _examples_bodies
from reports.html import environment, records
from reports.i18n import Texts

#: The template loop the bodies replace (examples.html.j2 before it took a built body).
LOOP = """{% from "macros.html.j2" import status_cell %}
{% for r in rows %}
<tr class="{{ r.severity }} st-{{ r.status }}">{% if show_check %}<td class="mono"><a href="{{ prefix }}check/{{ r.check_stem }}.html">{{ r.check_code }}</a></td><td class="sev" data-sort="{{ 0 if r.severity == 'blocker' else 1 }}">{{ T.severity_of(r.severity) }}</td>{% endif %}{% if show_clinic %}<td class="mono"><a href="{{ prefix }}clinic/{{ r.clinic_stem }}.html">{{ r.clinic_label }}</a></td>{% endif %}<td>{{ T.entity_of(r.entity) }}</td><td class="mono">{{ r.record_id }}</td><td class="mono">{{ r.field or "" }}</td>{{ status_cell(T, r.status) }}<td class="num">{{ r.days_open }}</td><td class="value">{% if r.value_masked is none %}{% elif r.value_masked == "" %}<span class="empty">{{ T.empty_value }}</span>{% else %}{{ r.value_masked }}{% endif %}</td><td class="value">{{ r.suggested_masked or "" }}</td></tr>
{% endfor %}
"""

ODD = ['<b>"x" & \'y\'</b>', "", None, "Иванов И.", "a\tb"]


def _rows(n: int = 40) -> pl.DataFrame:
    pick = lambda values, i: values[i % len(values)]  # noqa: E731
    return pl.DataFrame({
        "page": [pick(["p1", "p2", None], i) for i in range(n)],
        "severity": [pick(["blocker", "warning"], i) for i in range(n)],
        "status": [pick(["new", "reopened", "open", "odd<"], i) for i in range(n)],
        "check_code": [pick(["PAT.SNILS.MISSING", "X&Y"], i) for i in range(n)],
        "check_stem": [pick(["PAT.SNILS.MISSING", "X_Y"], i) for i in range(n)],
        "clinic_stem": [pick(["500101", "unassigned"], i) for i in range(n)],
        "clinic_label": [pick(["500101", "без МО <нет>"], i) for i in range(n)],
        "entity": [pick(["patient", "slot", "mo", None, "other"], i) for i in range(n)],
        "record_id": [pick(["1", "***42", None, "<id>"], i) for i in range(n)],
        "field": [pick(["snils", "", None, "a&b"], i) for i in range(n)],
        "days_open": [i * 7 for i in range(n)],
        "value_masked": [pick(ODD, i) for i in range(n)],
        "suggested_masked": [pick(ODD[::-1], i) for i in range(n)],
    })


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("show_clinic, show_check", [(False, True), (True, False)])
def test_bodies_are_the_template_loops_rows(lang, show_clinic, show_check):
    t, rows = Texts(lang), _rows()
    loop = environment().from_string(LOOP)
    bodies = _examples_bodies(rows, "page", t, show_clinic, show_check, "../")
    assert set(bodies) == {"p1", "p2", None}
    for page, part in rows.partition_by("page", as_dict=True, maintain_order=True).items():
        expected = loop.render(T=t, rows=records(part), show_clinic=show_clinic,
                               show_check=show_check, prefix="../").lstrip("\n")
        assert str(bodies[page[0]]) == expected
        assert "<b>" not in expected and "&lt;b&gt;" in expected  # escaped, both ways
