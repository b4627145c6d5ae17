"""Every UI string of the reports in Russian (default) and English, in one place.

Check texts (message, fix, title) live in the check catalogue; this module holds only the frame
around them: headings, column names, sheet names, entity, severity and routing words.
"""
from __future__ import annotations

LANGS = ("ru", "en")

#: CSV list separator per language: Excel in a Russian locale splits CSV on ";", in an English
#: one on ",". Either way the file is UTF-8 with a BOM.
CSV_SEPARATOR = {"ru": ";", "en": ","}

_STRINGS: dict[str, tuple[str, str]] = {
    # (ru, en)
    "fixlist_title": ("Список исправлений", "Fix list"),
    "unassigned_title": ("Нераспределённые замечания (для администратора данных)",
                         "Unassigned findings (for the data steward)"),
    "unassigned_name": ("Нераспределённые", "Unassigned"),
    "unassigned_intro": (
        "Эти замечания не удалось передать ни одной известной медицинской организации; "
        "в столбце «Причина» указано, почему.",
        "No known clinic can fix these findings; the column \"Reason\" says why."),
    "fixlist_intro": (
        "Каждая строка — одна ошибка в данных вашей организации, которая мешает или может "
        "помешать пациентам записаться к врачу онлайн. Сначала исправьте блокирующие.",
        "Each row is one defect in your organisation's data that stops or may stop patients "
        "booking a doctor online. Fix the blockers first."),
    "clinic": ("Медицинская организация", "Clinic"),
    "mo_code": ("Код МО", "MO code"),
    "clinic_name": ("Наименование", "Name"),
    "run_id": ("Запуск", "Run"),
    "run_date": ("Дата запуска", "Run date"),
    "as_of": ("Данные на", "Data as of"),
    "status": ("Статус", "Status"),
    "summary": ("Сводка", "Summary"),
    "metric": ("Показатель", "Metric"),
    "value_col": ("Значение", "Value"),
    "findings_total": ("Всего замечаний", "Findings"),
    "blockers": ("Блокирующих", "Blockers"),
    "warnings": ("Предупреждений", "Warnings"),
    "patients_affected": ("Затронуто пациентов", "Patients affected"),
    "patients_blocked": ("Пациентов не могут записаться", "Patients who cannot book"),
    "clinics_with_findings": ("МО с замечаниями", "Clinics with findings"),
    "unassigned_count": ("Нераспределённых замечаний", "Unassigned findings"),
    "severity": ("Важность", "Severity"),
    "check_code": ("Код проверки", "Check code"),
    "check": ("Проверка", "Check"),
    "message": ("Что не так", "What is wrong"),
    "entity": ("Объект", "Record type"),
    "record_id": ("ID записи", "Record id"),
    "field": ("Поле", "Field"),
    "value": ("Текущее значение", "Current value"),
    "value_masked": ("Значение (маскировано)", "Value (masked)"),
    "suggested": ("Предлагаемое значение (по регистру застрахованных)",
                  "Suggested value (insured register)"),
    "suggested_masked": ("Предлагаемое значение (маскировано)", "Suggested value (masked)"),
    "fix": ("Как исправить", "How to fix"),
    "rule": ("Правило (Q015)", "Official rule (Q015)"),
    "patient_id": ("ID пациента", "Patient id"),
    "reason": ("Причина", "Reason"),
    "count": ("Количество", "Count"),
    "empty_value": ("(пусто)", "(empty)"),
    "no_findings": ("Замечаний нет.", "No findings."),
    "filter": ("Фильтр…", "Filter…"),
    # auditor report
    "auditor_title": ("Отчёт о качестве данных для онлайн-записи",
                      "Data quality report for online booking"),
    "by_severity": ("Замечания по важности", "Findings by severity"),
    "by_check": ("Замечания по проверкам", "Findings by check"),
    "by_clinic": ("Замечания по медицинским организациям", "Findings by clinic"),
    "impact_clinic": ("Влияние на запись: МО по числу пациентов, которые не могут записаться",
                      "Booking impact: clinics ranked by patients who cannot book"),
    "impact_check": ("Влияние на запись: проверки по числу пациентов, которые не могут записаться",
                     "Booking impact: checks ranked by patients who cannot book"),
    "impact_note": (
        "Пациент не может записаться, если по нему есть хотя бы одно блокирующее замечание.",
        "A patient cannot book when at least one blocker concerns them."),
    "chart_clinic": ("Замечания по МО (первые 30)", "Findings per clinic (top 30)"),
    "chart_check": ("Замечания по проверкам", "Findings per check"),
    "chart_trend": ("Динамика по запускам", "Trend over runs"),
    "trend": ("Запуски", "Runs"),
    "unassigned_reasons": ("Нераспределённые замечания по причинам",
                           "Unassigned findings by reason"),
    "examples": ("Примеры (значения маскированы)", "Examples (values masked)"),
    "examples_note": ("Показано не более {n} примеров на проверку.",
                      "At most {n} examples per check are shown."),
    "back": ("← К общему отчёту", "← Back to the overview"),
    "gx_title": ("Проверки Great Expectations", "Great Expectations validation"),
    "gx_intro": ("Наборы ожиданий Great Expectations выполнены на хранилище DuckDB с теми же "
                 "SQL-правилами, что и проверки Talon. GX показывает не более 200 строк на "
                 "ожидание, поэтому рядом указано полное число замечаний Talon.",
                 "The Great Expectations suites ran on the DuckDB warehouse with the same SQL "
                 "rules as Talon's checks. GX lists at most 200 rows per expectation, so "
                 "Talon's uncapped count is shown beside it."),
    "gx_agree": ("Все счётчики GX совпадают с замечаниями Talon.",
                 "Every GX count agrees with Talon's findings."),
    "gx_disagree": ("Есть расхождения между GX и Talon — сообщите разработчикам.",
                    "GX and Talon disagree somewhere: report it to the developers."),
    "gx_suite": ("Набор", "Suite"),
    "gx_expectation": ("Ожидание", "Expectation"),
    "gx_success": ("Результат GX", "GX verdict"),
    "gx_passed": ("пройдено", "passed"),
    "gx_failed": ("не пройдено", "failed"),
    "gx_unexpected": ("Строк по GX", "Rows per GX"),
    "gx_talon": ("Замечаний Talon", "Talon findings"),
    "gx_match": ("Совпадает", "Agrees"),
    "yes": ("да", "yes"),
    "no": ("нет", "no"),
    "gx_queries": ("SQL ожиданий", "Expectation SQL"),
    "gx_docs": ("Результаты проверок Great Expectations (Data Docs)",
                "Great Expectations validation results (Data Docs)"),
    "findings_csv": ("Все замечания (CSV, значения маскированы)",
                     "All findings (CSV, values masked)"),
    "title_col": ("Название", "Title"),
    "clinics_col": ("МО", "Clinics"),
    "generated": ("Сформировано из хранилища Talon; ничего не пересчитывалось.",
                  "Rendered from the Talon warehouse; nothing recomputed."),
    "chart_axis_findings": ("Замечаний", "Findings"),
    "chart_axis_run": ("Данные на", "Data as of"),
    # sheet names (Excel: at most 31 characters, none of []:*?/\)
    "sheet_summary": ("Сводка", "Summary"),
    "sheet_patient": ("Пациенты", "Patients"),
    "sheet_policy": ("Полисы", "Policies"),
    "sheet_attachment": ("Прикрепления", "Attachments"),
    "sheet_schedule": ("Расписание", "Schedule"),
    "sheet_file": ("Файлы", "Files"),
    "sheet_feed": ("Поступление расписания", "Schedule feed"),
    "sheet_by_check": ("По проверкам", "By check"),
    # defect lifecycle across runs (checks/lifecycle.py)
    "days_open": ("Дней открыто", "Days open"),
    "new_count": ("Новых", "New"),
    "reopened_count": ("Открыто повторно", "Reopened"),
    "waiver_ended_count": ("Снова в списке: ответ «не ошибка» истёк или отменён",
                           "Back on the list: the answer \"not an error\" expired or was "
                           "withdrawn"),
    "waiver_ended_note": (
        "Снова в списке, потому что ваш ответ «не ошибка» истёк или отменён: {n}. Такие "
        "строки отмечены в столбце «Статус» (с датой, до которой ответ действовал). Исправьте "
        "запись или, если это по-прежнему не ошибка, ответьте снова в файле Excel этого списка.",
        "Back on the list because your answer \"not an error\" expired or was withdrawn: {n}. "
        "The Status column marks these rows (with the date the answer applied until). Fix the "
        "record or, if it is still not an error, answer again in this list's Excel file."),
    #: A `waiver_ended` finding's status cell in the HTML list ({d}: DD.MM.YYYY).
    "answer_expired_until": ("Ответ истёк (действовал до {d})",
                             "Answer expired (applied until {d})"),
    "answer_removed_on": ("Ответ отменён {d}", "Answer withdrawn on {d}"),
    "fixed_since_last": ("Исправлено с прошлого запуска", "Fixed since the last run"),
    "previous_run": ("Предыдущий запуск", "Previous run"),
    "no_previous_run": ("нет (первый запуск)", "none (first run)"),
    "open_now": ("Открыто сейчас", "Open now"),
    #: a table column: findings back on the list because their answer "not an error" ended
    "waiver_ended_col": ("Снова в списке", "Back on the list"),
    "lifecycle_note": (
        "«Новое» — замечание появилось впервые; «Открыто» — было и в прошлом запуске; "
        "«Повторно» — было исправлено, но появилось снова; «Снова в списке» («Ответ истёк», "
        "«Ответ отменён») — в прошлый раз замечание не входило в список, потому что на него "
        "ответили «не ошибка», но срок ответа закончился или ответ отменён. «Дней открыто» — "
        "дней с даты данных запуска, начиная с которого замечание присутствует в списке без "
        "перерыва.",
        "\"New\": seen for the first time; \"Open\": also in the last run; \"Reopened\": it "
        "was fixed and came back; \"Back on the list\" (\"Answer expired\", \"Answer "
        "withdrawn\"): last time it was not on the list because it was answered \"not an "
        "error\", but the answer's end date has passed or it was withdrawn. \"Days open\": days "
        "since the data date of the run from which the finding has been on the list without a "
        "break."),
    "fixed_list": ("Исправлено с прошлого запуска", "Fixed since the last run"),
    "fixed_list_note": ("Эти замечания были в прошлом запуске ({run}) и больше не найдены.",
                        "These findings were in the last run ({run}) and are no longer found."),
    "changes": ("Изменения с прошлого запуска", "Changes since the last run"),
    "changes_check": ("По проверкам", "Per check"),
    "changes_clinic": ("По медицинским организациям", "Per clinic"),
    "chart_trend_check": ("Открытые замечания по проверкам (первые {n})",
                          "Open findings per check (top {n})"),
    "chart_trend_clinic": ("Открытые замечания по МО (первые {n})",
                           "Open findings per clinic (top {n})"),
    "trend_check_table": ("Открытые замечания по проверкам и запускам",
                          "Open findings per check and run"),
    "trend_clinic_table": ("Открытые замечания по МО и запускам",
                           "Open findings per clinic and run"),
    # reconciliation with the insured-persons register (issue 12)
    "register": ("Сверка с регистром застрахованных", "Reconciliation with the insured register"),
    "register_intro": (
        "Портал записи находит пациента в регистре застрахованных ТФОМС по ФИО, дате рождения "
        "и полису (или СНИЛС). Talon ищет каждого пациента выгрузки в регистре (четыре способа, "
        "по порядку); ниже — сколько пациентов найдено и каким способом, сколько не найдено и "
        "сколько пациентов не смогут записаться из-за расхождений с регистром.",
        "The booking portal finds the patient in the TFOMS insured-persons register by full "
        "name, birth date and policy (or SNILS). Talon looks each patient of the extract up in "
        "the register (four tiers, in order); below: how many patients were found and how, how "
        "many were not found, and how many cannot book because their record disagrees with the "
        "register."),
    "register_none": (
        "В этом запуске не было файла регистра застрахованных (registry.csv): сверка с "
        "регистром не выполнялась.",
        "This run had no insured-persons register file (registry.csv): no reconciliation with "
        "the register was done."),
    "register_patients": ("Пациентов в выгрузке", "Patients in the extract"),
    "register_linked": ("Найдено в регистре", "Found in the register"),
    "register_not_found": ("Не найдено в регистре", "Not found in the register"),
    "register_blocked": ("Не могут записаться из-за расхождений с регистром",
                         "Cannot book because of register disagreements"),
    "register_suggestions": ("Замечаний с предлагаемым значением",
                             "Findings with a suggested value"),
    "register_tiers": ("Пациенты по способу сопоставления", "Patients by how they were matched"),
    "register_tier": ("Способ", "Match"),
    "register_tier_n": ("Уровень", "Tier"),
    "register_tier_patients": ("Пациентов", "Patients"),
    "register_share": ("Доля пациентов, %", "Share of patients, %"),
    "register_tier_1": ("по ЕНП полиса", "by the policy's ENP"),
    "register_tier_2": ("по СНИЛС", "by SNILS"),
    "register_tier_3": ("по ФИО и дате рождения", "by full name and birth date"),
    "register_tier_4": ("по близкому совпадению (опечатка в ФИО или дате рождения)",
                        "by a near match (a typo in the name or birth date)"),
    "register_total_linked": ("Всего найдено", "Found in all"),
    "register_not_found_row": ("Не найдено (REG.PERSON.NOT_FOUND)",
                               "Not found (REG.PERSON.NOT_FOUND)"),
    "register_impact": ("Влияние расхождений с регистром на запись: МО по числу пациентов",
                        "Booking impact of register disagreements: clinics ranked by patients"),
    "register_impact_note": (
        "Учитываются только замечания сверки с регистром (коды REG.*). Пациент не может "
        "записаться, если по нему есть хотя бы одно блокирующее замечание.",
        "Only the register reconciliation's findings (codes REG.*) count. A patient cannot book "
        "when at least one blocker concerns them."),
    "register_no_findings": ("Расхождений с регистром нет.", "No disagreements with the register."),
    # work lists (issue 13): the fix list grouped by check, with each record's identity
    "worklist_intro": (
        "Замечания сгруппированы по проверкам: сначала блокирующие (из-за них пациенты не "
        "могут записаться к врачу онлайн), среди них первыми — те, что мешают записи наибольшему "
        "числу пациентов. В начале каждой группы один раз сказано, что не так, что видит пациент "
        "на портале и как исправить; ниже — записи группы. Каждую запись можно найти в МИС по "
        "ФИО, дате рождения и полису пациента или по врачу, специальности и времени приёма.",
        "Findings are grouped by check: blockers first (they stop patients booking a doctor "
        "online), and among them first those that stop the most patients. Each group says once "
        "what is wrong, what the patient sees on the portal and how to fix it; its records "
        "follow. Find each record in your clinic's system by the patient's name, birth date and "
        "policy, or by the doctor, specialty and slot time."),
    "toc": ("Содержание: проверки по порядку исправления",
            "Contents: checks in the order to fix them"),
    "group_findings": ("Замечаний", "Findings"),
    "group_blocked": ("Пациентов не могут записаться", "Patients who cannot book"),
    "group_new": ("новых", "new"),
    "rule_none": ("нет (проверка Talon, правила Q015 для неё нет)",
                  "none (a Talon check with no Q015 rule)"),
    "field_once": ("Поле", "Field"),
    "person": ("ФИО пациента", "Patient's full name"),
    "birth_date": ("Дата рождения", "Birth date"),
    "policy": ("Полис (ЕНП или серия и номер)", "Policy (ENP or series and number)"),
    "area": ("Участок", "Area"),
    "doctor_id": ("ID врача", "Doctor id"),
    "specialty": ("Специальность (V021)", "Specialty (V021)"),
    "slot_date": ("Дата приёма", "Slot date"),
    "slot_time": ("Время приёма", "Slot time"),
    "policy_id": ("ID полиса", "Policy id"),
    "attachment_id": ("ID прикрепления", "Attachment id"),
    "slot_id": ("ID слота", "Slot id"),
    "file_line": ("Файл и строка", "File and line"),
    "open_days": ("Открыто {n} дн.", "Open {n} d"),
    #: The answer columns of the workbook (design13.md: exactly these texts, V reads them back).
    "answer_reason": ("Ответ МО: не ошибка — причина", "Clinic's answer: not an error — reason"),
    "answer_until": ("Ответ МО: до (ДД.ММ.ГГГГ)", "Answer: until (DD.MM.YYYY)"),
    "answer_reason_tip": (
        "Только если это не ошибка: кратко, почему (например: иностранный гражданин, СНИЛС "
        "нет). Ошибку исправьте в МИС и оставьте ячейку пустой.",
        "Only if this is not an error: briefly why (e.g. a foreign citizen without a SNILS). "
        "Fix an error in your system instead and leave this cell empty."),
    "answer_until_tip": ("Необязательно: последний день, до которого действует ответ.",
                         "Optional: the last day the answer applies."),
    "answer_until_error": ("Введите дату не раньше даты запуска (ДД.ММ.ГГГГ).",
                           "Enter a date not before the run's date (DD.MM.YYYY)."),
    "all_clear_title": ("Открытых замечаний нет", "No open findings"),
    "all_clear": (
        "Спасибо! В данных вашей медицинской организации нет открытых замечаний: всё, что "
        "Talon находил раньше, исправлено или отмечено вами как «не ошибка». Talon продолжит "
        "проверять данные каждую ночь и пришлёт новый список, если что-то появится.",
        "Thank you! Your clinic's data has no open findings: everything Talon found before "
        "has been fixed or answered as not an error. Talon keeps checking the data every "
        "night and sends a new list if anything comes up."),
    "unassigned_clear": ("Нераспределённых замечаний нет.", "No unassigned findings."),
    "waived_count": ("Отмечено как «не ошибка» (в список не входят)",
                     "Answered as not an error (not listed)"),
    "howto_title": ("Как работать со списком", "How to use this list"),
    "howto_xlsx": (
        "Лист «Сводка»: проверки в порядке исправления (сначала блокирующие, из-за которых "
        "больше всего пациентов не могут записаться), для каждой один раз — что не так, что "
        "видит пациент на портале, как исправить и правило. Листы по видам записей (Пациенты, "
        "Полисы, Прикрепления, Расписание): по строке на замечание, в том же порядке, с данными, "
        "по которым запись находится в МИС. Фильтр в заголовке отбирает строки, например, по "
        "коду проверки или по пациенту. Блокирующие выделены красным, новые — жирным.",
        "The \"Summary\" sheet lists the checks in the order to fix them (blockers first, those "
        "that stop the most patients booking first), each once with what is wrong, what the "
        "patient sees on the portal, how to fix it and the rule. The sheets per kind of record "
        "(Patients, Policies, Attachments, Schedule) have one row per finding, in the same "
        "order, with what finds the record in your system. The header's filter selects rows, "
        "e.g. by check code or by patient. Blockers are red, new findings bold."),
    "howto_answer_title": ("Как ответить «это не ошибка»", "How to answer \"this is not an error\""),
    "howto_answer": (
        "Если запись верна (например, у иностранного гражданина нет СНИЛС или врач в долгом "
        "отпуске и его слоты уже закрыты), впишите причину в столбец «Ответ МО: не ошибка — "
        "причина» в строке замечания и, если нужно, последний день в столбец «Ответ МО: до "
        "(ДД.ММ.ГГГГ)». Другие ячейки не меняйте, листы не переименовывайте и верните этот "
        "файл администратору данных. Со следующей проверки замечание не попадёт в список. "
        "Нечитаемые строки файла (ROW.MALFORMED) отметить нельзя: их нужно исправить.",
        "If the record is right (e.g. a foreign citizen has no SNILS, or a doctor on long leave "
        "whose slots are already blocked), write the reason in the column \"Clinic's answer: "
        "not an error — reason\" of the finding's row and, if needed, the last day in \"Answer: "
        "until (DD.MM.YYYY)\". Change no other cell, rename no sheet, and send this file back "
        "to the data steward. From the next check on the finding leaves the list. Unreadable "
        "lines of a file (ROW.MALFORMED) cannot be answered: they must be fixed."),
    "howto_answer_html": (
        "Если запись верна, ответьте «не ошибка» в файле Excel этого списка (столбец «Ответ "
        "МО: не ошибка — причина») и верните его администратору данных.",
        "If a record is right, answer \"not an error\" in this list's Excel file (column "
        "\"Clinic's answer: not an error — reason\") and send it back to the data steward."),
    "checks_table": ("Проверки в порядке исправления", "Checks in the order to fix them"),
    "sheet_col": ("Лист", "Sheet"),
    "order_col": ("№", "No."),
    "page_of": ("Страница &P из &N", "Page &P of &N"),
}

