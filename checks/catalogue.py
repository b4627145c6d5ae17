"""The check catalogue: each check declared once, with what a clinic clerk needs to act on it.

Engines: `pandera` (row-level rules of one extract, checks/row_rules.py), `sql` (set-level and
cross-table rules on the warehouse, checks/set_rules.py, optionally cross-checked in Great
Expectations; the register's REG rules, checks/register.py), `gx` (feed health: native Great
Expectations suites with bounds learned from earlier nights, checks/feed.py), `ingest` (lines
that could not be loaded, flows/extract/).

Conventions of the declaration (the generated docs, checks/CATALOGUE.md, list it for people):

- `entity` is one of ENTITIES. ROW.DUPLICATE_ID is raised on every extract file, so it declares
  OF_FILE ("*") for both `entity` and `field`: its finding carries the entity and the id column of
  the file it was found in (flows.extract.contract.ExtractFile.entity / .id_column), see
  `entity_for`.
- `field` names the column(s) the clerk must change, comma-separated (", ") where the defect can
  lie in several; checks about a missing record (PAT.POLICY.NONE, PAT.ATTACHMENT.NONE) name the
  key the missing record must carry (patient_id); ROW.MALFORMED names "line", the raw line.
- `rule` holds the official Q015 rule ids the check follows (the FFOMS format-and-logic control
  list, e.g. "004F.00.0270"), comma-separated; "" where no Q015 rule exists (identifier check
  numbers, duplicates, cross-file consistency, schedules). Only ids present in Q015 are used.
- Texts are static: the finding row itself shows the record, field and current value. `message`
  says what is wrong, `fix` exactly what to change and where, so a clerk can act without docs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from enum import Enum


class Severity(str, Enum):
    BLOCKER = "blocker"  # online booking fails for the people concerned
    WARNING = "warning"  # booking is degraded


class Engine(str, Enum):
    PANDERA = "pandera"
    SQL = "sql"
    INGEST = "ingest"
    GX = "gx"  # batch-level expectations with bounds learned from history (checks/feed.py)


#: Entity values of findings (issue 3, reading 13).
ENTITIES = ("patient", "policy", "attachment", "slot", "doctor", "mo_specialty", "file",
            "insured",  # a row of the register (ROW.DUPLICATE_ID on registry.csv)
            "mo")  # a clinic as a whole (feed health, catalogue v1.3)

#: What a finding's `suggested_value` holds: the value the insured-persons register (catalogue
#: v1.2) gives for the field to fix; "" = no suggestion. checks/register.py computes each.
SUGGESTIONS = ("", "snils", "name", "birth_date", "enp", "enp_if_insured", "attach_mo_code",
               "death_date", "other_patients", "smo_code", "policy_end")

#: Placeholder entity/field of checks raised per extract file: "of the file it was found in".
OF_FILE = "*"

_RULE_ID = r"[0-9]{3}F\.[0-9]{2}\.[0-9]{4}"
_RULES = re.compile(rf"^(?:{_RULE_ID}(?:, {_RULE_ID})*)?$")
_CODE = re.compile(r"^[A-Z]+(?:\.[A-Z_]+)+$")


@dataclass(frozen=True)
class Check:
    code: str
    severity: Severity
    entity: str  # patient | policy | attachment | slot | doctor | mo_specialty | file | * (ROW.DUPLICATE_ID)
    field: str
    engine: Engine
    rule: str  # official rule it follows (Q015 ids, ", "-separated) or "" where none exists
    title_ru: str
    title_en: str
    message_ru: str
    message_en: str
    fix_ru: str
    fix_en: str
    suggests: str = ""  # one of SUGGESTIONS: the register's value the finding suggests

    def message(self, lang: str = "ru") -> str:
        return self.message_en if lang == "en" else self.message_ru

    def fix(self, lang: str = "ru") -> str:
        return self.fix_en if lang == "en" else self.fix_ru

    def title(self, lang: str = "ru") -> str:
        return self.title_en if lang == "en" else self.title_ru

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(self.rule.split(", ")) if self.rule else ()

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(self.field.split(", "))


B, W = Severity.BLOCKER, Severity.WARNING
P, S, I, G = Engine.PANDERA, Engine.SQL, Engine.INGEST, Engine.GX

_SNILS_FORM_RU = "в формате XXX-XXX-XXX YY (например, 112-233-445 95)"
_SNILS_FORM_EN = "as XXX-XXX-XXX YY (e.g. 112-233-445 95)"
_DATE_FORM_RU = "в формате ДД.ММ.ГГГГ или ГГГГ-ММ-ДД (день и месяц двумя цифрами, год четырьмя)"
_DATE_FORM_EN = "as DD.MM.YYYY or YYYY-MM-DD (two-digit day and month, four-digit year)"

CHECKS: tuple[Check, ...] = (
    # ---------------------------------------------------------------- patients
    Check(
        "PAT.SNILS.MISSING", B, "patient", "snils", P, "",
        "Не указан СНИЛС пациента",
        "Patient's SNILS is missing",
        "В карточке пациента не заполнен СНИЛС (поле snils пустое). Без СНИЛС пациента нельзя "
        "однозначно идентифицировать, и онлайн-запись к врачу для него не работает.",
        "The patient's SNILS is not filled in (the snils field is empty). Without a SNILS the patient "
        "cannot be identified unambiguously, so online booking fails for them.",
        f"Внесите СНИЛС пациента в поле snils {_SNILS_FORM_RU}, сверив номер с документом пациента: "
        "страховым свидетельством или уведомлением о регистрации в системе индивидуального "
        "(персонифицированного) учёта.",
        f"Enter the patient's SNILS in the snils field {_SNILS_FORM_EN}, checking it against the "
        "patient's document: the SNILS certificate or the notice of registration in the individual "
        "(personalised) accounting system.",
        suggests="snils",
    ),
    Check(
        "PAT.SNILS.FORMAT", B, "patient", "snils", P, "004F.00.0480",
        "СНИЛС пациента записан в неверном формате",
        "Patient's SNILS has an invalid format",
        "СНИЛС записан в недопустимом виде. Допускаются только 11 цифр подряд или запись "
        "XXX-XXX-XXX YY; буквы (например, «О» вместо нуля), пробелы в начале или в конце, другие "
        "разделители, лишние или недостающие цифры не допускаются.",
        "The SNILS is written in a form that is not accepted. Only 11 digits in a row or "
        "XXX-XXX-XXX YY are accepted; letters (e.g. the letter O instead of zero), leading or "
        "trailing spaces, other separators, extra or missing digits are not.",
        f"Исправьте поле snils: запишите 11 цифр СНИЛС {_SNILS_FORM_RU} без пробелов в начале и в "
        "конце; букву «О» замените цифрой 0. Номер сверьте с документом пациента.",
        f"Correct the snils field: write the 11 SNILS digits {_SNILS_FORM_EN} with no leading or "
        "trailing spaces; replace a letter O with the digit 0. Check the number against the "
        "patient's document.",
        suggests="snils",
    ),
    Check(
        "PAT.SNILS.CHECKSUM", B, "patient", "snils", P, "",
        "СНИЛС пациента не проходит проверку контрольного числа",
        "Patient's SNILS fails the check-number test",
        "СНИЛС записан в допустимом формате, но две последние цифры (контрольное число) не "
        "соответствуют первым девяти либо первые девять цифр не превышают 001-001-998. Такой номер "
        "не может быть действительным — вероятна опечатка.",
        "The SNILS has an accepted format, but its last two digits (the check number) do not match "
        "the first nine, or the first nine digits do not exceed 001-001-998. Such a number cannot be "
        "valid; most likely it contains a typo.",
        "Сверьте СНИЛС в поле snils с документом пациента цифра за цифрой и исправьте опечатку "
        "(чаще всего переставлены соседние цифры или одна цифра пропущена либо заменена). Не "
        "подбирайте контрольное число — внесите номер точно по документу.",
        "Compare the SNILS in the snils field with the patient's document digit by digit and correct "
        "the typo (usually two adjacent digits are swapped, or a digit is missing or mistyped). Do "
        "not adjust the check number to fit: enter the number exactly as in the document.",
        suggests="snils",
    ),
    Check(
        "PAT.SNILS.DUPLICATE", B, "patient", "snils", S, "",
        "Один СНИЛС указан у нескольких пациентов",
        "Same SNILS on several patients",
        "Этот СНИЛС указан у двух или более пациентов с разными patient_id (записи XXX-XXX-XXX YY и "
        "11 цифр подряд считаются одним номером). СНИЛС уникален: либо у кого-то из них он указан "
        "ошибочно, либо один человек заведён в системе несколько раз.",
        "This SNILS appears on two or more patients with different patient_id values "
        "(XXX-XXX-XXX YY and 11 digits in a row count as the same number). A SNILS is unique: either "
        "it is wrong for some of them, or one person has been registered more than once.",
        "Найдите в файле пациентов все записи с этим СНИЛС и сверьте их с документами. Если это "
        "один человек — объедините карточки и оставьте одну; если разные люди — исправьте поле snils "
        "у тех, кому этот номер не принадлежит.",
        "Find every record with this SNILS in the patients file and check them against the "
        "documents. If they are one person, merge the records and keep one; if they are different "
        "people, correct the snils field of those the number does not belong to.",
    ),
    Check(
        "PAT.NAME.INVALID", B, "patient", "last_name, first_name, middle_name", P,
        "003F.00.0160, 003F.00.0200, 004F.00.0350, 004F.00.0360, 004F.00.0370",
        "Ошибка в ФИО пациента",
        "Invalid patient name",
        "Фамилия, имя или отчество пациента заполнены с ошибкой: не указана фамилия или имя либо в "
        "ФИО есть латинские буквы, похожие на русские (A, E, O, C, P, X и другие), цифры, двойные "
        "пробелы, пробелы в начале или в конце, посторонние знаки.",
        "The patient's surname, first name or patronymic is invalid: the surname or first name is "
        "empty, or the name contains Latin letters that look like Cyrillic ones (A, E, O, C, P, X and "
        "others), digits, double spaces, leading or trailing spaces, or stray characters.",
        "Исправьте поля last_name, first_name и middle_name по документу, удостоверяющему личность: "
        "только русские буквы (с «ё», если она есть в документе); части двойной фамилии или имени "
        "разделяйте одним дефисом, пробелом или апострофом; без пробелов в начале и в конце. "
        "Похожие латинские буквы наберите заново в русской раскладке. Если отчества в документе нет, "
        "оставьте поле middle_name пустым.",
        "Correct last_name, first_name and middle_name from the patient's identity document: "
        "Cyrillic letters only (including yo where the document has it); separate the parts of a "
        "double name with a single hyphen, space or apostrophe; no leading or trailing spaces. Retype "
        "look-alike Latin letters on the Russian keyboard layout. If the document has no "
        "patronymic, leave middle_name empty.",
        suggests="name",
    ),
    Check(
        "PAT.BIRTHDATE.INVALID", B, "patient", "birth_date", P, "003F.00.2200, 004F.00.0380",
        "Ошибка в дате рождения пациента",
        "Invalid patient birth date",
        "Дата рождения пациента не указана, записана в неверном формате (допустимы ДД.ММ.ГГГГ и "
        "ГГГГ-ММ-ДД), не существует (например, 31.02), позже даты выгрузки или раньше 01.01.1900.",
        "The patient's birth date is empty, has an invalid format (DD.MM.YYYY and YYYY-MM-DD are "
        "accepted), does not exist (e.g. 31.02), is after the extract date or before 01.01.1900.",
        f"Укажите в поле birth_date дату рождения по документу пациента {_DATE_FORM_RU}, например "
        "05.03.1984, без пробелов и без времени.",
        f"Enter the birth date from the patient's document in the birth_date field {_DATE_FORM_EN}, "
        "e.g. 05.03.1984, with no spaces and no time.",
        suggests="birth_date",
    ),
    Check(
        "PAT.SEX.INVALID", W, "patient", "sex", P, "001F.00.0110",
        "Неверный код пола пациента",
        "Invalid patient sex code",
        "Код пола пациента недопустим: разрешены только коды 1 (мужской) и 2 (женский) "
        "классификатора V005.",
        "The patient's sex code is not accepted: only codes 1 (male) and 2 (female) of classifier "
        "V005 are allowed.",
        "Укажите в поле sex код 1 (мужской) или 2 (женский) по документу пациента — одну цифру, "
        "без пробелов; буквы («М», «Ж») не допускаются.",
        "Enter 1 (male) or 2 (female) in the sex field according to the patient's document: a single "
        "digit with no spaces; letters (M, F) are not accepted.",
    ),
    Check(
        "PAT.POLICY.NONE", B, "patient", "patient_id", S, "",
        "У пациента нет действующего полиса ОМС",
        "Patient has no active OMS policy",
        "На дату выгрузки у пациента нет действующего полиса ОМС: полисов нет, срок их действия "
        "истёк или ещё не начался либо даты полиса не заполнены или записаны с ошибкой. Без "
        "действующего полиса онлайн-запись к врачу невозможна.",
        "On the extract date the patient has no active OMS policy: there is none, it has expired or "
        "not started yet, or its dates are empty or invalid. Without an active policy online booking "
        "is impossible.",
        "Уточните у пациента действующий полис ОМС (или проверьте страховую принадлежность в ТФОМС) "
        "и внесите его в файл полисов с patient_id этого пациента: тип (policy_type), ЕНП (enp) или "
        "номер, код страховой медицинской организации (smo_code), дату начала действия "
        "(date_begin). Если полис в файле есть, исправьте его даты date_begin и date_end.",
        "Ask the patient for their current OMS policy (or check their insurance with the territorial "
        "OMS fund) and add it to the policies file with this patient's patient_id: type "
        "(policy_type), ENP (enp) or number, insurer code (smo_code) and start date (date_begin). If "
        "the policy is already in the file, correct its date_begin and date_end.",
        suggests="enp_if_insured",
    ),
    Check(
        "PAT.ATTACHMENT.NONE", B, "patient", "patient_id", S, "",
        "Пациент не прикреплён к медицинской организации",
        "Patient is not attached to a clinic",
        "У пациента есть действующий полис ОМС, но на дату выгрузки нет действующего прикрепления к "
        "медицинской организации, поэтому записаться онлайн к участковому врачу он не может.",
        "The patient has an active OMS policy but no active attachment to a clinic on the extract "
        "date, so they cannot book their primary-care doctor online.",
        "Если пациент обслуживается в вашей медицинской организации, оформите прикрепление по его "
        "заявлению и внесите запись в файл прикреплений: patient_id пациента, код МО (mo_code), "
        "способ прикрепления (attach_method) и дату прикрепления (attach_date). Если прикрепление в "
        "файле есть, проверьте его даты attach_date и detach_date.",
        "If the patient is served by your clinic, register the attachment on the patient's "
        "application and add it to the attachments file: the patient's patient_id, the clinic code "
        "(mo_code), the attachment method (attach_method) and the attachment date (attach_date). If "
        "the attachment is already in the file, check its attach_date and detach_date.",
        suggests="attach_mo_code",
    ),
    # ---------------------------------------------------------------- policies
    Check(
        "POL.TYPE.UNKNOWN", B, "policy", "policy_type", P, "001F.00.0060",
        "Неизвестный тип полиса",
        "Unknown policy type",
        "Тип полиса (policy_type) не является кодом классификатора F008, действующим на дату "
        "выгрузки. Код сравнивается как текст: «03» или « 3» не равны «3».",
        "The policy type (policy_type) is not an F008 code valid on the extract date. The code is "
        "compared as text: \"03\" or \" 3\" is not \"3\".",
        "Укажите в поле policy_type код вида документа по классификатору F008 без пробелов и "
        "ведущих нулей, как правило: 1 — полис ОМС старого образца, 2 — временное свидетельство, "
        "3 — полис ОМС единого образца.",
        "Enter the F008 document type code in policy_type with no spaces or leading zeros, usually: "
        "1 for an old-style OMS policy, 2 for a temporary certificate, 3 for a uniform OMS policy.",
    ),
    Check(
        "POL.ENP.MISSING", B, "policy", "enp", P, "003F.00.0100",
        "Не указан ЕНП полиса единого образца",
        "ENP missing on a uniform policy",
        "Полис единого образца (policy_type = 3), но единый номер полиса (поле enp) не заполнен; по "
        "такому полису пациента нельзя идентифицировать при записи к врачу.",
        "The policy is a uniform policy (policy_type 3) but its unified policy number (enp) is "
        "empty; the patient cannot be identified by it when booking.",
        "Внесите в поле enp 16-значный единый номер полиса с полиса пациента или из выписки о "
        "полисе — только цифры, без пробелов.",
        "Enter the 16-digit unified policy number (ENP) in the enp field, from the patient's policy "
        "or policy statement: digits only, no spaces.",
        suggests="enp",
    ),
    Check(
        "POL.ENP.FORMAT", B, "policy", "enp", P, "004F.00.0270",
        "ЕНП записан в неверном формате",
        "ENP has an invalid format",
        "Единый номер полиса (enp) должен состоять ровно из 16 цифр; здесь есть пробелы, буквы или "
        "другие знаки либо цифр больше или меньше 16.",
        "The unified policy number (enp) must be exactly 16 digits; this one contains spaces, "
        "letters or other characters, or has more or fewer than 16 digits.",
        "Исправьте поле enp: 16 цифр подряд, без пробелов, дефисов и букв, точно как на полисе "
        "пациента или в выписке о полисе.",
        "Correct the enp field: 16 digits in a row, with no spaces, hyphens or letters, exactly as on "
        "the patient's policy or policy statement.",
        suggests="enp",
    ),
    Check(
        "POL.ENP.CHECKSUM", B, "policy", "enp", P, "",
        "ЕНП не проходит проверку контрольной цифры",
        "ENP fails the check-digit test",
        "ЕНП состоит из 16 цифр, но последняя (контрольная) цифра не соответствует остальным "
        "(алгоритм Луна). Такого номера не существует — вероятна опечатка.",
        "The ENP has 16 digits but its last (check) digit does not match the others (Luhn "
        "algorithm). No such number exists; most likely it contains a typo.",
        "Сверьте поле enp с полисом пациента или выпиской о полисе цифра за цифрой и исправьте "
        "опечатку; не подбирайте контрольную цифру.",
        "Compare the enp field with the patient's policy or policy statement digit by digit and "
        "correct the typo; do not adjust the check digit to fit.",
        suggests="enp",
    ),
    Check(
        "POL.NUMBER.FORMAT", B, "policy", "policy_series, policy_number", P,
        "004F.00.0220, 004F.00.0230, 004F.00.0240, 003F.00.0080",
        "Ошибка в серии или номере полиса",
        "Invalid policy series or number",
        "Серия или номер полиса не соответствуют типу полиса: у временного свидетельства (тип 2) "
        "номер должен состоять ровно из 9 цифр; у полиса старого образца (тип 1) должны быть "
        "заполнены и серия, и номер; у временного свидетельства и полиса единого образца (типы 2 и "
        "3) серии быть не должно.",
        "The policy series or number does not match the policy type: a temporary certificate (type "
        "2) must have a number of exactly 9 digits; an old-style policy (type 1) must have both a "
        "series and a number; temporary certificates and uniform policies (types 2 and 3) must have "
        "no series.",
        "Сверьте поля policy_series и policy_number с документом пациента: для типа 2 укажите "
        "9-значный номер временного свидетельства и очистите серию; для типа 1 заполните серию и "
        "номер; для типа 3 очистите серию (номер полиса указывается в поле enp). Если неверен сам "
        "тип, исправьте policy_type.",
        "Check policy_series and policy_number against the patient's document: for type 2 enter the "
        "9-digit certificate number and clear the series; for type 1 fill in both series and number; "
        "for type 3 clear the series (the policy number goes in enp). If the type itself is wrong, "
        "correct policy_type.",
    ),
    Check(
        "POL.SMO.UNKNOWN", B, "policy", "smo_code", S, "001F.00.0080",
        "Страховая компания полиса отсутствует в реестре",
        "Policy insurer not in the registry",
        "Код страховой медицинской организации (smo_code) действующего полиса не найден в реестре "
        "СМО (F002) либо эта СМО на дату выгрузки исключена из реестра. Код сравнивается как текст.",
        "The insurer code (smo_code) of this active policy is not in the insurers' registry (F002), "
        "or that insurer is out of the registry on the extract date. The code is compared as text.",
        "Уточните у пациента или в ТФОМС его текущую страховую медицинскую организацию и укажите в "
        "поле smo_code её код из реестра F002 (5 цифр). Если СМО исключена из реестра, пациенту "
        "нужно выбрать новую — внесите новый полис.",
        "Confirm the patient's current insurer with the patient or the territorial OMS fund and "
        "enter its code from the F002 registry (5 digits) in smo_code. If the insurer has left the "
        "registry, the patient must choose a new one: add the new policy.",
    ),
    Check(
        "POL.DATES.INVALID", W, "policy", "date_begin, date_end", P, "",
        "Ошибка в датах полиса",
        "Invalid policy dates",
        "Дата начала действия полиса (date_begin) не указана или записана с ошибкой, дата окончания "
        "(date_end) записана с ошибкой либо окончание раньше начала. Такой полис не считается "
        "действующим.",
        "The policy start date (date_begin) is empty or invalid, the end date (date_end) is invalid, "
        "or the end is before the start. Such a policy is not considered active.",
        f"Исправьте даты по документу пациента {_DATE_FORM_RU}: date_begin заполняется всегда, "
        "date_end — только если срок действия полиса ограничен (у бессрочного полиса оставьте её "
        "пустой); дата окончания не может быть раньше даты начала.",
        f"Correct the dates from the patient's document {_DATE_FORM_EN}: date_begin is always "
        "required, date_end only if the policy has an end date (leave it empty for a policy with no "
        "end date); the end date cannot be before the start date.",
    ),
    Check(
        "POL.ACTIVE.MULTIPLE", B, "policy", "date_end", S, "",
        "У пациента несколько действующих полисов",
        "Patient has several active policies",
        "У этого пациента (patient_id) на дату выгрузки действуют два полиса ОМС или больше. "
        "Действующим может быть только один полис, поэтому при записи невозможно определить "
        "страховую принадлежность.",
        "This patient (patient_id) has two or more OMS policies active on the extract date. Only one "
        "policy can be active, so the patient's insurer cannot be determined when booking.",
        "Оставьте действующим только текущий полис пациента (уточните его у пациента или в ТФОМС): "
        "в прежних полисах укажите date_end — день, предшествующий началу действия нового полиса. "
        "Если полис внесён дважды, удалите дубль.",
        "Keep only the patient's current policy active (confirm it with the patient or the "
        "territorial OMS fund): set date_end of the earlier policies to the day before the new "
        "policy starts. If a policy was entered twice, delete the duplicate.",
    ),
    Check(
        "POL.PATIENT.ORPHAN", B, "policy", "patient_id", S, "",
        "Полис ссылается на отсутствующего пациента",
        "Policy refers to a missing patient",
        "Пациента с таким patient_id нет в файле пациентов (или его строку не удалось прочитать), "
        "поэтому полис не относится ни к одному пациенту.",
        "There is no patient with this patient_id in the patients file (or that patient's line "
        "could not be read), so the policy belongs to nobody.",
        "Исправьте patient_id полиса на идентификатор пациента из файла пациентов или добавьте "
        "карточку пациента; если полис внесён ошибочно, удалите его.",
        "Correct the policy's patient_id to the patient's id in the patients file, or add the "
        "patient's record; if the policy was entered by mistake, delete it.",
    ),
    # ---------------------------------------------------------------- attachments
    Check(
        "ATT.MO.UNKNOWN", B, "attachment", "mo_code", S, "001F.00.0200",
        "Прикрепление к медицинской организации, которой нет в реестре",
        "Attachment to a clinic not in the registry",
        "Код медицинской организации (mo_code) действующего прикрепления не найден в реестре "
        "медицинских организаций (F003). Код сравнивается как текст.",
        "The clinic code (mo_code) of this active attachment is not in the registry of medical "
        "organisations (F003). The code is compared as text.",
        "Укажите в поле mo_code реестровый код вашей медицинской организации по реестру F003 "
        "(6 цифр, без пробелов и других знаков). Если прикрепление внесено ошибочно, закройте его, "
        "указав дату открепления detach_date.",
        "Enter your clinic's registry code from F003 (6 digits, no spaces or other characters) in "
        "mo_code. If the attachment was entered by mistake, close it by setting detach_date.",
        suggests="attach_mo_code",
    ),
    Check(
        "ATT.MO.EXCLUDED", B, "attachment", "mo_code", S, "001F.00.0200",
        "Прикрепление к медицинской организации, исключённой из реестра",
        "Attachment to a clinic excluded from the registry",
        "Действующее прикрепление относится к медицинской организации, которая на дату выгрузки "
        "исключена из реестра (F003): все периоды её участия в ОМС закончились. Записаться к врачам "
        "этой МО по ОМС пациент не может.",
        "This active attachment is to a clinic that is excluded from the registry (F003) on the "
        "extract date: all its periods of participation in OMS have ended. The patient cannot book "
        "its doctors under OMS.",
        "Закройте это прикрепление, указав дату открепления detach_date, и по заявлению пациента "
        "прикрепите его к действующей медицинской организации. Если код МО указан ошибочно, "
        "исправьте mo_code.",
        "Close this attachment by setting detach_date and, on the patient's application, attach the "
        "patient to a clinic that is in the registry. If the clinic code is wrong, correct mo_code.",
        suggests="attach_mo_code",
    ),
    Check(
        "ATT.POLICY.REGION", B, "attachment", "mo_code", S, "",
        "МО прикрепления и территория страхования полиса — в разных регионах",
        "Clinic and policy are in different regions",
        "Медицинская организация прикрепления и территория страхования действующего полиса "
        "пациента относятся к разным субъектам РФ: первые две цифры кода МО (mo_code) не совпадают "
        "с кодом ТФОМС (F010), соответствующим ОКАТО полиса (okato).",
        "The attached clinic is in a different region than the territory of the patient's active "
        "policy: the first two digits of the clinic code (mo_code) differ from the territorial fund "
        "code (F010) of the policy's OKATO (okato).",
        "Проверьте код МО (mo_code) в прикреплении и ОКАТО территории страхования (okato) в полисе "
        "пациента и исправьте ошибочное значение. Если пациент сменил регион, закройте прикрепление "
        "к МО прежнего региона, указав detach_date.",
        "Check the clinic code (mo_code) in the attachment and the insurance territory OKATO "
        "(okato) in the patient's policy and correct the wrong one. If the patient has moved to "
        "another region, close the attachment to the clinic of the old region by setting "
        "detach_date.",
    ),
    Check(
        "ATT.ACTIVE.MULTIPLE", B, "attachment", "detach_date", S, "",
        "У пациента несколько действующих прикреплений",
        "Patient has several active attachments",
        "У этого пациента (patient_id) на дату выгрузки два действующих прикрепления или больше. "
        "Действующим может быть только одно прикрепление, поэтому неясно, к какому участковому "
        "врачу пациент может записаться.",
        "This patient (patient_id) has two or more attachments active on the extract date. Only one "
        "attachment can be active, so it is unclear which primary-care doctor the patient can book.",
        "Оставьте действующим только актуальное прикрепление (по последнему заявлению пациента): в "
        "остальных укажите дату открепления detach_date. Если прикрепление внесено дважды, удалите "
        "дубль.",
        "Keep only the current attachment active (the one from the patient's latest application): "
        "set detach_date on the others. If an attachment was entered twice, delete the duplicate.",
    ),
    Check(
        "ATT.DATES.INVALID", W, "attachment", "attach_date, detach_date", S, "",
        "Ошибка в датах прикрепления",
        "Invalid attachment dates",
        "Дата прикрепления (attach_date) не указана, записана с ошибкой, позже даты выгрузки или "
        "раньше даты рождения пациента либо дата открепления (detach_date) записана с ошибкой или "
        "раньше даты прикрепления.",
        "The attachment date (attach_date) is empty, invalid, after the extract date or before the "
        "patient's birth date, or the detachment date (detach_date) is invalid or before the "
        "attachment date.",
        f"Исправьте даты по заявлению о прикреплении {_DATE_FORM_RU}: attach_date заполняется "
        "всегда и не может быть позже даты выгрузки или раньше даты рождения пациента; "
        "detach_date — только при откреплении и не раньше attach_date.",
        f"Correct the dates from the attachment application {_DATE_FORM_EN}: attach_date is always "
        "required and cannot be after the extract date or before the patient's birth date; "
        "detach_date only on detachment and not before attach_date.",
    ),
    Check(
        "ATT.METHOD.INVALID", W, "attachment", "attach_method", P, "",
        "Неверный способ прикрепления",
        "Invalid attachment method",
        "Способ прикрепления (attach_method) действующего прикрепления не равен 1, 2 или 3.",
        "The attachment method (attach_method) of this active attachment is not 1, 2 or 3.",
        "Укажите в поле attach_method код способа прикрепления по заявлению пациента: 1, 2 или 3 — "
        "одну цифру, без пробелов.",
        "Enter the attachment method code from the patient's application in attach_method: 1, 2 or "
        "3, a single digit with no spaces.",
    ),
    Check(
        "ATT.DOCTOR.SNILS", W, "attachment", "doctor_snils", P, "",
        "Неверный СНИЛС участкового врача в прикреплении",
        "Invalid doctor's SNILS in the attachment",
        "У действующего прикрепления не указан СНИЛС участкового врача (doctor_snils) или он "
        "недействителен: неверный формат или контрольное число.",
        "The doctor's SNILS (doctor_snils) of this active attachment is empty or not valid: wrong "
        "format or check number.",
        f"Укажите в поле doctor_snils СНИЛС участкового врача, к которому прикреплён пациент, "
        f"{_SNILS_FORM_RU}, сверив его с кадровыми данными врача.",
        f"Enter the SNILS of the patient's primary-care doctor in doctor_snils {_SNILS_FORM_EN}, "
        "checking it against the doctor's personnel record.",
    ),
    Check(
        "ATT.PATIENT.ORPHAN", B, "attachment", "patient_id", S, "",
        "Прикрепление ссылается на отсутствующего пациента",
        "Attachment refers to a missing patient",
        "Пациента с таким patient_id нет в файле пациентов (или его строку не удалось прочитать), "
        "поэтому прикрепление не относится ни к одному пациенту.",
        "There is no patient with this patient_id in the patients file (or that patient's line "
        "could not be read), so the attachment belongs to nobody.",
        "Исправьте patient_id прикрепления на идентификатор пациента из файла пациентов или добавьте "
        "карточку пациента; если прикрепление внесено ошибочно, удалите его.",
        "Correct the attachment's patient_id to the patient's id in the patients file, or add the "
        "patient's record; if the attachment was entered by mistake, delete it.",
    ),
    # ---------------------------------------------------------------- schedule
    Check(
        "SCH.MO.UNKNOWN", B, "slot", "mo_code", S, "001F.00.0200",
        "Слот в медицинской организации, которой нет в реестре",
        "Slot at a clinic not in the registry",
        "Предстоящий слот расписания относится к медицинской организации (mo_code), которой нет в "
        "реестре F003 или которая исключена из реестра на дату выгрузки; записаться на такой слот "
        "по ОМС нельзя.",
        "This upcoming slot belongs to a clinic (mo_code) that is not in the F003 registry or is "
        "excluded from it on the extract date; it cannot be booked under OMS.",
        "Укажите в поле mo_code слота реестровый код вашей медицинской организации по F003 "
        "(6 цифр, без пробелов). Если МО исключена из реестра, закройте её расписание: переведите "
        "слоты в статус blocked.",
        "Enter your clinic's F003 registry code (6 digits, no spaces) in the slot's mo_code. If the "
        "clinic is excluded from the registry, close its schedule: set the slots' status to blocked.",
    ),
    Check(
        "SCH.SPECIALTY.UNKNOWN", B, "slot", "specialty_code", S, "001F.00.0310",
        "Неизвестная специальность врача в слоте",
        "Unknown doctor specialty in the slot",
        "Специальность врача (specialty_code) предстоящего слота не является кодом классификатора "
        "V021, действующим на дату приёма; такой слот не найдётся при поиске врача по "
        "специальности.",
        "The doctor's specialty (specialty_code) of this upcoming slot is not a V021 code valid on "
        "the appointment date; patients searching by specialty will not find the slot.",
        "Укажите в поле specialty_code код специальности врача по классификатору V021, "
        "действующий на дату приёма, — без пробелов и ведущих нулей.",
        "Enter the doctor's specialty code from classifier V021, valid on the appointment date, in "
        "specialty_code, with no spaces or leading zeros.",
    ),
    Check(
        "SCH.SLOT.INVALID", W, "slot", "slot_start, slot_end, status, patient_id", P, "",
        "Ошибка в слоте расписания",
        "Invalid schedule slot",
        "Слот расписания заполнен с ошибкой: время начала или окончания (slot_start, slot_end) не "
        "указано или записано в неверном формате, окончание не позже начала, статус (status) не "
        "равен free, booked или blocked либо у занятого слота (booked) не указан пациент, а у "
        "свободного (free) — указан.",
        "The slot is invalid: its start or end time (slot_start, slot_end) is empty or has an "
        "invalid format, the end is not after the start, the status is not free, booked or blocked, "
        "or a booked slot has no patient or a free slot has one.",
        "Исправьте слот: slot_start и slot_end — в формате ДД.ММ.ГГГГ ЧЧ:ММ или ГГГГ-ММ-ДД ЧЧ:ММ "
        "(часы от 00 до 23, без часового пояса), окончание позже начала; status — одно из значений "
        "free, booked, blocked; patient_id заполняется только у занятого слота (booked).",
        "Correct the slot: slot_start and slot_end as DD.MM.YYYY HH:MM or YYYY-MM-DD HH:MM (hours "
        "00 to 23, no time zone), the end after the start; status one of free, booked, blocked; "
        "patient_id filled in only on a booked slot.",
    ),
    Check(
        "SCH.PAST.FREE", W, "slot", "status", P, "",
        "Прошедший слот отмечен как свободный",
        "Past slot still marked free",
        "Слот в прошлом (начало раньше момента выгрузки) по-прежнему отмечен как свободный (free): "
        "расписание не обновляется, а сведения о доступности записи искажаются.",
        "A slot in the past (starting before the extract moment) is still marked free: the schedule "
        "is not being updated, and the availability figures are distorted.",
        "Закройте прошедшие свободные слоты: укажите status = blocked или удалите их из "
        "расписания; проверьте, что выгрузка расписания из МИС обновляет статусы слотов.",
        "Close past free slots: set status = blocked or remove them from the schedule; check that "
        "the schedule export from the clinic's information system updates slot statuses.",
    ),
    Check(
        "SCH.DOCTOR.INACTIVE", B, "slot", "doctor_status", P, "",
        "Свободный слот у неработающего врача",
        "Free slot of a doctor who is not working",
        "Предстоящий свободный слот открыт для записи к врачу, который не работает (doctor_status "
        "не active: врач в отпуске или уволен); пациент запишется к врачу, который его не примет.",
        "This upcoming free slot is open for booking with a doctor who is not working "
        "(doctor_status is not active: on leave or dismissed); the patient would book a doctor who "
        "will not see them.",
        "Переведите свободные слоты этого врача на период его отсутствия в статус blocked или "
        "передайте их другому врачу; если врач работает, исправьте doctor_status на active.",
        "Set this doctor's free slots for the period of absence to blocked, or reassign them to "
        "another doctor; if the doctor is working, correct doctor_status to active.",
    ),
    Check(
        "SCH.OVERLAP", W, "slot", "slot_start, slot_end", S, "",
        "Пересекающиеся слоты врача",
        "Overlapping slots of a doctor",
        "Этот слот пересекается по времени с другим предстоящим слотом того же врача (doctor_id); "
        "ни один из них не заблокирован, и заняты не оба, поэтому на одно время к врачу могут "
        "записаться два пациента.",
        "This slot overlaps in time with another upcoming slot of the same doctor (doctor_id); "
        "neither is blocked and they are not both booked, so two patients can book the doctor for "
        "the same time.",
        "Исправьте время слотов врача (slot_start, slot_end) так, чтобы они не пересекались, или "
        "заблокируйте лишний слот (status = blocked).",
        "Correct the doctor's slot times (slot_start, slot_end) so that they do not overlap, or "
        "block the extra slot (status = blocked).",
    ),
    Check(
        "SCH.DOUBLE_BOOKING", B, "slot", "slot_start, slot_end", S, "",
        "Двойная запись к врачу",
        "Double booking of a doctor",
        "На пересекающееся время к одному врачу (doctor_id) записаны два разных пациента: этот "
        "занятый слот перекрывается по времени с другим занятым слотом того же врача.",
        "Two different patients are booked with the same doctor (doctor_id) at overlapping times: "
        "this booked slot overlaps another booked slot of the same doctor.",
        "Свяжитесь с одним из пациентов и перенесите его запись на свободное время; затем исправьте "
        "время слотов (slot_start, slot_end), чтобы занятые слоты врача не перекрывались.",
        "Contact one of the patients and move their appointment to a free time; then correct the "
        "slot times (slot_start, slot_end) so that the doctor's booked slots do not overlap.",
    ),
    Check(
        "SCH.BOOKED.ORPHAN", W, "slot", "patient_id", S, "",
        "Слот занят отсутствующим пациентом",
        "Slot booked by a missing patient",
        "Предстоящий слот занят (booked) пациентом, которого нет в файле пациентов: patient_id не "
        "найден.",
        "This upcoming slot is booked by a patient who is not in the patients file: the patient_id "
        "is not found.",
        "Проверьте запись: исправьте patient_id слота на идентификатор пациента из файла пациентов "
        "или добавьте карточку пациента; если запись ошибочна, освободите слот (status = free, "
        "patient_id пустой).",
        "Check the appointment: correct the slot's patient_id to the patient's id in the patients "
        "file, or add the patient's record; if the appointment is wrong, free the slot (status = "
        "free, empty patient_id).",
    ),
    Check(
        "SCH.STALE", B, "doctor", "updated_at", S, "",
        "Расписание врача давно не обновлялось",
        "Doctor's schedule is stale",
        "Расписание врача (doctor_id) давно не обновлялось: последнее обновление его предстоящих "
        "слотов (updated_at) старше допустимого срока (по умолчанию 24 часа до момента выгрузки) "
        "или время обновления не указано. Пациенты видят устаревшие свободные слоты.",
        "The doctor's schedule (doctor_id) has not been updated for too long: the latest update of "
        "their upcoming slots (updated_at) is older than allowed (24 hours before the extract moment "
        "by default) or the update time is missing. Patients see outdated free slots.",
        "Проверьте передачу расписания этого врача из МИС и выгрузите актуальное расписание; у "
        "каждого слота в поле updated_at должно быть время последнего изменения в формате "
        "ГГГГ-ММ-ДД ЧЧ:ММ или ДД.ММ.ГГГГ ЧЧ:ММ.",
        "Check the transfer of this doctor's schedule from the clinic's information system and "
        "export the current schedule; every slot's updated_at must hold the time of its last change "
        "as YYYY-MM-DD HH:MM or DD.MM.YYYY HH:MM.",
    ),
    Check(
        "SCH.DOCTOR.SNILS", W, "doctor", "doctor_snils", S, "",
        "Неверный СНИЛС врача в расписании",
        "Invalid doctor's SNILS in the schedule",
        "Хотя бы в одном предстоящем слоте врача (doctor_id) СНИЛС врача (doctor_snils) не указан "
        "или недействителен: неверный формат или контрольное число. Без действительного СНИЛС врач "
        "не может быть однозначно идентифицирован.",
        "In at least one upcoming slot of the doctor (doctor_id) the doctor's SNILS (doctor_snils) "
        "is empty or not valid: wrong format or check number. Without a SNILS the doctor cannot be "
        "identified unambiguously.",
        f"Укажите во всех слотах этого врача его СНИЛС (doctor_snils) {_SNILS_FORM_RU}, сверив "
        "номер с кадровыми данными врача.",
        f"Enter the doctor's SNILS in doctor_snils of all their slots {_SNILS_FORM_EN}, checking it "
        "against the doctor's personnel record.",
    ),
    Check(
        "SCH.HORIZON.EMPTY", W, "mo_specialty", "status", S, "",
        "Нет свободных слотов по специальности на горизонте записи",
        "No free slots for the specialty within the booking horizon",
        "В медицинской организации есть работающие врачи этой специальности с расписанием, но на "
        "ближайшие дни горизонта записи (по умолчанию 14 дней) нет ни одного свободного слота по "
        "этой специальности: записаться к такому специалисту онлайн невозможно.",
        "The clinic has working doctors of this specialty with a schedule, but there is not a "
        "single free slot for the specialty within the booking horizon (14 days by default): "
        "patients cannot book this specialist online.",
        "Откройте для записи свободные слоты (status = free) по этой специальности на ближайшие дни "
        "горизонта записи и проверьте, что расписание выгружается из МИС полностью.",
        "Open free slots (status = free) for this specialty within the booking horizon, and check "
        "that the schedule is exported from the clinic's information system in full.",
    ),
    # ---------------------------------------------------------------- insured-persons register (v1.2)
    Check(
        "REG.PERSON.NOT_FOUND", B, "patient", "last_name, first_name, middle_name", S, "",
        "Пациент не найден в регистре застрахованных",
        "Patient not found in the insured-persons register",
        "Пациента не удалось найти в регистре застрахованных лиц ТФОМС ни по ЕНП полиса, ни по "
        "СНИЛС, ни по ФИО и дате рождения. При онлайн-записи портал отвечает «пациент не "
        "идентифицирован», и записаться к врачу он не может.",
        "The patient could not be found in the TFOMS insured-persons register by the policy's ENP, "
        "by SNILS, or by full name and birth date. Online booking answers \"patient not "
        "identified\" and the patient cannot book a doctor.",
        "Сверьте по документам пациента ФИО (last_name, first_name, middle_name), дату "
        "рождения, СНИЛС и ЕНП полиса и исправьте расхождения в МИС. Если данные в МИС верны, а пациента нет в регистре, направьте его в "
        "страховую медицинскую организацию для оформления полиса ОМС.",
        "Check the patient's full name (last_name, first_name, middle_name), birth date, SNILS "
        "and the policy's ENP against the patient's documents and correct what differs in the clinic's system. If the clinic's "
        "data are right and the patient is not in the register, send the patient to an insurer "
        "to obtain an OMS policy.",
        suggests="",
    ),
    Check(
        "REG.PERSON.DECEASED", W, "patient", "patient_id", S, "",
        "Пациент умер по данным регистра застрахованных",
        "Patient is deceased according to the insured-persons register",
        "В регистре застрахованных у этого человека указана дата смерти, а в МИС у него остаются "
        "действующий полис или действующее прикрепление. Портал на такую запись отвечает "
        "«пациент умер»; слоты и списки участка при этом искажаются.",
        "The insured-persons register records a date of death for this person, while the "
        "clinic's system still holds an active policy or an active attachment. The portal answers "
        "\"patient deceased\" for such a record, and area lists and slots are distorted.",
        "Проверьте сведения о смерти (в предлагаемом значении — дата смерти по регистру). Если "
        "они подтверждаются, закройте в МИС полис и прикрепление пациента (patient_id) этой "
        "датой; если человек жив, сообщите в ТФОМС об ошибке в регистре.",
        "Verify the death record (the suggested value is the date of death in the register). If "
        "it is confirmed, close the policy and attachment of the patient (patient_id) in the "
        "clinic's system with that date; if the person is alive, report the register error to "
        "the TFOMS.",
        suggests="death_date",
    ),
    Check(
        "REG.PATIENT.DUPLICATE", B, "patient", "patient_id", S, "",
        "Один застрахованный заведён в МИС несколькими карточками",
        "One insured person has several patient records",
        "Несколько карточек пациентов в МИС соответствуют одному и тому же человеку в регистре "
        "застрахованных. Запись на приём и прикрепление расходятся по разным карточкам; портал "
        "находит не ту карточку или отвечает «пациент не идентифицирован».",
        "Several patient records of the clinic's system correspond to the same person in the "
        "insured-persons register. Bookings and the attachment are split across the records; "
        "the portal finds the wrong record or answers \"patient not identified\".",
        "Сравните карточку с карточками из предлагаемого значения (patient_id): если это один "
        "человек, объедините их; если разные люди, исправьте ФИО, дату рождения, СНИЛС или полис "
        "ошибочной карточки по документам. Карточки других МО не называются: если значение пусто, "
        "сверьте карточку с документами и сообщите в ТФОМС.",
        "Compare this record with the records named in the suggested value (patient_id): if they "
        "are one person, merge them; if different people, correct the name, birth date, SNILS or "
        "policy of the wrong record from the documents. Other clinics' records are not named: if "
        "the value is empty, check your record against the documents and tell the TFOMS.",
        suggests="other_patients",
    ),
    Check(
        "REG.NAME.MISMATCH", B, "patient", "last_name, first_name, middle_name", S, "",
        "ФИО пациента расходится с регистром застрахованных",
        "Patient's name differs from the insured-persons register",
        "ФИО пациента в МИС отличается от ФИО этого человека в регистре застрахованных (различия "
        "только в регистре букв, «ё»/«е» и пробелах не учитываются). Портал ищет пациента по "
        "ФИО и отвечает «пациент не идентифицирован».",
        "The patient's full name in the clinic's system differs from this person's name in the "
        "insured-persons register (differences only in letter case, yo/ye and spaces do not "
        "count). The portal looks the patient up by full name and answers \"patient not "
        "identified\".",
        "Сверьте ФИО с документом, удостоверяющим личность, и исправьте last_name, first_name и "
        "middle_name (в предлагаемом значении — ФИО по регистру). Если ошибка в регистре, "
        "направьте пациента в страховую медицинскую организацию.",
        "Check the name against the patient's identity document and correct last_name, "
        "first_name and middle_name (the suggested value is the name in the register). If the "
        "register is wrong, send the patient to the insurer.",
        suggests="name",
    ),
    Check(
        "REG.BIRTHDATE.MISMATCH", B, "patient", "birth_date", S, "",
        "Дата рождения пациента расходится с регистром застрахованных",
        "Patient's birth date differs from the insured-persons register",
        "Дата рождения пациента в МИС не совпадает с датой рождения этого человека в регистре "
        "застрахованных (часто переставлены день и месяц). Портал ищет пациента по ФИО и дате "
        "рождения и отвечает «пациент не идентифицирован».",
        "The patient's birth date in the clinic's system differs from this person's birth date in "
        "the insured-persons register (day and month are often swapped). The portal looks the "
        "patient up by name and birth date and answers \"patient not identified\".",
        "Сверьте дату рождения с документом пациента и исправьте поле birth_date (в предлагаемом "
        f"значении — дата по регистру) {_DATE_FORM_RU}.",
        "Check the birth date against the patient's document and correct birth_date (the "
        f"suggested value is the register's date) {_DATE_FORM_EN}.",
        suggests="birth_date",
    ),
    Check(
        "REG.SNILS.MISMATCH", B, "patient", "snils", S, "",
        "СНИЛС пациента расходится с регистром застрахованных",
        "Patient's SNILS differs from the insured-persons register",
        "СНИЛС пациента в МИС действителен, но не совпадает со СНИЛС этого человека в регистре "
        "застрахованных. Портал, ищущий пациента по СНИЛС, отвечает «пациент не "
        "идентифицирован» или находит другого человека.",
        "The patient's SNILS in the clinic's system is valid but differs from this person's "
        "SNILS in the insured-persons register. A portal that looks the patient up by SNILS "
        "answers \"patient not identified\" or finds somebody else.",
        f"Сверьте СНИЛС с документом пациента и исправьте поле snils {_SNILS_FORM_RU} (в "
        "предлагаемом значении — СНИЛС по регистру).",
        f"Check the SNILS against the patient's document and correct snils {_SNILS_FORM_EN} (the "
        "suggested value is the register's SNILS).",
        suggests="snils",
    ),
    Check(
        "REG.POLICY.ENP", B, "policy", "enp", S, "",
        "ЕНП действующего полиса не совпадает с регистром застрахованных",
        "Active policy's ENP differs from the insured-persons register",
        "У действующего полиса пациента ЕНП не совпадает с единым номером полиса этого человека "
        "в регистре застрахованных (старый полис, опечатка или номер другого человека). Портал "
        "ищет пациента по номеру полиса и отвечает «пациент не идентифицирован».",
        "The ENP of the patient's active policy differs from this person's unified policy number "
        "in the insured-persons register (an old policy, a typo, or somebody else's number). The "
        "portal looks the patient up by policy number and answers \"patient not identified\".",
        "Сверьте полис с документом пациента или выпиской из регистра и внесите в поле enp "
        "единый номер полиса (в предлагаемом значении — ЕНП по регистру); устаревший полис "
        "закройте.",
        "Check the policy against the patient's document or the register and enter the unified "
        "policy number in enp (the suggested value is the register's ENP); close an outdated "
        "policy.",
        suggests="enp",
    ),
    Check(
        "REG.POLICY.CLOSED", B, "policy", "date_end", S, "",
        "Полис закрыт в регистре застрахованных",
        "Policy closed in the insured-persons register",
        "В МИС полис пациента действующий, а в регистре застрахованных страхование этого человека "
        "закончилось (дата окончания раньше даты выгрузки). Портал отвечает «нет действующего "
        "страхования».",
        "The patient's policy is active in the clinic's system, but the insured-persons register "
        "says this person's insurance has ended (its end date is before the extract date). The "
        "portal answers \"no valid insurance\".",
        "Уточните у пациента или в страховой медицинской организации, действует ли полис. Если "
        "страхование закончилось, укажите дату окончания полиса (в предлагаемом значении — дата "
        "по регистру) в поле date_end и направьте пациента за новым полисом.",
        "Ask the patient or the insurer whether the policy is still valid. If the insurance has "
        "ended, enter the end date (the suggested value is the register's date) in date_end and "
        "send the patient to obtain a new policy.",
        suggests="policy_end",
    ),
    Check(
        "REG.POLICY.SMO", W, "policy", "smo_code", S, "",
        "Страховая организация полиса расходится с регистром застрахованных",
        "Policy's insurer differs from the insured-persons register",
        "Код страховой медицинской организации действующего полиса в МИС отличается от кода СМО "
        "этого человека в регистре застрахованных (пациент сменил страховую). Запись работает, "
        "но счета и сведения о прикреплении уходят не той СМО.",
        "The insurer code of the active policy in the clinic's system differs from this person's "
        "insurer in the insured-persons register (the patient changed insurer). Booking works, "
        "but claims and attachment notices go to the wrong insurer.",
        "Исправьте поле smo_code полиса по регистру (в предлагаемом значении — код СМО по "
        "регистру, классификатор F002), сверив его с полисом пациента.",
        "Correct smo_code of the policy from the register (the suggested value is the register's "
        "insurer code, classifier F002), checking it against the patient's policy.",
        suggests="smo_code",
    ),
    Check(
        "REG.ATTACHMENT.MISMATCH", B, "attachment", "mo_code", S, "",
        "Прикрепление в МИС расходится с регистром прикреплённого населения",
        "Attachment differs from the attached-population register",
        "Пациент прикреплён в МИС к этой МО, а в регистре прикреплённого населения ТФОМС — к "
        "другой МО. Портал проверяет прикрепление по регистру и отвечает «вы не прикреплены к "
        "данной медицинской организации».",
        "The patient is attached to this MO in the clinic's system, but the TFOMS's "
        "attached-population register attaches them to another MO. The portal checks the "
        "register's attachment and answers \"you are not attached to this medical "
        "organisation\".",
        "Уточните у пациента, где он прикреплён. Если прикрепление к вашей МО действует, "
        "передайте заявление о прикреплении в ТФОМС; если пациент прикрепился к другой МО (в "
        "предлагаемом значении — код МО по регистру, mo_code), открепите его в МИС.",
        "Ask the patient where they are attached. If the attachment to your MO is valid, send the "
        "attachment application to the TFOMS; if the patient has attached to another MO (the "
        "suggested value is the register's MO code, mo_code), detach them in the clinic's system.",
        suggests="attach_mo_code",
    ),
    Check(
        "REG.ATTACHMENT.UNREGISTERED", B, "attachment", "mo_code", S, "",
        "Прикрепление не зарегистрировано в ТФОМС",
        "Attachment not registered with the TFOMS",
        "Пациент прикреплён в МИС к этой МО, но в регистре прикреплённого населения ТФОМС "
        "прикрепления у него нет: сведения о прикреплении не дошли до ТФОМС. Портал отвечает «вы "
        "не прикреплены к данной медицинской организации».",
        "The patient is attached to this MO in the clinic's system, but the TFOMS's "
        "attached-population register has no attachment for them: the attachment never reached "
        "the TFOMS. The portal answers \"you are not attached to this medical organisation\".",
        "Передайте сведения о прикреплении пациента к МО mo_code в ТФОМС (в очередном файле "
        "прикреплённого населения) и проверьте, что они приняты без ошибок.",
        "Send the patient's attachment to the MO mo_code to the TFOMS (in the next "
        "attached-population file) and check that it was accepted without errors.",
        suggests="",
    ),
    # ---------------------------------------------------------------- feed health (v1.3)
    Check(
        "FEED.VOLUME.DROP", W, "file", "rows", G, "",
        "Файл выгрузки пришёл неполным",
        "Extract file arrived incomplete",
        "В эту ночь из файла загружено намного меньше строк, чем обычно (меньше заданной доли "
        "медианы за последние ночи). Записи, которые не пришли, не проверены, а на портале у "
        "этих пациентов и врачей остаются устаревшие или пустые данные.",
        "Tonight the file loaded far fewer rows than usual (less than the set share of the "
        "median of the last nights). The records that did not arrive are not checked, and the "
        "portal keeps stale or empty data for those patients and doctors.",
        "Проверьте выгрузку из МИС: завершилась ли она, не обрезан ли файл rows при передаче, не "
        "изменились ли фильтры выгрузки. Выгрузите файл заново и запустите проверку повторно.",
        "Check the export from the clinic systems: whether it finished, whether the file was cut "
        "in transfer (its rows), whether the export's filters changed. Export the file again and "
        "run the check again.",
    ),
    Check(
        "FEED.MO.SILENT", B, "mo", "slots", G, "",
        "Расписание МО не пришло",
        "The MO's schedule did not arrive",
        "В прошлую ночь у МО были будущие слоты расписания, а в эту ночь нет ни одного. Пациенты "
        "видят на портале пустое расписание («технические сбои при передаче расписания») и не "
        "могут записаться ни к одному врачу этой МО.",
        "Last night the MO had future schedule slots; tonight it has none. Patients see an "
        "empty calendar on the portal (\"technical failure in transferring the schedule\") and "
        "cannot book any doctor of this MO.",
        "Проверьте, что расписание МО выгружается из МИС: работает ли интеграция, не изменился "
        "ли код МО, не закрыто ли расписание (slots) по ошибке. После исправления выгрузите "
        "расписание заново.",
        "Check that the MO's schedule is exported from its system: whether the integration "
        "works, whether the MO code changed, whether the schedule (slots) was closed by mistake. "
        "Export the schedule again once fixed.",
    ),
    Check(
        "FEED.MO.SHRUNK", W, "mo", "slots", G, "",
        "Расписание МО резко сократилось",
        "The MO's schedule shrank sharply",
        "Слотов этой МО на ближайший горизонт записи стало намного меньше, чем в прошлую ночь "
        "(меньше заданной доли). Вероятно, расписание части врачей не выгрузилось, и пациенты "
        "не находят свободного времени на портале.",
        "The MO has far fewer slots within the booking horizon than last night (less than the "
        "set share). Probably part of the doctors' schedules were not exported, and patients "
        "find no free time on the portal.",
        "Сравните выгруженное расписание (slots) с расписанием в МИС: каких врачей или "
        "отделений не хватает; исправьте выгрузку и выгрузите расписание заново.",
        "Compare the exported schedule (slots) with the schedule in the clinic system: which "
        "doctors or departments are missing; fix the export and export the schedule again.",
    ),
    Check(
        "FEED.COLUMN.EMPTY", W, "file", "empty_share", G, "",
        "Столбец выгрузки пришёл пустым",
        "An extract column arrived empty",
        "Доля пустых значений в столбце файла выгрузки выросла по сравнению с прошлой ночью на "
        "заданное число процентных пунктов или больше. Обычно это значит, что сломалось "
        "сопоставление полей при выгрузке, и проверки по этому полю находят ошибки там, где их "
        "нет, или не находят их.",
        "The share of empty values in a column of the extract file rose by the set number of "
        "percentage points or more since last night. Usually an export mapping broke, and the "
        "checks of that field find defects that are not there, or miss them.",
        "Проверьте в настройках выгрузки сопоставление этого столбца (empty_share — доля пустых "
        "значений в эту ночь) и выгрузите файл заново.",
        "Check the export's mapping of this column (empty_share is tonight's share of empty "
        "values) and export the file again.",
    ),
    # ---------------------------------------------------------------- ingest
    Check(
        "ROW.MALFORMED", B, "file", "line", I, "",
        "Строку файла не удалось прочитать",
        "Unreadable line in an extract file",
        "Строку файла не удалось прочитать как запись: неверное число полей, нарушены кавычки или "
        "есть байты, недопустимые в кодировке файла. Строка помещена в карантин и в проверках не "
        "участвует, поэтому её данных в системе нет.",
        "The line could not be read as a record of its file: wrong number of fields, broken quoting "
        "or bytes that are invalid in the file's encoding. The line is quarantined and takes part in "
        "no check, so its data is missing from the system.",
        "Откройте файл на строке с указанным номером (строка заголовка — первая) и исправьте её: "
        "число полей должно совпадать с заголовком, значение, содержащее разделитель или кавычку, "
        "заключите целиком в двойные кавычки (кавычку внутри значения удвойте); файл сохраните в "
        "кодировке UTF-8 и выгрузите повторно.",
        "Open the file at the line with the given number (the header is line 1) and correct it: the "
        "number of fields must match the header; enclose a value that contains the delimiter or a "
        "quote in double quotes (doubling a quote inside it); save the file as UTF-8 and export it "
        "again.",
    ),
    Check(
        "ROW.DUPLICATE_ID", B, OF_FILE, OF_FILE, I, "",
        "Идентификатор записи повторяется в файле",
        "Record id repeated in the file",
        "Идентификатор записи встречается в файле два раза или больше. Учитывается только первая "
        "строка с этим идентификатором, остальные помещены в карантин и в проверках не участвуют.",
        "The record id occurs two or more times in the file. Only the first line with this id is "
        "used; the others are quarantined and take part in no check.",
        "Найдите в файле все строки с этим идентификатором: если это одна и та же запись, удалите "
        "повторы; если записи разные, присвойте им разные идентификаторы в МИС и выгрузите файл "
        "повторно.",
        "Find every line with this id in the file: if they are the same record, delete the repeats; "
        "if they are different records, give them different ids in the clinic's information system "
        "and export the file again.",
    ),
)


def _validate(checks: tuple[Check, ...]) -> None:
    """Refuse a malformed declaration at import time (ValueError: survives python -O)."""
    problems: list[str] = []
    seen: set[str] = set()
    for c in checks:
        if c.code in seen:
            problems.append(f"{c.code}: declared more than once")
        seen.add(c.code)
        if not _CODE.match(c.code):
            problems.append(f"{c.code!r}: not a catalogue code")
        if not isinstance(c.severity, Severity):
            problems.append(f"{c.code}: severity {c.severity!r} is not a Severity")
        if not isinstance(c.engine, Engine):
            problems.append(f"{c.code}: engine {c.engine!r} is not an Engine")
        if c.entity not in ENTITIES and c.entity != OF_FILE:
            problems.append(f"{c.code}: unknown entity {c.entity!r}")
        if not _RULES.match(c.rule):
            problems.append(f"{c.code}: rule {c.rule!r} is not a list of Q015 ids")
        if c.suggests not in SUGGESTIONS:
            problems.append(f"{c.code}: suggests {c.suggests!r} is not one of {SUGGESTIONS}")
        for f in fields(c):
            value = getattr(c, f.name)
            if f.name not in ("rule", "suggests") and (not isinstance(value, str) or not value.strip()):
                problems.append(f"{c.code}: {f.name} is empty")
    if problems:
        raise ValueError("invalid check catalogue:\n  " + "\n  ".join(problems))


_validate(CHECKS)

BY_CODE: dict[str, Check] = {c.code: c for c in CHECKS}


def get(code: str) -> Check:
    return BY_CODE[code]


def checks_for(engine: Engine | str) -> tuple[Check, ...]:
    """The checks one engine must implement, in catalogue order."""
    engine = Engine(engine)
    return tuple(c for c in CHECKS if c.engine is engine)


def entity_for(check: Check, file_entity: str) -> str:
    """The entity of a finding of `check` raised on a file whose rows are `file_entity`s."""
    return file_entity if check.entity == OF_FILE else check.entity
