"""A retried batch (as Airflow retries a failed mapped task) neither duplicates nor loses admitted items."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clearframe import pipeline
from clearframe.config import Settings, load_source
from clearframe.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]


def index_keys(storage_root: Path) -> list[str]:
    keys: list[str] = []
    for p in (storage_root / "datasets" / "demo" / "shards").glob("*.parquet"):
        keys += pq.read_table(io.BytesIO(p.read_bytes())).column("key").to_pylist()
    return keys


def test_batch_failing_after_staging_then_retried_shards_each_item_once(
        cf_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    source = load_source(ROOT / "include" / "sources" / "demo_delivery.yaml")
    refs = pipeline.plan_batches(source, cf_home, "run-1", batch_size=6)
    assert [r["count"] for r in refs] == [6, 6]

    # First attempt of batch 0 dies after staging its media, before its ledger part is written.
    real_write = pipeline.write_ledger

    def crash(*args: object, **kw: object) -> str:
        raise RuntimeError("worker lost")

    monkeypatch.setattr(pipeline, "write_ledger", crash)
    with pytest.raises(RuntimeError):
        pipeline.run_batch_ref(source, cf_home, "run-1", refs[0])
    store = open_storage(cf_home.storage)
    assert not store.exists(f"ledger/demo_delivery/run=run-1/batch={refs[0]['batch_id']}.parquet")

    monkeypatch.setattr(pipeline, "write_ledger", real_write)
    results = [pipeline.run_batch_ref(source, cf_home, "run-1", r) for r in refs]  # the retry, then batch 1
    again = pipeline.run_batch_ref(source, cf_home, "run-1", refs[1])  # a retry of a batch that had succeeded
    assert again["manifest_key"] == results[1]["manifest_key"]

    report = pipeline.curate([source], cf_home, [r["manifest_key"] for r in results], "run-1").version
    keys = index_keys(Path(cf_home.storage))
    admitted = sum(r["counts"]["allow"] for r in results)
    assert admitted == 9
    assert len(keys) == len(set(keys)) == admitted == report.members == report.added
    assert report.missing_staged == []
    # The ledger has one row per candidate for this run, despite the failed attempt and the extra retry.
    ledger = pq.read_table(Path(cf_home.storage) / "ledger" / "demo_delivery" / "run=run-1").to_pylist()
    assert len(ledger) == 12 and len({r["key"] for r in ledger}) == 12
