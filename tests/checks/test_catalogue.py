"""The catalogue declaration against the specification (issue 3), Q015 and its generated docs."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from checks import catalogue
from checks.catalogue import (
    BY_CODE, CHECKS, ENTITIES, OF_FILE, Check, Engine, Severity, checks_for, entity_for, get,
)
from checks.catalogue_doc import REGENERATE, RULE_NOTES, render_markdown
from flows.extract import contract

REPO = Path(__file__).resolve().parents[2]

# The catalogue table of issue 3, in its order: code, severity, entity ("per entity" -> "*").
SPEC = [
    ("PAT.SNILS.MISSING", "blocker", "patient"),
    ("PAT.SNILS.FORMAT", "blocker", "patient"),
    ("PAT.SNILS.CHECKSUM", "blocker", "patient"),
    ("PAT.SNILS.DUPLICATE", "blocker", "patient"),
    ("PAT.NAME.INVALID", "blocker", "patient"),
    ("PAT.BIRTHDATE.INVALID", "blocker", "patient"),
    ("PAT.SEX.INVALID", "warning", "patient"),
    ("PAT.POLICY.NONE", "blocker", "patient"),
    ("PAT.ATTACHMENT.NONE", "blocker", "patient"),
    ("POL.TYPE.UNKNOWN", "blocker", "policy"),
    ("POL.ENP.MISSING", "blocker", "policy"),
    ("POL.ENP.FORMAT", "blocker", "policy"),
    ("POL.ENP.CHECKSUM", "blocker", "policy"),
    ("POL.NUMBER.FORMAT", "blocker", "policy"),
    ("POL.SMO.UNKNOWN", "blocker", "policy"),
    ("POL.DATES.INVALID", "warning", "policy"),
    ("POL.ACTIVE.MULTIPLE", "blocker", "policy"),
    ("POL.PATIENT.ORPHAN", "blocker", "policy"),
    ("ATT.MO.UNKNOWN", "blocker", "attachment"),
    ("ATT.MO.EXCLUDED", "blocker", "attachment"),
    ("ATT.POLICY.REGION", "blocker", "attachment"),
    ("ATT.ACTIVE.MULTIPLE", "blocker", "attachment"),
    ("ATT.DATES.INVALID", "warning", "attachment"),
    ("ATT.METHOD.INVALID", "warning", "attachment"),
    ("ATT.DOCTOR.SNILS", "warning", "attachment"),
    ("ATT.PATIENT.ORPHAN", "blocker", "attachment"),
    ("SCH.MO.UNKNOWN", "blocker", "slot"),
    ("SCH.SPECIALTY.UNKNOWN", "blocker", "slot"),
    ("SCH.SLOT.INVALID", "warning", "slot"),
    ("SCH.PAST.FREE", "warning", "slot"),
    ("SCH.DOCTOR.INACTIVE", "blocker", "slot"),
    ("SCH.OVERLAP", "warning", "slot"),
    ("SCH.DOUBLE_BOOKING", "blocker", "slot"),
    ("SCH.BOOKED.ORPHAN", "warning", "slot"),
    ("SCH.STALE", "blocker", "doctor"),
    ("SCH.DOCTOR.SNILS", "warning", "doctor"),
    ("SCH.HORIZON.EMPTY", "warning", "mo_specialty"),
    ("REG.PERSON.NOT_FOUND", "blocker", "patient"),
    ("REG.PERSON.DECEASED", "warning", "patient"),
    ("REG.PATIENT.DUPLICATE", "blocker", "patient"),
    ("REG.NAME.MISMATCH", "blocker", "patient"),
    ("REG.BIRTHDATE.MISMATCH", "blocker", "patient"),
    ("REG.SNILS.MISMATCH", "blocker", "patient"),
    ("REG.POLICY.ENP", "blocker", "policy"),
    ("REG.POLICY.CLOSED", "blocker", "policy"),
    ("REG.POLICY.SMO", "warning", "policy"),
    ("REG.ATTACHMENT.MISMATCH", "blocker", "attachment"),
    ("REG.ATTACHMENT.UNREGISTERED", "blocker", "attachment"),
    ("FEED.VOLUME.DROP", "warning", "file"),
    ("FEED.MO.SILENT", "blocker", "mo"),
    ("FEED.MO.SHRUNK", "warning", "mo"),
    ("FEED.COLUMN.EMPTY", "warning", "file"),
    ("ROW.MALFORMED", "blocker", "file"),
    ("ROW.DUPLICATE_ID", "blocker", "*"),
]

# Catalogue v1.2: what each code's finding suggests from the insured-persons register.
SUGGESTS = {
    "PAT.SNILS.MISSING": "snils", "PAT.SNILS.FORMAT": "snils", "PAT.SNILS.CHECKSUM": "snils",
    "PAT.NAME.INVALID": "name", "PAT.BIRTHDATE.INVALID": "birth_date",
    "POL.ENP.MISSING": "enp", "POL.ENP.FORMAT": "enp", "POL.ENP.CHECKSUM": "enp",
    "PAT.POLICY.NONE": "enp_if_insured", "PAT.ATTACHMENT.NONE": "attach_mo_code",
    "ATT.MO.UNKNOWN": "attach_mo_code", "ATT.MO.EXCLUDED": "attach_mo_code",
    "REG.PERSON.DECEASED": "death_date", "REG.PATIENT.DUPLICATE": "other_patients",
    "REG.NAME.MISMATCH": "name", "REG.BIRTHDATE.MISMATCH": "birth_date",
    "REG.SNILS.MISMATCH": "snils", "REG.POLICY.ENP": "enp", "REG.POLICY.CLOSED": "policy_end",
    "REG.POLICY.SMO": "smo_code", "REG.ATTACHMENT.MISMATCH": "attach_mo_code",
}

# Engines as assigned by the design: row-level rules of one extract run as pandera schemas.
PANDERA = {
    "PAT.SNILS.MISSING", "PAT.SNILS.FORMAT", "PAT.SNILS.CHECKSUM", "PAT.NAME.INVALID",
    "PAT.BIRTHDATE.INVALID", "PAT.SEX.INVALID", "POL.TYPE.UNKNOWN", "POL.ENP.MISSING",
    "POL.ENP.FORMAT", "POL.ENP.CHECKSUM", "POL.NUMBER.FORMAT", "POL.DATES.INVALID",
    "ATT.METHOD.INVALID", "ATT.DOCTOR.SNILS", "SCH.SLOT.INVALID", "SCH.PAST.FREE",
    "SCH.DOCTOR.INACTIVE",
}
INGEST = {"ROW.MALFORMED", "ROW.DUPLICATE_ID"}

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
TEXTS_RU = ("title_ru", "message_ru", "fix_ru")
TEXTS_EN = ("title_en", "message_en", "fix_en")

# Columns a finding of each entity can point at (doctor and mo_specialty findings live in slots).
_COLUMNS = {f.entity: set(f.columns) for f in contract.ALL_FILES}
_COLUMNS["doctor"] = _COLUMNS["mo_specialty"] = _COLUMNS["slot"]
_COLUMNS["file"] = {"line", "rows", "empty_share"}  # a quarantined line; feed health figures
_COLUMNS["mo"] = {"slots"}
_COLUMNS[OF_FILE] = {OF_FILE}


def test_every_spec_code_once_in_spec_order_with_its_severity_and_entity():
    declared = [(c.code, c.severity.value, c.entity) for c in CHECKS]
    assert declared == SPEC
    assert len({c.code for c in CHECKS}) == len(CHECKS) == 54


def test_suggestions_follow_the_contract():
    assert {c.code: c.suggests for c in CHECKS if c.suggests} == SUGGESTS


def test_reg_messages_say_what_the_portal_answers():
    answers_ru = ("не идентифицирован", "нет действующего страхования",
                  "не прикреплены к данной", "пациент умер")
    for c in CHECKS:
        if c.code.startswith("REG.") and c.code != "REG.POLICY.SMO":
            assert any(a in c.message_ru for a in answers_ru), c.code


def test_engines_follow_the_design():
    for c in CHECKS:
        expected = (
            Engine.PANDERA if c.code in PANDERA else Engine.INGEST if c.code in INGEST
            else Engine.GX if c.code.startswith("FEED.") else Engine.SQL
        )
        assert c.engine is expected, c.code


def test_checks_for_partitions_the_catalogue_in_order():
    parts = {e: checks_for(e) for e in Engine}
    assert sum(len(p) for p in parts.values()) == len(CHECKS)
    assert {c.code for c in parts[Engine.PANDERA]} == PANDERA
    assert {c.code for c in parts[Engine.INGEST]} == INGEST
    assert checks_for("sql") == parts[Engine.SQL]
    assert list(parts[Engine.SQL]) == [c for c in CHECKS if c.engine is Engine.SQL]
    assert [c.code for c in checks_for("gx")] == [c for c in (
        "FEED.VOLUME.DROP", "FEED.MO.SILENT", "FEED.MO.SHRUNK", "FEED.COLUMN.EMPTY")]
    with pytest.raises(ValueError):
        checks_for("soda")


def test_lookup_by_code():
    assert get("POL.ENP.FORMAT") is BY_CODE["POL.ENP.FORMAT"]
    assert BY_CODE["POL.ENP.FORMAT"].rule == "004F.00.0270"
    with pytest.raises(KeyError):
        get("POL.ENP.NOPE")


def test_fields_are_columns_of_the_entitys_file():
    for c in CHECKS:
        assert set(c.field_names) <= _COLUMNS[c.entity], (c.code, c.field)


def test_entity_for_resolves_the_per_file_placeholder():
    assert entity_for(get("ROW.DUPLICATE_ID"), "slot") == "slot"
    assert entity_for(get("ROW.MALFORMED"), "slot") == "file"
    assert entity_for(get("PAT.SEX.INVALID"), "slot") == "patient"
    assert all(c.entity in ENTITIES for c in CHECKS if c.code != "ROW.DUPLICATE_ID")


def test_russian_texts_are_russian_and_english_texts_have_no_cyrillic():
    for c in CHECKS:
        for name in TEXTS_RU:
            text = getattr(c, name)
            assert CYRILLIC.search(text), (c.code, name)
            assert '"' not in text, f"{c.code}.{name}: use «» quotes in Russian"
        for name in TEXTS_EN:
            assert not CYRILLIC.search(getattr(c, name)), (c.code, name)


def test_texts_are_tidy_sentences():
    for c in CHECKS:
        for name in TEXTS_RU + TEXTS_EN:
            text = getattr(c, name)
            assert text == text.strip() and "  " not in text, (c.code, name)
            if not name.startswith("title"):
                assert text.endswith("."), (c.code, name)
            else:
                assert not text.endswith("."), (c.code, name)


def test_fixes_name_the_field_to_change():
    for c in CHECKS:
        if c.field == OF_FILE or c.field == "line":
            continue
        for fix in (c.fix_ru, c.fix_en):
            assert any(f in fix for f in c.field_names), c.code


def test_language_accessors():
    c = get("PAT.SNILS.MISSING")
    assert c.message() == c.message_ru and c.message("en") == c.message_en
    assert c.fix() == c.fix_ru and c.fix("en") == c.fix_en
    assert c.title() == c.title_ru and c.title("en") == c.title_en


def test_rules_are_q015_id_lists():
    pattern = re.compile(r"^[0-9]{3}F\.[0-9]{2}\.[0-9]{4}$")
    for c in CHECKS:
        assert all(pattern.match(r) for r in c.rule_ids), c.code
    assert get("POL.NUMBER.FORMAT").rule_ids == (
        "004F.00.0220", "004F.00.0230", "004F.00.0240", "003F.00.0080",
    )
    assert get("PAT.POLICY.NONE").rule_ids == ()


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"title_en": ""}, "title_en is empty"),
        ({"fix_ru": "   "}, "fix_ru is empty"),
        ({"entity": "clinic"}, "unknown entity"),
        ({"rule": "004F.00.027"}, "not a list of Q015 ids"),
        ({"rule": "004F.00.0270,004F.00.0480"}, "not a list of Q015 ids"),
        ({"severity": "fatal"}, "is not a Severity"),
        ({"engine": "gx"}, "is not an Engine"),
        ({"code": "pol.enp.format"}, "not a catalogue code"),
    ],
)
def test_validation_rejects_a_malformed_check(change, complaint):
    bad = dataclasses.replace(get("POL.ENP.FORMAT"), **change)
    with pytest.raises(ValueError, match=complaint):
        catalogue._validate((bad,))


def test_validation_rejects_a_code_declared_twice_and_accepts_the_catalogue():
    catalogue._validate(CHECKS)
    with pytest.raises(ValueError, match="declared more than once"):
        catalogue._validate(CHECKS + (get("SCH.STALE"),))


def test_rule_may_be_empty_but_nothing_else():
    catalogue._validate((dataclasses.replace(get("POL.ENP.FORMAT"), rule=""),))


# ------------------------------------------------------------------ Q015


@pytest.fixture(scope="module")
def q015(nsi_dir: Path) -> dict[str, set[str]]:
    """Q015 rule ids -> the elements (ID_EL) they apply to, from the real classifier."""
    from defusedxml import ElementTree

    path = nsi_dir / "Q015.xml"
    if not path.is_file():
        pytest.skip(f"Q015.xml not found in {nsi_dir}: the real FFOMS classifiers are incomplete")
    rules: dict[str, set[str]] = {}
    for zap in ElementTree.parse(path).getroot().iter("zap"):  # declares windows-1251 itself
        rules.setdefault(zap.findtext("ID_TEST", "").strip(), set()).add(
            zap.findtext("ID_EL", "").strip()
        )
    return rules


@pytest.mark.nsi
def test_rule_ids_exist_in_q015_and_apply_to_the_documented_element(q015):
    assert "004F.00.0270" in q015 and "ZL_LIST/ZAP/PACIENT/ENP" in q015["004F.00.0270"]
    used = {r for c in CHECKS for r in c.rule_ids}
    missing = sorted(used - q015.keys())
    assert not missing, f"rule ids not in Q015: {missing}"
    for rule, (element, _, _) in RULE_NOTES.items():
        assert element in q015.get(rule, set()), f"{rule} does not apply to {element} in Q015"


@pytest.mark.nsi
def test_q015_lookup_rejects_an_invented_id(q015):
    assert "004F.00.9999" not in q015 and "004F.00.0480" in q015


def test_rule_notes_cover_exactly_the_rules_used():
    used = {r for c in CHECKS for r in c.rule_ids}
    assert set(RULE_NOTES) == used
    for element, note_en, note_ru in RULE_NOTES.values():
        assert CYRILLIC.search(note_ru) and not CYRILLIC.search(note_en + element)


# ------------------------------------------------------------------ generated docs


def test_catalogue_md_is_in_sync_with_the_declaration():
    path = REPO / "checks" / "CATALOGUE.md"
    assert path.is_file(), f"checks/CATALOGUE.md is missing; regenerate it: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == render_markdown("en"), (
        f"checks/CATALOGUE.md is out of date; regenerate it: {REGENERATE}"
    )


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_rendered_docs_list_every_check_with_texts_and_locations(lang):
    text = render_markdown(lang)
    for c in CHECKS:
        section = text.split(f"### {c.code}\n", 1)[1].split("\n### ", 1)[0]
        for value in (c.message_ru, c.message_en, c.fix_ru, c.fix_en, c.title_ru, c.title_en):
            assert value in section, (c.code, value)
        assert f"`{c.field}`" in section
        assert (c.rule or ("none" if lang == "en" else "нет")) in section
        where = {
            Engine.PANDERA: ("checks/row_rules.py", "tests/checks/test_row_rules.py"),
            Engine.SQL: (f"checks/sql/{c.code}.sql", "tests/checks/test_set_rules.py"),
            Engine.INGEST: ("flows/extract/reader.py", "tests/extract/"),
            Engine.GX: (),
        }[c.engine]
        if c.code.startswith("REG."):
            where = (f"checks/sql/{c.code}.sql", "checks/register.py",
                     "tests/checks/test_register.py")
        if c.engine is Engine.GX:
            where = ("checks/feed.py", "tests/checks/test_feed.py")
        assert all(w in section for w in where), c.code
        assert f"| [{c.code}](#" in text  # summary row
    assert ("Summary" in text) == (lang == "en") and ("Сводная таблица" in text) == (lang == "ru")


def test_render_refuses_an_unknown_language():
    with pytest.raises(ValueError):
        render_markdown("de")


def test_table_cells_escape_pipes():
    from checks.catalogue_doc import _cell

    assert _cell("a|b") == "a\\|b"


def test_module_writes_utf8_markdown(capsysbinary):
    from checks.catalogue_doc import main

    assert main([]) == 0
    assert capsysbinary.readouterr().out.decode("utf-8") == render_markdown("en")


def test_severity_and_engine_values_match_the_spec_vocabulary():
    assert {s.value for s in Severity} == {"blocker", "warning"}
    assert {e.value for e in Engine} == {"pandera", "sql", "ingest", "gx"}
    assert isinstance(CHECKS[0], Check)
