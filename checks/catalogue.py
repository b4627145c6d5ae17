"""The check catalogue: each check declared once, with what a clinic clerk needs to act on it.

Engines: `pandera` (row-level rules of one extract, checks/row_rules.py), `sql` (set-level and
cross-table rules on the warehouse, checks/set_rules.py, also run as a Great Expectations suite),
`ingest` (lines that could not be loaded, flows/extract/).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    BLOCKER = "blocker"  # online booking fails for the people concerned
    WARNING = "warning"  # booking is degraded


class Engine(str, Enum):
    PANDERA = "pandera"
    SQL = "sql"
    INGEST = "ingest"


@dataclass(frozen=True)
class Check:
    code: str
    severity: Severity
    entity: str  # patient | policy | attachment | slot | doctor | mo_specialty | file | * (ROW.DUPLICATE_ID)
    field: str
    engine: Engine
    rule: str  # official rule it follows (Q015 id, FFOMS code) or "" where none exists
    title_ru: str
    title_en: str
    message_ru: str
    message_en: str
    fix_ru: str
    fix_en: str

    def message(self, lang: str = "ru") -> str:
        return self.message_en if lang == "en" else self.message_ru

    def fix(self, lang: str = "ru") -> str:
        return self.fix_en if lang == "en" else self.fix_ru

    def title(self, lang: str = "ru") -> str:
        return self.title_en if lang == "en" else self.title_ru


B, W = Severity.BLOCKER, Severity.WARNING
P, S, I = Engine.PANDERA, Engine.SQL, Engine.INGEST

# The texts below are filled in by the catalogue declaration; codes, severities, entities,
# fields and engines are fixed by the specification (issue "The check catalogue").
CHECKS: tuple[Check, ...] = ()

BY_CODE: dict[str, Check] = {c.code: c for c in CHECKS}


def get(code: str) -> Check:
    return BY_CODE[code]
