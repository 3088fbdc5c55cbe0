"""`levtop record --out s3://...`: polars' own cloud writing against a local S3 emulator (moto's
server on 127.0.0.1), read back with polars' scan_parquet over the bucket."""

from __future__ import annotations

import polars as pl
import pytest

from levtop.config import load_config
from levtop.model import DAY, SCHEMA
from levtop.partitions import PartWriter, parse_target
from levtop.record import Recorder, RecordOptions
from sim_helpers import running_sim
from test_record import assert_holds_the_store

moto_server = pytest.importorskip("moto.server", reason="moto[server] (a test extra) is not installed")
boto3 = pytest.importorskip("boto3")

BUCKET = "levtop-test"
KEYS = ["ts", "venue", "asset", "metric"]


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """The standard AWS variables pointed at the emulator, and a fresh bucket."""
    for name, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for obj in listed:
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def scan(url: str, storage_options: dict, **kwargs) -> pl.DataFrame:
    return pl.scan_parquet(f"{url}/**/*.parquet", hive_partitioning=True, storage_options=storage_options,
                           **kwargs).collect()


async def test_a_recorder_writes_a_bucket_that_polars_scans_back(s3):
    target = parse_target(f"s3://{BUCKET}/recorders")
    async with running_sim(speed=3600) as sim:
        options = RecordOptions(assets=("BTC",), sim_url=sim.base_url, out=target, backfill_days=1.0,
                                out_every_s=1.0, duration_s=6.0, rate_limit=False, time_scale=sim.speed)
        recorder = Recorder(load_config(), options)
        assert await recorder.run() == 0
    assert recorder.last_out_error is None and recorder.waiting == 0
    assert recorder.writer.files >= 20  # the backfill's days, then more parts per flush

    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert len(keys) == recorder.writer.files
    assert all(k.startswith("recorders/metric=") and "/date=" in k and k.endswith(".parquet") for k in keys)
    assert len({k.rsplit("/", 1)[1] for k in keys}) == len(keys)  # unique names: host-pid-start-seq

    scanned = scan(target.root, target.storage_options)
    assert scanned.columns == ["ts", "venue", "asset", "metric", "value", "date"]
    # A key written twice (a value revised later) is read as the last file has it.
    recorded = (scan(target.root, target.storage_options, include_file_paths="file")
                .sort("file", maintain_order=True).unique(subset=KEYS, keep="last").drop("date", "file"))
    assert_holds_the_store(recorded, recorder.store)
    assert recorded["asset"].unique().sort().to_list() == ["*", "BTC"]


def test_two_recorders_feed_one_prefix(s3):
    target = parse_target(f"s3://{BUCKET}/shared")
    rows = pl.DataFrame([(DAY, "okx", "BTC", "price", 1.0), (DAY + 60_000, "okx", "BTC", "price", 2.0)],
                        schema=SCHEMA, orient="row")
    PartWriter(target, tag="box-a-1-20260101T000000Z").write(rows.head(1))
    PartWriter(target, tag="box-b-7-20260101T000000Z").write(rows.tail(1))
    assert scan(target.root, target.storage_options)["ts"].sort().to_list() == [DAY, DAY + 60_000]


async def test_a_failed_upload_keeps_the_rows_for_the_next_flush(s3):
    target = parse_target("s3://no-such-bucket-here/x")
    recorder = Recorder(load_config(), RecordOptions(assets=("BTC",), out=target))
    from levtop.model import Sample

    recorder.on_samples([Sample(DAY, "okx", "BTC", "price", 1.0), Sample(DAY + 1, "okx", "BTC", "price", 2.0)])
    assert await recorder.flush_out() is False
    assert recorder.waiting == 2
    assert "NoSuchBucket" in recorder.last_out_error and "\n" not in recorder.last_out_error
    # The bucket appears: the next flush writes them.
    recorder.writer.target = parse_target(f"s3://{BUCKET}/late")
    assert await recorder.flush_out() is True
    assert recorder.waiting == 0
    assert scan(f"s3://{BUCKET}/late", recorder.writer.target.storage_options).height == 2
