"""Strings of the feed-health reports (catalogue v1.3): the feed suite on the GX page
(reports/feed_suite.py) and the auditors' feed page (reports/feed.py), in Russian (default) and
English. Kept apart from reports/i18n.py, whose frame strings the other reports share."""
from __future__ import annotations

from reports.i18n import Texts

_STRINGS: dict[str, tuple[str, str]] = {
    # --- the GX page: the feed suite
    "suite_title": ("Поступление данных: набор ожиданий GX этого запуска",
                    "Feed health: this run's GX expectation suite"),
    "suite_intro": (
        "Каждую ночь Talon строит набор ожиданий Great Expectations по истории завершённых "
        "запусков этого хранилища и проверяет им данные запуска на DuckDB. Границы вычислены "
        "из цифр прошлых ночей: в столбце «Откуда граница» — цифры и расчёт. Невыполненное "
        "ожидание — это замечание FEED.* (вердикт GX, по которому оно заведено).",
        "Each night Talon builds a Great Expectations suite from the history of this "
        "warehouse's completed runs and validates the run's data with it on DuckDB. The bounds "
        "are computed from earlier nights' figures: the column \"Where the bound comes from\" "
        "shows the figures and the arithmetic. A failed expectation is a FEED.* finding (the "
        "GX verdict it was raised from)."),
    "suite_json": ("Набор целиком (JSON, как сохранён в хранилище)",
                   "The whole suite (JSON, as stored in the warehouse)"),
    "params": ("Пороги запуска", "The run's thresholds"),
    "param": ("Порог", "Threshold"),
    "param_value": ("Значение", "Value"),
    "param_volume_drop": ("--volume-drop: доля медианы загруженных строк",
                          "--volume-drop: share of the median of loaded rows"),
    "param_mo_silent_min": ("--mo-silent-min: будущих слотов в прошлый раз, не меньше",
                            "--mo-silent-min: future slots last time, at least"),
    "param_mo_shrunk": ("--mo-shrunk: доля слотов на горизонте от прошлого раза",
                        "--mo-shrunk: share of last time's slots within the horizon"),
    "param_column_empty_points": ("--column-empty-points: рост доли пустых, п.п.",
                                  "--column-empty-points: rise of the empty share, points"),
    "param_horizon_days": ("Горизонт записи, дней", "Booking horizon, days"),
    "history": ("История: запуски, из которых взяты границы",
                "History: the runs the bounds were learned from"),
    "history_note": ("Завершённые запуски с датой данных раньше этого, новые сверху (не больше "
                     "семи).",
                     "Completed runs with data earlier than this run's, newest first (at most "
                     "seven)."),
    "previous_mark": ("предыдущий завершённый запуск", "the previous completed run"),
    "no_history": ("Истории нет: у хранилища нет завершённого запуска раньше этого, поэтому "
                   "границ и ожиданий нет и замечаний FEED быть не может.",
                   "No history: the warehouse has no completed run before this one, so there "
                   "are no bounds, no expectations and no FEED finding."),
    "no_expectations": ("Ожиданий в этом запуске нет: история слишком коротка (падение объёма "
                        "проверяется от трёх запусков) или ни один файл и ни одна МО не прошли "
                        "порогов, с которых проверка начинается.",
                        "No expectation in this run: the history is too short (volume drops "
                        "need three runs) or no file or MO passed the thresholds a check starts "
                        "from."),
    "bounds": ("Границы: по одной на файл, МО или столбец",
               "Bounds: one per file, MO or column"),
    "code": ("Код", "Code"),
    "subject": ("Объект", "What"),
    "gx_type": ("Ожидание GX", "GX expectation"),
    "bound": ("Граница", "Bound"),
    "basis": ("Откуда граница", "Where the bound comes from"),
    "tonight": ("В этом запуске", "This run"),
    "verdict": ("Вердикт GX", "GX verdict"),
    "expectations": ("Ожидания, как они переданы в GX", "The expectations as given to GX"),
    "asset": ("Запрос (asset)", "Query (asset)"),
    "kwargs": ("Параметры", "Arguments"),
    "records": ("Объектов", "Objects"),
    "assets": ("SQL запросов (assets)", "The queries' SQL (assets)"),
    "crosscheck": ("Перекрёстная проверка SQL-правил в GX (--gx-crosscheck)",
                   "Cross-check of the SQL set rules in GX (--gx-crosscheck)"),
    "crosscheck_none": ("В этом запуске перекрёстная проверка SQL-правил в GX не выполнялась: "
                        "она включается параметром --gx-crosscheck команды talon run.",
                        "The cross-check of the SQL set rules in GX did not run in this run: "
                        "`talon run --gx-crosscheck` turns it on."),
    "suite_none": ("Набора ожиданий поступления данных у этого запуска нет (запуск до каталога "
                   "v1.3).",
                   "This run has no feed-health suite (a run before catalogue v1.3)."),
    # bounds, basis and this run's figure per code ({...}: filled in by reports/feed_suite.py)
    "bound_volume": ("не меньше {min} строк (min_value = {min})",
                     "at least {min} rows (min_value = {min})"),
    "basis_volume": ("медиана загруженных строк за {n} ноч. ({rows}) = {median}; × {share} = "
                     "{exact}, вверх до целого",
                     "median of the loaded rows over {n} nights ({rows}) = {median}; × {share} "
                     "= {exact}, rounded up"),
    "tonight_rows": ("загружено {rows} строк", "{rows} rows loaded"),
    "bound_silent": ("хотя бы один будущий слот (МО в value_set)",
                     "at least one future slot (the MO in value_set)"),
    "basis_silent": ("в предыдущем запуске {run}: {n} будущих слотов (порог — от {min})",
                     "in the previous run {run}: {n} future slots (checked from {min})"),
    "tonight_future": ("{n} будущих слотов", "{n} future slots"),
    "bound_shrunk": ("не меньше {bound} слотов на горизонте {days} дн. (slots ≥ bound)",
                     "at least {bound} slots within {days} days (slots ≥ bound)"),
    "basis_shrunk": ("в предыдущем запуске {run}: {n} слотов на горизонте; × {share} = {exact}, "
                     "вверх до целого",
                     "in the previous run {run}: {n} slots within the horizon; × {share} = "
                     "{exact}, rounded up"),
    "tonight_horizon": ("{n} слотов на горизонте", "{n} slots within the horizon"),
    "bound_empty": ("заполнено не меньше доли {mostly} строк (mostly); замечание от {limit} % "
                    "пустых",
                    "filled in at least a share {mostly} of rows (mostly); a finding from "
                    "{limit} % empty"),
    "basis_empty": ("в предыдущем запуске {run}: пусто {empty} из {rows} ({pct} %); + {points} "
                    "п.п. = {limit} %",
                    "in the previous run {run}: {empty} of {rows} empty ({pct} %); + {points} "
                    "points = {limit} %"),
    "tonight_empty": ("пусто {empty} из {rows} ({pct} %)", "{empty} of {rows} empty ({pct} %)"),
    "passed": ("пройдено", "passed"),
    "failed": ("не пройдено", "failed"),
    # --- the auditors' feed page
    "link": ("Поступление данных по ночам: строки по файлам, слоты по МО",
             "Feed health night by night: rows per file, slots per MO"),
    "title": ("Поступление данных по ночам", "Feed health night by night"),
    "intro": (
        "Расписание, которое не пришло, выглядит для остальных проверок как МО без ошибок: нет "
        "слотов — нет замечаний. Поэтому Talon сравнивает каждую ночь с прошлыми завершёнными "
        "запусками: сколько строк загружено из каждого файла и сколько будущих слотов у каждой "
        "МО. Резкое падение даёт замечание FEED.*.",
        "A schedule that never arrives looks to every other check like a clinic with nothing "
        "wrong: no slots, no findings. So Talon compares each night with the earlier completed "
        "runs: how many rows each file loaded and how many future slots each MO has. A sharp "
        "fall raises a FEED.* finding."),
    "gx_link": ("Границы проверок этого запуска и история, из которой они взяты (страница GX)",
                "This run's bounds and the history they came from (the GX page)"),
    "findings": ("Замечания о поступлении данных в этом запуске", "Feed findings of this run"),
    "findings_none": ("Замечаний о поступлении данных в этом запуске нет.",
                      "No feed findings in this run."),
    "waived": ("Ответ МО «не ошибка»", "Answered \"not an error\""),
    "chart_rows": ("Загружено строк по файлам", "Rows loaded per file"),
    "chart_slots": ("Будущие слоты по МО (первые {n}: сначала МО с замечаниями FEED, затем с "
                    "наибольшим падением)",
                    "Future slots per MO (top {n}: MOs with FEED findings first, then the "
                    "largest falls)"),
    "rows_table": ("Загружено строк по ночам", "Rows loaded night by night"),
    "night": ("Ночь (данные на)", "Night (data as of)"),
    "mo_table": ("Будущие слоты по МО", "Future slots per MO"),
    "mo_table_note": ("Будущие слоты — слоты, которые начинаются после даты данных запуска. "
                      "Запуски до каталога v1.3 слотов по МО не хранят: их на графике нет.",
                      "Future slots are the slots starting after the run's data date. Runs "
                      "before catalogue v1.3 keep no slots per MO: the chart leaves them out."),
    "previous": ("Предыдущий запуск", "Previous run"),
    "this_run": ("Этот запуск", "This run"),
    "change": ("Изменение, %", "Change, %"),
    "finding": ("Замечание", "Finding"),
    "slots_none": ("Слотов по МО в этих запусках нет.", "No slots per MO in these runs."),
    "rows_none": ("Файлов выгрузки в этих запусках нет.", "No extract files in these runs."),
    "axis_rows": ("Строк", "Rows"),
    "axis_slots": ("Слотов", "Slots"),
}


class FeedTexts(Texts):
    """The feed reports' strings in one language (`F.title`, `F["bound_volume"]`)."""

    STRINGS = _STRINGS

    def number(self, x, digits: int | None = None) -> str:
        """A number as this language writes it: a decimal comma in Russian, thin spaces
        between thousands; `digits`: fixed decimals (None: as few as the value needs)."""
        if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and digits is None):
            text = f"{int(x):,}".replace(",", "\u202f")
        elif digits is None:
            text = repr(float(x))
        else:
            text = f"{x:,.{digits}f}".replace(",", "\u202f")
        return text.replace(".", ",") if self.lang == "ru" else text
