"""The clean region every corpus case starts from (generated once per module)."""
from __future__ import annotations

from datetime import datetime

import pytest

from flows.synth import generate_region

AS_OF = datetime(2026, 11, 25, 23, 0)
#: Keep one slot line in this many: the corpus is about input handling, and ~27,000 slots of a
#: 300-patient region would make each of its ~20 complete runs several times slower.
SLOT_STRIDE = 12


@pytest.fixture(scope="module")
def clean_region(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-region")
    generate_region(root, patients=300, seed=17, region="50", as_of=AS_OF, defects=False)
    slots = root / "extract" / "slots.csv"
    header, *rows = slots.read_bytes().rstrip(b"\n").split(b"\n")
    slots.write_bytes(b"\n".join([header, *rows[::SLOT_STRIDE]]) + b"\n")
    return root