#: Lifecycle status of a finding (checks.lifecycle.STATUSES, plus fixed).
LIFECYCLE: dict[str, tuple[str, str]] = {
    "new": ("Новое", "New"),
    "open": ("Открыто", "Open"),
    "reopened": ("Повторно", "Reopened"),
    # how its answer ended is in WAIVER_END; this is the label where that is not known
    "waiver_ended": ("Снова в списке", "Back on the list"),
    "fixed": ("Исправлено", "Fixed"),
}
#: How a `waiver_ended` finding's answer ended (flows/waivers.py statuses: it expired, or the
#: data steward removed it): the clinic list's status text. Any other end (the waiver is still
#: active, but no longer covers the finding) keeps LIFECYCLE's label.
WAIVER_END: dict[str, tuple[str, str]] = {
    "expired": ("Ответ истёк", "Answer expired"),
    "removed": ("Ответ отменён", "Answer withdrawn"),
}

SEVERITY: dict[str, tuple[str, str]] = {
    "blocker": ("Блокирующая", "Blocker"),
    "warning": ("Предупреждение", "Warning"),
}

ENTITY: dict[str, tuple[str, str]] = {
    "patient": ("Пациент", "Patient"),
    "policy": ("Полис", "Policy"),
    "attachment": ("Прикрепление", "Attachment"),
    "slot": ("Слот расписания", "Schedule slot"),
    "doctor": ("Врач", "Doctor"),
    "mo_specialty": ("МО / специальность", "Clinic / specialty"),
    "file": ("Файл выгрузки", "Extract file"),
    "insured": ("Запись регистра застрахованных", "Insured register record"),
    "mo": ("Медицинская организация", "Clinic"),
}

