"""The catalogue documentation, generated from the declaration in checks/catalogue.py.

    python -m checks.catalogue_doc > checks/CATALOGUE.md       (English headings, the default)
    python -m checks.catalogue_doc ru                           (Russian headings)

Both languages' messages and fixes are listed either way; `lang` only chooses the surrounding
text. A test keeps checks/CATALOGUE.md in sync with the declaration.
"""
from __future__ import annotations

import sys

from checks.catalogue import CHECKS, Check, Engine

REGENERATE = "python -m checks.catalogue_doc > checks/CATALOGUE.md"

#: What each Q015 rule used by the catalogue checks: the element it applies to (as in Q015's
#: ID_EL) and a short description in English and Russian. Q015 itself is not copied here.
RULE_NOTES: dict[str, tuple[str, str, str]] = {
    "001F.00.0060": ("ZL_LIST/ZAP/PACIENT/VPOLIS",
                     "policy type must be an F008 code (IDDOC)",
                     "тип полиса — код классификатора F008 (IDDOC)"),
    "001F.00.0080": ("ZL_LIST/ZAP/PACIENT/SMO",
                     "insurer code must be in F002 (smocod)",
                     "код СМО — из реестра F002 (smocod)"),
    "001F.00.0110": ("ZL_LIST/ZAP/PACIENT/W",
                     "sex must be a V005 code (IDPOL)",
                     "пол — код классификатора V005 (IDPOL)"),
    "001F.00.0200": ("ZL_LIST/ZAP/Z_SL/LPU",
                     "MO code must be in F003 (mcod); valid in Q015 until 31.10.2022, when "
                     "001F.00.0201 moved the check to F032",
                     "код МО — из реестра F003 (mcod); действует в Q015 до 31.10.2022, затем "
                     "проверку по F032 ведёт 001F.00.0201"),
    "001F.00.0310": ("ZL_LIST/ZAP/Z_SL/SL/PRVS",
                     "doctor specialty must be a V021 code (IDSPEC)",
                     "специальность врача — код классификатора V021 (IDSPEC)"),
    "003F.00.0080": ("ZL_LIST/ZAP/PACIENT/SPOLIS",
                     "policy series must be absent unless VPOLIS = 1",
                     "серия полиса отсутствует, если VPOLIS ≠ 1"),
    "003F.00.0100": ("ZL_LIST/ZAP/PACIENT/ENP",
                     "ENP is required when VPOLIS = 3",
                     "ЕНП обязателен при VPOLIS = 3"),
    "003F.00.0160": ("ZL_LIST/ZAP/PACIENT/FAM",
                     "surname is required",
                     "фамилия обязательна"),
    "003F.00.0200": ("ZL_LIST/ZAP/PACIENT/IM",
                     "first name is required",
                     "имя обязательно"),
    "003F.00.2200": ("ZL_LIST/ZAP/PACIENT/DR",
                     "birth date is required",
                     "дата рождения обязательна"),
    "004F.00.0220": ("ZL_LIST/ZAP/PACIENT/SPOLIS",
                     "policy series of 1 to 10 characters when VPOLIS = 1",
                     "серия полиса от 1 до 10 символов при VPOLIS = 1"),
    "004F.00.0230": ("ZL_LIST/ZAP/PACIENT/NPOLIS",
                     "policy number of 1 to 20 characters when VPOLIS = 1",
                     "номер полиса от 1 до 20 символов при VPOLIS = 1"),
    "004F.00.0240": ("ZL_LIST/ZAP/PACIENT/NPOLIS",
                     "policy number of exactly 9 digits when VPOLIS = 2",
                     "номер полиса ровно из 9 цифр при VPOLIS = 2"),
    "004F.00.0270": ("ZL_LIST/ZAP/PACIENT/ENP",
                     "ENP of exactly 16 digits",
                     "ЕНП ровно из 16 цифр"),
    "004F.00.0350": ("ZL_LIST/ZAP/PACIENT/FAM",
                     "surname of 1 to 40 permitted characters (Talon admits Cyrillic letters only)",
                     "фамилия от 1 до 40 допустимых символов (Talon допускает только русские буквы)"),
    "004F.00.0360": ("ZL_LIST/ZAP/PACIENT/IM",
                     "first name of 1 to 40 permitted characters (Talon admits Cyrillic letters only)",
                     "имя от 1 до 40 допустимых символов (Talon допускает только русские буквы)"),
    "004F.00.0370": ("ZL_LIST/ZAP/PACIENT/OT",
                     "patronymic of 1 to 40 permitted characters (Talon admits Cyrillic letters only)",
                     "отчество от 1 до 40 допустимых символов (Talon допускает только русские буквы)"),
    "004F.00.0380": ("ZL_LIST/ZAP/PACIENT/DR",
                     "birth date in the YYYY-MM-DD format (Talon also admits DD.MM.YYYY)",
                     "дата рождения в формате ГГГГ-ММ-ДД (Talon допускает и ДД.ММ.ГГГГ)"),
    "004F.00.0480": ("ZL_LIST/ZAP/PACIENT/SNILS",
                     "SNILS in the mask 999-999-999 99 (Talon also admits 11 bare digits)",
                     "СНИЛС по маске 999-999-999 99 (Talon допускает и 11 цифр подряд)"),
}

