"""Shard: admitted items into WebDataset tar shards, each with a Parquet index and a stats file.

Layout under `datasets/<dataset>/shards/`: `<shard>.tar` (members `<key>.mp4` and `<key>.json`),
`<shard>.parquet` (key, byte offset and size of each member inside the tar, sha256, licence, ...) and
`<shard>_stats.json`. Dataset versions (dataset.py) list the shards they are made of; a shard is shared by
every version that contains it.

A shard's name is a content address: a digest of its members' keys, media sha256s, sizes and metadata.
The same name therefore always means the same bytes (USTAR, mtime 0, members in key order), so a retry
writes the same objects and a shard listed by a published version is never rewritten with other content.

The index is written after the tar and the stats and is the commit point: a tar without an index (a crash
in between) is invisible to readers and is written again, byte for byte, by the next run.

The tar is streamed straight into storage, with no local copy: tar headers follow from the sizes the batch
manifest declares, and each staged clip's bytes pass a sha256 check on their way into the upload. A clip
whose bytes differ from its manifest aborts the upload, so nothing is committed (local storage drops its
temp file; S3 aborts the multipart upload).
"""

from __future__ import annotations

import hashlib
import io
import json
import queue
import tarfile
import threading
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.parquet as pq

from clearframe.errors import ClearFrameError
from clearframe.storage import NotFoundError, Storage

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
    # What a dataset version's checks, card and public summary read without opening the tar.
    ("decision", pa.string()),
    ("contract_id", pa.string()),
    ("decided_at", pa.string()),
    ("policy_version", pa.string()),
    ("license_found_in", pa.string()),
    ("attribution", pa.string()),
    ("codec", pa.string()),
    ("has_audio", pa.bool_()),
])

TAR_BLOCK = 512
TAR_RECORD = tarfile.RECORDSIZE  # tar pads the archive to a whole record, as GNU tar and tarfile do
LOCAL_CHUNK = 1024 * 1024
REMOTE_CHUNK = 8 * 1024 * 1024  # one ranged GET per chunk of a staged object in S3
PREFETCH_BYTES = 64 * 1024 * 1024  # read-ahead of staged S3 objects while earlier bytes upload


class ShardError(ClearFrameError):
    """A shard could not be written; nothing of it was committed. The message names the object."""


def shards_prefix(dataset: str) -> str:
    return f"datasets/{dataset}/shards/"


def tar_key(dataset: str, name: str) -> str:
    return f"{shards_prefix(dataset)}{name}.tar"


def index_key(dataset: str, name: str) -> str:
    return f"{shards_prefix(dataset)}{name}.parquet"


def stats_key(dataset: str, name: str) -> str:
    return f"{shards_prefix(dataset)}{name}_stats.json"


def read_index(storage: Storage, key: str, columns: list[str] | None = None) -> pa.Table:
    return pq.read_table(io.BytesIO(storage.get_bytes(key)), columns=columns)


def existing_keys(storage: Storage, dataset: str) -> set[str]:
    """Keys already in a committed shard (one whose index exists) of this dataset.

    A committed shard is not necessarily part of a published version (dataset.published_keys is)."""
    keys: set[str] = set()
    for k in storage.list(shards_prefix(dataset)):
        if k.endswith(".parquet"):
            keys.update(read_index(storage, k, ["key"]).column("key").to_pylist())
    return keys


@dataclass(frozen=True)
class ShardInfo:
    """One committed shard."""

    name: str
    count: int
    tar_bytes: int
    media_bytes: int
    duration_s: float
    tar_sha256: str
    written: bool  # False: an identical shard was already committed under this name


@dataclass
class ShardReport:
    shards: list[str] = field(default_factory=list)
    members: int = 0
    bytes: int = 0
    skipped_existing: int = 0
    missing_staged: list[str] = field(default_factory=list)  # admitted but the staged copy is gone


