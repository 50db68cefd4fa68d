"""Shard: WebDataset tars with an exact Parquet index, idempotent under re-runs, retries and crashes."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from clearframe.records import candidate_key
from clearframe.shard import (
    INDEX_SCHEMA,
    ShardError,
    existing_keys,
    sample_metadata,
    shard_items,
    shard_name,
    shards_prefix,
    tar_key,
    write_shards,
)
from clearframe.storage import S3Storage, Storage, open_storage

DATASET = "demo"
PREFIX = shards_prefix(DATASET)
NAMES = [f"clip{i}" for i in range(6)]


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return open_storage(str(tmp_path / "storage"))


def make_items(clips: dict[str, Path], names: list[str] = NAMES) -> list[dict[str, Any]]:
    items = []
    for name in names:
        data = clips[name].read_bytes()
        cid = f"delivery:TEST-CONTRACT:{name}"
        key = candidate_key(cid)
        items.append({
            "key": key, "staged": f"staging/{DATASET}/{key}.mp4", "source": "partner", "canonical_id": cid,
            "url": None, "media_url": f"file:///deliveries/{name}.mp4", "title": f"Title {name}",
            "creator": "Ines Duarte", "license_spdx": "CC-BY-4.0", "license_raw": "CC-BY-4.0",
            "license_found_in": "manifest", "attribution": f'"Title {name}" by Ines Duarte, CC-BY-4.0',
            "contract_id": "TEST-CONTRACT", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
            "media": {"container": "mp4", "codec": "h264", "duration": 1.0, "width": 160, "height": 96,
                      "fps": 12.0, "has_audio": False, "audio_codec": None, "frames_decoded": 12},
            "decision": "allow", "policy_version": "test-1", "decided_at": "2026-01-01T00:00:00+00:00",
            "run_id": "run-1",
        })
    return items


def stage(storage: Storage, clips: dict[str, Path], items: list[dict[str, Any]]) -> None:
    by_key = {candidate_key(f"delivery:TEST-CONTRACT:{n}"): n for n in NAMES}
    for it in items:
        storage.put_bytes(it["staged"], clips[by_key[it["key"]]].read_bytes())


def run(storage: Storage, items: list[dict[str, Any]], tmp_path: Path, target: int = 10**9):
    return shard_items(storage, DATASET, items, target, tmp_path / "work")


def indexes(storage: Storage) -> dict[str, list[dict[str, Any]]]:
    """Committed shards: name -> index rows."""
    return {k[len(PREFIX):-len(".parquet")]: pq.read_table(io.BytesIO(storage.get_bytes(k))).to_pylist()
            for k in storage.list(PREFIX) if k.endswith(".parquet")}


def tar_members(path: str) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def snapshot(storage: Storage) -> dict[str, str]:
    return {k: hashlib.sha256(storage.get_bytes(k)).hexdigest() for k in storage.list(PREFIX)}


def test_tar_members_are_key_mp4_and_key_json(storage: Storage, clips: dict[str, Path],
                                              tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    report = run(storage, items, tmp_path)

    assert report.members == 6 and len(report.shards) == 1 and not report.missing_staged
    [name] = report.shards
    assert name.startswith("shard-")
    tar_path = storage.local_path(f"{PREFIX}{name}.tar")
    assert tar_path is not None
    keys = sorted(it["key"] for it in items)
    assert tar_members(tar_path) == [f"{k}.{ext}" for k in keys for ext in ("mp4", "json")]
    by_key = {it["key"]: it for it in items}
    with tarfile.open(tar_path) as tar:
        for key in keys:
            media = tar.extractfile(f"{key}.mp4")
            meta = tar.extractfile(f"{key}.json")
            assert media is not None and meta is not None
            assert hashlib.sha256(media.read()).hexdigest() == by_key[key]["sha256"]
            doc = json.loads(meta.read())
            assert doc["key"] == key and doc["canonical_id"] == by_key[key]["canonical_id"]
            assert doc["license"] == {"spdx": "CC-BY-4.0", "raw": "CC-BY-4.0", "found_in": "manifest"}
            assert doc["attribution"].startswith('"Title clip') and doc["contract_id"] == "TEST-CONTRACT"
            assert doc["sha256"] == by_key[key]["sha256"]
        assert all(m.mtime == 0 and m.uname == "" for m in tar.getmembers())  # reproducible bytes


def test_index_offsets_read_back_exactly_the_member_bytes(storage: Storage, clips: dict[str, Path],
                                                          tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    run(storage, items, tmp_path)

    [(name, rows)] = indexes(storage).items()
    table = pq.read_table(io.BytesIO(storage.get_bytes(f"{PREFIX}{name}.parquet")))
    assert table.schema.equals(INDEX_SCHEMA)
    by_key = {it["key"]: it for it in items}
    assert sorted(r["key"] for r in rows) == sorted(by_key)
    for r in rows:
        it = by_key[r["key"]]
        media = storage.get_range(f"{PREFIX}{name}.tar", r["offset"], r["size"])
        assert len(media) == r["size"] == it["bytes"]
        assert hashlib.sha256(media).hexdigest() == r["sha256"] == it["sha256"]
        meta = json.loads(storage.get_range(f"{PREFIX}{name}.tar", r["json_offset"], r["json_size"]))
        assert meta["key"] == r["key"]
        assert (r["shard"], r["source"], r["license_spdx"], r["width"], r["run_id"]) == (
            name, "partner", "CC-BY-4.0", 160, "run-1")
    stats = json.loads(storage.get_bytes(f"{PREFIX}{name}_stats.json"))
    assert stats["count"] == 6 and stats["licenses"] == {"CC-BY-4.0": 6}
    assert stats["media_bytes"] == sum(it["bytes"] for it in items)
    assert stats["tar_bytes"] == storage.size(f"{PREFIX}{name}.tar")


def test_target_size_splits_into_several_shards(storage: Storage, clips: dict[str, Path],
                                                tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    biggest = max(it["bytes"] for it in items)
    report = run(storage, items, tmp_path, target=2 * biggest)

    assert len(report.shards) >= 3  # at most two clips fit under the target
    idx = indexes(storage)
    assert sorted(idx) == sorted(report.shards)
    counts = Counter(r["key"] for rows in idx.values() for r in rows)
    assert sorted(counts) == sorted(it["key"] for it in items) and set(counts.values()) == {1}
    for name, rows in idx.items():
        assert len(rows) == 1 or sum(r["size"] for r in rows) <= 2 * biggest
        assert tar_members(storage.local_path(f"{PREFIX}{name}.tar")) == [
            f"{k}.{ext}" for k in sorted(r["key"] for r in rows) for ext in ("mp4", "json")]
    assert report.members == 6
    assert report.bytes == sum(storage.size(f"{PREFIX}{n}.tar") for n in report.shards)


def test_item_larger_than_the_target_gets_its_own_shard(storage: Storage, clips: dict[str, Path],
                                                        tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    report = run(storage, items, tmp_path, target=1)
    assert len(report.shards) == 6 and report.members == 6


def test_input_order_does_not_change_shards(clips: dict[str, Path], tmp_path: Path) -> None:
    items = make_items(clips)
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    assert [i["key"] for i in shuffled] != [i["key"] for i in items]
    a, b = open_storage(str(tmp_path / "a")), open_storage(str(tmp_path / "b"))
    stage(a, clips, items)
    stage(b, clips, shuffled)
    target = 2 * max(it["bytes"] for it in items)

    ra = shard_items(a, DATASET, items, target, tmp_path / "wa")
    rb = shard_items(b, DATASET, shuffled + shuffled[:2], target, tmp_path / "wb")  # a retry repeats items

    assert ra.shards == rb.shards
    assert snapshot(a) == snapshot(b)  # byte-identical tars, indexes and stats
    assert sum(len(rows) for rows in indexes(b).values()) == 6


def test_running_twice_adds_nothing(storage: Storage, clips: dict[str, Path], tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    first = run(storage, items, tmp_path, target=2 * max(it["bytes"] for it in items))
    before = snapshot(storage)
    stage(storage, clips, items)  # the same work handed over again, staged copies and all

    second = run(storage, items, tmp_path, target=2 * max(it["bytes"] for it in items))

    assert first.members == 6
    assert (second.shards, second.members, second.skipped_existing) == ([], 0, 6)
    assert snapshot(storage) == before
    assert existing_keys(storage, DATASET) == {it["key"] for it in items}
    assert storage.list("staging/") == []


def test_tar_without_index_is_rewritten_under_the_same_name(storage: Storage, clips: dict[str, Path],
                                                            tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    target = 2 * max(it["bytes"] for it in items)
    first = run(storage, items, tmp_path, target=target)
    before = snapshot(storage)
    # A crash between the tar and its index: the index is missing and nothing was unstaged yet.
    crashed = first.shards[1]
    lost_keys = {r["key"] for r in indexes(storage)[crashed]}
    storage.delete(f"{PREFIX}{crashed}.parquet")
    assert lost_keys.isdisjoint(existing_keys(storage, DATASET))  # invisible to readers
    stage(storage, clips, items)

    retry = run(storage, items, tmp_path, target=target)

    assert retry.shards == [crashed]
    assert retry.members == len(lost_keys) and retry.skipped_existing == 6 - len(lost_keys)
    assert snapshot(storage) == before  # same names, same bytes, nothing extra
    counts = Counter(r["key"] for rows in indexes(storage).values() for r in rows)
    assert set(counts.values()) == {1} and len(counts) == 6
    assert storage.list("staging/") == []


def test_staged_copies_are_deleted_after_commit(storage: Storage, clips: dict[str, Path],
                                                tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    assert len(storage.list("staging/")) == 6
    run(storage, items, tmp_path)
    assert storage.list("staging/") == []
    assert not (tmp_path / "work").exists()  # tars stream into storage: no local copy, nothing left over


def test_missing_staged_copy_is_reported_and_the_rest_sharded(storage: Storage, clips: dict[str, Path],
                                                              tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    storage.delete(items[2]["staged"])

    report = run(storage, items, tmp_path)

    assert report.missing_staged == [items[2]["key"]]
    assert report.members == 5
    assert existing_keys(storage, DATASET) == {it["key"] for it in items} - {items[2]["key"]}


def test_empty_input_writes_nothing(storage: Storage, tmp_path: Path) -> None:
    report = run(storage, [], tmp_path)
    assert (report.shards, report.members, report.bytes) == ([], 0, 0)
    assert storage.list(PREFIX) == []


@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_shards_load_with_webdataset(storage: Storage, clips: dict[str, Path], tmp_path: Path) -> None:
    import webdataset as wds

    items = make_items(clips)
    stage(storage, clips, items)
    report = run(storage, items, tmp_path, target=2 * max(it["bytes"] for it in items))
    urls = [storage.local_path(f"{PREFIX}{n}.tar") for n in sorted(report.shards)]

    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))

    by_key = {it["key"]: it for it in items}
    assert sorted(s["__key__"] for s in samples) == sorted(by_key)
    for s in samples:
        assert {"mp4", "json"} <= set(s)
        assert hashlib.sha256(s["mp4"]).hexdigest() == by_key[s["__key__"]]["sha256"]
        meta = json.loads(s["json"])
        assert meta["key"] == s["__key__"] and meta["license"]["spdx"] == "CC-BY-4.0"


def test_shards_on_s3_have_exact_offsets(clips: dict[str, Path], tmp_path: Path, s3_endpoint: str) -> None:
    storage = open_storage("s3://cf-test/cf")
    items = make_items(clips, NAMES[:3])
    stage(storage, clips, items)

    report = run(storage, items, tmp_path)

    assert report.members == 3 and storage.list("staging/") == []
    [(name, rows)] = indexes(storage).items()
    for r in rows:
        data = storage.get_range(f"{PREFIX}{name}.tar", r["offset"], r["size"])
        assert hashlib.sha256(data).hexdigest() == r["sha256"]
    assert not (tmp_path / "work").exists()  # staged objects stream from S3 into the tar upload


def test_streamed_tar_is_byte_identical_to_what_tarfile_writes(storage: Storage, clips: dict[str, Path],
                                                               tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    [info] = write_shards(storage, DATASET, items, 10**9)

    by_key = {it["key"]: it for it in items}
    ref = tmp_path / "ref.tar"
    with tarfile.open(ref, "w", format=tarfile.USTAR_FORMAT) as tar:
        for key in sorted(by_key):
            for name, data in ((f"{key}.mp4", storage.get_bytes(by_key[key]["staged"])),
                               (f"{key}.json", json.dumps(sample_metadata(by_key[key]), sort_keys=True,
                                                          indent=1).encode())):
                ti = tarfile.TarInfo(name)
                ti.size, ti.mtime, ti.mode, ti.uname, ti.gname = len(data), 0, 0o644, "", ""
                tar.addfile(ti, io.BytesIO(data))
    written = storage.get_bytes(tar_key(DATASET, info.name))
    assert written == ref.read_bytes()
    assert info.tar_sha256 == hashlib.sha256(written).hexdigest() and info.tar_bytes == len(written)


def test_staged_copy_that_differs_from_its_manifest_aborts_the_shard(storage: Storage, clips: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    tampered = sorted(items, key=lambda it: it["key"])[3]
    data = bytearray(storage.get_bytes(tampered["staged"]))
    data[len(data) // 2] ^= 0xFF  # same size, one flipped byte
    storage.put_bytes(tampered["staged"], bytes(data))

    with pytest.raises(ShardError, match=f"{tampered['key']} does not match its batch manifest"):
        write_shards(storage, DATASET, items, 10**9)

    assert storage.list(PREFIX) == []  # neither tar nor index nor stats: nothing half-written is visible
    assert len(storage.list("staging/")) == 6  # and every staged copy is still there for the next run


def test_shard_name_is_a_content_address(clips: dict[str, Path]) -> None:
    items = make_items(clips, NAMES[:3])
    same = [dict(it) for it in reversed(items)]
    other_meta = [dict(it) for it in items]
    other_meta[1]["run_id"] = "run-2"  # same clips, a later decision: different json members, other bytes
    other_bytes = [dict(it) for it in items]
    other_bytes[0]["sha256"] = "0" * 64

    assert shard_name(items) == shard_name(same)
    assert len({shard_name(items), shard_name(other_meta), shard_name(other_bytes)}) == 3


def test_rewriting_a_committed_shard_reuses_it(storage: Storage, clips: dict[str, Path]) -> None:
    items = make_items(clips)
    stage(storage, clips, items)
    [first] = write_shards(storage, DATASET, items, 10**9)
    before = snapshot(storage)
    for it in items:
        storage.delete(it["staged"])  # a reused shard needs no staged bytes at all

    [again] = write_shards(storage, DATASET, items, 10**9)

    assert (first.written, again.written) == (True, False)
    assert (again.name, again.tar_sha256, again.tar_bytes) == (first.name, first.tar_sha256, first.tar_bytes)
    assert snapshot(storage) == before


def test_staged_copy_that_differs_on_s3_aborts_the_multipart_upload(tmp_path: Path, s3_endpoint: str) -> None:
    storage = S3Storage("cf-test", "cf", multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    data = random.Random(1).randbytes(12 * 2**20)
    key = candidate_key("delivery:TEST-CONTRACT:big")
    row = {"key": key, "staged": f"staging/{DATASET}/{key}.mp4", "source": "partner", "canonical_id": "big",
           "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "media": {"duration": 1.0}}
    tampered = bytearray(data)
    tampered[-1] ^= 0xFF  # the last byte: the check fails after most parts were uploaded
    storage.put_bytes(row["staged"], bytes(tampered))

    with pytest.raises(ShardError, match=f"{key} does not match its batch manifest"):
        write_shards(storage, DATASET, [row], 10**9)

    assert storage.list(PREFIX) == []
    assert storage.client.list_multipart_uploads(Bucket="cf-test").get("Uploads", []) == []  # aborted
