"""Dataset versions: immutable, deduplicated, self-describing, and never half-visible after a crash."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearframe.config import parse_source
from clearframe.dataset import (
    DOCS,
    DatasetError,
    abort_incomplete_uploads,
    attribution_required,
    doc_key,
    latest_key,
    latest_version,
    license_url,
    list_versions,
    manifest_key,
    member_digest,
    publish_version,
    read_version_manifest,
    verify_version,
    version_index,
)
from clearframe.ledger import LedgerRow, ledger_key, write_ledger
from clearframe.records import candidate_key
from clearframe.shard import index_key, shards_prefix, stats_key, tar_key
from clearframe.storage import LocalStorage, S3Storage, Storage, open_storage

DATASET = "demo"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
WEB = parse_source({"name": "web", "kind": "http", "dataset": DATASET, "http": {"urls": "urls.txt"},
                    "description": "Open-licence videos from the web"}, "/registry/web.yaml")
PARTNER = parse_source({"name": "partner", "kind": "delivery", "dataset": DATASET, "delivery": {"location": "x"},
                        "acquisition": {"basis": "contract", "contract_id": "C-7", "covers_training": True},
                        "description": "Partner delivery"}, "/registry/partner.yaml")
SOURCES = [WEB, PARTNER]
MiB = 1024 * 1024


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return open_storage(str(tmp_path / "storage"))


def item(storage: Storage, data: bytes, name: str, *, source: str = "web", license: str | None = "CC-BY-4.0",
         url: str | None = None, creator: str | None = "Ines Duarte", title: str | None = None,
         decided_at: str = "2026-02-01T10:00:00+00:00", run_id: str = "run-1", duration: float = 1.0,
         stage: bool = True) -> dict[str, Any]:
    """A batch manifest row as pipeline.run_batch writes it, with its staged copy."""
    cid = f"{source}:{name}"
    key = candidate_key(cid)
    staged = f"staging/{DATASET}/{key}.mp4"
    if stage:
        storage.put_bytes(staged, data)
    url = url if url is not None else (f"https://videos.example/{name}" if source == "web" else None)
    return {
        "key": key, "staged": staged, "source": source, "canonical_id": cid, "url": url,
        "media_url": url or f"s3://partner/{name}.mp4", "title": title or f"Clip {name}", "creator": creator,
        "license_spdx": license, "license_raw": license, "license_found_in": "json-ld",
        "attribution": f'"Clip {name}" by {creator}, {license}', "contract_id": "C-7" if source == "partner" else None,
        "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
        "media": {"container": "mp4", "codec": "h264", "duration": duration, "width": 160, "height": 96,
                  "fps": 12.0, "has_audio": True, "audio_codec": "aac", "frames_decoded": 12},
        "decision": "allow", "policy_version": "2026.11.1", "decided_at": decided_at, "run_id": run_id,
    }


def blob(seed: int, size: int = 3000) -> bytes:
    return random.Random(seed).randbytes(size)


def publish(storage: Storage, items: list[dict[str, Any]], **kw: Any):
    kw.setdefault("target_bytes", 10**9)
    return publish_version(storage, DATASET, items, sources=SOURCES, policy_version="2026.11.1", now=NOW, **kw)


def snapshot(storage: Storage, prefix: str = "datasets/") -> dict[str, str]:
    return {k: hashlib.sha256(storage.get_bytes(k)).hexdigest() for k in storage.list(prefix)}


def members(storage: Storage, version: int | None = None) -> list[dict[str, Any]]:
    return version_index(storage, DATASET, version).to_pylist()


# -- versions -----------------------------------------------------------------------------------------------


def test_first_publication_writes_a_complete_version_and_moves_latest(storage: Storage) -> None:
    items = [item(storage, blob(i), f"c{i}", duration=30.0) for i in range(4)]
    items.append(item(storage, blob(9), "p9", source="partner", license="LicenseRef-ClearFrame-Contract",
                      duration=60.0, decided_at="2026-02-03T08:00:00+00:00", run_id="run-2"))

    report = publish(storage, items)

    assert (report.version, report.latest, report.members, report.added) == (1, 1, 5, 5)
    assert latest_version(storage, DATASET) == 1 and list_versions(storage, DATASET) == [1]
    m = read_version_manifest(storage, DATASET)
    assert (m["version"], m["parent"], m["members"], m["policy_version"]) == (1, None, 5, "2026.11.1")
    assert m["bytes"] == sum(it["bytes"] for it in items) == report.bytes
    assert m["hours"] == pytest.approx(180 / 3600, abs=1e-4)
    assert m["licenses"] == {"CC-BY-4.0": 4, "LicenseRef-ClearFrame-Contract": 1}
    assert {k: v["members"] for k, v in m["sources"].items()} == {"partner": 1, "web": 4}
    assert m["sources"]["partner"]["acquisition"]["contract_id"] == "C-7"
    assert m["ledger"]["member_runs"] == ["run-1", "run-2"]
    assert m["ledger"]["member_decided_at"] == {"min": "2026-02-01T10:00:00+00:00",
                                                "max": "2026-02-03T08:00:00+00:00"}
    assert m["member_digest"] == member_digest([it["key"] for it in items], [it["sha256"] for it in items])
    for s in m["shards"]:
        assert storage.exists(s["tar"]) and storage.exists(s["index"]) and s["added_in"] == 1
    for name in [*DOCS.values(), "SHA256SUMS"]:
        assert storage.exists(doc_key(DATASET, 1, name)), name
    assert verify_version(storage, DATASET) == []
    assert storage.list("staging/") == []  # staged copies go once the version is complete


def test_rerunning_the_same_curation_publishes_nothing(storage: Storage) -> None:
    items = [item(storage, blob(i), f"c{i}") for i in range(3)]
    publish(storage, items)
    before = snapshot(storage)
    for i, it in enumerate(items):  # the same work handed over again, staged copies and all
        storage.put_bytes(it["staged"], blob(i))

    again = publish(storage, items)

    assert (again.version, again.latest, again.added, again.members) == (None, 1, 0, 3)
    assert again.duplicates["in_earlier_version"] == 3 and again.skipped_duplicates == 3
    assert snapshot(storage) == before  # not one object changed, latest.json included
    assert storage.list("staging/") == []


def test_new_items_make_a_cumulative_version_and_earlier_versions_never_change(storage: Storage) -> None:
    first = [item(storage, blob(i), f"c{i}") for i in range(3)]
    publish(storage, first)
    v1 = snapshot(storage, "datasets/demo/v1/")
    v1_shards = {s["name"] for s in read_version_manifest(storage, DATASET, 1)["shards"]}
    later = [item(storage, blob(i), f"c{i}") for i in range(3, 5)]

    report = publish(storage, [*later, *first])  # a run also sees what it saw before

    assert (report.version, report.added, report.members) == (2, 2, 5)
    assert snapshot(storage, "datasets/demo/v1/") == v1
    m2 = read_version_manifest(storage, DATASET, 2)
    assert (m2["parent"], m2["added"]["members"]) == (1, 2)
    assert v1_shards < {s["name"] for s in m2["shards"]}  # v1's shards are shared, not copied
    assert sorted(r["key"] for r in members(storage, 2)) == sorted(it["key"] for it in [*first, *later])
    assert sorted(r["key"] for r in members(storage, 1)) == sorted(it["key"] for it in first)
    assert json.loads(storage.get_bytes(latest_key(DATASET)))["version"] == 2


def test_same_content_under_two_keys_joins_once(storage: Storage) -> None:
    a = item(storage, blob(1), "mirror-a")
    b = item(storage, blob(1), "mirror-b")  # the same file found under two URLs
    c = item(storage, blob(2), "c2")

    report = publish(storage, [a, b, c])

    assert report.members == 2 and report.duplicates["same_sha256_in_run"] == 1
    assert {r["key"] for r in members(storage)} == {min(a["key"], b["key"]), c["key"]}
    assert read_version_manifest(storage, DATASET)["skipped_duplicates"]["total"] == 1
    assert storage.list("staging/") == []


def test_content_already_published_under_another_key_is_not_added_again(storage: Storage) -> None:
    publish(storage, [item(storage, blob(1), "original"), item(storage, blob(2), "c2")])
    reupload = item(storage, blob(1), "reupload")
    fresh = item(storage, blob(3), "c3")

    report = publish(storage, [reupload, fresh])

    assert (report.version, report.added, report.members) == (2, 1, 3)
    assert report.duplicates["in_earlier_version"] == 1
    assert reupload["key"] not in {r["key"] for r in members(storage)}
    assert read_version_manifest(storage, DATASET, 2)["skipped_duplicates"]["in_earlier_version"] == 1


def test_the_same_curation_in_a_fresh_storage_gives_the_same_version_content(tmp_path: Path) -> None:
    a, b = open_storage(str(tmp_path / "a")), open_storage(str(tmp_path / "b"))
    items_a = [item(a, blob(i, 1000 + 97 * i), f"c{i}") for i in range(7)]
    items_b = [item(b, blob(i, 1000 + 97 * i), f"c{i}") for i in range(7)]
    random.Random(5).shuffle(items_b)

    ra = publish(a, items_a, target_bytes=3000)
    rb = publish(b, items_b + items_b[:2], target_bytes=3000)  # a retry repeats rows

    assert ra.shards == rb.shards and len(ra.shards) >= 3
    ma, mb = read_version_manifest(a, DATASET), read_version_manifest(b, DATASET)
    assert ma["member_digest"] == mb["member_digest"]
    for name in ("index.parquet", "attribution.jsonl", "stats.json", "public_summary.json"):
        assert a.get_bytes(doc_key(DATASET, 1, name)) == b.get_bytes(doc_key(DATASET, 1, name)), name
    assert snapshot(a, shards_prefix(DATASET)) == snapshot(b, shards_prefix(DATASET))


def test_missing_staged_copy_is_left_out_and_reported(storage: Storage) -> None:
    items = [item(storage, blob(i), f"c{i}") for i in range(3)]
    storage.delete(items[1]["staged"])

    report = publish(storage, items)

    assert report.missing_staged == [items[1]["key"]] and report.members == 2
    assert read_version_manifest(storage, DATASET)["not_included"] == {"missing_staged": 1}
    assert items[1]["key"] not in {r["key"] for r in members(storage)}


def test_item_that_was_not_admitted_is_refused_and_nothing_is_written(storage: Storage) -> None:
    items = [item(storage, blob(i), f"c{i}") for i in range(2)]
    items[1]["decision"] = "review"

    with pytest.raises(DatasetError, match=rf"key '{items[1]['key']}'.*'decision' is 'review'"):
        publish(storage, items)
    assert storage.list("datasets/") == []


def test_item_from_a_source_that_was_not_passed_is_refused(storage: Storage) -> None:
    stray = item(storage, blob(1), "s1", source="elsewhere")
    with pytest.raises(DatasetError, match=r"source\(s\) \['elsewhere'\].*pass every source file"):
        publish(storage, [stray])
    assert not any(k.endswith(".parquet") for k in storage.list("datasets/"))
    assert storage.list("staging/") == [stray["staged"]]


def test_source_of_another_dataset_is_refused(storage: Storage) -> None:
    other = parse_source({"name": "other", "kind": "http", "dataset": "elsewhere", "http": {"urls": "u.txt"}},
                         "/registry/other.yaml")
    with pytest.raises(DatasetError, match=r"/registry/other.yaml: source 'other' belongs to dataset 'elsewhere'"):
        publish_version(storage, DATASET, [], target_bytes=1, sources=[other], policy_version="x")


def test_failing_check_before_commit_publishes_nothing(storage: Storage) -> None:
    items = [item(storage, blob(i), f"c{i}") for i in range(3)]
    seen: list[int] = []

    def reject(table: Any) -> None:
        seen.append(table.num_rows)
        raise RuntimeError("validation failed: 1 expectation")

    with pytest.raises(RuntimeError, match="validation failed"):
        publish(storage, items, before_commit=reject)

    assert seen == [3]  # the check saw the whole would-be version
    assert list_versions(storage, DATASET) == [] and latest_version(storage, DATASET) is None
    assert len(storage.list("staging/")) == 3  # nothing lost: the next run can try again
    assert publish(storage, items).version == 1


# -- crashes ------------------------------------------------------------------------------------------------


class CrashingStorage(LocalStorage):
    """Local storage that fails the first write of a key ending in `fail_on`, as a crash would."""

    def __init__(self, path: Path, fail_on: str):
        super().__init__(path)
        self.fail_on: str | None = fail_on

    def put_bytes(self, key: str, data: bytes) -> None:
        if self.fail_on and key.endswith(self.fail_on):
            self.fail_on = None
            raise OSError(f"injected crash before writing {key}")
        super().put_bytes(key, data)


def test_crash_between_tar_and_index_leaves_nothing_visible_and_the_next_run_completes(tmp_path: Path) -> None:
    crashing = CrashingStorage(tmp_path / "s", fail_on="_stats.json")  # after the tar, before the index
    items = [item(crashing, blob(i), f"c{i}") for i in range(4)]

    with pytest.raises(OSError, match="injected crash"):
        publish(crashing, items)

    tars = [k for k in crashing.list("datasets/") if k.endswith(".tar")]
    assert len(tars) == 1 and not any(k.endswith(".parquet") for k in crashing.list("datasets/"))
    assert list_versions(crashing, DATASET) == [] and latest_version(crashing, DATASET) is None
    with pytest.raises(DatasetError, match="no published version"):
        read_version_manifest(crashing, DATASET)  # readers see no shard at all
    orphan = crashing.get_bytes(tars[0])

    report = publish(crashing, items)

    assert (report.version, report.members, report.new_shards) == (1, 4, [tars[0].rsplit("/", 1)[1][:-4]])
    assert crashing.get_bytes(tars[0]) == orphan  # rewritten under the same name, byte for byte
    keys = [r["key"] for r in members(crashing)]
    assert sorted(keys) == sorted(it["key"] for it in items) and len(set(keys)) == len(keys)
    assert verify_version(crashing, DATASET) == []


def test_crash_after_the_commit_point_is_completed_by_the_next_run(tmp_path: Path) -> None:
    crashing = CrashingStorage(tmp_path / "s", fail_on="CARD.md")
    items = [item(crashing, blob(i), f"c{i}") for i in range(3)]

    with pytest.raises(OSError, match="injected crash"):
        publish(crashing, items)

    assert list_versions(crashing, DATASET) == [1]  # committed: its content is final...
    assert latest_version(crashing, DATASET) is None  # ...but not yet visible through `latest`
    assert not crashing.exists(doc_key(DATASET, 1, "SHA256SUMS"))
    committed = crashing.get_bytes(manifest_key(DATASET, 1))

    report = publish(crashing, items)

    assert (report.version, report.latest, report.added) == (1, 1, 0)  # completed, not published twice
    assert crashing.get_bytes(manifest_key(DATASET, 1)) == committed
    assert list_versions(crashing, DATASET) == [1] and verify_version(crashing, DATASET) == []
    assert crashing.list("staging/") == []


@pytest.mark.parametrize("fail_on", ["index.parquet", "CARD.md", "SHA256SUMS"])
def test_a_version_completed_after_a_crash_equals_one_published_in_one_go(tmp_path: Path, fail_on: str) -> None:
    whole, crashing = open_storage(str(tmp_path / "whole")), CrashingStorage(tmp_path / "crashing", fail_on="")
    for store in (whole, crashing):
        publish(store, [item(store, blob(i), f"c{i}") for i in range(3)], target_bytes=4000)
    publish(whole, [item(whole, blob(i), f"c{i}") for i in range(3, 6)], target_bytes=4000)
    crashing.fail_on = fail_on  # v2, on top of v1, crashes after its commit point
    batch = [item(crashing, blob(i), f"c{i}") for i in range(3, 6)]
    with pytest.raises(OSError, match="injected crash"):
        publish(crashing, batch, target_bytes=4000)

    publish(crashing, batch, target_bytes=4000)

    assert snapshot(crashing) == snapshot(whole)  # every object of the dataset, byte for byte


def test_a_concurrent_writer_of_the_same_version_loses_without_touching_it(storage: Storage) -> None:
    items = [item(storage, blob(i), f"c{i}") for i in range(2)]
    theirs = b'{"format": "clearframe.dataset-version/1", "note": "written by another curate run"}\n'

    def other_writer_commits_first(table: Any) -> None:
        storage.put_bytes(manifest_key(DATASET, 1), theirs)

    with pytest.raises(DatasetError, match=r"v1/manifest.json appeared while this run was building it.*re-run"):
        publish(storage, items, before_commit=other_writer_commits_first)

    assert storage.get_bytes(manifest_key(DATASET, 1)) == theirs
    assert storage.list("datasets/demo/v1/") == [manifest_key(DATASET, 1)]  # the loser wrote nothing there
    assert len(storage.list("staging/")) == 2


def test_verify_version_names_a_changed_file(storage: Storage) -> None:
    publish(storage, [item(storage, blob(i), f"c{i}") for i in range(2)])
    m = read_version_manifest(storage, DATASET)
    tar = m["shards"][0]["tar"]
    data = bytearray(storage.get_bytes(tar))
    data[700] ^= 1
    storage.put_bytes(tar, bytes(data))
    storage.put_bytes(doc_key(DATASET, 1, "CARD.md"), b"# edited by hand\n")

    problems = verify_version(storage, DATASET)

    assert len(problems) == 2
    assert any("CARD.md has sha256" in p for p in problems) and any(tar in p for p in problems)
    assert verify_version(storage, DATASET, shards=False) == [p for p in problems if "CARD.md" in p]


# -- the card, attribution and public summary ------------------------------------------------------------


def ledger_row(source: str, name: str, decision: str, status: str, findings: list[dict[str, Any]], *,
               license: str | None = "CC-BY-4.0", run_id: str = "run-1", recorded_at: str = "2026-02-01T10:00:00+00:00",
               quarantine: str | None = None) -> LedgerRow:
    cid = f"{source}:{name}"
    return LedgerRow(
        run_id=run_id, batch_id="00000", source=source, key=candidate_key(cid), canonical_id=cid,
        locator="urls.txt:1", url=f"https://videos.example/{name}", media_url=None, decision=decision,
        status=status, reasons=findings, license_raw=license, license_spdx=license, license_found_in="json-ld",
        creator=None, title=None, contract_id=None, policy_version="2026.11.1", decided_at=recorded_at,
        recorded_at=recorded_at, quarantine_reason=quarantine)


def finding(signal: str, verdict: str, rule: str | None = None) -> dict[str, Any]:
    return {"signal": signal, "verdict": verdict, "detail": f"{signal} said {verdict}", "locator": None,
            "status": None, "rule": rule, "evidence": None}


def write_consent_ledger(storage: Storage) -> list[dict[str, Any]]:
    """Two runs of `web`: denials, a deferral, a review, a quarantine and three admitted clips."""
    ok = [finding("robots", "none"), finding("license", "grant", "json-ld")]
    run1 = [
        ledger_row("web", "nc1", "deny", "denied", [*ok[:1], finding("license", "deny", "json-ld")],
                   license="CC-BY-NC-4.0"),
        ledger_row("web", "nc2", "deny", "denied", [*ok[:1], finding("license", "deny", "json-ld")],
                   license="CC-BY-NC-4.0"),
        ledger_row("web", "optout", "deny", "denied", [*ok, finding("registry", "deny", "optout:creator")]),
        ledger_row("web", "robots", "deny", "denied",
                   [finding("robots", "deny", "User-agent: GPTBot / Disallow: / (line 3)"), ok[1]]),
        ledger_row("web", "tdm", "deny", "denied", [*ok, finding("tdmrep", "deny", "tdm-reservation")]),
        ledger_row("web", "slow", "defer", "deferred", [finding("robots", "defer", "robots.txt 503 retry later")]),
        ledger_row("web", "sa", "review", "review", [ok[0], finding("license", "review", "json-ld")],
                   license="CC-BY-SA-4.0"),
        ledger_row("web", "short", "allow", "quarantined", ok,
                   quarantine="outside the source's media bounds: duration 0.20s"),
        ledger_row("web", "later-ok", "defer", "deferred", [finding("probe", "defer")]),
    ]
    write_ledger(storage, ledger_key("web", "run-1", "00000"), run1)
    run2 = [ledger_row("web", n, "allow", "admitted", ok, run_id="run-2", recorded_at="2026-02-02T10:00:00+00:00")
            for n in ("a1", "a2", "later-ok")]
    write_ledger(storage, ledger_key("web", "run-2", "00000"), run2)
    return [item(storage, blob(i), n, run_id="run-2") for i, n in enumerate(("a1", "a2", "later-ok"))]


def test_card_counts_left_out_candidates_by_reason_from_the_ledger(storage: Storage) -> None:
    items = write_consent_ledger(storage)

    publish(storage, items)

    consent = read_version_manifest(storage, DATASET)["consent"]
    assert consent["candidates"] == 11  # the newest row of each candidate: later-ok counts once, as admitted
    assert consent["decisions"] == {"allow": 4, "defer": 1, "deny": 5, "review": 1}
    assert consent["not_admitted"] == [
        {"decision": "deny", "reason": "license: CC-BY-NC-4.0", "items": 2},
        {"decision": "deny", "reason": "registry: optout:creator", "items": 1},
        {"decision": "deny", "reason": "robots", "items": 1},
        {"decision": "deny", "reason": "tdmrep: tdm-reservation", "items": 1},
        {"decision": "defer", "reason": "robots", "items": 1},
        {"decision": "review", "reason": "license: CC-BY-SA-4.0", "items": 1},
    ]
    assert consent["quarantined"] == [{"reason": "outside the source's media bounds", "items": 1}]
    signals = {name: v["candidates"] for name, v in consent["signals"].items()}
    assert signals == {"license": 10, "registry": 1, "robots": 11, "tdmrep": 1}  # later-ok's probe row is old
    assert consent["signals"]["robots"]["findings"] == {"defer": 1, "deny": 1, "none": 9}
    assert consent["members_without_ledger_row"] == 0
    card = storage.get_bytes(doc_key(DATASET, 1, "CARD.md")).decode()
    for line in ("| deny | license: CC-BY-NC-4.0 | 2 |", "| deny | registry: optout:creator | 1 |",
                 "| defer | robots | 1 |", "| review | license: CC-BY-SA-4.0 | 1 |",
                 "| outside the source's media bounds | 1 |", "Of 11 candidates: allow 4, defer 1, deny 5, review 1."):
        assert line in card, line
    assert "## Known limitations" in card and "## Where it came from" in card
    assert "| web | http | open licence per item | 3 |" in card


def test_card_counts_only_the_runs_it_is_told_to(storage: Storage) -> None:
    items = write_consent_ledger(storage)

    publish(storage, items, ledger_runs=["run-2"])

    m = read_version_manifest(storage, DATASET)
    assert m["consent"]["candidates"] == 3 and m["consent"]["not_admitted"] == []
    assert m["ledger"]["runs_considered"] == ["run-2"]


def test_card_flags_members_the_ledger_does_not_know(storage: Storage) -> None:
    publish(storage, [item(storage, blob(1), "c1")])

    card = storage.get_bytes(doc_key(DATASET, 1, "CARD.md")).decode()
    assert "**The ledger holds no rows for these sources and runs" in card
    assert "**1 member of this version have no ledger row**" in card


@pytest.mark.parametrize(("spdx", "needed"), [
    ("CC-BY-4.0", True), ("CC-BY-SA-4.0", True), ("CC-BY-NC-ND-3.0-DE", True), ("CC0-1.0", False),
    ("CC-PDDC", False), ("CC-PDM-1.0", False), ("CC0-1.0 OR CC-BY-4.0", False), ("CC-BY-4.0 AND CC0-1.0", True),
    ("LicenseRef-ClearFrame-Contract", True), (None, True), ("not a licence (", True),
])
def test_attribution_required_follows_the_licence_terms(spdx: str | None, needed: bool) -> None:
    assert attribution_required(spdx) is needed


def test_license_urls_point_at_the_licence_text() -> None:
    assert license_url("CC-BY-4.0") == "https://creativecommons.org/licenses/by/4.0/"
    assert license_url("CC-BY-SA-3.0-DE") == "https://creativecommons.org/licenses/by-sa/3.0/de/"
    assert license_url("CC0-1.0") == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert license_url("MIT") == "https://spdx.org/licenses/MIT.html"
    assert license_url("LicenseRef-ClearFrame-Contract") is None


def test_attribution_lists_every_member_whose_licence_asks_for_credit(storage: Storage) -> None:
    items = [
        item(storage, blob(1), "by", license="CC-BY-4.0", creator="Ines Duarte", title="Harbour | dawn <b>"),
        item(storage, blob(2), "zero", license="CC0-1.0"),
        item(storage, blob(3), "sa", license="CC-BY-SA-4.0", url="https://www.tube.example/watch?v=1"),
        item(storage, blob(4), "choice", license="CC0-1.0 OR CC-BY-4.0"),
        item(storage, blob(5), "deal", source="partner", license="LicenseRef-ClearFrame-Contract"),
    ]

    publish(storage, items)

    lines = storage.get_bytes(doc_key(DATASET, 1, "attribution.jsonl")).decode().splitlines()
    entries = {e["key"]: e for e in map(json.loads, lines)}
    by_name = {it["canonical_id"].split(":")[1]: it for it in items}
    assert set(entries) == {by_name[n]["key"] for n in ("by", "sa", "deal")}
    by = entries[by_name["by"]["key"]]
    assert (by["creator"], by["title"], by["source_url"], by["license"]) == (
        "Ines Duarte", "Harbour | dawn <b>", "https://videos.example/by", "CC-BY-4.0")
    assert by["license_urls"] == ["https://creativecommons.org/licenses/by/4.0/"]
    deal = entries[by_name["deal"]["key"]]
    assert deal["source_url"] is None and deal["contract_id"] == "C-7"  # a partner's location stays private
    md = storage.get_bytes(doc_key(DATASET, 1, "ATTRIBUTION.md")).decode()
    assert r"| Harbour \| dawn \<b\> | Ines Duarte | <https://videos.example/by> |" in md
    assert "partner delivery, contract C-7" in md and "<b>" not in md
    assert "3 of 5 members" in md


def test_public_summary_follows_the_template_sections(storage: Storage) -> None:
    items = write_consent_ledger(storage)  # web clips on videos.example, with opt-outs in the ledger
    for i in range(12):  # twelve more domains, one bigger than the rest
        size = 20_000 if i == 0 else 2_000 + i
        items.append(item(storage, blob(100 + i, size), f"d{i}", url=f"https://www.site{i}.example/v/{i}",
                          license="CC0-1.0", decided_at=f"2026-01-{10 + i}T00:00:00+00:00"))
    items.append(item(storage, blob(200, 50_000), "deal", source="partner",
                      license="LicenseRef-ClearFrame-Contract", duration=3600.0))

    publish(storage, items)

    s = json.loads(storage.get_bytes(doc_key(DATASET, 1, "public_summary.json")))
    assert s["general_information"]["collection_period"] == {"min": "2026-01-10T00:00:00+00:00",
                                                             "max": "2026-02-01T10:00:00+00:00"}
    src = s["data_sources"]
    assert (src["publicly_available_datasets"]["used"], src["user_data"]["used"], src["synthetic_data"]["used"]) == (
        False, False, False)
    [deal] = src["private_datasets_from_third_parties"]["commercially_licensed_by_rightsholders"]
    assert (deal["source"], deal["contract_id"], deal["items"], deal["hours"]) == ("partner", "C-7", 1, 1.0)
    web = src["crawled_and_scraped"]
    assert (web["items"], web["domains"]) == (15, 13)
    assert [d["domain"] for d in web["top_domains"]] == ["site0.example", "videos.example"]  # ceil(10% of 13)
    assert web["top_domains"][0]["share_of_crawled_bytes"] == pytest.approx(20_000 / web["bytes"], abs=1e-4)
    assert {x["license"]: x["items"] for x in s["licences"]} == {
        "CC-BY-4.0": 3, "CC0-1.0": 12, "LicenseRef-ClearFrame-Contract": 1}
    rr = s["data_processing"]["reservation_of_rights"]
    excluded = {x["signal"]: x["candidates_excluded"] for x in rr["signals"]}
    assert excluded == {"robots": 1, "tdmrep": 1, "registry": 1}
    assert rr["excluded_by_reservations"] == 3 and rr["candidates_considered"] == 11
    md = storage.get_bytes(doc_key(DATASET, 1, "PUBLIC_SUMMARY.md")).decode()
    for heading in ("## 1. General information", "### 2.1 Publicly available datasets",
                    "### 2.2 Private datasets obtained from third parties",
                    "### 2.3 Data crawled and scraped from online sources", "### 2.4 User data",
                    "### 2.5 Synthetic data", "### 3.1 Respect of reservations of rights",
                    "### 3.2 Removal of illegal content", "| site0.example | 1 |"):
        assert heading in md, heading


# -- S3 ---------------------------------------------------------------------------------------------------


def s3_storage() -> S3Storage:
    return S3Storage("cf-test", "cf", multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)


def big_items(storage: Storage) -> list[dict[str, Any]]:
    return [item(storage, blob(i, 6 * MiB), f"big{i}") for i in range(2)]


def test_large_shard_is_a_multipart_upload_on_s3(s3_endpoint: str) -> None:
    storage = s3_storage()
    items = big_items(storage)

    report = publish(storage, items)

    [shard] = read_version_manifest(storage, DATASET)["shards"]
    head = storage.client.head_object(Bucket="cf-test", Key=f"cf/{shard['tar']}")
    assert head["ETag"].strip('"').endswith("-3")  # 12 MiB of tar in 5 MiB parts
    assert (report.version, report.members) == (1, 2)
    for r in members(storage):
        data = storage.get_range(shard["tar"], r["offset"], r["size"])
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
    assert verify_version(storage, DATASET) == []


_KILLED_WRITER = """
import json, os, signal, sys
from clearframe.config import parse_source
from clearframe.dataset import publish_version
from clearframe.storage import S3Storage

