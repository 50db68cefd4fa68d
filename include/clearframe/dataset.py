"""Datasets: immutable, numbered versions of a dataset's admitted items, each describing itself.

Layout under `datasets/<name>/`:

    shards/<shard>.tar|.parquet|_stats.json   content-addressed shards (shard.py), shared by versions
    v<N>/manifest.json      the version: its shard list, counts, bytes, hours, licences, sources, policy
                            version, ledger range and consent counts. Written once, never replaced.
    v<N>/index.parquet      every member's index row (the shard indexes, concatenated in manifest order)
    v<N>/shards.txt         the tars, one per line, relative to datasets/<name>/ (`shards/<shard>.tar`): a
                            loader prefixes the dataset folder's URL, wherever a copy of it lives
    v<N>/stats.json         distributions: duration, resolution, fps, codecs, audio, licences, sources
    v<N>/CARD.md            the dataset card
    v<N>/ATTRIBUTION.md, v<N>/attribution.jsonl       every member whose licence asks for attribution
    v<N>/PUBLIC_SUMMARY.md, v<N>/public_summary.json  summary of training content (EU AI Act template)
    v<N>/SHA256SUMS         checksums of everything above and of the version's shards; written last
    latest.json             {"version": N, ...}: the newest complete version, one small object

Versions are cumulative snapshots: v<N> holds v<N-1>'s members plus this run's new ones. A member is new
when neither its key nor its sha256 is in v<N-1> (exact deduplication against earlier versions) and no
other new item with the same sha256 sorts before it (within the version). When nothing is new, no version
is made: re-running the same curation changes nothing.

Publishing, in order, so that nothing half-written is ever visible:

1. New members are packed into shards (shard.py: each shard's index is its own commit point; a crash
   leaves at most an unindexed tar, rewritten byte for byte by the next run).
2. `v<N>/manifest.json` is created with a conditional put (create-if-absent). This is the version's commit
   point and its content is final: a concurrent writer that built the same N loses, publishes nothing and
   is told to re-run. Nothing else under `v<N>/` exists before the manifest.
3. The other files of `v<N>/` are derived from the manifest and the shard indexes it lists, and from
   nothing else, so writing them again (after a crash) gives the same content. `SHA256SUMS` comes last
   and marks the version complete.
4. `latest.json` moves to N (one atomic put; a single PUT on S3), then the staged copies are deleted.

Every run first completes the newest committed version if a crash interrupted step 3 or 4 (staged copies
it left behind go when a run curates those items again: they are then duplicates of a published version).
Readers follow `latest.json` (or a version's manifest) and read only the shards a manifest lists. One
writer per dataset at a time is assumed (the curate DAG runs with max_active_runs=1); the conditional put
catches a second. An S3 multipart upload left open by a writer that died mid-shard is invisible; the next
run aborts it once it is a day old (`abort_incomplete_uploads`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import re
import statistics
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clearframe.config import BOT_INFO_URL, PRODUCT_TOKEN, Source
from clearframe.errors import ClearFrameError
from clearframe.gate.licenses import license_ids
from clearframe.ledger import read_ledger
from clearframe.shard import (
    INDEX_SCHEMA,
    REMOTE_CHUNK,
    ShardInfo,
    index_key,
    stats_key,
    tar_key,
    write_shards,
)
from clearframe.storage import NotFoundError, S3Storage, Storage

FORMAT = "clearframe.dataset-version/1"
SUMMARY_FORMAT = "clearframe.public-summary/1"
DOCS = {
    "index": "index.parquet",
    "shards": "shards.txt",
    "stats": "stats.json",
    "attribution_jsonl": "attribution.jsonl",
    "attribution_md": "ATTRIBUTION.md",
    "summary_json": "public_summary.json",
    "summary_md": "PUBLIC_SUMMARY.md",
    "card": "CARD.md",
}
SUMS = "SHA256SUMS"
TOP_DOMAIN_SHARE = 0.10  # the template asks for the top 10% of domain names by size of content
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class DatasetError(ClearFrameError):
    """A version cannot be published or read; the message names the object or item and what to do."""


# -- keys ---------------------------------------------------------------------------------------------


def dataset_prefix(dataset: str) -> str:
    return f"datasets/{dataset}/"


def version_prefix(dataset: str, version: int) -> str:
    return f"datasets/{dataset}/v{version}/"


def manifest_key(dataset: str, version: int) -> str:
    return version_prefix(dataset, version) + "manifest.json"


def doc_key(dataset: str, version: int, doc: str) -> str:
    """Key of one of a version's files: a DOCS name ("card", "index", ...) or a file name."""
    return version_prefix(dataset, version) + DOCS.get(doc, doc)


def latest_key(dataset: str) -> str:
    return f"datasets/{dataset}/latest.json"


# -- reading ------------------------------------------------------------------------------------------


def list_versions(storage: Storage, dataset: str) -> list[int]:
    """Committed versions (their manifest exists), oldest first; complete or not."""
    pattern = re.compile(rf"^datasets/{re.escape(dataset)}/v(\d+)/manifest\.json$")
    found = (pattern.match(k) for k in storage.list(f"datasets/{dataset}/v"))
    return sorted(int(m.group(1)) for m in found if m)


def is_complete(storage: Storage, dataset: str, version: int) -> bool:
    return storage.exists(doc_key(dataset, version, SUMS))


def latest_version(storage: Storage, dataset: str) -> int | None:
    """The version `latest.json` points at, or None before the first publication."""
    key = latest_key(dataset)
    try:
        doc = json.loads(storage.get_bytes(key))
    except NotFoundError:
        return None
    except ValueError as exc:
        raise DatasetError(f"{storage.uri(key)} is not valid JSON ({exc}): re-run curation to rewrite it") from exc
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, int) or version < 1:
        raise DatasetError(f"{storage.uri(key)}: field 'version' must be a positive integer, got {version!r}; "
                           "re-run curation to rewrite it")
    return version


def _resolve(storage: Storage, dataset: str, version: int | None) -> int:
    if version is not None:
        return version
    latest = latest_version(storage, dataset)
    if latest is None:
        raise DatasetError(f"dataset {dataset!r} has no published version under {storage.root}/{dataset_prefix(dataset)}"
                           ": run its curation first (e.g. the curate DAG)")
    return latest


def read_version_manifest(storage: Storage, dataset: str, version: int | None = None) -> dict[str, Any]:
    """A version's manifest (the latest one when `version` is None)."""
    v = _resolve(storage, dataset, version)
    key = manifest_key(dataset, v)
    try:
        manifest: dict[str, Any] = json.loads(storage.get_bytes(key))
    except NotFoundError as exc:
        known = list_versions(storage, dataset)
        raise DatasetError(f"{storage.uri(key)} does not exist: dataset {dataset!r} has versions {known or 'none'}"
                           ) from exc
    if manifest.get("format") != FORMAT:
        raise DatasetError(f"{storage.uri(key)}: format {manifest.get('format')!r} is not {FORMAT!r}; "
                           "read it with the ClearFrame release that wrote it")
    return manifest


def _conform(table: pa.Table) -> pa.Table:
    """An index table with INDEX_SCHEMA's columns in order (columns added since it was written are null)."""
    cols = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
            for f in INDEX_SCHEMA]
    return pa.Table.from_arrays(cols, schema=INDEX_SCHEMA)


