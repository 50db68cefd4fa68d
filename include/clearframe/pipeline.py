"""The data flow for one source, executor-agnostic: the CLI runs it in-process, Airflow task by task.

    discover -> [batches] -> gate (probe inside) -> fetch -> inspect -> stage + batch manifest + ledger part
             -> shard (from batch manifests)

Only references cross stage boundaries that an orchestrator sees: a batch returns the storage keys of
its manifest and ledger part and its counts, never candidate lists or media.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clearframe.config import Settings, Source
from clearframe.evidence import EvidenceStore
from clearframe.fetch import Fetcher
from clearframe.gate import Gate, GateOutcome, optout_detail
from clearframe.gate.registry import Registry
from clearframe.inspect import MediaError, inspect_media
from clearframe.ledger import LedgerRow, ledger_key, write_ledger
from clearframe.net import HostPoliteness, SessionPool
from clearframe.probe import Prober
from clearframe.records import Candidate, Decision, Fetched, Finding, MediaInfo, Verdict
from clearframe.storage import Storage, open_storage

log = logging.getLogger("clearframe")

STATUS_FOR = {Decision.DENY: "denied", Decision.DEFER: "deferred", Decision.REVIEW: "review"}


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def batches(candidates: list[Candidate], size: int) -> list[list[Candidate]]:
    return [candidates[i : i + size] for i in range(0, len(candidates), size)]


def manifest_key(source: str, run_id: str, batch_id: str) -> str:
    return f"batches/{source}/run={run_id}/batch={batch_id}.jsonl"


def staged_key(dataset: str, key: str) -> str:
    return f"staging/{dataset}/{key}.mp4"


@dataclass
class Counts:
    candidates: int = 0
    allow: int = 0
    deny: int = 0
    defer: int = 0
    review: int = 0
    fetched: int = 0
    quarantined: int = 0
    already_sharded: int = 0
    sharded: int = 0
    bytes: int = 0

    def add(self, other: Counts) -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)


@dataclass
class BatchResult:
    batch_id: str
    counts: Counts
    manifest_key: str
    ledger_key: str


@dataclass
class RunResult:
    run_id: str
    counts: Counts = field(default_factory=Counts)
    batches: list[BatchResult] = field(default_factory=list)
    curation: CurationReport | None = None


def attribution(title: str | None, creator: str | None, spdx: str | None, url: str | None) -> str:
    what = f'"{title}"' if title else "Untitled"
    who = f" by {creator}" if creator else ""
    return f"{what}{who}, {spdx or 'licence unknown'}, {url or ''}".rstrip(", ")


def within_bounds(info: MediaInfo, source: Source) -> str | None:
    b = source.media
    checks = [
        (b.min_duration_s <= info.duration <= b.max_duration_s, f"duration {info.duration:.2f}s"),
        (b.min_width <= info.width <= b.max_width, f"width {info.width}"),
        (b.min_height <= info.height <= b.max_height, f"height {info.height}"),
        (b.min_fps <= info.fps <= b.max_fps, f"fps {info.fps:.2f}"),
    ]
    bad = [what for ok, what in checks if not ok]
    return f"outside the source's media bounds: {', '.join(bad)}" if bad else None


class Context:
    """Everything a batch needs, built once per process (CLI run or Airflow task)."""

    def __init__(self, source: Source, settings: Settings, storage: Storage | None = None):
        from clearframe.gate.aitxt import AiTxtFetcher
        from clearframe.gate.robots import RobotsChecker
        from clearframe.gate.tdmrep import TdmRepFetcher

        self.source = source
        self.settings = settings
        self.storage = storage or open_storage(settings.storage)
        self.registry = Registry(settings.registry_url)
        self.evidence = EvidenceStore(self.storage)
        self.sessions = SessionPool(settings.user_agent)
        self.hosts = HostPoliteness(source.fetch.per_host)
        opts = source.fetch
        self.robots = RobotsChecker(self.sessions.get, settings.product_token, store_evidence=self.evidence.put,
                                    timeout=opts.timeout_s)
        self.prober = Prober(self.sessions, self.hosts, timeout=opts.timeout_s, max_retries=opts.max_retries,
                             max_retry_after=opts.max_retry_after_s, store_evidence=self.evidence.put)
        self.tdmrep = TdmRepFetcher(self.sessions.get, store_evidence=self.evidence.put, timeout=opts.timeout_s)
        self.aitxt = AiTxtFetcher(self.sessions.get, settings.product_token, store_evidence=self.evidence.put,
                                  timeout=opts.timeout_s)
        self.gate = Gate(source, self.registry, self.prober, self.robots.check, self.hosts, workers=opts.workers,
                         product_token=settings.product_token, tdmrep=self.tdmrep, aitxt=self.aitxt)
        self.work_dir = settings.work_dir / source.name / secrets.token_hex(4)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.fetcher = Fetcher(self.sessions, self.hosts, self.work_dir, opts)

    def close(self) -> None:
        self.sessions.close()
        self.registry.close()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Item:
    outcome: GateOutcome
    status: str
    extra: list[Finding] = field(default_factory=list)
    fetched: Fetched | None = None
    media: MediaInfo | None = None
    quarantine: str | None = None

    @property
    def decision(self) -> Decision:
        if any(f.verdict is Verdict.DENY for f in self.extra):
            return Decision.DENY
        # What happened after the gate (a fetch that could not complete, embedded rights read after download)
        # can hold an allowed item back for a later run or a human: the ledger's decision says so.
        late = {f.verdict for f in self.extra}
        if Verdict.DEFER in late:
            return Decision.DEFER
        if Verdict.REVIEW in late:
            return Decision.REVIEW
        return self.outcome.result.decision


def _fetch_and_inspect(ctx: Context, item: _Item) -> None:
    c, probe = item.outcome.candidate, item.outcome.probe
    got = ctx.fetcher.fetch(c, probe)
    if isinstance(got, Finding):
        item.extra.append(got)
        item.status = "deferred" if got.verdict is Verdict.DEFER else "quarantined"
        item.quarantine = got.detail if item.status == "quarantined" else None
        return
    item.fetched = got
    try:
        item.media = inspect_media(got.path)
        item.quarantine = within_bounds(item.media, ctx.source)
    except MediaError as exc:
        item.quarantine = str(exc)
    item.status = "quarantined" if item.quarantine else "admitted"
    if item.status == "admitted":
        _embedded_rights(ctx, item)


def _embedded_rights(ctx: Context, item: _Item) -> None:
    """C2PA / CAWG training-mining and XMP plus:DataMining in the file itself, before it is staged.

    A restriction purges the file: it is never staged, quarantined or sharded, and the ledger says why.
    REVIEW and DEFER purge it too (a reviewer's decision or a later run fetches it again).
    """
    from clearframe.gate.embedded import embedded_findings

    assert item.fetched is not None
    c = item.outcome.candidate
    findings = embedded_findings(item.fetched.path, contract_id=c.contract_id, store_evidence=ctx.evidence.put)
    for i, f in enumerate(findings):
        # The file's manifest lives elsewhere (C2PA 2.2 §15.5.3.1): fetch that store politely and judge it.
        if f.signal == "c2pa" and f.verdict is Verdict.DEFER and (f.rule or "").startswith("dcterms:provenance "):
            remote = f.rule.split(" ", 1)[1]  # type: ignore[union-attr]
            if remote.startswith(("http://", "https://")):
                findings[i] = ctx.gate.remote_manifest(c, remote, f"{item.fetched.media_url} (dcterms:provenance)")
    item.extra.extend(findings)
    worst = {f.verdict for f in findings}
    for verdict, status in ((Verdict.DENY, "denied"), (Verdict.DEFER, "deferred"), (Verdict.REVIEW, "review")):
        if verdict in worst:
            item.status, item.quarantine = status, None
            Path(item.fetched.path).unlink(missing_ok=True)
            item.extra.append(Finding("embedded", Verdict.NONE, f"{item.fetched.sha256}: file purged after "
                                      f"download because its embedded rights say {verdict}; never staged",
                                      locator=item.fetched.media_url))
            return


def _quarantine(ctx: Context, item: _Item, run_id: str) -> None:
    """Keep the rejected file and why, for a human to look at; never in a shard."""
    c = item.outcome.candidate
    base = f"quarantine/{c.source}/run={run_id}/{c.key}"
    if item.fetched:
        ctx.storage.put_file(item.fetched.path, f"{base}.media")
    ctx.storage.put_bytes(f"{base}.json", json.dumps({"key": c.key, "canonical_id": c.canonical_id,
                                                      "reason": item.quarantine}, indent=1).encode())


def run_batch(ctx: Context, candidates: list[Candidate], run_id: str, batch_id: str, *, dry_run: bool = False,
              sharded: set[str] | None = None) -> BatchResult:
    """Gate, fetch and inspect one batch; stage admitted media; write its manifest and ledger part."""
    src = ctx.source
    outcomes = ctx.gate.evaluate(candidates)
    if sharded is None:
        from clearframe.dataset import published_keys

        sharded = published_keys(ctx.storage, src.dataset_name)
    items = [_Item(o, STATUS_FOR.get(o.result.decision, "allowed")) for o in outcomes]
    to_fetch = []
    for it in items:
        if it.outcome.result.decision is Decision.ALLOW:
            if it.outcome.candidate.key in sharded:
                it.status = "already-sharded"
            elif dry_run:
                it.status = "dry-run"
            else:
                to_fetch.append(it)
    if to_fetch:
        with ThreadPoolExecutor(max_workers=src.fetch.workers, thread_name_prefix="cf-fetch") as pool:
            list(pool.map(lambda it: _fetch_and_inspect(ctx, it), to_fetch))
        # Opt-outs by content hash can only be checked now; a match is purged, never staged.
        got = [it for it in to_fetch if it.fetched]
        hits = ctx.registry.lookup({"hash": [it.fetched.sha256 for it in got]})  # type: ignore[union-attr]
        for it in got:
            assert it.fetched
            e = hits.get(("hash", it.fetched.sha256))
            if e:
                it.extra.append(Finding("registry", Verdict.DENY,
                                        f"{optout_detail('hash', it.fetched.sha256, e)}; file purged",
                                        rule="optout:hash", locator=f"registry:hash:{it.fetched.sha256}"))
                it.status, it.quarantine = "denied", None
                Path(it.fetched.path).unlink(missing_ok=True)

    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    counts = Counts(candidates=len(items))
    manifest_lines: list[str] = []
    rows: list[LedgerRow] = []
    for it in items:
        c, probe, res = it.outcome.candidate, it.outcome.probe, it.outcome.result
        lic = res.license
        if it.fetched:
            counts.fetched += 1
        if it.status == "quarantined":
            counts.quarantined += 1
            _quarantine(ctx, it, run_id)
        elif it.status == "admitted" and it.fetched and it.media:
            ctx.storage.put_file(it.fetched.path, staged_key(src.dataset_name, c.key))
            counts.bytes += it.fetched.bytes
            manifest_lines.append(json.dumps({
                "key": c.key, "staged": staged_key(src.dataset_name, c.key), "source": c.source,
                "canonical_id": c.canonical_id, "url": c.url, "media_url": probe.media_url or c.url,
                "title": probe.title or c.title, "creator": probe.creator or c.creator,
                "license_spdx": lic.spdx if lic else None, "license_raw": lic.raw if lic else None,
                "license_found_in": lic.found_in if lic else None, "contract_id": c.contract_id,
                "attribution": attribution(probe.title or c.title, probe.creator or c.creator,
                                           lic.spdx if lic else None, c.url if c.kind != "delivery" else None),
                "sha256": it.fetched.sha256, "bytes": it.fetched.bytes, "media": asdict(it.media),
                "decision": str(it.decision), "policy_version": res.policy_version,
                "decided_at": res.decided_at, "run_id": run_id,
            }, sort_keys=True))
        if it.fetched:
            Path(it.fetched.path).unlink(missing_ok=True)
        decision = it.decision
        counts_attr = {Decision.ALLOW: "allow", Decision.DENY: "deny", Decision.DEFER: "defer",
                       Decision.REVIEW: "review"}[decision]
        setattr(counts, counts_attr, getattr(counts, counts_attr) + 1)
        if it.status == "already-sharded":
            counts.already_sharded += 1
        # Every finding, quiet ones too: the ledger shows what was checked, not only what objected.
        reasons = [f.to_dict() for f in [*res.findings, *it.extra]]
        rows.append(LedgerRow(
            run_id=run_id, batch_id=batch_id, source=c.source, key=c.key, canonical_id=c.canonical_id,
            locator=c.locator, url=c.url, media_url=probe.media_url, decision=str(decision), status=it.status,
            reasons=reasons, license_raw=lic.raw if lic else None, license_spdx=lic.spdx if lic else None,
            license_found_in=lic.found_in if lic else None, creator=probe.creator or c.creator,
            title=probe.title or c.title, contract_id=c.contract_id, policy_version=res.policy_version,
            decided_at=res.decided_at, recorded_at=now,
            evidence=sorted({f.evidence for f in [*res.findings, *it.extra] if f.evidence}),
            sha256=it.fetched.sha256 if it.fetched else None, bytes=it.fetched.bytes if it.fetched else None,
            quarantine_reason=it.quarantine,
        ))
    mkey = manifest_key(src.name, run_id, batch_id)
    # Manifest first, ledger second: a ledger part never names staged media that is not listed.
    ctx.storage.put_bytes(mkey, ("\n".join(manifest_lines) + ("\n" if manifest_lines else "")).encode())
    lkey = ledger_key(src.name, run_id, batch_id)
    write_ledger(ctx.storage, lkey, rows)
    log.info("batch %s: %s", batch_id, " ".join(f"{k}={v}" for k, v in asdict(counts).items()))
    return BatchResult(batch_id, counts, mkey, lkey)


def read_manifest(storage: Storage, key: str) -> list[dict[str, Any]]:
    text = storage.get_bytes(key).decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_source(source: Source, settings: Settings, *, limit: int | None = None, batch_size: int | None = None,
               dry_run: bool = False, storage: Storage | None = None,
               on_progress: Callable[[int], None] | None = None,
               on_discovered: Callable[[int], None] | None = None) -> RunResult:
    from clearframe.dataset import published_keys
    from clearframe.sources import discover

    result = RunResult(run_id=new_run_id())
    if not dry_run:
        # Great Expectations takes seconds to import: load it while the network work runs. SQLAlchemy's ORM
        # has circular imports that two threads can meet half-initialised ("partially initialized module
        # 'sqlalchemy.orm.exc'", seen when the registry's first query raced GX's import): it is imported
        # here first, so the thread finds it whole.
        import sqlalchemy.orm  # noqa: F401

        threading.Thread(target=_preload_validation, name="cf-gx-import", daemon=True).start()
    with Context(source, settings, storage) as ctx:
        candidates = discover(source, settings, store_evidence=ctx.evidence.put, url_check=ctx.gate.check_list_url)
        if limit is not None:
            candidates = candidates[:limit]
        if on_discovered:
            on_discovered(len(candidates))
        sharded = published_keys(ctx.storage, source.dataset_name)
        for n, batch in enumerate(batches(candidates, batch_size or source.batch_size)):
            br = run_batch(ctx, batch, result.run_id, f"{n:05d}", dry_run=dry_run, sharded=sharded)
            result.batches.append(br)
            result.counts.add(br.counts)
            if on_progress:
                on_progress(len(batch))
        if not dry_run:
            result.curation = curate([source], settings, [b.manifest_key for b in result.batches], result.run_id,
                                     storage=ctx.storage)
            result.counts.quarantined += result.curation.quarantined
            result.counts.sharded = result.curation.version.added if result.curation.version else 0
    return result


def _preload_validation() -> None:
    try:
        import clearframe.validate as v

        v._gx()  # noqa: SLF001 - the one place that imports great_expectations
    except Exception:  # the real import, later, reports any problem
        log.debug("preloading great_expectations failed", exc_info=True)


# -- steps for an orchestrator: each takes and returns references only ------------------------------


def candidates_key(source: str, run_id: str, batch_id: str) -> str:
    return f"runs/{source}/run={run_id}/candidates/batch={batch_id}.jsonl"


def plan_batches(source: Source, settings: Settings, run_id: str, *, limit: int | None = None,
                 batch_size: int | None = None, storage: Storage | None = None) -> list[dict[str, Any]]:
    """Discover, then write each batch's candidates to storage; return one small reference per batch."""
    from clearframe.evidence import EvidenceStore
    from clearframe.sources import discover

    store = storage or open_storage(settings.storage)
    if source.kind == "ytdlp":  # list pages are requested: they pass the gate's origin checks first
        with Context(source, settings, store) as ctx:
            candidates = discover(source, settings, store_evidence=ctx.evidence.put,
                                  url_check=ctx.gate.check_list_url)
    else:
        candidates = discover(source, settings, store_evidence=EvidenceStore(store).put)
    if limit is not None:
        candidates = candidates[:limit]
    refs = []
    for n, batch in enumerate(batches(candidates, batch_size or source.batch_size)):
        batch_id = f"{n:05d}"
        key = candidates_key(source.name, run_id, batch_id)
        store.put_bytes(key, "".join(json.dumps(c.to_dict(), sort_keys=True) + "\n" for c in batch).encode())
        refs.append({"batch_id": batch_id, "candidates_key": key, "count": len(batch)})
    return refs


def run_batch_ref(source: Source, settings: Settings, run_id: str, ref: dict[str, Any], *, dry_run: bool = False,
                  per_host: int | None = None) -> dict[str, Any]:
    """One batch from its stored candidate list. Re-running it (a task retry) rewrites the same keys."""
    if per_host is not None:
        source = source.model_copy(update={"fetch": source.fetch.model_copy(update={"per_host": per_host})})
    with Context(source, settings) as ctx:
        lines = ctx.storage.get_bytes(ref["candidates_key"]).decode("utf-8").splitlines()
        cands = [Candidate.from_dict(json.loads(line)) for line in lines if line.strip()]
        result = run_batch(ctx, cands, run_id, ref["batch_id"], dry_run=dry_run)
    return {"batch_id": result.batch_id, "manifest_key": result.manifest_key, "ledger_key": result.ledger_key,
            "counts": asdict(result.counts)}


def settled_key(manifest_key_: str) -> str:
    """Where curation records that a batch manifest is settled (published, or quarantined by validation):
    `batches/<source>/run=<id>/batch=<n>.jsonl` -> `curated/<source>/run=<id>/batch=<n>.json`."""
    if not (manifest_key_.startswith("batches/") and manifest_key_.endswith(".jsonl")):
        raise ValueError(f"not a batch manifest key: {manifest_key_!r} (expected batches/<source>/run=<id>/"
                         "batch=<n>.jsonl)")
    return "curated/" + manifest_key_[len("batches/"):-len(".jsonl")] + ".json"


def mark_settled(store: Storage, manifest_keys: Iterable[str], *, outcome: str, run_id: str,
                 version: int | None = None) -> None:
    """Record that these batch manifests need no more curation (written after the outcome is durable)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for key in manifest_keys:
        store.put_bytes(settled_key(key), json.dumps({"manifest": key, "outcome": outcome, "curate_run": run_id,
                                                      "version": version, "at": now}, sort_keys=True).encode())


def pending_manifests(settings: Settings, source_names: list[str], *, storage: Storage | None = None) -> list[str]:
    """The batch manifests of these sources that curation has not settled yet.

    Curation does not rely on asset events alone: Airflow folds an event that arrives while a run of the
    curate DAG is being queued into the *next* run, so a curate run takes the manifests its events name
    plus every one still pending. Items already in a published version are skipped by publication."""
    store = storage or open_storage(settings.storage)
    pending = []
    for name in source_names:
        settled = {k for k in store.list(f"curated/{name}/") if k.endswith(".json")}
        pending += [k for k in store.list(f"batches/{name}/") if k.endswith(".jsonl") and settled_key(k) not in settled]
    return pending


# -- curation: validate the batch manifests, then publish a dataset version ------------------------------


@dataclass
class CurationReport:
    dataset: str
    run_id: str
    manifests: int = 0
    passed: list[str] = field(default_factory=list)  # batch manifest keys that passed validation
    blocked: list[dict[str, Any]] = field(default_factory=list)  # {manifest, items, reasons, docs}
    quarantined: int = 0
    docs: list[str] = field(default_factory=list)  # Data Docs URIs of every validation of this run
    version: Any = None  # dataset.VersionReport


def _quarantine_staged(store: Storage, item: dict[str, Any], run_id: str, reason: str, work: Path) -> None:
    """A validated-out item: its staged media and why, under quarantine/, and no longer staged."""
    base = f"quarantine/{item['source']}/run={run_id}/{item['key']}"
    staged = item.get("staged")
    if staged and store.exists(staged):
        tmp = work / f"{item['key']}.media"
        store.download(staged, tmp)
        store.put_file(tmp, f"{base}.media")
        tmp.unlink(missing_ok=True)
        store.delete(staged)
    store.put_bytes(f"{base}.json", json.dumps({"key": item["key"], "canonical_id": item.get("canonical_id"),
                                                "reason": reason}, indent=1).encode())


def _run_of(manifest_key_: str) -> str:
    """(source, run) of a batch manifest key `batches/<source>/run=<id>/batch=<n>.jsonl`."""
    parts = manifest_key_.split("/")
    return "/".join(parts[1:3]) if len(parts) >= 4 and parts[2].startswith("run=") else manifest_key_


def validate_manifests(sources: list[Source], settings: Settings, manifest_keys: list[str], run_id: str, *,
                       storage: Storage | None = None) -> CurationReport:
    """The batch-manifest gate of curation (Great Expectations): a batch that fails a `fail` expectation
    is not curated; each of its items goes to quarantine with the failed expectations as the reason.

    The batches of one ingest run are validated in one pass (GX has a fixed cost of about a second per
    validation): their keys are unique across the run, as discovery de-duplicates candidates, so
    uniqueness over the pass is uniqueness per batch plus across batches. A failure on some rows blocks
    the batches holding those rows; a table-level failure blocks every batch of the pass.
    """
    from clearframe.validate import validate_manifest

    dataset = sources[0].dataset_name
    store = storage or open_storage(settings.storage)
    by_name = {s.name: s for s in sources}
    report = CurationReport(dataset, run_id)
    work = settings.work_dir / f"curate-{dataset}" / secrets.token_hex(4)
    work.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list[str]] = {}
    for key in manifest_keys:
        groups.setdefault(_run_of(key), []).append(key)
    registry = Registry(settings.registry_url)
    try:
        for group, keys in groups.items():
            batches = {k: read_manifest(store, k) for k in keys}
            report.manifests += len(keys)
            items = [it for k in keys for it in batches[k]]
            if not items:
                report.passed.extend(keys)
                continue
            src = by_name.get(items[0]["source"]) or sources[0]
            res = validate_manifest(items, src, registry, storage=store, run_id=run_id, work_dir=work,
                                    batch_id=group.replace("/", "-"), severity=dict(src.validation.severity) or None)
            log.info("%s", res.summary)
            if res.docs_uri:
                report.docs.append(res.docs_uri)
            failed = [o for o in res.results if not o.success and o.severity == "fail"]
            everything = any(not o.keys for o in failed)
            bad_keys = {k for o in failed for k in o.keys}
            for key in keys:
                blocked = not res.passed and (everything or any(it["key"] in bad_keys for it in batches[key]))
                if not blocked:
                    report.passed.append(key)
                    continue
                for it in batches[key]:
                    why = res.reason(it["key"]) or f"failed validation (manifest): {', '.join(o.name for o in failed)}"
                    _quarantine_staged(store, it, run_id, f"{why} (Data Docs: {res.docs_uri})", work)
                report.quarantined += len(batches[key])
                report.blocked.append({"manifest": key, "items": len(batches[key]), "docs": res.docs_uri,
                                       "failed": sorted({o.name for o in failed})})
                mark_settled(store, [key], outcome="quarantined", run_id=run_id)
    finally:
        registry.close()
        shutil.rmtree(work, ignore_errors=True)
    return report


def publish_dataset(sources: list[Source], settings: Settings, manifest_keys: list[str], run_id: str, *,
                    storage: Storage | None = None, report: CurationReport | None = None) -> CurationReport:
    """Shard the validated items and publish the dataset's next version (dataset.publish_version), after
    the shard-index and whole-version expectations pass; a failure publishes nothing."""
    from clearframe import POLICY_VERSION
    from clearframe.dataset import DatasetError, latest_version, publish_version
    from clearframe.validate import validate_index, validate_version

    dataset = sources[0].dataset_name
    store = storage or open_storage(settings.storage)
    report = report or CurationReport(dataset, run_id)
    per_manifest = {k: read_manifest(store, k) for k in manifest_keys}
    items = [it for k in manifest_keys for it in per_manifest[k]]
    work = settings.work_dir / f"publish-{dataset}" / secrets.token_hex(4)
    work.mkdir(parents=True, exist_ok=True)
    registry = Registry(settings.registry_url)
    severity = {k: v for s in sources for k, v in s.validation.severity.items()} or None

    def before_commit(members: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        version = (latest_version(store, dataset) or 0) + 1
        fresh = members.filter(pc.is_in(members.column("key"), value_set=pa.array(sorted({it["key"] for it in items}))))
        # The version suite holds every index expectation: when the new shards are the whole version (the
        # first one), validating their rows twice would repeat the same checks on the same rows.
        shards = sorted(set(fresh.column("shard").to_pylist())) if fresh.num_rows < members.num_rows else []
        for shard in shards:
            rows = fresh.filter(pc.equal(fresh.column("shard"), shard))
            ir = validate_index(rows, sources, registry, storage=store, run_id=run_id, work_dir=work,
                                shard=shard, dataset=dataset, severity=severity)
            log.info("%s", ir.summary)
            report.docs.append(ir.docs_uri)
            if not ir.passed:
                raise DatasetError(f"shard {shard} of {dataset!r} failed validation; nothing published. "
                                   f"See {ir.docs_uri}")
        vr = validate_version(members, sources, registry, storage=store, run_id=run_id, work_dir=work,
                              version=f"v{version}", dataset=dataset, severity=severity)
        log.info("%s", vr.summary)
        report.docs.append(vr.docs_uri)
        if not vr.passed:
            raise DatasetError(f"version {version} of {dataset!r} failed validation; nothing published. "
                               f"See {vr.docs_uri}")

    try:
        report.version = publish_version(store, dataset, items, target_bytes=int(sources[0].shard.target_bytes),
                                         sources=sources, policy_version=POLICY_VERSION, now=None,
                                         before_commit=before_commit)
        # A manifest with an item whose staged copy is gone stays pending: re-running its ingest batch
        # stages the item again and the next curation picks it up.
        missing = set(report.version.missing_staged)
        done = [k for k in manifest_keys if not any(it["key"] in missing for it in per_manifest[k])]
        mark_settled(store, done, outcome="published", run_id=run_id, version=report.version.version or
                     report.version.latest)
    finally:
        registry.close()
        shutil.rmtree(work, ignore_errors=True)
    return report


def curate(sources: list[Source], settings: Settings, manifest_keys: list[str], run_id: str, *,
           storage: Storage | None = None) -> CurationReport:
    """Validate the batch manifests, then publish what passed as the dataset's next version."""
    report = validate_manifests(sources, settings, manifest_keys, run_id, storage=storage)
    return publish_dataset(sources, settings, report.passed, run_id, storage=storage, report=report)