items, sources = json.load(open(sys.argv[1]))
storage = S3Storage("cf-test", "cf", multipart_threshold=5 << 20, multipart_chunksize=5 << 20)

def die(**_):  # the first part of the tar is stored: the writer dies mid-shard, as under `kill -9`
    os.kill(os.getpid(), signal.SIGKILL)

storage.client.meta.events.register("after-call.s3.UploadPart", die)
publish_version(storage, "demo", items, target_bytes=1 << 30, policy_version="2026.11.1",
                sources=[parse_source(s, s["name"] + ".yaml") for s in sources])
"""


def test_writer_killed_mid_shard_leaves_no_partial_shard_and_the_next_run_completes(
        s3_endpoint: str, tmp_path: Path) -> None:
    storage = s3_storage()
    items = big_items(storage) + [item(storage, blob(7), "small")]
    args = tmp_path / "args.json"
    args.write_text(json.dumps([items, [s.model_dump(mode="json", exclude={"path"}) for s in SOURCES]]))

    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(args)], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())

    assert proc.returncode == -signal.SIGKILL, proc.stderr
    client = storage.client
    uploads = client.list_multipart_uploads(Bucket="cf-test").get("Uploads", [])
    assert [u["Key"].endswith(".tar") for u in uploads] == [True]  # died with its tar upload open
    assert not any(k.endswith((".tar", ".parquet")) for k in storage.list("datasets/"))  # nothing visible
    assert list_versions(storage, DATASET) == [] and latest_version(storage, DATASET) is None
    assert len(storage.list("staging/")) == 3
    soon = uploads[0]["Initiated"] + dt.timedelta(hours=1)
    assert abort_incomplete_uploads(storage, DATASET, now=soon) == []  # it might be a live writer's

    report = publish(storage, items)

    assert (report.version, report.members) == (1, 3)
    rows = members(storage)
    assert sorted(r["key"] for r in rows) == sorted(it["key"] for it in items)
    by_name = {s["name"]: s for s in read_version_manifest(storage, DATASET)["shards"]}
    for r in rows:
        data = storage.get_range(by_name[r["shard"]]["tar"], r["offset"], r["size"])
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
    assert storage.list("staging/") == []
    # The dead writer's open upload is aborted (moto dates every upload 2010, so it is more than a day old).
    assert report.aborted_uploads == [uploads[0]["Key"].removeprefix("cf/")]
    assert client.list_multipart_uploads(Bucket="cf-test").get("Uploads", []) == []


def test_publication_on_s3_matches_local(s3_endpoint: str, tmp_path: Path) -> None:
    s3, local = s3_storage(), open_storage(str(tmp_path / "local"))
    for store in (s3, local):
        publish(store, [item(store, blob(i), f"c{i}") for i in range(3)])
    for name in ("index.parquet", "attribution.jsonl", "stats.json", "public_summary.json"):
        assert s3.get_bytes(doc_key(DATASET, 1, name)) == local.get_bytes(doc_key(DATASET, 1, name))
    m = read_version_manifest(s3, DATASET)
    for s in m["shards"]:
        assert s3.get_bytes(s["tar"]) == local.get_bytes(tar_key(DATASET, s["name"]))
        assert s3.get_bytes(s["index"]) == local.get_bytes(index_key(DATASET, s["name"]))
        assert s3.get_bytes(s["stats"]) == local.get_bytes(stats_key(DATASET, s["name"]))


# -- properties -------------------------------------------------------------------------------------------

POOL = 8  # clips 0..7; clips 6 and 7 carry the bytes of clips 0 and 1 under other keys


def pool_bytes(i: int) -> bytes:
    return blob(i % 6, 200 + 37 * (i % 6))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.integers(0, POOL - 1), max_size=6), min_size=1, max_size=5))
def test_any_sequence_of_runs_publishes_each_content_once_and_only_new_content_makes_a_version(
        runs: list[list[int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        storage = open_storage(tmp)
        published: set[str] = set()
        frozen: dict[int, bytes] = {}
        for run in runs:
            items = [item(storage, pool_bytes(i), f"p{i}") for i in run]
            new_content = {it["sha256"] for it in items} - published
            report = publish(storage, items, target_bytes=500)

            assert (report.version is not None) == bool(new_content)
            published |= new_content
            rows = members(storage) if report.latest else []
            assert len({r["key"] for r in rows}) == len(rows) == len({r["sha256"] for r in rows})
            assert {r["sha256"] for r in rows} == published
            for v, body in frozen.items():  # published versions never change
                assert storage.get_bytes(manifest_key(DATASET, v)) == body
            if report.version:
                frozen[report.version] = storage.get_bytes(manifest_key(DATASET, report.version))
            assert list_versions(storage, DATASET) == sorted(frozen)
            assert storage.list("staging/") == []