def _read_shard_indexes(storage: Storage, keys: list[str]) -> list[tuple[pa.Table, str]]:
    """Each shard index (conformed) with the sha256 of its bytes; remote reads run in parallel."""

    def one(key: str) -> tuple[pa.Table, str]:
        data = storage.get_bytes(key)
        return _conform(pq.read_table(io.BytesIO(data))), hashlib.sha256(data).hexdigest()

    workers = 1 if not keys or storage.local_path(keys[0]) is not None else 8
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cf-index") as pool:
        return list(pool.map(one, keys))


def version_index(storage: Storage, dataset: str, version: int | None = None,
                  columns: list[str] | None = None) -> pa.Table:
    """Every member's index row of a version, in manifest order."""
    v = _resolve(storage, dataset, version)
    key = doc_key(dataset, v, "index")
    if storage.exists(key):
        return pq.read_table(io.BytesIO(storage.get_bytes(key)), columns=columns)
    manifest = read_version_manifest(storage, dataset, v)  # committed, not yet complete: read its shards
    tables = [t for t, _ in _read_shard_indexes(storage, [s["index"] for s in manifest["shards"]])]
    table = pa.concat_tables(tables) if tables else INDEX_SCHEMA.empty_table()
    return table.select(columns) if columns else table


def shard_uris(storage: Storage, dataset: str, version: int | None = None) -> list[str]:
    """The tar URIs of a version, for a loader (webdataset takes the local ones as they are)."""
    return [storage.uri(s["tar"]) for s in read_version_manifest(storage, dataset, version)["shards"]]


def published_keys(storage: Storage, dataset: str) -> set[str]:
    """Keys of the latest version's members: what an ingest run need not fetch again."""
    if latest_version(storage, dataset) is None:
        return set()
    return set(version_index(storage, dataset, None, ["key"]).column("key").to_pylist())


