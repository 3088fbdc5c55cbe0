"""Hive-partitioned datasets on a local disk or in an S3 bucket.

Layout: ``<root>/metric=<metric>/date=<YYYY-MM-DD>/<name>.parquet`` (or ``.csv``), one
partition per metric and UTC day of ``ts``. Every file is in the dataset format of design.md
section 2 on its own (exactly the columns ts, venue, asset, metric, value; ``metric`` is also in
the path), so ``read_dataset`` reads the tree as it is, and polars, DuckDB or Spark scan it with
hive partitioning (``metric`` and ``date`` come from the path).

Files are only ever added (``record``) or merged in place (``export``), never a whole partition
rewritten, so several writers can share one root as long as their file names differ: ``part_tag``
names them by host, process and start time.

S3 goes through polars' own cloud writing (object_store), configured from the standard AWS
environment variables.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

import polars as pl

from levtop.errors import UserError
from levtop.model import COLUMNS, DAY, SCHEMA

FORMATS = ("parquet", "csv")
KEYS = ["ts", "venue", "asset", "metric"]
S3_ENV = {
    "AWS_ENDPOINT_URL": "aws_endpoint_url",
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_REGION": "aws_region",
}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Target:
    """Where a dataset goes: a local directory, or ``s3://bucket/prefix``."""

    root: str
    storage_options: dict[str, str] | None = field(default=None, compare=False, repr=False)

    @property
    def remote(self) -> bool:
        return self.root.startswith("s3://")

    def url(self, relative: str) -> str:
        return f"{self.root}/{relative}" if self.remote else str(Path(self.root) / relative)

    def glob(self) -> str:
        """The pattern that scans every part file (polars, DuckDB)."""
        return self.url("**/*.parquet")


def s3_storage_options(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """polars/object_store options from the standard AWS variables; what is unset is left to
    polars' own credential chain (profile, instance role)."""
    env = os.environ if env is None else env
    options = {key: env[name] for name, key in S3_ENV.items() if env.get(name)}
    if "aws_region" not in options and env.get("AWS_DEFAULT_REGION"):
        options["aws_region"] = env["AWS_DEFAULT_REGION"]
    if options.get("aws_endpoint_url", "").startswith("http://"):
        options["aws_allow_http"] = "true"  # an emulator or a MinIO on the LAN
    return options


def parse_target(text: str, what: str = "--out", env: Mapping[str, str] | None = None) -> Target:
    """A local directory or ``s3://bucket[/prefix]``; any other URL is a one-line error."""
    raw = text.strip()
    if "://" not in raw:
        if not raw:
            raise UserError(f"{what} is empty: expected a directory or s3://bucket/prefix")
        return Target(str(Path(raw).expanduser().absolute()))
    scheme, _, rest = raw.partition("://")
    if scheme.lower() not in ("s3", "s3a"):
        raise UserError(f"bad {what} '{raw}': expected a directory or s3://bucket/prefix "
                        f"({scheme}:// is not supported)")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise UserError(f"bad {what} '{raw}': '{bucket}' is not an S3 bucket name")
    prefix = prefix.strip("/")
    root = f"s3://{bucket}" + (f"/{prefix}" if prefix else "")
    return Target(root, s3_storage_options(env))


def day_name(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def partition_dir(metric: str, day: int) -> str:
    return f"metric={metric}/date={day_name(day)}"


def partitions(frame: pl.DataFrame) -> Iterator[tuple[str, pl.DataFrame]]:
    """(relative partition dir, rows sorted by ts, venue, asset) per metric and UTC day."""
    if not frame.height:
        return
    keyed = frame.select(COLUMNS).with_columns((pl.col("ts") // DAY).alias("_day"))
    parts = keyed.partition_by(["metric", "_day"], as_dict=True, maintain_order=True)
    for (metric, day), part in sorted(parts.items()):
        yield partition_dir(str(metric), int(day)), part.drop("_day").sort("ts", "venue", "asset")


def part_tag(started_ms: int | None = None) -> str:
    """A file-name stem unique to this process: host, pid and start time (UTC)."""
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", socket.gethostname()).strip("-.") or "host"
    started = time.gmtime((started_ms if started_ms is not None else time.time() * 1000) / 1000)
    return f"{host}-{os.getpid()}-{time.strftime('%Y%m%dT%H%M%SZ', started)}"


def write_file(frame: pl.DataFrame, target: Target, relative: str, fmt: str = "parquet") -> str:
    """Write one file; local files appear whole (temp file, then rename), as S3 objects do."""
    url = target.url(relative)
    frame = frame.select(COLUMNS).cast(SCHEMA)
    if target.remote:
        if fmt != "parquet":
            raise ValueError("only parquet is written to S3")
        frame.write_parquet(url, compression="zstd", storage_options=target.storage_options)
        return url
    path = Path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A dot name: readers (read_dataset, polars' glob of *.parquet) skip it until it is renamed.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return url


def error_text(exc: BaseException) -> str:
    """One line about a failed write: object_store errors carry a whole XML body."""
    text = str(exc).strip() or type(exc).__name__
    code = re.search(r"<Code>([^<]+)</Code>", text)
    first = text.splitlines()[0]
    first = re.sub(r"\s*Error performing .*$", "", first)
    first = first if len(first) <= 200 else first[:197] + "..."
    return f"{first} ({code.group(1)})" if code and code.group(1) not in first else first


class PartWriter:
    """Adds samples to a dataset as new part files, one per partition per call.

    Names are ``<tag>-<seq>.parquet`` with a zero-padded sequence number, so within one
    writer later files sort after earlier ones (``read_dataset`` keeps the last of duplicates).
    """

    def __init__(self, target: Target, tag: str | None = None):
        self.target = target
        self.tag = tag or part_tag()
        self.seq = 0
        self.files = 0
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> tuple[list[str], pl.DataFrame | None, str | None]:
        """Write every partition of ``frame``; returns the files written, the rows that could
        not be written (None when all were) and the first error."""
        written: list[str] = []
        failed: list[pl.DataFrame] = []
        error = None
        for relative_dir, part in partitions(frame):
            if error is not None:
                failed.append(part)
                continue
            self.seq += 1
            try:
                written.append(write_file(part, self.target, f"{relative_dir}/{self.tag}-{self.seq:06d}.parquet"))
            except Exception as exc:  # noqa: BLE001 - a full disk or an unreachable bucket: kept for a retry
                error = error_text(exc)
                failed.append(part)
                continue
            self.files += 1
            self.rows += part.height
        rest = pl.concat(failed, how="vertical") if failed else None
        return written, rest, error


def dedupe_last(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (ts, venue, asset, metric), the last one given."""
    return frame.unique(subset=KEYS, keep="last", maintain_order=True)