#: checks.findings REASON_* values.
REASON: dict[str, tuple[str, str]] = {
    "file_level": ("Строка файла не прочитана: исправить выгрузку должен её поставщик",
                   "A line of the file could not be read: the extract's supplier must fix it"),
    "patient_not_found": ("Пациент не найден в выгрузке пациентов",
                          "The patient is not in the patients extract"),
    "no_active_attachment_to_known_mo": (
        "У пациента нет действующего прикрепления к МО из реестра F003",
        "The patient has no active attachment to a clinic in the F003 registry"),
    "mo_not_in_registry": ("Код МО отсутствует в реестре F003",
                           "The clinic code is not in the F003 registry"),
    "register_record": ("Запись регистра застрахованных: исправить её должен ТФОМС",
                        "A record of the insured-persons register: the TFOMS must fix it"),
    "feed_file": ("Файл выгрузки пришёл неполным или с пустым столбцом: проверить выгрузку "
                  "должен её поставщик",
                  "The extract file arrived short or with an empty column: the extract's "
                  "supplier must check the export"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unsupported language {lang!r}: use one of {', '.join(LANGS)}")
    return lang


class Texts:
    """UI strings of one language: `T.findings_total`, `T["run_id"]`, `T.severity_of("blocker")`.
    A page with strings of its own subclasses it with its own STRINGS table."""

    STRINGS: dict[str, tuple[str, str]] = {}  # set below to the common table

    def __init__(self, lang: str) -> None:
        self.lang = check_lang(lang)

    def __getitem__(self, key: str) -> str:
        return _pick(self.STRINGS[key], self.lang)

    def __getattr__(self, key: str) -> str:
        if key.startswith("_") or key not in self.STRINGS:
            raise AttributeError(key)
        return self[key]

    def _of(self, table: dict[str, tuple[str, str]], key: str | None) -> str:
        if key is None:
            return ""
        return _pick(table[key], self.lang) if key in table else key

    def severity_of(self, severity: str | None) -> str:
        return self._of(SEVERITY, severity)

    def entity_of(self, entity: str | None) -> str:
        return self._of(ENTITY, entity)

    def reason_of(self, reason: str | None) -> str:
        return self._of(REASON, reason)

    def status_of(self, status: str | None) -> str:
        return self._of(LIFECYCLE, status)

    def mapping(self, table: dict[str, tuple[str, str]]) -> dict[str, str]:
        """A {key: text} dict for polars `replace`."""
        return {k: _pick(v, self.lang) for k, v in table.items()}


Texts.STRINGS = _STRINGS
