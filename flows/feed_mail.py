"""Feed health in `talon send`'s messages (catalogue v1.3, checks/feed.py).

- A clinic whose open findings include its own FEED.MO.SILENT (its schedule did not arrive:
  patients see an empty calendar) or FEED.MO.SHRUNK (it shrank sharply) reads that first, right
  after the greeting, before the counts: the list's first group says the same (reports/clinic.py).
- The data steward's message (the unassigned list) names the file-level feed findings: each
  file that arrived with far fewer rows than usual (FEED.VOLUME.DROP, with its loaded rows) and
  each column that came empty (FEED.COLUMN.EMPTY, with tonight's empty share), and the MOs whose
  schedule did not arrive or shrank.

Only open findings count (waived ones are no defect). Nothing personal: file and column names,
MO codes, counts.
"""
from __future__ import annotations

import polars as pl

MO_CODES = ("FEED.MO.SILENT", "FEED.MO.SHRUNK")
FILE_CODES = ("FEED.VOLUME.DROP", "FEED.COLUMN.EMPTY")

_TEXTS = {
    "ru": {
        "FEED.MO.SILENT": "ВНИМАНИЕ: расписание вашей МО в эту ночь не поступило: ни одного "
                          "будущего слота (в прошлую ночь они были). Пациенты видят на портале "
                          "пустое расписание и не могут записаться ни к одному вашему врачу. "
                          "Проверьте выгрузку расписания из МИС (первая группа приложенного "
                          "списка).",
        "FEED.MO.SHRUNK": "ВНИМАНИЕ: расписание вашей МО в эту ночь резко сократилось: {value} "
                          "слотов на ближайший горизонт записи, намного меньше, чем в прошлую "
                          "ночь. Вероятно, выгрузилось расписание не всех врачей. Проверьте "
                          "выгрузку расписания из МИС (первая группа приложенного списка).",
        "files": "Поступление данных этой ночью (файлы выгрузки):",
        "FEED.VOLUME.DROP": "- {record}: загружено {value} строк — намного меньше обычного "
                            "(FEED.VOLUME.DROP)",
        "FEED.COLUMN.EMPTY": "- {file}, столбец {column}: пустых значений {value} — резкий рост "
                             "с прошлой ночи (FEED.COLUMN.EMPTY)",
        "mos_silent": "Расписание не поступило от МО (FEED.MO.SILENT): {codes}",
        "mos_shrunk": "Расписание резко сократилось у МО (FEED.MO.SHRUNK): {codes}",
    },
    "en": {
        "FEED.MO.SILENT": "ATTENTION: your clinic's schedule did not arrive tonight: not one "
                          "future slot (last night there were). Patients see an empty calendar "
                          "on the portal and cannot book any of your doctors. Check the schedule "
                          "export from your system (the first group of the attached list).",
        "FEED.MO.SHRUNK": "ATTENTION: your clinic's schedule shrank sharply tonight: {value} "
                          "slots within the booking horizon, far fewer than last night. Probably "
                          "not every doctor's schedule was exported. Check the schedule export "
                          "from your system (the first group of the attached list).",
        "files": "Tonight's feed (extract files):",
        "FEED.VOLUME.DROP": "- {record}: {value} rows loaded, far fewer than usual "
                            "(FEED.VOLUME.DROP)",
        "FEED.COLUMN.EMPTY": "- {file}, column {column}: {value} of the values empty, a sharp "
                             "rise since last night (FEED.COLUMN.EMPTY)",
        "mos_silent": "No schedule arrived from the MOs (FEED.MO.SILENT): {codes}",
        "mos_shrunk": "The schedule shrank sharply at the MOs (FEED.MO.SHRUNK): {codes}",
    },
}


def own_feed(findings: pl.DataFrame) -> dict[str, str]:
    """{FEED.MO code: value} of one clinic's open findings (its own MO feed findings)."""
    own = findings.filter(pl.col("check_code").is_in(MO_CODES))
    return dict(own.select("check_code", pl.col("value").fill_null("")).iter_rows())


def for_steward(findings: pl.DataFrame) -> list[tuple[str, str, str]]:
    """(code, record_id, value) of the feed findings the steward's summary names: files first
    (by code, record), then the MOs'."""
    feed = findings.filter(pl.col("check_code").is_in(FILE_CODES + MO_CODES))
    rank = pl.col("check_code").replace_strict(
        {c: i for i, c in enumerate(FILE_CODES + MO_CODES)}, return_dtype=pl.Int8)
    return [tuple(r) for r in feed.sort(rank, "record_id")
            .select("check_code", "record_id", pl.col("value").fill_null("")).iter_rows()]


def clinic_lines(own: dict[str, str], lang: str) -> list[str]:
    """The clinic's feed warning (silent before shrunk; a blank line after), or nothing."""
    t = _TEXTS[lang]
    lines = [t[c].format(value=own[c]) for c in MO_CODES if c in own]
    return [*lines, ""] if lines else []


def steward_lines(feed: list[tuple[str, str, str]], lang: str) -> list[str]:
    """The steward's feed summary (a blank line after), or nothing."""
    from flows.delivery import one_line

    t = _TEXTS[lang]
    lines = []
    files = [f for f in feed if f[0] in FILE_CODES]
    if files:
        lines.append(t["files"])
        for code, record, value in files:
            file, _, column = (record.rpartition(":") if code == "FEED.COLUMN.EMPTY"
                               else (record, "", ""))
            lines.append(t[code].format(record=one_line(record, 200), file=one_line(file, 200),
                                        column=one_line(column, 100), value=one_line(value, 40)))
    for code, key in (("FEED.MO.SILENT", "mos_silent"), ("FEED.MO.SHRUNK", "mos_shrunk")):
        codes = [one_line(r, 40) for c, r, _ in feed if c == code]
        if codes:
            lines.append(t[key].format(codes=", ".join(codes)))
    return [*lines, ""] if lines else []
