"""The input contract: which files make an extract batch and which columns each must have.

Documented for people in data/README.md; this module is the single source the code reads.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractFile:
    """One file of an extract batch."""

    name: str  # stem: patients, policies, attachments, slots
    entity: str  # the entity one row describes (catalogue vocabulary)
    id_column: str  # unique per file; duplicates after the first are quarantined
    columns: tuple[str, ...]  # required columns, in documented order

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

FILES: tuple[ExtractFile, ...] = (PATIENTS, POLICIES, ATTACHMENTS, SLOTS)
BY_NAME = {f.name: f for f in FILES}

#: Accepted file suffixes, in the order they are looked for.
SUFFIXES = (".csv", ".parquet")

MANIFEST = "manifest.json"

DOCTOR_STATUSES = ("active", "on_leave", "dismissed")
SLOT_STATUSES = ("free", "booked", "blocked")
