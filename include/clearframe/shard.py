"""Shard: admitted items into WebDataset tar shards, each with a Parquet index and a stats file.

Layout under `datasets/<dataset>/shards/`: `<shard>.tar` (members `<key>.mp4` and `<key>.json`),
`<shard>.parquet` (key, byte offset and size of each member inside the tar, sha256, licence, ...) and
`<shard>_stats.json`. The index is written after the tar and is the commit point: a tar without an
index (a crash in between) is invisible to readers and rewritten under the same name by the next run.
Shard names derive from their members' keys, so a retry of the same work writes the same objects.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clearframe.storage import Storage

INDEX_SCHEMA = pa.schema([
    ("key", pa.string()),
    ("shard", pa.string()),
    ("offset", pa.int64()),  # first byte of the .mp4 member's data inside the tar
    ("size", pa.int64()),
    ("json_offset", pa.int64()),
    ("json_size", pa.int64()),
    ("sha256", pa.string()),
    ("source", pa.string()),
    ("canonical_id", pa.string()),
    ("source_url", pa.string()),
    ("media_url", pa.string()),
    ("license_spdx", pa.string()),
    ("license_raw", pa.string()),
    ("creator", pa.string()),
    ("title", pa.string()),
    ("duration", pa.float64()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("fps", pa.float64()),
    ("run_id", pa.string()),
])


def shards_prefix(dataset: str) -> str:
    return f"datasets/{dataset}/shards/"


def existing_keys(storage: Storage, dataset: str) -> set[str]:
    """Keys already in a committed shard (one whose index exists) of this dataset."""
    keys: set[str] = set()
    for k in storage.list(shards_prefix(dataset)):
        if k.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(storage.get_bytes(k)), columns=["key"])
            keys.update(table.column("key").to_pylist())
    return keys


@dataclass
class ShardReport:
    shards: list[str] = field(default_factory=list)
    members: int = 0
    bytes: int = 0
    skipped_existing: int = 0
    missing_staged: list[str] = field(default_factory=list)  # admitted but the staged copy is gone


def _plan(items: list[dict[str, Any]], target_bytes: int) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = [[]]
    size = 0
    for it in items:
        if groups[-1] and size + it["bytes"] > target_bytes:
            groups.append([])
            size = 0
        groups[-1].append(it)
        size += it["bytes"]
    return [g for g in groups if g]


def _member(name: str, size: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = 0  # reproducible bytes: the same members give the same shard
    ti.mode = 0o644
    ti.uname = ti.gname = ""
    return ti


def _add(tar: tarfile.TarFile, ti: tarfile.TarInfo, fh: Any) -> int:
    """Append a member; return the offset of its data. (addfile copies the TarInfo, so the offset
    is computed here from the header it writes.)"""
    data_offset = tar.offset + len(ti.tobuf(tar.format, tar.encoding, tar.errors))
    tar.addfile(ti, fh)
    return data_offset


def sample_metadata(item: dict[str, Any]) -> dict[str, Any]:
    """What travels inside the shard next to each clip: licence and attribution first."""
    return {
        "key": item["key"],
        "source": item["source"],
        "canonical_id": item["canonical_id"],
        "url": item.get("url"),
        "media_url": item.get("media_url"),
        "title": item.get("title"),
        "creator": item.get("creator"),
        "license": {"spdx": item.get("license_spdx"), "raw": item.get("license_raw"),
                    "found_in": item.get("license_found_in")},
        "attribution": item.get("attribution"),
        "contract_id": item.get("contract_id"),
        "sha256": item["sha256"],
        "media": item.get("media"),
        "decision": item.get("decision"),
        "policy_version": item.get("policy_version"),
        "decided_at": item.get("decided_at"),
        "run_id": item.get("run_id"),
    }


def _write_shard(storage: Storage, dataset: str, group: list[dict[str, Any]], work_dir: Path) -> tuple[str, int]:
    name = "shard-" + hashlib.sha256("\n".join(it["key"] for it in group).encode()).hexdigest()[:16]
    prefix = shards_prefix(dataset)
    work_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".shard-", suffix=".tar", dir=work_dir)
    os.close(fd)
    rows: dict[str, list[Any]] = {n: [] for n in INDEX_SCHEMA.names}
    try:
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for it in group:
                local = storage.local_path(it["staged"])
                cleanup = None
                if local is None:
                    cleanup = local = os.path.join(work_dir, f".stage-{it['key']}")
                    storage.download(it["staged"], local)
                try:
                    with open(local, "rb") as fh:
                        ti = _member(f"{it['key']}.mp4", os.fstat(fh.fileno()).st_size)
                        media_offset = _add(tar, ti, fh)
                finally:
                    if cleanup:
                        os.unlink(cleanup)
                meta = json.dumps(sample_metadata(it), sort_keys=True, indent=1).encode()
                tj = _member(f"{it['key']}.json", len(meta))
                json_offset = _add(tar, tj, io.BytesIO(meta))
                media = it.get("media") or {}
                for col, val in (
                    ("key", it["key"]), ("shard", name), ("offset", media_offset), ("size", ti.size),
                    ("json_offset", json_offset), ("json_size", tj.size), ("sha256", it["sha256"]),
                    ("source", it["source"]), ("canonical_id", it["canonical_id"]),
                    ("source_url", it.get("url")), ("media_url", it.get("media_url")),
                    ("license_spdx", it.get("license_spdx")), ("license_raw", it.get("license_raw")),
                    ("creator", it.get("creator")), ("title", it.get("title")),
                    ("duration", media.get("duration")), ("width", media.get("width")),
                    ("height", media.get("height")), ("fps", media.get("fps")), ("run_id", it.get("run_id")),
                ):
                    rows[col].append(val)
        tar_bytes = storage.put_file(tmp, f"{prefix}{name}.tar")
    finally:
        Path(tmp).unlink(missing_ok=True)
    lic = Counter(it.get("license_spdx") or "unknown" for it in group)
    stats = {
        "shard": name, "count": len(group), "tar_bytes": tar_bytes,
        "media_bytes": sum(it["bytes"] for it in group),
        "duration_s": round(sum((it.get("media") or {}).get("duration") or 0 for it in group), 3),
        "licenses": dict(sorted(lic.items())), "sources": dict(Counter(it["source"] for it in group)),
    }
    storage.put_bytes(f"{prefix}{name}_stats.json", json.dumps(stats, indent=1, sort_keys=True).encode())
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(rows, schema=INDEX_SCHEMA), buf, compression="zstd")
    storage.put_bytes(f"{prefix}{name}.parquet", buf.getvalue())  # commit point
    return name, tar_bytes


def shard_items(storage: Storage, dataset: str, items: list[dict[str, Any]], target_bytes: int,
                work_dir: Path) -> ShardReport:
    """Pack admitted items that no committed shard holds yet; then drop their staged copies."""
    report = ShardReport()
    have = existing_keys(storage, dataset)
    todo: dict[str, dict[str, Any]] = {}
    for it in items:
        if it["key"] in have:
            report.skipped_existing += 1
        elif it["key"] not in todo:
            if storage.exists(it["staged"]):
                todo[it["key"]] = it
            else:
                report.missing_staged.append(it["key"])
    ordered = [todo[k] for k in sorted(todo)]
    for group in _plan(ordered, target_bytes):
        name, nbytes = _write_shard(storage, dataset, group, work_dir)
        report.shards.append(name)
        report.members += len(group)
        report.bytes += nbytes
    for it in items:
        if storage.exists(it["staged"]):
            storage.delete(it["staged"])
    return report
