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
from flows.synth.dialects import DIALECTS, ParquetAppender, write_csv, write_parquet
from flows.synth.cases_patients import ROUTING8_BLOCKS
from flows.synth.facts import load_facts, region_okato
from flows.synth.region import COLUMNS, EXTRA_COLUMNS, Ctx, MoRegistry, build_clean, build_mos, mo_counts

COPIED_REFERENCE = ("F002.xml", "F008.xml", "F010.xml", "V021.xml")
TRUTH_COLUMNS = ("check_code", "record_id", "mo_code", "suggested_value", "v11_mo_code", "registry_only")
MIN_PATIENTS = 10
BLOCK_PATIENTS = 1_000_000  # clean patients generated at a time (bounded memory)
MIN_BLOCK_PATIENTS = 1_000


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


def block_sizes(n_clean: int, block_patients: int) -> list[int]:
    """The clean patients of each block: as few blocks of at most block_patients as can hold
    n_clean, as equal as can be (the first ones one patient larger)."""
    k = -(-n_clean // block_patients)
    return [n_clean // k + (1 if b < n_clean % k else 0) for b in range(k)]


def _split(items: list[str], counts: list[int]) -> list[list[str]]:
    out, at = [], 0
    for c in counts:
        out.append(items[at:at + c])
        at += c
    return out


class _Files:
    """The extract files of a region, written table by table and appended block by block: the
    lines written so far (ROW.MALFORMED's line numbers) and the open Parquet writers."""

    def __init__(self, extract: Path, parquet: tuple[str, ...], reg_dialect, blocks: int):
        self.extract, self.parquet, self.reg_dialect = extract, parquet, reg_dialect
        self.single = blocks == 1
        self.rows: dict[str, int] = {}
        self.appenders: dict[str, ParquetAppender] = {}

    def write(self, name: str, df: pl.DataFrame) -> pl.DataFrame | None:
        """Append df (ordered) to its file; the (_key, _line) of its rows to be written malformed."""
        columns = COLUMNS[name] + EXTRA_COLUMNS.get(name, ())
        dialect, header = DIALECTS.get(name), None
        if name == "registry":
            dialect, header = self.reg_dialect.dialect, self.reg_dialect.header
        written = self.rows.get(name, 0)
        keys = None
        if name in self.parquet:
            if self.single:  # as a region of one block was always written
                write_parquet(df, self.extract / f"{name}.parquet", columns)
            else:
                if name not in self.appenders:
                    self.appenders[name] = ParquetAppender(self.extract / f"{name}.parquet", columns)
                self.appenders[name].write(df)
        else:
            write_csv(df, self.extract / f"{name}.csv", dialect.order or columns, dialect, header=header,
                      append=name in self.rows)
            if "_key" in df.columns:
                keys = (df.with_row_index("_row").filter(pl.col("_key").is_not_null())
                        .select("_key", pl.format(f"{name}.csv:{{}}", pl.col("_row") + written + 2).alias("_line")))
        self.rows[name] = written + len(df)
        return keys

    def close(self) -> None:
        for appender in self.appenders.values():
            appender.close()


def generate_region(out: Path, *, patients: int, seed: int, region: str = "50", as_of: datetime,
                    reference_from: Path | None = None, defects: bool = True,
                    parquet: tuple[str, ...] = (), registry: bool = True,
                    defect_rate: float | None = None, block_patients: int = BLOCK_PATIENTS) -> GenerateResult:
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
    default); the truth is exact either way.

    block_patients: memory is bounded by generating the clean population in blocks of at most
    this many clean patients (as equal as can be), each with its own defect cases and register
    rows, written (appended) before the next block is made: peak memory is that of one block
    (about 2.8 GB per million patients), whatever `patients` is. A region of at most
    block_patients clean patients is one block, exactly the region generated before blocks
    existed. Block 0 draws from the seed's stream as before, block b > 0 from streams of its own
    ([seed, 7, b]; the register's [seed, 1202, b]). All blocks share the F003 registry (each block
    has MOs of its own, as many as a region of its size, so MO-level rules such as
    SCH.HORIZON.EMPTY stay within a block), the id counters (patients, policies, attachments,
    slots, doctors, orphan and 9-digit ids go on from the block before) and the SNILS and ENP
    pools (unique across blocks); the register cases' surnames of block b > 0 have a second part
    of their own (register.reg_surnames), so the name tiers of linking stay within a block; the
    SNILS worked examples and the empty register ENP come in block 0 only; every kind of case
    comes in every block, so the density is
    that of a region of one block's size. Rows are in random order within a block; truth.csv is
    all blocks' findings, sorted."""
    started = time.perf_counter()
    if patients < MIN_PATIENTS:
        raise ValueError(f"patients must be >= {MIN_PATIENTS} (every MO needs patients)")
    if block_patients < MIN_BLOCK_PATIENTS:
        raise ValueError(f"block_patients must be >= {MIN_BLOCK_PATIENTS}")
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
    okato, nb_okato = region_okato(ref, region, D), region_okato(ref, nb, D)
    ctx = Ctx(np.random.default_rng(seed), as_of, region, okato, nb, nb_okato)
    sizes = block_sizes(n_clean, block_patients)
    if len(sizes) == 1:
        mos = build_mos(ctx, n_clean)
        block_mos = [mos]
    else:  # each block has the MOs a region of its size has
        counts = [mo_counts(n) for n in sizes]
        mos = build_mos(ctx, n_clean, (sum(c for c, _ in counts), sum(e for _, e in counts)))
        clean = _split(mos.clean, [c for c, _ in counts])
        excluded = _split(mos.excluded, [e for _, e in counts])
        block_mos = [MoRegistry(mos.companies, c, e, mos.foreign, mos.unknown) for c, e in zip(clean, excluded)]
    nsi.write_f003(ref / "F003.xml", mos.companies, nsi.ddmmyyyy(D - timedelta(days=30)))
    ctx.facts = load_facts(ref, D)

    reg_dialect = None
    if registry:
        from flows.synth.register import choose_dialect
        reg_rng = np.random.default_rng([seed, 1202])
        reg_dialect = choose_dialect(reg_rng)
    files = _Files(extract, parquet, reg_dialect, len(sizes))
    truths = []
    # a region in blocks: the routing cases' 8-digit attachment ids above every block's own ids
    next_ids: dict[str, int] = {} if len(sizes) == 1 else {"routing8": ROUTING8_BLOCKS}
    try:
        for b, n_block in enumerate(sizes):
            if b > 0:  # streams of its own; the identifier pools go on
                prev, ctx = ctx, Ctx(np.random.default_rng([seed, 7, b]), as_of, region, okato, nb, nb_okato,
                                     block=b)
                for attr in ("facts", "snils", "doctor_snils", "enp", "extra_enp", "extra_snils"):
                    setattr(ctx, attr, getattr(prev, attr))
                if registry:
                    reg_rng = np.random.default_rng([seed, 1202, b])
            truth, next_ids = _block(ctx, block_mos[b], n_block, next_ids, files, defects=defects,
                                     parquet=parquet, reg_rng=reg_rng if registry else None,
                                     defect_rate=defect_rate)
            truths.append(truth)
    finally:
        files.close()
    truth = pl.concat(truths).sort("check_code", "record_id")
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
    return GenerateResult(out, extract, ref, truth_path, dict(files.rows), counts, time.perf_counter() - started)


def _block(ctx: Ctx, mos: MoRegistry, n_clean: int, start: dict[str, int], files: _Files, *, defects: bool,
           parquet: tuple[str, ...], reg_rng: np.random.Generator | None, defect_rate: float | None
           ) -> tuple[pl.DataFrame, dict[str, int]]:
    """One block: its clean population, register rows and defect cases, appended to the files.
    Returns its truth (TRUTH_COLUMNS, record ids of malformed lines resolved) and the next ids."""
    world = build_clean(ctx, mos, n_clean, start)
    tables = {}
    for name, df in world.tables.items():
        extra = world.extras.get(name)
        if extra is not None:
            df = pl.concat([df, extra], how="horizontal")
        tables[name] = df.with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias("_order"))
    if reg_rng is not None:
        from flows.synth.register import clean_register
        tables, reg = clean_register(world, tables, reg_rng)
        tables["registry"] = reg.with_columns(pl.int_range(pl.len()).cast(pl.Float64).alias("_order"))
    truth = pl.DataFrame(schema={c: pl.String for c in TRUTH_COLUMNS})
    if defects:
        from flows.synth.defects import inject
        tables, truth = inject(world, tables, parquet=parquet, reg_rng=reg_rng, defect_rate=defect_rate)
    next_ids = dict(world.next_ids)
    world.tables, world.extras, world.bookable = {}, {}, None  # free memory before writing

    line_keys = []
    for name in list(tables):
        df = tables.pop(name).sort("_order", maintain_order=True)  # one copy of a table at a time
        keys = files.write(name, df)
        if keys is not None:
            line_keys.append(keys)
        del df
    if line_keys:  # ROW.MALFORMED record ids are "<file>:<line>", known only once the file is ordered
        lines = pl.concat(line_keys)
        truth = (truth.join(lines, left_on="record_id", right_on="_key", how="left")
                 .with_columns(pl.coalesce("_line", "record_id").alias("record_id")).drop("_line"))
    return truth.select(TRUTH_COLUMNS), next_ids
