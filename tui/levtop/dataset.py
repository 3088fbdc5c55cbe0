"""The dataset format: a directory of .csv or .parquet files, each a long table with exactly
the columns ts, venue, asset, metric, value (design.md section 2).

CSV ``ts`` is integer milliseconds or ISO 8601 in UTC (``2022-11-08T00:00:00Z``). Unknown
metrics are skipped with a warning. A malformed row is an error that names the file and line;
nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from levtop.errors import UserError
from levtop.model import COLUMNS, METRICS, SCHEMA, empty_frame

_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%d %H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%.f%:z")
_VENUE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
_ASSET_PATTERN = r"^([A-Z0-9]{1,20}|\*)$"
EXTENSIONS = (".csv", ".parquet")


class DatasetError(UserError):
    """A dataset that cannot be read as it is; the message names the file and line."""


@dataclass
class Dataset:
    frame: pl.DataFrame
    files: list[Path]
    warnings: list[str] = field(default_factory=list)


def dataset_files(path: Path) -> list[Path]:
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if path.is_file():
        if path.suffix not in EXTENSIONS:
            raise DatasetError(f"{path}: expected a .csv or .parquet file or a directory of them")
        return [path]
    files = sorted(
        p for p in path.rglob("*")
        if p.is_file() and p.suffix in EXTENSIONS and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise DatasetError(f"{path}: no .csv or .parquet files in this directory")
    return files


def read_dataset(path: Path) -> Dataset:
    """Every sample in the dataset at ``path``, deduplicated and sorted by time."""
    files = dataset_files(path)
    frames, warnings = [], []
    for file in files:
        frame, file_warnings = read_dataset_file(file)
        frames.append(frame)
        warnings += file_warnings
    merged = pl.concat(frames, how="vertical") if frames else empty_frame()
    return Dataset(_sorted_last_of_each(merged), files, warnings)


def _sorted_last_of_each(frame: pl.DataFrame) -> pl.DataFrame:
    """Sorted by ts, venue, asset and metric, with one row for each: the last one given (a later
    file wins). A stable sort puts the repeats of a key next to each other in the order given;
    keeping the last of each run is half the time of deduplicating before sorting."""
    keys = ["ts", "venue", "asset", "metric"]
    ordered = frame.sort(keys, maintain_order=True)
    same_as_next = pl.all_horizontal([pl.col(k) == pl.col(k).shift(-1) for k in keys]).fill_null(False)
    return ordered.filter(~same_as_next)


def read_dataset_file(file: Path) -> tuple[pl.DataFrame, list[str]]:
    raw, first_line, unit = _read_raw(file)
    missing = [c for c in COLUMNS if c not in raw.columns]
    extra = [c for c in raw.columns if c not in COLUMNS]
    if missing or extra:
        problem = []
        if missing:
            problem.append(f"missing {', '.join(missing)}")
        if extra:
            problem.append(f"unexpected {', '.join(extra)}")
        raise DatasetError(
            f"{file}: columns must be exactly {', '.join(COLUMNS)} ({'; '.join(problem)})"
        )
    if raw.height == 0:
        return empty_frame(), [f"{file}: no rows"]

    frame = raw.with_row_index("line", offset=first_line).with_columns(
        _parse_ts(raw.schema["ts"]).alias("ts_parsed"),
        _parse_value(raw.schema["value"]).alias("value_parsed"),
    )
    _raise_first_problem(frame, file, unit)

    frame = frame.select(
        "line",
        pl.col("ts_parsed").alias("ts"),
        pl.col("venue").cast(pl.String),
        pl.col("asset").cast(pl.String),
        pl.col("metric").cast(pl.String),
        pl.col("value_parsed").alias("value"),
    )
    warnings = []
    unknown = frame.filter(~pl.col("metric").is_in(list(METRICS)))
    if unknown.height:
        for metric, rows in unknown.group_by("metric", maintain_order=True).agg(pl.len()).iter_rows():
            warnings.append(f"{file}: unknown metric '{metric}' ignored ({rows} rows)")
        frame = frame.filter(pl.col("metric").is_in(list(METRICS)))
    _check_conflicts(frame, file, unit)
    return frame.drop("line").cast(SCHEMA), warnings


def _row_checks() -> list[tuple[pl.Expr, pl.Expr]]:
    """(the row is wrong, what to say) for each check, in the order a row is judged."""
    # fill_null: pl.format of a null is null, which would let an empty cell through.
    def cell(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.String).fill_null("")

    return [
        (pl.col("ts_parsed").is_null(),
         pl.format("bad ts '{}': expected integer milliseconds or ISO 8601 UTC like 2022-11-08T00:00:00Z", cell("ts"))),
        (~pl.col("venue").cast(pl.String).str.contains(_VENUE_PATTERN).fill_null(False),
         pl.format("bad venue '{}': expected lower case like binance or market", cell("venue"))),
        (~pl.col("asset").cast(pl.String).str.contains(_ASSET_PATTERN).fill_null(False),
         pl.format("bad asset '{}': expected upper case like BTC, or * for market-wide", cell("asset"))),
        (pl.col("metric").is_null() | (pl.col("metric").cast(pl.String) == ""), pl.lit("empty metric")),
        (pl.col("value_parsed").is_null(), pl.format("bad value '{}': expected a number", cell("value"))),
        (~pl.col("value_parsed").is_finite(),
         pl.format("bad value '{}': expected a finite number (not NaN or inf)", cell("value"))),
    ]


def _raise_first_problem(frame: pl.DataFrame, file: Path, unit: str) -> None:
    """A DatasetError naming the first malformed row and how many more there are, if any. The
    messages are formatted only for a file that has one: formatting every row's would-be message
    was most of the time spent reading a good file."""
    checks = _row_checks()
    wrong = frame.select(pl.any_horizontal([bad for bad, _ in checks]).alias("wrong"))["wrong"]
    if not wrong.any():
        return
    bad_rows = frame.filter(wrong)
    message = pl.when(checks[0][0]).then(checks[0][1])
    for bad, said in checks[1:]:
        message = message.when(bad).then(said)
    first = bad_rows.head(1).select("line", message.alias("problem")).row(0, named=True)
    more = f" (and {bad_rows.height - 1} more malformed rows)" if bad_rows.height > 1 else ""
    raise DatasetError(f"{file}:{unit}{first['line']}: {first['problem']}{more}")


def _read_raw(file: Path) -> tuple[pl.DataFrame, int, str]:
    """The file's table, the line (or row) number of its first row, and the unit's label."""
    try:
        if file.suffix == ".csv":
            raw = pl.read_csv(file, infer_schema=False, truncate_ragged_lines=False)
            return raw, 2, ""
        return pl.read_parquet(file), 1, "row "
    except pl.exceptions.PolarsError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatasetError(f"{file}: unreadable: {detail}") from None
    except OSError as exc:
        raise DatasetError(f"{file}: unreadable: {exc.strerror or exc}") from None


def _parse_ts(dtype: pl.DataType) -> pl.Expr:
    col = pl.col("ts")
    if dtype.is_integer():
        return col.cast(pl.Int64)
    if isinstance(dtype, pl.Datetime):
        return col.dt.convert_time_zone("UTC").dt.epoch("ms") if dtype.time_zone else col.dt.epoch("ms")
    text = col.cast(pl.String).str.strip_chars()
    as_int = text.cast(pl.Int64, strict=False)
    iso = [text.str.strptime(pl.Datetime("ms", "UTC"), f, strict=False).dt.epoch("ms") for f in _ISO_FORMATS]
    return pl.coalesce(as_int, *iso)


def _parse_value(dtype: pl.DataType) -> pl.Expr:
    if dtype.is_numeric():
        return pl.col("value").cast(pl.Float64)
    return pl.col("value").cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


def _check_conflicts(frame: pl.DataFrame, file: Path, unit: str) -> None:
    """The same (ts, venue, asset, metric) twice with different values is ambiguous."""
    keys = ["ts", "venue", "asset", "metric"]
    dup = frame.filter(pl.struct(keys).is_duplicated())
    if not dup.height:
        return
    clash = (
        dup.group_by(keys)
        .agg(pl.col("value").n_unique().alias("values"), pl.col("line").sort().alias("lines"))
        .filter(pl.col("values") > 1)
        .sort(pl.col("lines").list.first())
    )
    if clash.height:
        lines = clash.row(0, named=True)["lines"]
        raise DatasetError(
            f"{file}:{unit}{lines[1]}: same ts, venue, asset and metric as {unit or 'line '}{lines[0]} "
            f"with a different value"
        )


def write_dataset(frame: pl.DataFrame, directory: Path, fmt: str = "csv") -> list[Path]:
    """One file per metric, dataset columns, sorted by time."""
    if fmt not in ("csv", "parquet"):
        raise DatasetError(f"unknown format '{fmt}': expected csv or parquet")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for (metric,), part in frame.sort("ts", "venue", "asset").partition_by(
        ["metric"], as_dict=True, maintain_order=True
    ).items():
        path = directory / f"{metric}.{fmt}"
        part = part.select(COLUMNS)
        if fmt == "csv":
            part.write_csv(path)
        else:
            part.write_parquet(path)
        written.append(path)
    return written

