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


#: The page tables' loops the bodies replace (clinic_page / check_page.html.j2 before they
#: took built bodies), and the fix list's table of contents (fixlist.html.j2).
BY_CHECK = """{% from "macros.html.j2" import sev_cell %}
{% for r in rows %}
<tr class="{{ r.severity }}"><td class="mono"><a href="../check/{{ r.stem }}.html">{{ r.check_code }}</a></td><td>{{ r.title }}</td>{{ sev_cell(T, r.severity) }}<td class="num">{{ r.patients_blocked }}</td><td class="num">{{ r.findings }}</td></tr>
{% endfor %}
"""
BY_CLINIC = """{% for r in rows %}
<tr><td class="mono"><a href="../clinic/{{ r.stem }}.html">{{ r.label }}</a></td><td>{{ r.name }}</td><td class="num">{{ r.patients_blocked }}</td><td class="num">{{ r.findings }}</td></tr>
{% endfor %}
"""
TOC = """{% for g in groups %}
<tr class="t-{{ g.severity }}"><td class="num">{{ g.order }}</td><td><a href="#{{ g.anchor }}">{{ g.title }}</a></td><td><code>{{ g.check_code }}</code></td><td class="sev">{{ sev_label.get(g.severity, g.severity) }}</td><td class="num">{{ g.count | num }}</td><td class="num">{{ g.blocked | num if g.severity == "blocker" else "" }}</td><td class="num">{{ g.new | num }}</td></tr>
{% endfor %}
"""


def _table_rows(n: int = 30) -> pl.DataFrame:
    pick = lambda values, i: values[i % len(values)]  # noqa: E731
    return pl.DataFrame({
        "page": [pick(["p1", "p2", None], i) for i in range(n)],
        "severity": [pick(["blocker", "warning", "odd<", None], i) for i in range(n)],
        "stem": [pick(["PAT.X", "X_Y", None], i) for i in range(n)],
        "check_code": [pick(["PAT.X", "X&Y"], i) for i in range(n)],
        "title": [pick(ODD, i) for i in range(n)],
        "label": [pick(["500101", "без МО <нет>"], i) for i in range(n)],
        "name": [pick(ODD[::-1], i) for i in range(n)],
        "patients_blocked": pl.Series([i * 1001 for i in range(n)], dtype=pl.UInt32),
        "findings": [pick([1, 12345, None], i) for i in range(n)],
    })


@pytest.mark.parametrize("lang", ["ru", "en"])
@pytest.mark.parametrize("which", ["by_check", "by_clinic"])
def test_page_table_bodies_are_the_template_loops_rows(lang, which):
    from reports.auditor import _by_check_cells, _by_clinic_cells, _table_bodies

    t, rows = Texts(lang), _table_rows()
    loop = environment().from_string(BY_CHECK if which == "by_check" else BY_CLINIC)
    cells = _by_check_cells(t) if which == "by_check" else _by_clinic_cells()
    bodies = _table_bodies(rows, "page", cells)
    assert set(bodies) == {"p1", "p2", None}
    for page, part in rows.partition_by("page", as_dict=True, maintain_order=True).items():
        expected = loop.render(T=t, rows=records(part)).lstrip("\n")
        assert str(bodies[page[0]]) == expected
        assert "<b>" not in expected and "&lt;b&gt;" in expected


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_fix_list_contents_rows_are_the_template_loops_rows(lang):
    from markupsafe import Markup, escape

    from reports.clinic import _escape_once, _toc_row
    from reports.i18n import SEVERITY

    t = Texts(lang)
    severities = t.mapping(SEVERITY)
    groups = [{"severity": s, "order": i + 1, "anchor": f"g{i + 1}",
               "title": escape(ODD[i % 2]), "check_code": Markup("X&amp;Y"),
               "count": 1234567 * i, "blocked": 1000 * i, "new": i}
              for i, s in enumerate(["blocker", "warning", "odd<", "blocker"])]
    e = _escape_once({})
    rows = "".join(str(_toc_row(g, severities.get(g["severity"], g["severity"]), e)) + "\n"
                   for g in groups)
    expected = environment().from_string(TOC).render(groups=groups, sev_label=severities)
    assert rows == expected.lstrip("\n")
    assert "&lt;b&gt;" in rows and "odd&lt;" in rows
