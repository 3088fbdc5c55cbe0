"""`levtop export` and `levtop import`: the local store to and from a dataset directory.

Export writes the hive layout of `record --out` (``metric=<m>/date=<day>/export.<fmt>``), CSV
or parquet, each file in the dataset format; exporting into a directory that already holds an
export merges day by day (the newer export wins where both have a sample). Import reads any
dataset (read_dataset: one-line errors naming file and line), merges it into the store (the
imported value wins where both have a sample) and saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import polars as pl

from levtop.dataset import DatasetError, read_dataset, read_dataset_file
from levtop.errors import UserError
from levtop.model import COLUMNS, DAY, empty_frame
from levtop.partitions import FORMATS, KEYS, Target, day_name, partitions, write_file
from levtop.store import HistoryStore

EXPORT_STEM = "export"


@dataclass
class ExportResult:
    rows: int
    files: list[Path]
    first_ts: int | None
    last_ts: int | None
    metrics: list[str]


@dataclass
class ImportResult:
    rows: int
    files: int
    new: int
    replaced: int
    unchanged: int
    beyond_retention: int
    first_ts: int | None
    last_ts: int | None
    warnings: list[str] = field(default_factory=list)


def select(store: HistoryStore, start: int | None, end: int | None,
           assets: Sequence[str] | None = None) -> pl.DataFrame:
    """Samples with start <= ts <= end (either open), of some assets plus market-wide series."""
    frame = store.frame(since=None if start is None else start - 1, until=end, assets=assets)
    return frame.sort("ts", "venue", "asset", "metric")


def export_frame(frame: pl.DataFrame, directory: Path, fmt: str = "parquet") -> list[Path]:
    """Write ``frame`` under ``directory``, one file per metric and UTC day, merged with an
    earlier export's file of the same partition and format."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format '{fmt}': expected csv or parquet")
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory}: not a directory")
    target = Target(str(directory))
    written = []
    for relative_dir, part in partitions(frame):
        relative = f"{relative_dir}/{EXPORT_STEM}.{fmt}"
        path = Path(target.url(relative))
        if path.exists():
            earlier, _ = read_dataset_file(path)
            part = (pl.concat([earlier, part], how="vertical")
                    .unique(subset=KEYS, keep="last", maintain_order=True)
                    .sort("ts", "venue", "asset"))
        try:
            write_file(part, target, relative, fmt)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    return written


def export_store(store: HistoryStore, directory: Path, start: int | None = None, end: int | None = None,
                 fmt: str = "parquet", assets: Sequence[str] | None = None) -> ExportResult:
    frame = select(store, start, end, assets)
    if not frame.height:
        span = describe_span(start, end)
        where = store.directory or "the store"
        raise UserError(f"nothing to export: {where} holds no samples{span}")
    files = export_frame(frame, directory, fmt)
    return ExportResult(frame.height, files, int(frame["ts"].min()), int(frame["ts"].max()),
                        sorted(frame["metric"].unique().to_list()))


def describe_span(start: int | None, end: int | None) -> str:
    if start is None and end is None:
        return ""
    lo = day_name(start // DAY) if start is not None else "the start"
    hi = day_name(end // DAY) if end is not None else "the end"
    return f" from {lo} to {hi}"


def compare_with_store(store: HistoryStore, frame: pl.DataFrame) -> tuple[int, int, int]:
    """How many rows of ``frame`` are new to the store, would replace a different value, or are
    already there with the same value."""
    if not frame.height:
        return 0, 0, 0
    lo, hi = int(frame["ts"].min()), int(frame["ts"].max())
    stored = store.frame(since=lo - 1, until=hi).rename({"value": "stored"})
    joined = frame.join(stored, on=KEYS, how="left")
    new = joined.filter(pl.col("stored").is_null()).height
    unchanged = joined.filter(pl.col("stored") == pl.col("value")).height
    return new, frame.height - new - unchanged, unchanged


def import_dataset(path: Path, store: HistoryStore) -> ImportResult:
    """Validate the dataset at ``path``, merge it into ``store`` and save the store."""
    dataset = read_dataset(path)
    frame = dataset.frame.select(COLUMNS) if dataset.frame.height else empty_frame()
    if not frame.height:
        raise DatasetError(f"{path}: the dataset has no usable rows")
    new, replaced, unchanged = compare_with_store(store, frame)
    store.append(frame)
    cutoff = store.cutoff
    beyond = frame.filter(pl.col("ts") < cutoff).height if cutoff is not None else 0
    if store.directory is not None:
        try:
            store.save()
        except OSError as exc:
            raise UserError(f"cannot write {store.directory}: {exc.strerror or exc}") from None
    return ImportResult(frame.height, len(dataset.files), new, replaced, unchanged, beyond,
                        int(frame["ts"].min()), int(frame["ts"].max()), dataset.warnings)