def plan(items: list[dict[str, Any]], target_bytes: int) -> list[list[dict[str, Any]]]:
    """Consecutive groups of at most `target_bytes` of media (an item larger than that gets its own)."""
    groups: list[list[dict[str, Any]]] = [[]]
    size = 0
    for it in items:
        if groups[-1] and size + it["bytes"] > target_bytes:
            groups.append([])
            size = 0
        groups[-1].append(it)
        size += it["bytes"]
    return [g for g in groups if g]


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


def _header(name: str, size: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = 0  # reproducible bytes: the same members give the same shard
    ti.mode = 0o644
    ti.uname = ti.gname = ""
    return ti.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> int:
    return -size % TAR_BLOCK


@dataclass
class _Member:
    item: dict[str, Any]
    meta: bytes
    media_offset: int = 0
    json_offset: int = 0


def _layout(group: list[dict[str, Any]]) -> tuple[list[_Member], int]:
    """Every member's data offset, and the archive's total size, before a byte is read."""
    members = [_Member(it, json.dumps(sample_metadata(it), sort_keys=True, indent=1).encode()) for it in group]
    pos = 0
    for m in members:
        m.media_offset = pos + TAR_BLOCK
        pos = m.media_offset + m.item["bytes"] + _padding(m.item["bytes"])
        m.json_offset = pos + TAR_BLOCK
        pos = m.json_offset + len(m.meta) + _padding(len(m.meta))
    pos += 2 * TAR_BLOCK  # end-of-archive marker
    return members, pos + (-pos % TAR_RECORD)


def _name(members: list[_Member]) -> str:
    h = hashlib.sha256(b"clearframe-shard/1\n")
    for m in members:
        h.update(f"{m.item['key']}\t{m.item['sha256']}\t{m.item['bytes']}\t".encode())
        h.update(hashlib.sha256(m.meta).hexdigest().encode() + b"\n")
    return "shard-" + h.hexdigest()[:20]


def shard_name(group: list[dict[str, Any]]) -> str:
    """The content address of a shard of these items (in key order)."""
    return _name(_layout(sorted(group, key=lambda it: it["key"]))[0])


def _staged_chunks(storage: Storage, item: dict[str, Any]) -> Iterator[bytes]:
    """The declared number of bytes of an item's staged copy, checked against its declared sha256.

    The check comes after the clip's last chunk and before the archive's end, so a mismatch fails the
    upload before it can complete."""
    key, size = item["staged"], item["bytes"]
    h = hashlib.sha256()
    got = 0
    local = storage.local_path(key)
    try:
        if local is not None:
            with open(local, "rb") as fh:
                while got < size and (chunk := fh.read(min(LOCAL_CHUNK, size - got))):
                    h.update(chunk)
                    got += len(chunk)
                    yield chunk
        else:
            while got < size and (chunk := storage.get_range(key, got, min(REMOTE_CHUNK, size - got))):
                h.update(chunk)
                got += len(chunk)
                yield chunk
    except (FileNotFoundError, NotFoundError) as exc:
        raise ShardError(f"staged copy {storage.uri(key)} of item {item['key']} disappeared while sharding: "
                         "re-run its ingest batch to stage it again") from exc
    if got != size or h.hexdigest() != item["sha256"]:
        raise ShardError(
            f"staged copy {storage.uri(key)} of item {item['key']} does not match its batch manifest "
            f"({got} bytes, sha256 {h.hexdigest()[:16]}..., expected {size} bytes, {item['sha256'][:16]}...): "
            "delete the staged copy and re-run the item's ingest batch")


def _tar_chunks(storage: Storage, members: list[_Member], total: int, tar_hash: Any
                ) -> Generator[bytes, None, None]:
    """The archive's bytes, hashed into `tar_hash` as they go."""

    def pieces() -> Iterator[bytes]:
        for m in members:
            size = m.item["bytes"]
            yield _header(f"{m.item['key']}.mp4", size)
            yield from _staged_chunks(storage, m.item)
            yield bytes(_padding(size))
            yield _header(f"{m.item['key']}.json", len(m.meta))
            yield m.meta
            yield bytes(_padding(len(m.meta)))
        end = members[-1].json_offset + len(members[-1].meta) + _padding(len(members[-1].meta)) if members else 0
        yield bytes(total - end)  # two zero blocks, then zeros up to a whole record

    for piece in pieces():
        tar_hash.update(piece)
        yield piece


def _prefetched(chunks: Iterator[bytes], limit: int = PREFETCH_BYTES) -> Generator[bytes, None, None]:
    """Produce `chunks` on a helper thread, up to `limit` bytes ahead of the consumer.

    Reading staged objects from S3 is one ranged GET at a time; ahead-reading overlaps those GETs with the
    upload of the bytes before them. The producer's exception is re-raised in the consumer.
    """
    q: queue.Queue[tuple[str, Any]] = queue.Queue()
    room = threading.Condition()
    ahead = [0]  # bytes produced and not yet consumed
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                with room:
                    while ahead[0] >= limit and not stop.is_set():
                        room.wait(0.1)
                    if stop.is_set():
                        return
                    ahead[0] += len(chunk)
                q.put(("data", chunk))
            q.put(("end", None))
        except BaseException as exc:  # handed over to the consumer, which raises it
            q.put(("error", exc))

    worker = threading.Thread(target=produce, name="cf-shard-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            with room:
                ahead[0] -= len(value)
                room.notify()
            yield value
    finally:
        stop.set()
        with room:
            room.notify()
        worker.join()


class _ChunkStream(io.RawIOBase):
    """A read-only, non-seekable file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._chunk = b""
        self._view = memoryview(self._chunk)
        self._pos = 0
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = None if size is None or size < 0 else size
        parts: list[memoryview] = []
        have = 0
        while want is None or have < want:
            avail = len(self._view) - self._pos
            if not avail:
                nxt = next(self._chunks, None)
                if nxt is None:
                    break
                self._chunk, self._view, self._pos = nxt, memoryview(nxt), 0
                continue
            take = avail if want is None else min(avail, want - have)
            parts.append(self._view[self._pos : self._pos + take])  # a view: no copy yet
            self._pos += take
            have += take
        if len(parts) == 1 and len(parts[0]) == len(self._chunk):
            data = self._chunk  # a whole chunk: handed over as it is
        else:
            data = b"".join(parts)  # the one copy
        self.count += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _index_table(name: str, members: list[_Member]) -> pa.Table:
    rows: dict[str, list[Any]] = {n: [] for n in INDEX_SCHEMA.names}
    for m in members:
        it = m.item
        media = it.get("media") or {}
        for col, val in (
            ("key", it["key"]), ("shard", name), ("offset", m.media_offset), ("size", it["bytes"]),
            ("json_offset", m.json_offset), ("json_size", len(m.meta)), ("sha256", it["sha256"]),
            ("source", it["source"]), ("canonical_id", it["canonical_id"]),
            ("source_url", it.get("url")), ("media_url", it.get("media_url")),
            ("license_spdx", it.get("license_spdx")), ("license_raw", it.get("license_raw")),
            ("creator", it.get("creator")), ("title", it.get("title")),
            ("duration", media.get("duration")), ("width", media.get("width")),
            ("height", media.get("height")), ("fps", media.get("fps")), ("run_id", it.get("run_id")),
            ("decision", it.get("decision")), ("contract_id", it.get("contract_id")),
            ("decided_at", it.get("decided_at")), ("policy_version", it.get("policy_version")),
            ("license_found_in", it.get("license_found_in")), ("attribution", it.get("attribution")),
            ("codec", media.get("codec")), ("has_audio", media.get("has_audio")),
        ):
            rows[col].append(val)
    return pa.Table.from_pydict(rows, schema=INDEX_SCHEMA)


def _committed(storage: Storage, dataset: str, name: str, members: list[_Member]) -> ShardInfo | None:
    """The already committed shard of this name, checked against what we were about to write."""
    ikey = index_key(dataset, name)
    if not storage.exists(ikey):
        return None
    have = read_index(storage, ikey, ["key", "sha256", "offset", "json_size"]).to_pylist()
    want = [{"key": m.item["key"], "sha256": m.item["sha256"], "offset": m.media_offset,
             "json_size": len(m.meta)} for m in members]
    if have != want:
        raise ShardError(f"{storage.uri(ikey)} exists but lists other members than shard {name} should hold: "
                         "the shards folder was altered by hand; move that shard aside and re-run")
    stats = json.loads(storage.get_bytes(stats_key(dataset, name)))
    return ShardInfo(name, stats["count"], stats["tar_bytes"], stats["media_bytes"], stats["duration_s"],
                     stats["tar_sha256"], written=False)


def write_shard(storage: Storage, dataset: str, group: list[dict[str, Any]]) -> ShardInfo:
    """Write one shard of these items (tar, stats, then the index as commit point), unless it exists."""
    members, total = _layout(sorted(group, key=lambda it: it["key"]))
    name = _name(members)
    done = _committed(storage, dataset, name, members)
    if done is not None:
        return done
    tar_hash = hashlib.sha256()
    chunks = _tar_chunks(storage, members, total, tar_hash)
    remote = any(storage.local_path(m.item["staged"]) is None for m in members)
    stream: Generator[bytes, None, None] = _prefetched(chunks) if remote else chunks
    try:
        tar_bytes = storage.put_file(cast(IO[bytes], _ChunkStream(stream)), tar_key(dataset, name))
    finally:
        stream.close()  # after a failure: stops the read-ahead thread and closes the staged file
    if tar_bytes != total:  # cannot happen unless the layout and the stream disagree: never commit that
        raise ShardError(f"{storage.uri(tar_key(dataset, name))}: wrote {tar_bytes} bytes, planned {total}")
    items = [m.item for m in members]
    lic = Counter(it.get("license_spdx") or "none" for it in items)
    duration = round(sum((it.get("media") or {}).get("duration") or 0 for it in items), 3)
    stats = {
        "shard": name, "count": len(items), "tar_bytes": tar_bytes, "tar_sha256": tar_hash.hexdigest(),
        "media_bytes": sum(it["bytes"] for it in items), "duration_s": duration,
        "licenses": dict(sorted(lic.items())), "sources": dict(sorted(Counter(it["source"] for it in items).items())),
    }
    storage.put_bytes(stats_key(dataset, name), json.dumps(stats, indent=1, sort_keys=True).encode())
    buf = io.BytesIO()
    pq.write_table(_index_table(name, members), buf, compression="zstd")
    storage.put_bytes(index_key(dataset, name), buf.getvalue())  # commit point
    return ShardInfo(name, len(items), tar_bytes, stats["media_bytes"], duration, stats["tar_sha256"], written=True)


def write_shards(storage: Storage, dataset: str, items: list[dict[str, Any]], target_bytes: int) -> list[ShardInfo]:
    """Shards of exactly these items, grouped in key order; committed shards of the same content are reused."""
    ordered = sorted(items, key=lambda it: it["key"])
    return [write_shard(storage, dataset, group) for group in plan(ordered, target_bytes)]


def shard_items(storage: Storage, dataset: str, items: list[dict[str, Any]], target_bytes: int,
                work_dir: Path | None = None) -> ShardReport:
    """Pack admitted items that no committed shard holds yet; then drop their staged copies.

    (Unversioned: dataset.publish_version also shards, and publishes a version.) `work_dir` is not used:
    tars stream straight into storage.
    """
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
    for info in write_shards(storage, dataset, list(todo.values()), target_bytes):
        report.shards.append(info.name)
        report.members += info.count
        report.bytes += info.tar_bytes
    for it in items:
        if storage.exists(it["staged"]):
            storage.delete(it["staged"])
    return report
