"""Curation end to end on the demo delivery: GX blocks the batch that fails, the rest is published."""

from __future__ import annotations

import json
from pathlib import Path

from clearframe import pipeline
from clearframe.config import Settings, load_source
from clearframe.dataset import latest_version, read_version_manifest, version_index
from clearframe.gate.registry import Registry
from clearframe.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]


def _ingest(cf_home: Settings, run_id: str) -> tuple[list[str], list[list[dict]]]:
    source = load_source(ROOT / "include" / "sources" / "demo_delivery.yaml")
    refs = pipeline.plan_batches(source, cf_home, run_id, batch_size=4)
    keys = [pipeline.run_batch_ref(source, cf_home, run_id, r)["manifest_key"] for r in refs]
    store = open_storage(cf_home.storage)
    return keys, [pipeline.read_manifest(store, k) for k in keys]


def test_a_batch_with_an_item_opted_out_after_ingest_is_quarantined_and_the_rest_published(
        cf_home: Settings) -> None:
    import subprocess

    subprocess.run([str(ROOT / ".venv" / "bin" / "clearframe"), "demo"], check=True, capture_output=True)
    source = load_source(ROOT / "include" / "sources" / "demo_delivery.yaml")
    keys, batches = _ingest(cf_home, "run-a")
    assert len(keys) == 3 and all(batches)
    victim = batches[1][0]
    reg = Registry(cf_home.registry_url)
    reg.add("hash", victim["sha256"], requested_by="rights holder", reason="takedown after ingest")
    reg.close()

    report = pipeline.curate([source], cf_home, keys, "cur-1")
    assert [b["manifest"] for b in report.blocked] == [keys[1]]
    assert any(f.startswith("optout_registry") for f in report.blocked[0]["failed"])
    assert report.quarantined == len(batches[1])
    store = open_storage(cf_home.storage)
    why = json.loads(store.get_bytes(f"quarantine/demo_delivery/run=cur-1/{victim['key']}.json"))
    assert "optout_registry" in why["reason"] and "Data Docs" in why["reason"]
    assert store.exists(f"quarantine/demo_delivery/run=cur-1/{victim['key']}.media")
    assert not store.exists(victim["staged"])  # no longer staged: never published by a later run

    v = report.version
    assert v.version == 1 and latest_version(store, "demo") == 1
    members = set(version_index(store, "demo").column("key").to_pylist())
    assert members == {it["key"] for b in (batches[0], batches[2]) for it in b}
    assert read_version_manifest(store, "demo")["members"] == len(members)
    assert any(u.endswith("index.html") for u in report.docs)

    again = pipeline.curate([source], cf_home, [keys[0], keys[2]], "cur-2")
    assert again.version.version is None and again.version.latest == 1  # nothing new, no new version


def test_a_table_level_failure_blocks_every_batch_of_the_run(cf_home: Settings) -> None:
    import subprocess

    subprocess.run([str(ROOT / ".venv" / "bin" / "clearframe"), "demo"], check=True, capture_output=True)
    source = load_source(ROOT / "include" / "sources" / "demo_delivery.yaml")
    keys, batches = _ingest(cf_home, "run-b")
    store = open_storage(cf_home.storage)
    # A manifest written by an older, incompatible writer: a required column is missing everywhere.
    for k, items in zip(keys, batches, strict=True):
        for it in items:
            it.pop("decision", None)
        store.put_bytes(k, "".join(json.dumps(it) + "\n" for it in items).encode())
    report = pipeline.curate([source], cf_home, keys, "cur-3")
    assert {b["manifest"] for b in report.blocked} == set(keys)
    assert report.version.version is None and latest_version(store, "demo") is None


def test_new_shards_of_a_later_version_are_validated_on_their_own_and_with_the_version(
        cf_home: Settings) -> None:
    import subprocess

    subprocess.run([str(ROOT / ".venv" / "bin" / "clearframe"), "demo"], check=True, capture_output=True)
    source = load_source(ROOT / "include" / "sources" / "demo_delivery.yaml")
    keys, batches = _ingest(cf_home, "run-c")
    first = pipeline.curate([source], cf_home, keys[:1], "cur-5")
    assert first.version.version == 1
    # v1's shards are the whole version: the version suite (a superset of the index suite) checks them once
    assert [u for u in first.docs if "/index/" in u] == [] and any("/version/" in u for u in first.docs)
    second = pipeline.curate([source], cf_home, keys[1:], "cur-6")
    assert second.version.version == 2 and second.version.added == sum(len(b) for b in batches[1:])
    assert any("/index/" in u for u in second.docs) and any("/version/" in u for u in second.docs)


def test_curation_settles_manifests_and_picks_up_those_no_event_named(cf_home: Settings) -> None:
    """A curate run takes the manifests still pending as well as those named to it, so a batch whose asset
    event was folded into a later run (or lost) is not left behind; settled ones are not taken again."""
    import subprocess

    subprocess.run([str(ROOT / ".venv" / "bin" / "clearframe"), "demo"], check=True, capture_output=True)
    source = load_source(ROOT / "include" / "sources" / "demo_delivery.yaml")
    keys, batches = _ingest(cf_home, "run-d")
    store = open_storage(cf_home.storage)
    assert sorted(pipeline.pending_manifests(cf_home, ["demo_delivery"])) == sorted(keys)

    victim = batches[2][0]
    reg = Registry(cf_home.registry_url)
    reg.add("hash", victim["sha256"], requested_by="rights holder", reason="takedown after ingest")
    reg.close()
    first = pipeline.curate([source], cf_home, [keys[0], keys[2]], "cur-7")  # keys[1]'s event never came
    assert [b["manifest"] for b in first.blocked] == [keys[2]]
    settled = json.loads(store.get_bytes(pipeline.settled_key(keys[0])))
    assert settled == {"manifest": keys[0], "outcome": "published", "curate_run": "cur-7", "version": 1,
                       "at": settled["at"]}
    assert json.loads(store.get_bytes(pipeline.settled_key(keys[2])))["outcome"] == "quarantined"
    assert pipeline.pending_manifests(cf_home, ["demo_delivery", "other"]) == [keys[1]]

    pending = pipeline.pending_manifests(cf_home, ["demo_delivery"])
    second = pipeline.curate([source], cf_home, pending, "cur-8")
    assert second.version.version == 2 and second.version.added == len(batches[1])
    assert pipeline.pending_manifests(cf_home, ["demo_delivery"]) == []


def test_settled_key_refuses_what_is_not_a_batch_manifest() -> None:
    import pytest

    assert pipeline.settled_key("batches/s/run=r/batch=00001.jsonl") == "curated/s/run=r/batch=00001.json"
    with pytest.raises(ValueError, match="not a batch manifest key"):
        pipeline.settled_key("ledger/s/run=r/batch=00001.parquet")
