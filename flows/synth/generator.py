"""generate_region: a synthetic region's extract batch, reference folder and ground truth."""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from flows.synth import nsi_writer as nsi
from flows.synth.dialects import DIALECTS, write_csv, write_parquet
from flows.synth.facts import load_facts, region_okato
from flows.synth.region import COLUMNS, EXTRA_COLUMNS, Ctx, build_clean, build_mos

COPIED_REFERENCE = ("F002.xml", "F008.xml", "F010.xml", "V021.xml")
TRUTH_COLUMNS = ("check_code", "record_id", "mo_code", "suggested_value", "v11_mo_code", "registry_only")
MIN_PATIENTS = 10


@dataclass
class GenerateResult:
    out: Path
    extract: Path
    reference: Path
    truth: Path
    rows: dict[str, int]  # data lines written per extract file (malformed and duplicate lines included)
    truth_counts: dict[str, int] = field(default_factory=dict)  # findings expected per check code
    seconds: float = 0.0


def _reference(ref: Path, region: str, D, reference_from: Path | None) -> None:
    if reference_from is not None:
        for name in COPIED_REFERENCE:
            src = Path(reference_from) / name
            if not src.is_file():
                raise FileNotFoundError(f"{src}: reference file to copy is missing")
            shutil.copyfile(src, ref / name)
        return
    nsi.write_f002(ref / "F002.xml", nsi.synthetic_insurers(region, D), nsi.ddmmyyyy(D - timedelta(days=90)))
    nsi.write_f008(ref / "F008.xml")
    nsi.write_f010(ref / "F010.xml")
    nsi.write_v021(ref / "V021.xml")


