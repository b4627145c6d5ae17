"""Defect cases of the register reconciliation (REG.*, catalogue v1.2) and every linking tier."""
from __future__ import annotations

REG_BUILDERS = ()
