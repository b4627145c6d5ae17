"""The input contract: which files make an extract batch and which columns each must have.

Documented for people in data/README.md; this module is the single source the code reads.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractFile:
    """One file of an extract batch."""

    name: str  # stem: patients, policies, attachments, slots, registry
    entity: str  # the entity one row describes (catalogue vocabulary)
    id_column: str  # unique per file; duplicates after the first are quarantined
    columns: tuple[str, ...]  # required columns, in documented order
    #: Other header names accepted for a column (matched like the column's own name: trimmed,
    #: any letter case), e.g. the FFOMS element names of the register exchange files.
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    optional: bool = False  # a batch may lack the file (registry): its checks are then skipped

    def names_for(self, column: str) -> tuple[str, ...]:
        """Every header name that means `column`, lower case: its own name first."""
        return (column,) + dict(self.aliases).get(column, ())

    @property
    def raw_table(self) -> str:
        return f"raw_{self.name}"


PATIENTS = ExtractFile(
    "patients", "patient", "patient_id",
    ("patient_id", "last_name", "first_name", "middle_name", "birth_date", "sex", "snils"),
)
POLICIES = ExtractFile(
    "policies", "policy", "policy_id",
    ("policy_id", "patient_id", "policy_type", "policy_series", "policy_number", "enp",
     "smo_code", "okato", "date_begin", "date_end"),
)
ATTACHMENTS = ExtractFile(
    "attachments", "attachment", "attachment_id",
    ("attachment_id", "patient_id", "mo_code", "attach_method", "attach_date", "detach_date",
     "area_code", "doctor_snils"),
)
SLOTS = ExtractFile(
    "slots", "slot", "slot_id",
    ("slot_id", "mo_code", "doctor_id", "doctor_snils", "doctor_status", "specialty_code",
     "slot_start", "slot_end", "status", "patient_id", "updated_at"),
)

#: The TFOMS's extract of the insured-persons register (regional segment of the ERZL) with the
#: attachment it knows; optional (catalogue v1.2). Its header may use the FFOMS element names.
REGISTRY = ExtractFile(
    "registry", "insured", "enp",
    ("enp", "last_name", "first_name", "middle_name", "birth_date", "sex", "snils", "smo_code",
     "policy_begin", "policy_end", "death_date", "attach_mo_code", "attach_date"),
    aliases=(("last_name", ("fam",)), ("first_name", ("im",)), ("middle_name", ("ot",)),
             ("birth_date", ("dr",)), ("sex", ("w",)), ("snils", ("ss",)),
             ("smo_code", ("smo",)), ("policy_begin", ("dbeg",)), ("policy_end", ("dend",)),
             ("attach_mo_code", ("lpu", "code_mo")), ("attach_date", ("lpudt", "date_attach"))),
    optional=True,
)

#: The four files every batch must have.
FILES: tuple[ExtractFile, ...] = (PATIENTS, POLICIES, ATTACHMENTS, SLOTS)
#: Files a batch may have.
OPTIONAL_FILES: tuple[ExtractFile, ...] = (REGISTRY,)
ALL_FILES: tuple[ExtractFile, ...] = FILES + OPTIONAL_FILES
BY_NAME = {f.name: f for f in ALL_FILES}

#: Accepted file suffixes, in the order they are looked for.
SUFFIXES = (".csv", ".parquet")

MANIFEST = "manifest.json"

DOCTOR_STATUSES = ("active", "on_leave", "dismissed")
SLOT_STATUSES = ("free", "booked", "blocked")