def generate_region(out: Path, *, patients: int, seed: int, region: str = "50", as_of: datetime,
                    reference_from: Path | None = None, defects: bool = True,
                    parquet: tuple[str, ...] = (), registry: bool = True,
                    defect_rate: float | None = None) -> GenerateResult:
    """Write out/extract (four files, registry.csv with `registry`, manifest.json), out/reference
    (five classifiers) and out/truth.csv. Same arguments -> byte-identical files. `parquet` names
    extract files (e.g. ("slots",)) to write as Parquet instead of CSV. registry=False writes
    exactly the files of a region generated before the register existed (the register's
    randomness is a stream of its own); truth.csv then has no suggestions and registry_only 0.

    defect_rate: None (default) is the usual density: `patients` clean patients plus the records
    made for about 0.07 findings per patient (0.036 without the register; small regions denser),
    files unchanged by this option. A number r (0 < r <= 1) asks for a dense region of about
    `patients` patients in all (patients.csv rows, clean and made for cases) with about r findings
    per patient (truth.csv rows / patients): the clean population shrinks and every kind of case
    is scaled alike, so the findings spread over the catalogue's checks as at the default. The
    rate is approximate (within ~10% from 3,000 patients up; the patient count within ~1% from
    20,000 up, up to 20% fewer in small regions, whose many slots per patient take more of the
    cases; every case still comes at least 5 times, so a tiny region cannot be sparser than its
    default); the truth is exact either way."""
    started = time.perf_counter()
    if patients < MIN_PATIENTS:
        raise ValueError(f"patients must be >= {MIN_PATIENTS} (every MO needs patients)")
    n_clean = patients
    if defect_rate is not None:
        from flows.synth.injector import MAX_DEFECT_RATE, clean_patients
        if not defects:
            raise ValueError("defect_rate needs defects (a clean region has none)")
        if not 0 < defect_rate <= MAX_DEFECT_RATE:
            raise ValueError(f"defect_rate must be > 0 and <= {MAX_DEFECT_RATE} (findings per patient)")
        n_clean = max(MIN_PATIENTS, clean_patients(patients, defect_rate, registry))
    if as_of.tzinfo is not None:
        raise ValueError("as_of is local time of the region, without a time zone")
    for name in parquet:
        if name not in COLUMNS or (name == "registry" and not registry):
            raise ValueError(f"unknown extract file {name!r}; expected one of {sorted(COLUMNS)}")
    out = Path(out)
    extract, ref = out / "extract", out / "reference"
    extract.mkdir(parents=True, exist_ok=True)
    ref.mkdir(parents=True, exist_ok=True)
    as_of = as_of.replace(microsecond=0)
    D = as_of.date()

    _reference(ref, region, D, reference_from)
    nb = nsi.neighbour_region(region)
    ctx = Ctx(np.random.default_rng(seed), as_of, region, region_okato(ref, region, D), nb, region_okato(ref, nb, D))
    mos = build_mos(ctx, n_clean)
    nsi.write_f003(ref / "F003.xml", mos.companies, nsi.ddmmyyyy(D - timedelta(days=30)))
    ctx.facts = load_facts(ref, D)
    world = build_clean(ctx, mos, n_clean)

    tables = {}
    for name, df in world.tables.items():
        extra = world.extras.get(name)
        if extra is not None:
            df = pl.concat([df, extra], how="horizontal")
        tables[name] = df.with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias("_order"))
    reg_rng = np.random.default_rng([seed, 1202]) if registry else None
    reg_dialect = None
    if registry:
        from flows.synth.register import choose_dialect, clean_register
        reg_dialect = choose_dialect(reg_rng)
        tables, reg = clean_register(world, tables, reg_rng)
        tables["registry"] = reg.with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias("_order"))
    truth = pl.DataFrame(schema={c: pl.String for c in TRUTH_COLUMNS})
    if defects:
        from flows.synth.defects import inject
        tables, truth = inject(world, tables, parquet=parquet, reg_rng=reg_rng, defect_rate=defect_rate)
    world.tables, world.extras, world.bookable = {}, {}, None  # free memory before writing

    rows = {}
    line_keys = []
    for name in list(tables):
        df = tables.pop(name).sort("_order", maintain_order=True)  # one copy of a table at a time
        columns = COLUMNS[name] + EXTRA_COLUMNS.get(name, ())
        dialect, header = DIALECTS.get(name), None
        if name == "registry":
            dialect, header = reg_dialect.dialect, reg_dialect.header
        if name in parquet:
            write_parquet(df, extract / f"{name}.parquet", columns)
        else:
            write_csv(df, extract / f"{name}.csv", dialect.order or columns, dialect, header=header)
            if "_key" in df.columns:
                line_keys.append(df.with_row_index("_row").filter(pl.col("_key").is_not_null())
                                 .select("_key", pl.format(f"{name}.csv:{{}}", pl.col("_row") + 2).alias("_line")))
        rows[name] = len(df)
    if line_keys:  # ROW.MALFORMED record ids are "<file>:<line>", known only once the file is ordered
        lines = pl.concat(line_keys)
        truth = (truth.join(lines, left_on="record_id", right_on="_key", how="left")
                 .with_columns(pl.coalesce("_line", "record_id").alias("record_id")).drop("_line"))
    truth = truth.select(TRUTH_COLUMNS).sort("check_code", "record_id")
    if truth.select(pl.struct("check_code", "record_id").is_duplicated().any()).item():
        dup = truth.filter(pl.struct("check_code", "record_id").is_duplicated())
        raise AssertionError(f"ground truth has duplicate (check_code, record_id):\n{dup}")
    truth_path = out / "truth.csv"
    truth.write_csv(truth_path, null_value="")
    # seconds only when as_of has them, so a run that takes as_of from the manifest sees the same moment
    stamp = as_of.strftime("%Y-%m-%d %H:%M" if as_of.second == 0 else "%Y-%m-%d %H:%M:%S")
    manifest = {"region_code": region, "extracted_at": stamp,
                "source": f"talon synthetic generator seed={seed}"}
    (extract / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                           encoding="utf-8")
    counts = dict(truth.group_by("check_code").len().sort("check_code").iter_rows())
    return GenerateResult(out, extract, ref, truth_path, rows, counts, time.perf_counter() - started)