_TEXT = {
    "en": {
        "title": "Talon check catalogue",
        "intro": (
            "Generated from `checks/catalogue.py` by `{cmd}`; do not edit by hand.\n\n"
            "Severity: `blocker` means online booking fails for the people concerned, `warning` "
            "that it is degraded. Entity `*` (ROW.DUPLICATE_ID) stands for the entity of the file "
            "the duplicate was found in, and field `*` for that file's id column. Official rules are "
            "ids of the FFOMS format-and-logic control list Q015; an empty cell means no official "
            "rule exists for the check.\n\n"
            "Catalogue v1.2: with the optional insured-persons register (`registry.csv`, see "
            "data/README.md) each patient is linked to a register person (tiers: 1 the enp of a "
            "policy, 2 the SNILS, 3 the full name and birth date, 4 a near match; "
            "`checks/register.py`), the REG checks run, and the findings of the checks that "
            "declare one carry a suggested value: what the register says the field should hold."
        ),
        "summary": "Summary",
        "cols": ("code", "severity", "entity", "field", "engine", "official rule"),
        "rules": "Official rules referenced",
        "rule_cols": ("Q015 id", "element", "what it requires", "used by"),
        "checks": "Checks",
        "ru": "Russian", "en": "English", "name": "title", "message": "message", "fix": "fix",
        "impl": "Implementation", "tests": "Tests", "rule": "Official rule", "none": "none",
        "suggests": "Suggested value (with a register)",
    },
    "ru": {
        "title": "Каталог проверок Talon",
        "intro": (
            "Создан из `checks/catalogue.py` командой `{cmd}`; вручную не редактируется.\n\n"
            "Критичность: `blocker` — онлайн-запись для затронутых людей невозможна, `warning` — "
            "запись затруднена. Сущность `*` (ROW.DUPLICATE_ID) означает сущность файла, в котором "
            "найден повтор, а поле `*` — столбец идентификатора этого файла. Официальные правила — "
            "идентификаторы проверок ФЛК из справочника ФФОМС Q015; пустая ячейка означает, что "
            "официального правила для проверки нет.\n\n"
            "Каталог v1.2: при наличии регистра застрахованных (`registry.csv`, см. "
            "data/README.md) каждый пациент связывается с лицом регистра (уровни: 1 — ЕНП полиса, "
            "2 — СНИЛС, 3 — ФИО и дата рождения, 4 — близкое совпадение; `checks/register.py`), "
            "выполняются проверки REG, а находки проверок, для которых это объявлено, содержат "
            "предлагаемое значение — то, что указано в регистре."
        ),
        "summary": "Сводная таблица",
        "cols": ("код", "критичность", "сущность", "поле", "механизм", "официальное правило"),
        "rules": "Использованные официальные правила",
        "rule_cols": ("идентификатор Q015", "элемент", "требование", "проверки"),
        "checks": "Проверки",
        "ru": "по-русски", "en": "по-английски", "name": "название", "message": "что не так",
        "fix": "как исправить",
        "impl": "Реализация", "tests": "Тесты", "rule": "Официальное правило", "none": "нет",
        "suggests": "Предлагаемое значение (при наличии регистра)",
    },
}


#: What each kind of suggestion (Check.suggests) is, for people.
SUGGESTION_TEXT = {
    "": {"en": "none", "ru": "нет"},
    "snils": {"en": "the register's SNILS as XXX-XXX-XXX YY, when it is valid",
              "ru": "СНИЛС по регистру в виде XXX-XXX-XXX YY, если он действителен"},
    "name": {"en": "the register's last, first and (non-empty) middle name, as written there, "
                   "joined by single spaces",
             "ru": "фамилия, имя и (непустое) отчество по регистру, как записаны там, через "
                   "пробел"},
    "birth_date": {"en": "the register's birth date as DD.MM.YYYY, when it parses",
                   "ru": "дата рождения по регистру в виде ДД.ММ.ГГГГ, если она читается"},
    "enp": {"en": "the register's ENP", "ru": "ЕНП по регистру"},
    "enp_if_insured": {"en": "the register's ENP, unless the register says the person died or "
                             "the policy is closed",
                       "ru": "ЕНП по регистру, если по регистру человек не умер и полис не "
                             "закрыт"},
    "attach_mo_code": {"en": "the MO the register's attachment names (empty: none)",
                       "ru": "код МО прикрепления по регистру (пусто — прикрепления нет)"},
    "death_date": {"en": "the register's date of death as DD.MM.YYYY",
                   "ru": "дата смерти по регистру в виде ДД.ММ.ГГГГ"},
    "other_patients": {"en": "the other patient_ids linked to the same person whose findings go "
                             "to the same clinic (all of them in the unassigned list), "
                             "ascending, joined by \", \"",
                       "ru": "другие patient_id, связанные с тем же лицом, чьи замечания "
                             "направлены в ту же МО (в списке нераспределённых — все), по "
                             "возрастанию, через \", \""},
    "smo_code": {"en": "the register's insurer code", "ru": "код СМО по регистру"},
    "policy_end": {"en": "the register's policy end date as DD.MM.YYYY",
                   "ru": "дата окончания полиса по регистру в виде ДД.ММ.ГГГГ"},
}