def _sha256_object(storage: Storage, key: str) -> str:
    h = hashlib.sha256()
    local = storage.local_path(key)
    if local is not None:
        with open(local, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()
    size, pos = storage.size(key), 0
    while pos < size:
        chunk = storage.get_range(key, pos, min(REMOTE_CHUNK, size - pos))
        if not chunk:
            break
        h.update(chunk)
        pos += len(chunk)
    return h.hexdigest()


def verify_version(storage: Storage, dataset: str, version: int | None = None, *,
                   shards: bool = True) -> list[str]:
    """Problems found checking a version against its SHA256SUMS ([] = intact). `shards=False` skips tars."""
    v = _resolve(storage, dataset, version)
    sums_key = doc_key(dataset, v, SUMS)
    try:
        lines = storage.get_bytes(sums_key).decode("utf-8").splitlines()
    except NotFoundError:
        return [f"{storage.uri(sums_key)} is missing: the version is not complete; re-run curation to complete it"]
    problems = []
    base = version_prefix(dataset, v)
    for line in lines:
        digest, _, rel = line.partition("  ")
        if rel.endswith(".tar") and not shards:
            continue
        key = f"{dataset_prefix(dataset)}{rel[3:]}" if rel.startswith("../") else base + rel
        try:
            got = _sha256_object(storage, key)
        except NotFoundError:
            problems.append(f"{storage.uri(key)} is missing")
            continue
        if got != digest:
            problems.append(f"{storage.uri(key)} has sha256 {got}, SHA256SUMS says {digest}")
    return problems


# -- publishing ---------------------------------------------------------------------------------------


@dataclass
class VersionReport:
    dataset: str
    version: int | None = None  # the version this call made visible; None when nothing changed
    latest: int | None = None  # the latest version after this call
    members: int = 0  # of `latest`
    added: int = 0  # new members in `version`
    skipped_duplicates: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    missing_staged: list[str] = field(default_factory=list)  # admitted, but no staged copy: not included
    shards: list[str] = field(default_factory=list)  # of `latest`
    new_shards: list[str] = field(default_factory=list)  # written by this call
    bytes: int = 0  # media bytes of `latest`
    hours: float = 0.0
    manifest_key: str | None = None
    card_key: str | None = None
    files: dict[str, str] = field(default_factory=dict)  # DOCS name -> key, of `latest`
    aborted_uploads: list[str] = field(default_factory=list)  # stale multipart uploads of dead writers


_REQUIRED = ("key", "staged", "sha256", "bytes", "source", "canonical_id", "decision")


def _check_items(dataset: str, items: list[dict[str, Any]], sources: list[Source]) -> None:
    for s in sources:
        if s.dataset_name != dataset:
            raise DatasetError(f"{s.path or s.name}: source {s.name!r} belongs to dataset {s.dataset_name!r}, "
                               f"not {dataset!r}; pass only the sources of {dataset!r}")
    for n, it in enumerate(items):
        who = f"batch manifest row {n} (key {it.get('key')!r})"
        for f in _REQUIRED:
            if it.get(f) in (None, ""):
                raise DatasetError(f"{who}: field {f!r} is missing; re-run the item's ingest batch")
        if it["decision"] != "allow":
            raise DatasetError(f"{who}: field 'decision' is {it['decision']!r}; only admitted (allow) items can "
                               "join a dataset: fix the manifest that listed it")
        if not isinstance(it["sha256"], str) or not _HEX64.match(it["sha256"]):
            raise DatasetError(f"{who}: field 'sha256' is not 64 lowercase hex digits")
        if not isinstance(it["bytes"], int) or it["bytes"] < 0:
            raise DatasetError(f"{who}: field 'bytes' must be a non-negative integer, got {it['bytes']!r}")


def _present(storage: Storage, keys: Iterable[str]) -> set[str]:
    """Which of these keys exist: one listing per folder instead of a HEAD per key."""
    by_dir: dict[str, set[str]] = defaultdict(set)
    for k in keys:
        by_dir[k.rpartition("/")[0]].add(k)
    found: set[str] = set()
    for folder, wanted in by_dir.items():
        found |= wanted & set(storage.list(f"{folder}/" if folder else ""))
    return found


def _select(items: list[dict[str, Any]], base_keys: set[str], base_shas: set[str], present: set[str]
            ) -> tuple[list[dict[str, Any]], dict[str, int], list[str]]:
    """New members, duplicate counts and the keys whose staged copy is gone.

    Per key, the latest decision wins; a key or sha256 already published is skipped; among new items with
    equal sha256 the smallest key (with a staged copy) is kept.
    """
    dups = {"in_earlier_version": 0, "same_sha256_in_run": 0, "repeated_in_run": 0}
    per_key: dict[str, dict[str, Any]] = {}
    for it in sorted(items, key=lambda i: (i["key"], str(i.get("decided_at") or ""), i["sha256"])):
        if it["key"] in per_key:
            dups["repeated_in_run"] += 1
        per_key[it["key"]] = it
    chosen: dict[str, dict[str, Any]] = {}  # sha256 -> item
    missing: list[str] = []
    for key in sorted(per_key):
        it = per_key[key]
        if key in base_keys or it["sha256"] in base_shas:
            dups["in_earlier_version"] += 1
        elif it["staged"] not in present:
            missing.append(key)
        elif it["sha256"] in chosen:
            dups["same_sha256_in_run"] += 1
        else:
            chosen[it["sha256"]] = it
    # A missing copy whose content another new item carries is a duplicate, not a loss.
    lost = [k for k in missing if per_key[k]["sha256"] not in chosen]
    dups["same_sha256_in_run"] += len(missing) - len(lost)
    return sorted(chosen.values(), key=lambda i: i["key"]), dups, lost


def _utc(now: dt.datetime | None) -> str:
    at = now or dt.datetime.now(dt.UTC)
    if at.tzinfo is None:
        raise DatasetError("publish_version(now=...) needs a timezone-aware datetime (e.g. datetime.now(UTC))")
    return at.astimezone(dt.UTC).isoformat(timespec="seconds")


def _json(doc: Any) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def abort_incomplete_uploads(storage: Storage, dataset: str, older_than: dt.timedelta = dt.timedelta(hours=24),
                             now: dt.datetime | None = None) -> list[str]:
    """Abort S3 multipart uploads of this dataset's shards left open by a writer that died mid-shard.

    Such an upload is invisible (S3 shows an object only on completion) but its parts cost storage until
    aborted. Only uploads started more than `older_than` ago are touched, so a live writer keeps its own.
    Returns the keys aborted; local storage has none. (A bucket lifecycle rule AbortIncompleteMultipartUpload
    does the same for every prefix.)
    """
    if not isinstance(storage, S3Storage):
        return []
    cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
    root = f"{storage.prefix}/" if storage.prefix else ""
    prefix = f"{root}{dataset_prefix(dataset)}shards/"
    aborted = []
    for page in storage.client.get_paginator("list_multipart_uploads").paginate(Bucket=storage.bucket,
                                                                                Prefix=prefix):
        for up in page.get("Uploads", []):
            if up["Initiated"] < cutoff:
                storage.client.abort_multipart_upload(Bucket=storage.bucket, Key=up["Key"], UploadId=up["UploadId"])
                aborted.append(up["Key"][len(root):])
    return aborted


def publish_version(storage: Storage, dataset: str, items: list[dict[str, Any]], *, target_bytes: int,
                    sources: list[Source], policy_version: str, ledger_runs: list[str] | None = None,
                    now: dt.datetime | None = None,
                    before_commit: Callable[[pa.Table], None] | None = None) -> VersionReport:
    """Publish the admitted `items` (batch manifest rows) as the dataset's next version, if any is new.

    `sources` describe where members come from (the dataset's source files); `ledger_runs` limits the
    card's consent counts to those runs (default: every run of the dataset's sources). `before_commit`
    receives the complete member table of the would-be version; raising there (e.g. a failed validation)
    publishes nothing. Staged copies of items now in the dataset are deleted once the version is complete.
    """
    created_at = _utc(now)
    _check_items(dataset, items, sources)
    report = VersionReport(dataset)
    base, moved = _settle(storage, dataset, created_at)
    report.aborted_uploads = abort_incomplete_uploads(storage, dataset)
    parent = read_version_manifest(storage, dataset, base) if base else None
    base_index = _conform(version_index(storage, dataset, base)) if base else INDEX_SCHEMA.empty_table()
    base_keys = set(base_index.column("key").to_pylist())
    base_shas = set(base_index.column("sha256").to_pylist())
    present = _present(storage, [it["staged"] for it in items])
    new, dups, missing = _select(items, base_keys, base_shas, present)
    report.duplicates, report.missing_staged = dups, missing
    report.skipped_duplicates = sum(dups.values())
    if new:
        known = {s.name: _source_entry(s) for s in sources}
        for name, entry in ((parent or {}).get("sources") or {}).items():
            known.setdefault(name, {k: v for k, v in entry.items() if k not in ("members", "bytes", "hours")})
        unknown = sorted({it["source"] for it in new} - set(known))
        if unknown:
            raise DatasetError(f"items of dataset {dataset!r} come from source(s) {unknown} that were not passed to "
                               "publish_version(sources=...): pass every source file of the dataset")
        infos = write_shards(storage, dataset, new, target_bytes)
        report.new_shards = [i.name for i in infos if i.written]
        version = (base or 0) + 1
        new_entries, new_tables = _shard_entries(storage, dataset, infos, version)
        members = pa.concat_tables([base_index, *new_tables])
        pairs = set(zip(members.column("source").to_pylist(), members.column("key").to_pylist(), strict=True))
        consent = _ledger_summary(storage, sorted(set(known) | {src for src, _ in pairs}), ledger_runs, pairs)
        manifest = _manifest(dataset, version, parent, new_entries, members, known, consent, dups, len(missing),
                             len(new), policy_version, ledger_runs, created_at)
        if before_commit is not None:
            before_commit(members)
        key, body = manifest_key(dataset, version), _json(manifest)
        if not storage.put_if_absent(key, body):
            raise DatasetError(f"{storage.uri(key)} appeared while this run was building it: another writer "
                               f"published {dataset!r} v{version}. Nothing of this run was published; re-run "
                               "curation to build on that version")
        _finalize(storage, dataset, version, body, members)
        _point_latest(storage, dataset, version, created_at)
        report.version, report.added = version, len(new)
    elif moved is not None:
        report.version = moved  # this call completed a version an earlier run had committed
    published = {it["key"] for it in new} | base_keys
    shas = {it["sha256"] for it in new} | base_shas
    for it in items:  # the version is complete: staged copies of whatever it holds can go
        if it["staged"] in present and (it["key"] in published or it["sha256"] in shas):
            storage.delete(it["staged"])
    _fill(report, storage, dataset)
    return report


def _fill(report: VersionReport, storage: Storage, dataset: str) -> None:
    report.latest = latest_version(storage, dataset)
    if report.latest is None:
        return
    m = read_version_manifest(storage, dataset, report.latest)
    report.members, report.bytes, report.hours = m["members"], m["bytes"], m["hours"]
    report.shards = [s["name"] for s in m["shards"]]
    report.manifest_key = manifest_key(dataset, report.latest)
    report.files = {name: doc_key(dataset, report.latest, name) for name in DOCS}
    report.card_key = report.files["card"]


def _settle(storage: Storage, dataset: str, now: str) -> tuple[int | None, int | None]:
    """Complete the newest committed version if a crash left it unfinished and point `latest` at it.

    Returns (newest version, the version `latest` was moved to by this call or None)."""
    versions = list_versions(storage, dataset)
    if not versions:
        return None, None
    top = versions[-1]
    if not is_complete(storage, dataset, top):
        read_version_manifest(storage, dataset, top)  # checks its format
        body = storage.get_bytes(manifest_key(dataset, top))
        manifest = json.loads(body)
        tables = [t for t, _ in _read_shard_indexes(storage, [s["index"] for s in manifest["shards"]])]
        members = pa.concat_tables(tables) if tables else INDEX_SCHEMA.empty_table()
        _finalize(storage, dataset, top, body, members)
    if latest_version(storage, dataset) != top:
        _point_latest(storage, dataset, top, now)
        return top, top
    return top, None


def _point_latest(storage: Storage, dataset: str, version: int, now: str) -> None:
    storage.put_bytes(latest_key(dataset), _json({"dataset": dataset, "version": version, "updated_at": now,
                                                  "manifest": manifest_key(dataset, version)}))


def _shard_entries(storage: Storage, dataset: str, infos: list[ShardInfo], version: int
                   ) -> tuple[list[dict[str, Any]], list[pa.Table]]:
    read = _read_shard_indexes(storage, [index_key(dataset, i.name) for i in infos])
    entries = []
    for info, (_, index_sha) in zip(infos, read, strict=True):
        stats_sha = hashlib.sha256(storage.get_bytes(stats_key(dataset, info.name))).hexdigest()
        entries.append({
            "name": info.name, "tar": tar_key(dataset, info.name), "index": index_key(dataset, info.name),
            "stats": stats_key(dataset, info.name), "count": info.count, "tar_bytes": info.tar_bytes,
            "media_bytes": info.media_bytes, "duration_s": info.duration_s, "tar_sha256": info.tar_sha256,
            "index_sha256": index_sha, "stats_sha256": stats_sha, "added_in": version,
        })
    return entries, [t for t, _ in read]


def _source_entry(source: Source) -> dict[str, Any]:
    return source.model_dump(mode="json", include={"name", "kind", "description", "acquisition", "license_policy",
                                                   "media"})


def member_digest(keys: list[str], shas: list[str]) -> str:
    """sha256 over the sorted "key sha256" lines of a member set: equal digests, equal members."""
    h = hashlib.sha256()
    for k, s in sorted(zip(keys, shas, strict=True)):
        h.update(f"{k} {s}\n".encode())
    return h.hexdigest()


def _count(values: Iterable[Any], missing: str = "none") -> dict[str, int]:
    c = Counter(missing if v is None else str(v) for v in values)
    return dict(sorted(c.items()))


def _span(values: Iterable[str | None]) -> dict[str, str | None]:
    vals = sorted(v for v in values if v)
    return {"min": vals[0] if vals else None, "max": vals[-1] if vals else None}


def _manifest(dataset: str, version: int, parent: dict[str, Any] | None, new_entries: list[dict[str, Any]],
              members: pa.Table, known_sources: dict[str, dict[str, Any]], consent: dict[str, Any],
              dups: dict[str, int], missing: int, added: int, policy_version: str,
              ledger_runs: list[str] | None, created_at: str) -> dict[str, Any]:
    cols = members.select(["key", "sha256", "source", "size", "duration", "license_spdx", "run_id",
                           "decided_at", "policy_version"]).to_pydict()
    per_source: dict[str, dict[str, float]] = defaultdict(lambda: {"members": 0, "bytes": 0, "hours": 0.0})
    for src, size, dur in zip(cols["source"], cols["size"], cols["duration"], strict=True):
        per_source[src]["members"] += 1
        per_source[src]["bytes"] += size
        per_source[src]["hours"] += (dur or 0) / 3600
    shards = [*((parent or {}).get("shards") or []), *new_entries]
    total_hours = sum((d or 0) for d in cols["duration"]) / 3600
    new_bytes = sum(e["media_bytes"] for e in new_entries)
    return {
        "format": FORMAT,
        "dataset": dataset,
        "version": version,
        "parent": parent["version"] if parent else None,
        "created_at": created_at,
        "policy_version": policy_version,
        "member_policy_versions": _count(cols["policy_version"]),
        "members": members.num_rows,
        "bytes": sum(cols["size"]),
        "shard_bytes": sum(s["tar_bytes"] for s in shards),
        "hours": round(total_hours, 4),
        "member_digest": member_digest(cols["key"], cols["sha256"]),
        "added": {"members": added, "bytes": new_bytes, "shards": [e["name"] for e in new_entries],
                  "hours": round(sum(e["duration_s"] for e in new_entries) / 3600, 4)},
        "skipped_duplicates": {**dups, "total": sum(dups.values())},
        "not_included": {"missing_staged": missing},
        "licenses": _count(cols["license_spdx"]),
        "sources": {name: {**known_sources[name], "members": int(v["members"]), "bytes": int(v["bytes"]),
                           "hours": round(v["hours"], 4)} for name, v in sorted(per_source.items())},
        "ledger": {"member_runs": sorted(set(cols["run_id"]) - {None}),
                   "member_decided_at": _span(cols["decided_at"]),
                   "runs_considered": sorted(ledger_runs) if ledger_runs is not None else "all",
                   "recorded_at": consent.pop("recorded_at")},
        "consent": consent,
        "shards": shards,
        "files": {name: DOCS[name] for name in DOCS} | {"checksums": SUMS},
    }


# -- the ledger, summarised for the card ----------------------------------------------------------------

_ORDER = {"deny": 0, "defer": 1, "review": 2, "allow": 3}
_LEDGER_COLUMNS = ["run_id", "source", "key", "decision", "status", "reasons", "license_spdx",
                   "quarantine_reason", "recorded_at", "decided_at"]


def _reason_labels(decision: str, findings: list[dict[str, Any]], license_spdx: str | None) -> list[str]:
    """Why a candidate was not admitted, in words that group: the signals that gave its decision."""
    labels = []
    for f in findings:
        if f.get("verdict") != decision:
            continue
        signal, rule = f.get("signal") or "unknown", f.get("rule") or ""
        if signal == "license":
            labels.append(f"license: {license_spdx or 'none'}")
        elif rule and len(rule) <= 40 and " " not in rule:
            labels.append(f"{signal}: {rule}")  # short machine rules group well (optout:creator, ...)
        else:
            labels.append(signal)
    return list(dict.fromkeys(labels)) or ["(no finding recorded)"]


def _ledger_summary(storage: Storage, source_names: list[str], ledger_runs: list[str] | None,
                    members: set[tuple[str, str]]) -> dict[str, Any]:
    """Counts over the newest ledger row of every candidate of these sources (in `ledger_runs`, if given).

    With every run considered, each member must have a row; how many do not is counted (a gap in the ledger).
    """
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    runs: set[str] = set()
    wanted = set(ledger_runs) if ledger_runs is not None else None
    for name in source_names:
        table = read_ledger(storage, name)
        if not table.num_rows:
            continue
        table = table.select(_LEDGER_COLUMNS)
        if wanted is not None:
            table = table.filter(pc.is_in(table.column("run_id"), pa.array(sorted(wanted), pa.string())))
        for row in table.to_pylist():
            runs.add(row["run_id"])
            k = (row["source"], row["key"])
            order = (row["recorded_at"] or "", row["decided_at"] or "", row["run_id"] or "")
            cur = latest.get(k)
            if cur is None or order >= (cur["recorded_at"] or "", cur["decided_at"] or "", cur["run_id"] or ""):
                latest[k] = row
    not_admitted: Counter[tuple[str, str]] = Counter()
    quarantined: Counter[str] = Counter()
    signals: dict[str, Counter[str]] = defaultdict(Counter)
    checked: Counter[str] = Counter()
    for row in latest.values():
        findings = json.loads(row["reasons"] or "[]")
        for sig in {f.get("signal") or "unknown" for f in findings}:
            checked[sig] += 1
        for f in findings:
            signals[f.get("signal") or "unknown"][f.get("verdict") or "none"] += 1
        if row["decision"] in ("deny", "defer", "review"):
            for label in _reason_labels(row["decision"], findings, row["license_spdx"]):
                not_admitted[(row["decision"], label)] += 1
        elif row["status"] == "quarantined":
            reason = (row["quarantine_reason"] or "no reason recorded").split(":")[0].strip()[:80]
            quarantined[reason] += 1
    return {
        "runs": sorted(runs),
        "recorded_at": _span(r["recorded_at"] for r in latest.values()),
        "candidates": len(latest),
        "decisions": _count(r["decision"] for r in latest.values()),
        "statuses": _count(r["status"] for r in latest.values()),
        "not_admitted": [{"decision": d, "reason": r, "items": n} for (d, r), n in
                         sorted(not_admitted.items(), key=lambda x: (_ORDER.get(x[0][0], 9), -x[1], x[0][1]))],
        "quarantined": [{"reason": r, "items": n} for r, n in sorted(quarantined.items(), key=lambda x: (-x[1], x[0]))],
        "signals": {s: {"candidates": checked[s], "findings": dict(sorted(v.items()))}
                    for s, v in sorted(signals.items())},
        "members_without_ledger_row": len(members - set(latest)) if ledger_runs is None else None,
    }


# -- the version's files, derived from its manifest and member table ------------------------------------


def _finalize(storage: Storage, dataset: str, version: int, manifest_body: bytes, members: pa.Table) -> None:
    manifest = json.loads(manifest_body)
    docs = documents(manifest, members)
    for name in DOCS.values():
        storage.put_bytes(doc_key(dataset, version, name), docs[name])
    lines = [f"{hashlib.sha256(manifest_body).hexdigest()}  manifest.json"]
    lines += [f"{hashlib.sha256(docs[name]).hexdigest()}  {name}" for name in DOCS.values()]
    for s in manifest["shards"]:
        for what in ("tar", "index", "stats"):
            lines.append(f"{s[what + '_sha256']}  ../shards/{s[what].rpartition('/')[2]}")
    storage.put_bytes(doc_key(dataset, version, SUMS), ("\n".join(lines) + "\n").encode())  # complete


def documents(manifest: dict[str, Any], members: pa.Table) -> dict[str, bytes]:
    """Every derived file of a version, by file name: a pure function of its inputs (no storage URI in
    them, so a copy of the dataset folder elsewhere is complete and its checksums hold)."""
    prefix = dataset_prefix(manifest["dataset"])
    rows = members.select(["key", "shard", "sha256", "source", "source_url", "media_url", "size", "duration",
                           "width", "height", "fps", "codec", "has_audio", "license_spdx", "creator", "title",
                           "contract_id", "attribution", "decided_at"]).to_pylist()
    kinds = {name: s.get("kind") for name, s in manifest["sources"].items()}
    attributions = attribution_rows(rows, kinds)
    summary = public_summary(manifest, rows)
    stats = version_stats(manifest, rows)
    buf = io.BytesIO()
    pq.write_table(members, buf, compression="zstd")
    return {
        DOCS["index"]: buf.getvalue(),
        DOCS["shards"]: "".join(s["tar"].removeprefix(prefix) + "\n" for s in manifest["shards"]).encode(),
        DOCS["stats"]: _json(stats),
        DOCS["attribution_jsonl"]: "".join(json.dumps(a, sort_keys=True, ensure_ascii=False) + "\n"
                                           for a in attributions).encode("utf-8"),
        DOCS["attribution_md"]: render_attribution(manifest, attributions).encode("utf-8"),
        DOCS["summary_json"]: _json(summary),
        DOCS["summary_md"]: render_public_summary(summary).encode("utf-8"),
        DOCS["card"]: render_card(manifest, stats, summary, len(attributions)).encode("utf-8"),
    }


# attribution ------------------------------------------------------------------------------------------

# Ids whose terms ask for no credit. Anything else, unknown or unreadable included, is attributed: credit
# given where none was due costs nothing, credit missing where it was due breaks the licence.
_NO_ATTRIBUTION = frozenset(i.casefold() for i in (
    "CC0-1.0", "CC-PDDC", "CC-PDM-1.0", "LicenseRef-CC-PDM-1.0", "LicenseRef-Public-Domain",
    "LicenseRef-No-Known-Copyright-Restrictions", "0BSD", "Unlicense", "MIT-0",
))


def attribution_required(spdx: str | None) -> bool:
    """Whether a member under this SPDX expression must be credited.

    `A OR B` lets the user pick, so credit is needed only if every option needs it; anything else needs
    credit if any license in it does. A missing or unreadable expression needs credit.
    """
    ids = license_ids(spdx)
    if not ids:
        return True
    needs = [i.casefold() not in _NO_ATTRIBUTION for i in ids]
    top_level_or = spdx is not None and " OR " in spdx.upper() and "(" not in spdx
    return all(needs) if top_level_or else any(needs)


_CC_ID = re.compile(r"^CC-(BY(?:-NC)?(?:-ND|-SA)?)-(\d\.\d)(?:-([A-Za-z]+))?$", re.IGNORECASE)


def license_url(license_id: str) -> str | None:
    """The licence's canonical text, for Creative Commons and SPDX-listed ids; None for LicenseRef ids."""
    m = _CC_ID.match(license_id)
    if m:
        port = f"{m.group(3).lower()}/" if m.group(3) else ""
        return f"https://creativecommons.org/licenses/{m.group(1).lower()}/{m.group(2)}/{port}"
    fixed = {"cc0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
             "cc-pdm-1.0": "https://creativecommons.org/publicdomain/mark/1.0/"}
    if license_id.casefold() in fixed:
        return fixed[license_id.casefold()]
    if license_id.startswith(("LicenseRef-", "DocumentRef-")):
        return None
    return f"https://spdx.org/licenses/{license_id}.html"


def attribution_rows(rows: list[dict[str, Any]], source_kinds: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per member whose licence asks for credit, in key order."""
    out = []
    for r in sorted(rows, key=lambda r: r["key"]):
        if not attribution_required(r["license_spdx"]):
            continue
        delivered = source_kinds.get(r["source"]) == "delivery"  # partner locations are private
        out.append({
            "key": r["key"], "sha256": r["sha256"], "shard": r["shard"], "title": r["title"],
            "creator": r["creator"], "source": r["source"],
            "source_url": None if delivered else r["source_url"] or r["media_url"],
            "license": r["license_spdx"], "license_urls": [u for i in license_ids(r["license_spdx"])
                                                           if (u := license_url(i))],
            "contract_id": r["contract_id"], "attribution": r["attribution"],
        })
    return out


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def _md(text: Any, limit: int = 200) -> str:
    """Plain text for a Markdown table cell: markup escaped, one line, bounded length."""
    if text is None or text == "":
        return "—"
    s = " ".join(str(text).split())
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", s)


def _link(url: str | None) -> str:
    if url and re.match(r"^https?://[^\s<>]+$", url):
        return f"<{url}>"
    return _md(url)


def render_attribution(manifest: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    head = [f"# Attribution: {manifest['dataset']} v{manifest['version']}", "",
            f"{len(entries)} of {manifest['members']} members are used under licences that ask for credit. "
            "Credit them as below wherever the licence requires (the same list, machine-readable: "
            "`attribution.jsonl`).", ""]
    if not entries:
        return "\n".join([*head, "No member of this version needs attribution.", ""])
    lines = [*head, "| Title | Creator | Source | Licence | Key |", "|---|---|---|---|---|"]
    for e in entries:
        where = _link(e["source_url"]) if e["source_url"] else f"partner delivery, contract {_md(e['contract_id'])}"
        lic = _md(e["license"]) + "".join(f" ({_link(u)})" for u in e["license_urls"])
        lines.append(f"| {_md(e['title'])} | {_md(e['creator'])} | {where} | {lic} | `{e['key']}` |")
    return "\n".join(lines) + "\n"


# statistics -------------------------------------------------------------------------------------------


def version_stats(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    durations = sorted(r["duration"] for r in rows if r["duration"] is not None)
    return {
        "dataset": manifest["dataset"], "version": manifest["version"], "members": len(rows),
        "bytes": manifest["bytes"], "hours": manifest["hours"], "shards": len(manifest["shards"]),
        "shard_bytes": manifest["shard_bytes"],
        "duration_s": {"min": durations[0], "median": statistics.median(durations), "max": durations[-1],
                       "mean": round(statistics.fmean(durations), 3)} if durations else None,
        "resolution": _count(f"{r['width']}x{r['height']}" if r["width"] else None for r in rows),
        "fps": _count(round(r["fps"], 3) if r["fps"] is not None else None for r in rows),
        "codecs": _count(r["codec"] for r in rows),
        "with_audio": sum(1 for r in rows if r["has_audio"]),
        "without_creator": sum(1 for r in rows if not r["creator"]),
        "licenses": manifest["licenses"],
        "sources": {k: v["members"] for k, v in manifest["sources"].items()},
    }


# public summary (EU AI Act, Art. 53(1)(d)) ---------------------------------------------------------------

_TEMPLATE = ("European Commission, Explanatory Notice and Template for the Public Summary of Training Content "
             "for general-purpose AI models, Article 53(1)(d) of Regulation (EU) 2024/1689 (July 2025)")

# What each gate signal is, for readers of the card and the summary.
SIGNALS = {
    "license": "licence metadata (platform field, schema.org JSON-LD, <link rel=license>, partner manifest), "
               "normalised to SPDX and sorted by the source's licence policy; a missing licence is no permission",
    "basis": "the source's acquisition basis: a partner contract id that expressly covers AI training",
    "platform": "platform terms: sites whose terms forbid automated download are denied without a contract",
    "robots": "robots.txt (RFC 9309) for ClearFrameBot and known AI-training crawler tokens, page and media "
              "origins",
    "aipref": "IETF AIPREF Content-Usage preferences (HTTP header and robots.txt)",
    "content-signal": "Cloudflare Content-Signal in robots.txt and headers",
    "x-robots-tag": "X-Robots-Tag noai / noimageai, including user-agent-scoped forms",
    "meta-robots": "<meta name=robots> noai / noimageai in the page",
    "tdmrep": "W3C TDMRep: /.well-known/tdmrep.json, tdm-reservation header and meta",
    "ai-txt": "Spawning ai.txt",
    "c2pa": "C2PA / CAWG training-and-data-mining assertions in the file, read after download and before "
            "staging",
    "xmp": "XMP plus:DataMining in the file, read after download and before staging",
    "registry": "ClearFrame's opt-out registry (creator, channel, video, URL, domain, content hash) and "
                "blocked domains",
    "embedded": "the outcome of the embedded-rights checks (file purged when they restrict)",
    "probe": "metadata probe: a page or media request that failed defers the candidate",
    "fetch": "download checks (size, declared hash, HTTP status)",
    "input": "a malformed input record",
    "policy": "the overall rule: no positive licence evidence and no acquisition basis means deny",
}
OPT_OUT_SIGNALS = ("robots", "aipref", "content-signal", "x-robots-tag", "meta-robots", "tdmrep", "ai-txt",
                   "c2pa", "xmp", "registry", "platform")


def _domain(url: str | None) -> str | None:
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def public_summary(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The dataset's contribution to a model provider's public summary of training content.

    Sections follow the Commission's template: 1 general information, 2 list of data sources (2.1 public
    datasets, 2.2 private datasets from third parties, 2.3 data crawled and scraped online, 2.4 user data,
    2.5 synthetic data, 2.6 other), 3 data processing (3.1 respect of reservations of rights, 3.2 removal
    of illegal content).
    """
    sources = manifest["sources"]
    total_bytes = sum(r["size"] for r in rows)
    total_hours = sum((r["duration"] or 0) for r in rows) / 3600

    def part(names: set[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        sel = [r for r in rows if r["source"] in names]
        return sel, {"items": len(sel), "hours": round(sum((r["duration"] or 0) for r in sel) / 3600, 4),
                     "bytes": sum(r["size"] for r in sel),
                     "share_of_bytes": _share(sum(r["size"] for r in sel), total_bytes),
                     "collection_period": _span(r["decided_at"] for r in sel)}

    delivery = {n for n, s in sources.items() if s.get("kind") == "delivery"}
    web = {n for n, s in sources.items() if s.get("kind") in ("http", "ytdlp")}
    other = set(sources) - delivery - web
    licensed = []
    for name in sorted(delivery):
        acq = sources[name].get("acquisition") or {}
        _, totals = part({name})
        licensed.append({"source": name, "description": sources[name].get("description") or "",
                         "contract_id": acq.get("contract_id"), "covers_training": acq.get("covers_training"),
                         **totals})
    web_rows, web_totals = part(web)
    by_domain: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in web_rows:
        d = _domain(r["source_url"]) or _domain(r["media_url"]) or "(no domain)"
        by_domain[d][0] += 1
        by_domain[d][1] += r["size"]
    ranked = sorted(by_domain.items(), key=lambda x: (-x[1][1], x[0]))
    top_n = max(1, math.ceil(TOP_DOMAIN_SHARE * len(ranked))) if ranked else 0
    consent = manifest["consent"]
    sig = consent.get("signals") or {}
    excluded: Counter[str] = Counter()
    for entry in consent.get("not_admitted") or []:
        signal = entry["reason"].split(":")[0]
        if entry["decision"] == "deny" and signal in OPT_OUT_SIGNALS:
            excluded[signal] += entry["items"]
    lic_rows: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for r in rows:
        lic_rows[r["license_spdx"] or "none"][0] += 1
        lic_rows[r["license_spdx"] or "none"][1] += (r["duration"] or 0) / 3600
    return {
        "format": SUMMARY_FORMAT,
        "template": _TEMPLATE,
        "scope": ("One ClearFrame dataset version: the part of a model's training content this dataset "
                  "supplies. A model provider merges it into the summary of all its training content."),
        "dataset": manifest["dataset"],
        "version": manifest["version"],
        "created_at": manifest["created_at"],
        "general_information": {
            "template_section": "1",
            "modalities": ["video", "audio"] if any(r["has_audio"] for r in rows) else ["video"],
            "items": len(rows), "hours": round(total_hours, 4), "bytes": total_bytes,
            "items_with_audio": sum(1 for r in rows if r["has_audio"]),
            "content": "video clips with their title, creator and licence metadata",
            "collection_period": manifest["ledger"]["member_decided_at"],
        },
        "data_sources": {
            "publicly_available_datasets": {"template_section": "2.1", "used": False, "datasets": []},
            "private_datasets_from_third_parties": {
                "template_section": "2.2", "used": bool(licensed),
                "commercially_licensed_by_rightsholders": licensed, "other": []},
            "crawled_and_scraped": {
                "template_section": "2.3", "used": bool(web_rows),
                "crawler": {"name": PRODUCT_TOKEN, "information": BOT_INFO_URL,
                            "behaviour": ("one fixed, honest user agent; robots.txt and AI-use reservations are "
                                          "read before any media request; a refusal (401/403/451) stops the "
                                          "host and 429 waits at least Retry-After; no proxies, IP or "
                                          "user-agent rotation, logins or CAPTCHA solving")},
                "content": ("publicly available videos whose pages or platforms declare a licence the "
                            "source's policy allows"),
                **web_totals,
                "domains": len(ranked),
                "top_domains_rule": (f"the top {TOP_DOMAIN_SHARE:.0%} of domain names by bytes of content "
                                     "(at least one), www. removed"),
                "top_domains": [{"domain": d, "items": n, "bytes": b, "share_of_crawled_bytes":
                                 _share(b, web_totals["bytes"])} for d, (n, b) in ranked[:top_n]],
            },
            "user_data": {"template_section": "2.4", "used": False},
            "synthetic_data": {"template_section": "2.5", "used": False},
            "other": {"template_section": "2.6", "used": bool(other),
                      "sources": [{"source": n, "kind": sources[n].get("kind"), **part({n})[1]}
                                  for n in sorted(other)]},
        },
        "licences": [{"license": lic, "items": int(n), "hours": round(h, 4), "share_of_items": _share(n, len(rows))}
                     for lic, (n, h) in sorted(lic_rows.items(), key=lambda x: (-x[1][0], x[0]))],
        "data_processing": {
            "reservation_of_rights": {
                "template_section": "3.1",
                "measures": ("every candidate's metadata passes the gate before any media byte is fetched; "
                             "a reservation from any signal excludes it (restrictions win across protocols); "
                             "embedded C2PA/XMP reservations are read after download and the file is purged; "
                             "every decision is recorded with its evidence in the ledger"),
                "policy_version": manifest["policy_version"],
                "candidates_considered": consent.get("candidates", 0),
                "signals": [{"signal": s, "description": SIGNALS.get(s, s),
                             "candidates_with_a_finding": sig.get(s, {}).get("candidates", 0),
                             "candidates_excluded": excluded.get(s, 0)}
                            for s in OPT_OUT_SIGNALS if s in sig or excluded.get(s)],
                "excluded_by_reservations": sum(excluded.values()),
            },
            "removal_of_illegal_content": {
                "template_section": "3.2",
                "measures": ("none beyond source selection: ClearFrame checks rights and consent, not what a "
                             "video depicts; see the dataset card's known limitations"),
            },
        },
    }


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _fmt_hours(h: float) -> str:
    return f"{h:.2f} hours" if h >= 1 else f"{h * 60:.1f} minutes"


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"


def render_public_summary(s: dict[str, Any]) -> str:
    g, ds, dp = s["general_information"], s["data_sources"], s["data_processing"]
    web, priv = ds["crawled_and_scraped"], ds["private_datasets_from_third_parties"]
    period = g["collection_period"]
    out = [
        f"# Public summary of training content: {s['dataset']} v{s['version']}", "",
        f"In the structure of the {s['template']}. {s['scope']} Machine-readable: `public_summary.json`.", "",
        "## 1. General information", "",
        f"- Modalities: {', '.join(g['modalities'])} ({g['items_with_audio']} of {g['items']} clips carry audio)",
        f"- Size: {_plural(g['items'], 'video clip')}, {_fmt_hours(g['hours'])}, {_fmt_bytes(g['bytes'])}",
        f"- Content: {g['content']}",
        f"- Collection period (gate decisions): {period['min'] or '—'} to {period['max'] or '—'}", "",
        "## 2. List of data sources", "",
        "### 2.1 Publicly available datasets", "", "None used.", "",
        "### 2.2 Private datasets obtained from third parties", "",
    ]
    if priv["used"]:
        out += ["Commercially licensed by rightsholders (partner deliveries):", "",
                "| Source | Contract | Covers AI training | Clips | Hours | Share of bytes |", "|---|---|---|---|---|---|"]
        out += [f"| {_md(p['source'])} | {_md(p['contract_id'])} | {'yes' if p['covers_training'] else 'no'} | "
                f"{p['items']} | {p['hours']:.2f} | {p['share_of_bytes']:.1%} |"
                for p in priv["commercially_licensed_by_rightsholders"]]
    else:
        out.append("None used.")
    out += ["", "### 2.3 Data crawled and scraped from online sources", ""]
    if web["used"]:
        out += [f"- Crawler: {web['crawler']['name']} (<{web['crawler']['information']}>): {web['crawler']['behaviour']}",
                f"- Content: {web['content']}",
                f"- Size: {_plural(web['items'], 'clip')}, {_fmt_hours(web['hours'])}, {web['share_of_bytes']:.1%} of the "
                "bytes",
                f"- Collection period: {web['collection_period']['min']} to {web['collection_period']['max']}",
                f"- Domains: {web['domains']}; listed: {web['top_domains_rule']}", "",
                "| Domain | Clips | Bytes | Share of crawled bytes |", "|---|---|---|---|"]
        out += [f"| {_md(d['domain'])} | {d['items']} | {_fmt_bytes(d['bytes'])} | {d['share_of_crawled_bytes']:.1%} |"
                for d in web["top_domains"]]
    else:
        out.append("None used.")
    out += ["", "### 2.4 User data", "", "None used: ClearFrame collects no data from users of any service.", "",
            "### 2.5 Synthetic data", "", "None used.", "", "### 2.6 Other sources", ""]
    out += [f"- {_md(o['source'])} ({_md(o['kind'])}): {o['items']} clips" for o in ds["other"]["sources"]] or ["None."]
    out += ["", "### Licences", "", "| Licence | Clips | Hours | Share of clips |", "|---|---|---|---|"]
    out += [f"| {_md(x['license'])} | {x['items']} | {x['hours']:.2f} | {x['share_of_items']:.1%} |"
            for x in s["licences"]]
    rr = dp["reservation_of_rights"]
    out += ["", "## 3. Data processing", "", "### 3.1 Respect of reservations of rights (text and data mining opt-outs)",
            "", f"{_sentence(rr['measures'])}. Policy version {rr['policy_version']}; "
            f"{rr['candidates_considered']} candidates considered, {rr['excluded_by_reservations']} excluded by a "
            "reservation. A signal that found nothing may leave no finding (the registry records only its hits).",
            "", "| Signal | What it is | Candidates with a finding | Excluded |", "|---|---|---|---|"]
    out += [f"| {_md(x['signal'])} | {_md(x['description'], 300)} | {x['candidates_with_a_finding']} | "
            f"{x['candidates_excluded']} |"
            for x in rr["signals"]]
    out += ["", "### 3.2 Removal of illegal content", "", _sentence(dp["removal_of_illegal_content"]["measures"]) + ".", ""]
    return "\n".join(out)


# the card ---------------------------------------------------------------------------------------------


def render_card(manifest: dict[str, Any], stats: dict[str, Any], summary: dict[str, Any], attributed: int) -> str:
    m, c = manifest, manifest["consent"]
    name, v = m["dataset"], m["version"]
    added = m["added"]
    parent = f"v{m['parent']} plus {added['members']} new clips" if m["parent"] else "the first version"
    d = stats["duration_s"] or {}
    out = [
        f"# Dataset card: {name} v{v}", "",
        f"{_plural(m['members'], 'video clip')}, {_fmt_hours(m['hours'])}, {_fmt_bytes(m['bytes'])} of media in "
        f"{_plural(len(m['shards']), 'WebDataset shard')}. Published {m['created_at']}; {parent}. Every clip passed "
        "ClearFrame's licence and consent gate on its metadata before a byte of it was fetched.", "",
        "## Loading it", "",
        "```python",
        "import pyarrow.dataset as ds",
        "import webdataset as wds",
        "",
        f"root = '/path/to/datasets/{name}/'  # a copy of this dataset's folder (webdataset also reads https://)",
        f"urls = [root + line for line in open(root + 'v{v}/shards.txt').read().split()]",
        "for sample in wds.WebDataset(urls, shardshuffle=False):",
        "    video, meta = sample['mp4'], sample['json']  # meta: licence, attribution, source, sha256",
        "",
        f"index = ds.dataset(root + 'v{v}/index.parquet').to_table()  # one row per clip: shard, offset, size, ...",
        "```", "",
        "Each row of `index.parquet` gives the clip's byte range (`offset`, `size`) inside its shard, so one "
        "clip can be read with a ranged GET. `SHA256SUMS` checks every file of the version, shards included.", "",
        "## What is in it", "",
        "| | |", "|---|---|",
        f"| Clips | {m['members']} ({stats['with_audio']} with audio) |",
        f"| Duration | {_fmt_hours(m['hours'])}; per clip min {d.get('min', 0):.1f} s, median {d.get('median', 0):.1f} s, "
        f"max {d.get('max', 0):.1f} s |",
        f"| Resolutions | {_md(_top(stats['resolution']))} |",
        f"| Frame rates | {_md(_top(stats['fps']))} |",
        f"| Codecs | {_md(_top(stats['codecs']))} |",
        f"| New in this version | {_plural(added['members'], 'clip')}, {_fmt_bytes(added['bytes'])}, "
        f"{_plural(len(added['shards']), 'shard')} |",
        f"| Duplicates skipped | {m['skipped_duplicates']['total']} (already in an earlier version: "
        f"{m['skipped_duplicates']['in_earlier_version']}; same content under another key: "
        f"{m['skipped_duplicates']['same_sha256_in_run']}; repeated rows: {m['skipped_duplicates']['repeated_in_run']}) |",
        "", "## Where it came from", "",
        "| Source | Kind | Basis | Clips | Hours | Description |", "|---|---|---|---|---|---|",
    ]
    for sname, s in m["sources"].items():
        acq = s.get("acquisition") or {}
        basis = (f"contract {acq.get('contract_id')}" + (" (covers AI training)" if acq.get("covers_training") else "")
                 if acq.get("basis") == "contract" else "open licence per item")
        out.append(f"| {_md(sname)} | {_md(s.get('kind'))} | {_md(basis)} | {s['members']} | {s['hours']:.2f} | "
                   f"{_md(s.get('description'), 300)} |")
    out += ["", "## Licences", "", "| Licence | Clips | Share |", "|---|---|---|"]
    out += [f"| {_md(x['license'])} | {x['items']} | {x['share_of_items']:.1%} |" for x in summary["licences"]]
    out += ["", f"{attributed} clips are under licences that ask for credit: see `ATTRIBUTION.md` "
            "(and `attribution.jsonl`). Each sample's `json` carries its licence and attribution line too.", "",
            "## How consent was checked", "",
            "Each candidate went through the gate on its metadata alone (no media bytes): a positive licence "
            "from the source's allowed set, or a partner contract covering AI training, was required; any "
            "reservation from any signal denied it (restrictions win across protocols, and within a protocol "
            "its own specification decides); a check that could not complete deferred it (fail closed); "
            "share-alike, no-derivatives and conflicting signals went to human review. Embedded C2PA and XMP "
            "rights were read after download, before staging, and the file was purged if they restricted. "
            f"Policy version {m['policy_version']}"
            + (f" (members decided under {', '.join(m['member_policy_versions'])})" if m["member_policy_versions"]
               else "") + ".", "",
            f"Findings over the {_plural(c['candidates'], 'candidate')} of these sources (ledger runs: "
            f"{_md(', '.join(c['runs']) or 'none', 400)}). Quiet checks leave no finding for some signals (the "
            "registry records only its hits):", ""]
    if c["signals"]:
        out += ["| Signal | What it is | Candidates with a finding | Findings by verdict |", "|---|---|---|---|"]
    for sname, s in c["signals"].items():
        verdicts = ", ".join(f"{k} {n}" for k, n in s["findings"].items())
        out.append(f"| {_md(sname)} | {_md(SIGNALS.get(sname, ''), 300)} | {s['candidates']} | {_md(verdicts)} |")
    if not c["candidates"]:
        out.append("**The ledger holds no rows for these sources and runs: this card cannot show how consent was "
                   "checked.** Check the storage root and the runs the version was built from.")
    if c.get("members_without_ledger_row"):
        out += ["", f"**{_plural(c['members_without_ledger_row'], 'member')} of this version have no ledger row** "
                "among the runs considered: their decisions cannot be shown here."]
    decisions = c["decisions"]
    out += ["", "## What was left out", ""]
    if decisions:
        out += [f"Of {_plural(c['candidates'], 'candidate')}: "
                + ", ".join(f"{k} {n}" for k, n in decisions.items()) + ".", ""]
    if c["not_admitted"]:
        out += ["| Decision | Reason | Candidates |", "|---|---|---|"]
        out += [f"| {x['decision']} | {_md(x['reason'])} | {x['items']} |" for x in c["not_admitted"]]
        out.append("")
        out.append("A candidate with several reasons is counted under each.")
    else:
        out.append("No candidate was denied, deferred or held for review.")
    if c["quarantined"]:
        out += ["", "Allowed but quarantined after download (never sharded):", "",
                "| Reason | Candidates |", "|---|---|"]
        out += [f"| {_md(x['reason'])} | {x['items']} |" for x in c["quarantined"]]
    if m["not_included"]["missing_staged"]:
        out += ["", f"{m['not_included']['missing_staged']} admitted clips had lost their staged copy and wait for "
                "their ingest batch to run again."]
    out += ["", "## Known limitations", ""]
    out += [f"- {line}" for line in _limitations(m, stats)]
    lr = m["ledger"]
    out += ["", "## Provenance", "",
            f"- Built from ledger runs {_md(', '.join(lr['member_runs']), 600)} (members decided "
            f"{lr['member_decided_at']['min']} to {lr['member_decided_at']['max']}); consent counts cover "
            f"{'all runs' if lr['runs_considered'] == 'all' else 'runs ' + _md(', '.join(lr['runs_considered']), 600)}"
            f" recorded {lr['recorded_at']['min'] or '—'} to {lr['recorded_at']['max'] or '—'}.",
            f"- Member digest (sha256 of the sorted `key sha256` lines): `{m['member_digest']}`",
            "- Files: `manifest.json` (the version; immutable), `index.parquet`, `shards.txt`, `stats.json`, "
            "`ATTRIBUTION.md`, `attribution.jsonl`, `PUBLIC_SUMMARY.md`, `public_summary.json`, `SHA256SUMS`.", ""]
    return "\n".join(out)


def _top(counts: dict[str, int], n: int = 5) -> str:
    ranked = sorted(counts.items(), key=lambda x: (-x[1], x[0]))
    shown = ", ".join(f"{k} ({v})" for k, v in ranked[:n])
    return shown + (f", {len(ranked) - n} more" if len(ranked) > n else "") if ranked else "—"


def _limitations(m: dict[str, Any], stats: dict[str, Any]) -> list[str]:
    out = [
        "Licences are what the publisher, platform or partner declared when the gate decided; ClearFrame does "
        "not verify that the declarant holds the rights.",
        "Opt-outs are honoured as of each clip's decision time. A reservation made later keeps the clip out of "
        "future ingests, but this version is immutable: removing a published clip needs a new version built "
        "without it (a takedown), which this release does not automate.",
        "Deduplication is exact (sha256 of the file). Re-encodes, crops and near-duplicates are not detected.",
        "Media checks are technical (decodable, within the source's duration, size and frame-rate bounds). "
        "Nobody reviewed what the clips depict: no screening for illegal or harmful content or for personal "
        "data such as faces and voices.",
    ]
    if stats["without_creator"]:
        out.append(f"{_plural(stats['without_creator'], 'clip')} name no creator: the source did not say who made "
                   "them.")
    if len(m["member_policy_versions"]) > 1:
        out.append(f"Members were decided under {len(m['member_policy_versions'])} policy versions "
                   f"({', '.join(m['member_policy_versions'])}); the gate's rules changed between them.")
    if stats["members"] and stats["with_audio"] < stats["members"]:
        out.append(f"{stats['members'] - stats['with_audio']} of {stats['members']} clips have no audio track.")
    return out