def implementation_of(check: Check) -> str:
    """Where the check is implemented, by engine."""
    if check.engine is Engine.PANDERA:
        return "checks/row_rules.py"
    if check.engine is Engine.SQL and check.code.startswith("REG."):
        return f"checks/sql/{check.code}.sql (run by checks/register.py, after the linking)"
    if check.engine is Engine.SQL:
        return f"checks/sql/{check.code}.sql (run by checks/set_rules.py)"
    if check.engine is Engine.GX:
        return "checks/feed.py (a Great Expectations suite built per run from the history)"
    return "flows/extract/reader.py"


def tests_of(check: Check) -> str:
    """Where the check is tested, by engine."""
    if check.code.startswith("REG."):
        return "tests/checks/test_register.py"
    if check.engine is Engine.GX:
        return "tests/checks/test_feed.py"
    return {
        Engine.PANDERA: "tests/checks/test_row_rules.py",
        Engine.SQL: "tests/checks/test_set_rules.py",
        Engine.INGEST: "tests/extract/",
    }[check.engine]


def _cell(text: str) -> str:
    return text.replace("|", "\\|") if text else ""


def _code(text: str) -> str:
    return f"`{text}`"


def render_markdown(lang: str = "en") -> str:
    """The catalogue as Markdown; `lang` ("en" or "ru") chooses the headings and notes."""
    if lang not in _TEXT:
        raise ValueError(f"lang must be one of {sorted(_TEXT)}, not {lang!r}")
    t = _TEXT[lang]
    out = [f"# {t['title']}", "", t["intro"].format(cmd=REGENERATE), "", f"## {t['summary']}", ""]
    out.append("| " + " | ".join(t["cols"]) + " |")
    out.append("|" + "---|" * len(t["cols"]))
    for c in CHECKS:
        row = (
            f"[{c.code}](#{_anchor(c.code)})", c.severity.value, _code(c.entity),
            _code(c.field), c.engine.value, c.rule,
        )
        out.append("| " + " | ".join(_cell(x) for x in row) + " |")

    out += ["", f"## {t['rules']}", "", "| " + " | ".join(t["rule_cols"]) + " |", "|---|---|---|---|"]
    used = sorted({r for c in CHECKS for r in c.rule_ids})
    for rule in used:
        element, note_en, note_ru = RULE_NOTES[rule]
        note = note_en if lang == "en" else note_ru
        users = ", ".join(c.code for c in CHECKS if rule in c.rule_ids)
        out.append(f"| {rule} | {_code(element)} | {_cell(note)} | {users} |")

    out += ["", f"## {t['checks']}", ""]
    for c in CHECKS:
        out += [
            f"### {c.code}",
            "",
            f"- **{c.severity.value}** · {t['cols'][2]} {_code(c.entity)} · "
            f"{t['cols'][3]} {_code(c.field)} · {t['cols'][4]} `{c.engine.value}`",
            f"- {t['rule']}: {c.rule or t['none']}",
            f"- {t['impl']}: `{implementation_of(c)}`",
            f"- {t['tests']}: `{tests_of(c)}`",
            f"- {t['suggests']}: {SUGGESTION_TEXT[c.suggests][lang]}",
            "",
            f"| | {t['ru']} | {t['en']} |",
            "|---|---|---|",
            f"| {t['name']} | {_cell(c.title_ru)} | {_cell(c.title_en)} |",
            f"| {t['message']} | {_cell(c.message_ru)} | {_cell(c.message_en)} |",
            f"| {t['fix']} | {_cell(c.fix_ru)} | {_cell(c.fix_en)} |",
            "",
        ]
    return "\n".join(out)


def _anchor(code: str) -> str:
    """GitHub-style heading anchor: lower case, dots dropped."""
    return code.lower().replace(".", "")


def main(argv: list[str]) -> int:
    lang = argv[0] if argv else "en"
    # Bytes, not text: the file is UTF-8 with "\n" whatever the console's encoding.
    sys.stdout.buffer.write(render_markdown(lang).encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
