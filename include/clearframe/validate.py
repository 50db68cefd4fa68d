"""Validate: Great Expectations suites as blocking gates, one suite per stage.

    fetch -> [batch manifest] -> validate_manifest -> shard -> [shard index] -> validate_index
          -> [all index rows of a version] -> validate_version -> publish

Each suite is built in code from the source files (licence policy, media bounds, acquisition basis) and
the opt-out registry as it is *at validation time*. A row-level expectation names the rows it failed (by
their `key`), so a report can say which items broke what. Severity is `fail` or `warn` per expectation,
set in one table (`SEVERITY`, overridable per call). Blocking is literal: if any `fail` expectation
fails, the whole batch fails and every one of its items goes to quarantine with the failed expectations
as the reason (`ValidationReport.failing_keys`); `warn` failures are reported and block nothing.

Great Expectations is imported inside functions only: it costs ~5 s and imports a deprecated stdlib
module. Its context is ephemeral (in-memory stores, analytics off) and its one Data Docs site is a folder
inside the caller's work dir; nothing is written anywhere else. The result JSON, the Data Docs HTML (the
pages and the static files they reference) and ClearFrame's own report are then uploaded to
`validation/<dataset>/run=<run_id>/<stage>/[<label>/]`, `report.json` last: a folder without it is an
interrupted upload, not a result.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import shutil
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from clearframe.config import Source
from clearframe.gate import licenses
from clearframe.gate.basis import contract_authorises
from clearframe.gate.registry import Registry, domain_suffixes, normalize
from clearframe.records import LicenseInfo, Verdict
from clearframe.sources.urllist import check_url
from clearframe.storage import Storage

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("clearframe")

Severity = Literal["fail", "warn"]
Stage = Literal["manifest", "index", "version"]

# One place for severity. Keys are expectation families; an override may name a family ("media_bounds")
# or one expectation id ("media_bounds.fps"), and the exact id wins over its family.
SEVERITY: dict[str, Severity] = {
    "schema": "fail",  # the stage's required columns are present
    "types": "fail",  # each column's values have the right Python type (nulls are `required`'s business)
    "required": "fail",  # identifying and media fields are not null
    "format": "fail",  # key and sha256 look like what ClearFrame writes
    "source_known": "fail",  # every row belongs to a source whose file was given (its rules apply)
    "license": "fail",  # an SPDX licence from an allowed bucket, or a contract that covers training
    "decision_allow": "fail",  # the gate's decision was ALLOW
    "unique_key": "fail",
    "unique_sha256": "fail",
    "media_bounds": "fail",  # duration, width, height, fps within the source file's `media` bounds
    "optout_fresh": "fail",  # the opt-out checks are younger than the maximum age
    "optout_registry": "fail",  # nothing matches the opt-out registry as it is now
    "index_ranges": "fail",  # byte ranges of the shard index are sane and do not overlap
    "attribution": "warn",  # a licence that requires attribution has a creator to credit
}

# How old an item's opt-out checks (its gate decision, `decided_at`) may be when it is validated.
# A source file overrides it with `validation.max_optout_age_days`.
DEFAULT_MAX_OPTOUT_AGE = dt.timedelta(days=30)
# A decision stamped slightly in the future is clock skew between workers, not a forged timestamp.
CLOCK_SKEW = dt.timedelta(minutes=5)

METRICS = ("duration", "width", "height", "fps")
_STR, _INT, _NUM, _BOOL = ["str"], ["int"], ["float", "int"], ["bool"]
_KEY_RE = r"^[0-9a-f]{24}$"
_SHA256_RE = r"^[0-9a-f]{64}$"
_BY_RE = re.compile(r"(?:^|-)BY(?:-|$)", re.IGNORECASE)  # CC licences with the attribution element
_SITE = "clearframe"
_STATIC_RE = re.compile(r"static/[A-Za-z0-9_./-]+")

# Columns per stage: name -> (accepted Python types, must be non-null).
MANIFEST_COLUMNS: dict[str, tuple[list[str], bool]] = {
    "key": (_STR, True), "staged": (_STR, True), "source": (_STR, True), "canonical_id": (_STR, True),
    "url": (_STR, False), "media_url": (_STR, False), "title": (_STR, False), "creator": (_STR, False),
    "license_spdx": (_STR, False), "license_raw": (_STR, False), "license_found_in": (_STR, False),
    "contract_id": (_STR, False), "attribution": (_STR, False), "sha256": (_STR, True), "bytes": (_INT, True),
    "decision": (_STR, True), "policy_version": (_STR, True), "decided_at": (_STR, True), "run_id": (_STR, True),
    # from the manifest's `media` object, flattened under the shard index's names
    "duration": (_NUM, True), "width": (_INT, True), "height": (_INT, True), "fps": (_NUM, True),
}
# What validate needs in the shard index besides the columns every index has: the gate's decision, its
# time and a contract basis. shard.INDEX_SCHEMA carries them (its columns and types are read from there);
# an index written without them fails `schema`.
INDEX_EXTRA_COLUMNS: dict[str, tuple[list[str], bool]] = {
    "decision": (_STR, True), "decided_at": (_STR, True), "policy_version": (_STR, True),
    "contract_id": (_STR, False),
}
_INDEX_REQUIRED_NON_NULL = {"key", "shard", "offset", "size", "json_offset", "json_size", "sha256", "source",
                            "canonical_id", "run_id", *METRICS,
                            *(name for name, (_, required) in INDEX_EXTRA_COLUMNS.items() if required)}
_OPTIONAL_IDS = {"channel": _STR, "video_id": _STR}  # checked against the registry when present

# Derived columns, computed here before GX runs (GX then checks and reports them like any other).
ROW = "_row"
LICENSE_BASIS = "license_basis"
OPTOUT_AGE = "optout_check_age_days"
OPTOUT_HIT = "optout_registry_hit"
ATTRIBUTION_REQUIRED = "attribution_required"


class ValidationError(ValueError):
    """The call itself is wrong (unknown severity name, sources of several datasets...)."""


@dataclass
class ExpectationOutcome:
    """One expectation's result: id (`family.detail`), its severity, and which rows failed it."""

    name: str
    severity: Severity
    success: bool
    expectation_type: str
    column: str | None = None
    source: str | None = None  # for per-source expectations (licence set, media bounds)
    element_count: int | None = None
    unexpected_count: int | None = None
    detail: str = ""  # a few unexpected values, the observed value, or the error
    error: str | None = None  # the expectation could not be evaluated (counts as failed)
    keys: list[str] = field(default_factory=list)  # keys of the rows it failed; [] for table-level


@dataclass
class ValidationReport:
    passed: bool
    stage: Stage
    dataset: str
    run_id: str
    label: str | None
    rows: int
    results: list[ExpectationOutcome]
    # Only when the batch failed: every item's key -> why it goes to quarantine: first the expectation ids
    # it failed itself, then "batch:<id>" for every other blocking failure of the batch (row-level ones of
    # other items, table-level ones, and any that could not be evaluated).
    failing_keys: dict[str, list[str]]
    warnings: dict[str, list[str]]  # key -> warn-severity expectation ids it failed (never blocks)
    registry_hits: dict[str, list[str]]  # key -> the registry entries it matched, in words
    docs_key: str  # storage key of the Data Docs index.html
    docs_uri: str
    result_key: str  # storage key of the GX validation result JSON
    report_key: str  # storage key of this report (written last)
    summary: str
    timings: dict[str, float] = field(default_factory=dict)

    def reason(self, key: str) -> str | None:
        """A quarantine reason for one item of a failed batch, or None if it is not held back."""
        ids = self.failing_keys.get(key)
        return f"failed validation ({self.stage}): {', '.join(ids)}" if ids else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- settings ------------------------------------------------------------------------------------------


def resolve_severity(overrides: Mapping[str, str] | None = None) -> dict[str, Severity]:
    """SEVERITY with per-call overrides on top; an unknown name or level is an error that lists the known."""
    table: dict[str, Severity] = dict(SEVERITY)
    for name, level in (overrides or {}).items():
        if name.split(".", 1)[0] not in SEVERITY:
            raise ValidationError(f"severity override {name!r}: unknown expectation; use one of "
                                  f"{', '.join(sorted(SEVERITY))} (or '<family>.<column>')")
        if level not in ("fail", "warn"):
            raise ValidationError(f"severity override {name!r}: {level!r} is not 'fail' or 'warn'")
        table[name] = level  # type: ignore[assignment]
    return table


def _severity_of(table: Mapping[str, Severity], name: str) -> Severity:
    return table.get(name) or table[name.split(".", 1)[0]]


def resolve_max_optout_age(sources: Iterable[Source], explicit: dt.timedelta | None = None) -> dt.timedelta:
    """The maximum age of opt-out checks: the explicit value, else the strictest source setting
    (`validation.max_optout_age_days`), else DEFAULT_MAX_OPTOUT_AGE."""
    if explicit is not None:
        if explicit <= dt.timedelta(0):
            raise ValidationError(f"max_optout_age must be positive, got {explicit}")
        return explicit
    configured = [float(days) for s in sources
                  if (days := getattr(getattr(s, "validation", None), "max_optout_age_days", None)) is not None]
    return dt.timedelta(days=min(configured)) if configured else DEFAULT_MAX_OPTOUT_AGE


def validation_prefix(dataset: str, run_id: str, stage: str, label: str | None = None) -> str:
    return f"validation/{dataset}/run={_safe(run_id)}/{stage}/" + (f"{_safe(label)}/" if label else "")


def _safe(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in label) or "_"


# -- public entry points -------------------------------------------------------------------------------


def validate_manifest(items: Sequence[Mapping[str, Any]], source: Source, registry: Registry, *, storage: Storage,
                      run_id: str, work_dir: Path, batch_id: str | None = None,
                      max_optout_age: dt.timedelta | None = None, now: dt.datetime | None = None,
                      severity: Mapping[str, str] | None = None) -> ValidationReport:
    """The batch manifest after fetch (one row per admitted item), before it may be sharded."""
    rows = []
    for it in items:
        row = {k: v for k, v in it.items() if k != "media"}
        media = it.get("media")
        if isinstance(media, Mapping):
            row.update({m: media[m] for m in METRICS if m in media})
        rows.append(row)
    return _validate("manifest", rows, MANIFEST_COLUMNS, {source.name: source}, registry,
                     url_columns=("url", "media_url"), storage=storage, run_id=run_id, work_dir=work_dir,
                     dataset=source.dataset_name, label=f"batch={batch_id}" if batch_id else None,
                     max_age=max_optout_age, now=now, severity=severity)


def validate_index(table: pa.Table | Sequence[Mapping[str, Any]], sources: Source | Iterable[Source],
                   registry: Registry, *, storage: Storage, run_id: str, work_dir: Path, shard: str | None = None,
                   dataset: str | None = None, max_optout_age: dt.timedelta | None = None,
                   now: dt.datetime | None = None, severity: Mapping[str, str] | None = None) -> ValidationReport:
    """The rows of one shard's Parquet index (shard.INDEX_SCHEMA plus INDEX_EXTRA_COLUMNS)."""
    by_name, ds = _sources(sources, dataset)
    return _validate("index", _rows(table), _index_columns(), by_name, registry,
                     url_columns=("source_url", "media_url"), storage=storage, run_id=run_id, work_dir=work_dir,
                     dataset=ds, label=shard, max_age=max_optout_age, now=now, severity=severity)


def validate_version(table: pa.Table | Sequence[Mapping[str, Any]], sources: Source | Iterable[Source],
                     registry: Registry, *, storage: Storage, run_id: str, work_dir: Path, version: str,
                     dataset: str | None = None, max_optout_age: dt.timedelta | None = None,
                     now: dt.datetime | None = None, severity: Mapping[str, str] | None = None) -> ValidationReport:
    """Every index row of one dataset version (all its shards): uniqueness holds across the version."""
    by_name, ds = _sources(sources, dataset)
    return _validate("version", _rows(table), _index_columns(), by_name, registry,
                     url_columns=("source_url", "media_url"), storage=storage, run_id=run_id, work_dir=work_dir,
                     dataset=ds, label=version, max_age=max_optout_age, now=now, severity=severity)


def _index_columns() -> dict[str, tuple[list[str], bool]]:
    import pyarrow as pa

    from clearframe.shard import INDEX_SCHEMA

    cols: dict[str, tuple[list[str], bool]] = {}
    for f in INDEX_SCHEMA:
        kind = (_BOOL if pa.types.is_boolean(f.type) else _INT if pa.types.is_integer(f.type)
                else _NUM if pa.types.is_floating(f.type) else _STR)
        cols[f.name] = (kind, f.name in _INDEX_REQUIRED_NON_NULL)
    for name, spec in INDEX_EXTRA_COLUMNS.items():
        cols.setdefault(name, spec)  # not in this INDEX_SCHEMA: `schema` will say so
    return cols


def _rows(table: pa.Table | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if hasattr(table, "to_pylist"):
        return list(table.to_pylist())
    return [dict(r) for r in table]


def _sources(sources: Source | Iterable[Source], dataset: str | None) -> tuple[dict[str, Source], str]:
    items = [sources] if isinstance(sources, Source) else list(sources)
    if not items:
        raise ValidationError("no source files given: the index rows' licence policy and media bounds come "
                              "from their sources; pass the Source of every source in the dataset")
    by_name = {s.name: s for s in items}
    if dataset is None:
        names = sorted({s.dataset_name for s in items})
        if len(names) != 1:
            raise ValidationError(f"the sources belong to several datasets ({', '.join(names)}): pass dataset=")
        dataset = names[0]
    return by_name, dataset


# -- the frame GX validates ----------------------------------------------------------------------------


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t  # ClearFrame writes UTC


def _age_days(value: Any, now: dt.datetime) -> float | None:
    t = _parse_time(value)
    if t is None:
        return None
    age = now - t
    if dt.timedelta(0) > age >= -CLOCK_SKEW:
        age = dt.timedelta(0)
    return age.total_seconds() / 86400


def _license_basis(rows: list[dict[str, Any]], sources: Mapping[str, Source]) -> tuple[list[str | None],
                                                                                       dict[str, list[str]]]:
    """Per row: its SPDX expression, or `contract:<id>` when it has none and its source's acquisition
    covers training under that contract, else None. Per source: the values in the data that are allowed.

    A value goes into a source's allowed set only if every row of that source carrying it is allowed (the
    partner-contract LicenseRef grants only with a contract id, so the same value can differ by row).
    """
    policies = {n: licenses.LicensePolicy.from_config(s.license_policy.model_dump()) for n, s in sources.items()}
    verdicts: dict[tuple[str, str, str | None], bool] = {}
    good: dict[str, set[str]] = {n: set() for n in sources}
    bad: dict[str, set[str]] = {n: set() for n in sources}
    basis: list[str | None] = []
    for r in rows:
        name = r.get("source")
        src = sources.get(name) if isinstance(name, str) else None
        spdx, contract = r.get("license_spdx"), r.get("contract_id")
        contract = contract if isinstance(contract, str) and contract else None
        value: str | None = None
        allowed = False
        if isinstance(spdx, str) and spdx.strip():
            value = spdx
            if src is not None:
                k = (src.name, spdx, contract)
                if k not in verdicts:
                    verdict, _ = licenses.evaluate(LicenseInfo(raw=None, spdx=spdx), policies[src.name], contract)
                    verdicts[k] = verdict is Verdict.GRANT
                allowed = verdicts[k]
        elif src is not None and contract and contract_authorises(src.acquisition, contract):
            value, allowed = f"contract:{contract}", True
        basis.append(value)
        if src is not None and value is not None:
            (good if allowed else bad)[src.name].add(value)
    return basis, {n: sorted(good[n] - bad[n]) for n in sources}


def _identifiers(row: dict[str, Any], url_columns: Sequence[str]) -> tuple[dict[str, set[str]], set[str]]:
    ids: dict[str, set[str]] = {k: set() for k in ("creator", "channel", "video", "url", "domain", "hash")}
    hosts: set[str] = set()
    for col, kind in (("creator", "creator"), ("channel", "channel"), ("video_id", "video"), ("sha256", "hash")):
        v = row.get(col)
        if isinstance(v, str) and v.strip():
            ids[kind].add(v)
    for col in url_columns:
        u = row.get(col)
        if isinstance(u, str) and check_url(u) is None:
            host = urlsplit(u).hostname or ""
            ids["url"].add(u)
            ids["domain"].update(domain_suffixes(host))
            hosts.add(host)
    return ids, hosts


def _registry_hits(rows: list[dict[str, Any]], registry: Registry,
                   url_columns: Sequence[str]) -> list[list[str]]:
    """Per row, the registry entries it matches now: one batched lookup, one blocked-domains query."""
    per_row = [_identifiers(r, url_columns) for r in rows]
    wanted: dict[str, set[str]] = {}
    hosts: set[str] = set()
    for ids, h in per_row:
        for kind, vals in ids.items():
            wanted.setdefault(kind, set()).update(vals)
        hosts.update(h)
    query: dict[str, Iterable[str]] = dict(wanted.items())
    found = registry.lookup(query)
    blocked = registry.blocked(hosts) if hosts else {}
    out: list[list[str]] = []
    for ids, _ in per_row:
        hits = []
        for kind, vals in ids.items():
            for v in sorted({normalize(kind, x) for x in vals}):
                e = found.get((kind, v))
                if e:
                    hits.append(f"{kind} {v!r} (opted out by {e.requested_by} on {e.created_at:%Y-%m-%d}: "
                                f"{e.reason or 'no reason given'})")
        for d in sorted(ids["domain"]):
            e = blocked.get(d)
            if e:
                hits.append(f"domain {d!r} is on the blocked-domains list ({e.reason or 'no reason given'})")
        out.append(hits)
    return out


def _frame(rows: list[dict[str, Any]], columns: Mapping[str, Any], sources: Mapping[str, Source],
           registry: Registry, url_columns: Sequence[str], now: dt.datetime) -> tuple[pd.DataFrame,
                                                                                     dict[str, list[str]],
                                                                                     list[str], dict[str, list[str]]]:
    import pandas as pd

    basis, allowed = _license_basis(rows, sources)
    hits = _registry_hits(rows, registry, url_columns)
    keys = [r["key"] if isinstance(r.get("key"), str) and r["key"] else f"row:{i}" for i, r in enumerate(rows)]
    records = []
    for i, r in enumerate(rows):
        rec = {ROW: i, **r}
        rec[LICENSE_BASIS] = basis[i]
        rec[ATTRIBUTION_REQUIRED] = any(_BY_RE.search(x) for x in licenses.license_ids(basis[i]))
        rec[OPTOUT_AGE] = _age_days(r.get("decided_at"), now)
        rec[OPTOUT_HIT] = bool(hits[i])
        records.append(rec)
    # Object columns keep each value as written, so the type expectations judge every row; an empty
    # batch still has the stage's columns, so it passes vacuously instead of failing the schema.
    names = list(dict.fromkeys(k for rec in records for k in rec)) if records else [
        ROW, *columns, LICENSE_BASIS, ATTRIBUTION_REQUIRED, OPTOUT_AGE, OPTOUT_HIT]
    df = pd.DataFrame(records, columns=names, dtype=object)
    df[OPTOUT_AGE] = pd.to_numeric(df[OPTOUT_AGE], errors="coerce").astype("float64")
    registry_hits = {keys[i]: h for i, h in enumerate(hits) if h}
    return df, allowed, keys, registry_hits


# -- the suites ----------------------------------------------------------------------------------------


@dataclass
class _Planned:
    name: str
    column: str | None
    source: str | None
    expectation: Any


def _plan(stage: Stage, columns: Mapping[str, tuple[list[str], bool]], present: set[str],
          sources: Mapping[str, Source], allowed: Mapping[str, list[str]], max_age: dt.timedelta,
          table: Mapping[str, Severity]) -> list[_Planned]:
    from great_expectations.expectations.row_conditions import Column

    gxe = _gx_expectations()
    plan: list[_Planned] = []

    def add(name: str, cls: Any, column: str | None = None, source: str | None = None, notes: str = "",
            **kwargs: Any) -> None:
        sev = _severity_of(table, name)
        if column is not None:
            kwargs["column"] = column
        if source is not None:
            kwargs["row_condition"] = Column("source") == source
        exp = cls(**kwargs, meta={"clearframe": name, "severity": sev, **({"source": source} if source else {})},
                  notes=f"ClearFrame `{name}` ({sev}). {notes}".strip(),
                  severity="critical" if sev == "fail" else "warning")
        plan.append(_Planned(name, column, source, exp))

    add("schema", gxe.ExpectTableColumnsToMatchSet, column_set=sorted(columns), exact_match=False,
        notes=f"The columns a {stage} row must carry; extra columns are allowed.")
    for col, (types, required) in columns.items():
        if col not in present:
            continue  # `schema` names it; expectations on a missing column would only repeat that
        add(f"types.{col}", gxe.ExpectColumnValuesToBeInTypeList, col, type_list=types)
        if required:
            add(f"required.{col}", gxe.ExpectColumnValuesToNotBeNull, col)
    for col, types in _OPTIONAL_IDS.items():
        if col in present and col not in columns:
            add(f"types.{col}", gxe.ExpectColumnValuesToBeInTypeList, col, type_list=types)
    add("format.key", gxe.ExpectColumnValuesToMatchRegex, "key", regex=_KEY_RE,
        notes="24 hex digits, derived from the canonical source id.")
    add("format.sha256", gxe.ExpectColumnValuesToMatchRegex, "sha256", regex=_SHA256_RE)
    add("source_known", gxe.ExpectColumnValuesToBeInSet, "source", value_set=sorted(sources),
        notes="Rows of other sources cannot be judged by these sources' rules.")
    add("license.present", gxe.ExpectColumnValuesToNotBeNull, LICENSE_BASIS,
        notes="An SPDX licence, or `contract:<id>` when the source's acquisition covers training under that "
              "contract. A missing licence is not permission.")
    for name, src in sorted(sources.items()):
        add("license.allowed", gxe.ExpectColumnValuesToBeInSet, LICENSE_BASIS, name, value_set=allowed[name],
            notes=f"The licences in this data that the licence policy of {src.path or name} puts in its allow "
                  "bucket (or a contract that covers training).")
        b = src.media
        for col, lo, hi in (("duration", b.min_duration_s, b.max_duration_s), ("width", b.min_width, b.max_width),
                            ("height", b.min_height, b.max_height), ("fps", b.min_fps, b.max_fps)):
            add(f"media_bounds.{col}", gxe.ExpectColumnValuesToBeBetween, col, name, min_value=lo, max_value=hi,
                notes=f"`media` bounds of {src.path or name}.")
    add("decision_allow", gxe.ExpectColumnValuesToBeInSet, "decision", value_set=["allow"])
    add("unique_key", gxe.ExpectColumnValuesToBeUnique, "key")
    add("unique_sha256", gxe.ExpectColumnValuesToBeUnique, "sha256",
        notes="Exact duplicates (same bytes) appear once." + (" Across the whole version." if stage == "version"
                                                               else ""))
    days = max_age.total_seconds() / 86400
    add("optout_fresh.dated", gxe.ExpectColumnValuesToNotBeNull, OPTOUT_AGE,
        notes="`decided_at` is present and an ISO 8601 time.")
    add("optout_fresh", gxe.ExpectColumnValuesToBeBetween, OPTOUT_AGE, min_value=0, max_value=days,
        notes=f"Days since the opt-out checks (`decided_at`); older than {days:g} days must be checked again.")
    add("optout_registry", gxe.ExpectColumnValuesToBeInSet, OPTOUT_HIT, value_set=[False],
        notes="Creator, channel, video, URL, domain (and blocked domains) or content hash in the opt-out "
              "registry at validation time.")
    if stage != "manifest":
        for col, lo in (("offset", 0), ("size", 1), ("json_offset", 0), ("json_size", 1)):
            add(f"index_ranges.{col}", gxe.ExpectColumnValuesToBeBetween, col, min_value=lo)
        add("index_ranges.unique", gxe.ExpectCompoundColumnsToBeUnique, column_list=["shard", "offset"],
            notes="Two rows never point at the same bytes.")
    add("attribution.creator", gxe.ExpectColumnValuesToNotBeNull, "creator",
        row_condition=Column(ATTRIBUTION_REQUIRED) == True,  # noqa: E712 - a GX condition, not a comparison
        notes="The licence requires attribution; the attribution file needs a creator to credit.")
    return plan


def _gx() -> Any:
    # GX logs dozens of INFO lines while importing; the task log is for our summary and link. An operator
    # who configured the "great_expectations" logger keeps their level.
    gx_log = logging.getLogger("great_expectations")
    if gx_log.level == logging.NOTSET:
        gx_log.setLevel(logging.WARNING)
    # GX imports a deprecated stdlib module on import; warnings-as-errors must not turn that into a crash.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx

    return gx


def _gx_expectations() -> Any:
    _gx()
    import great_expectations.expectations as gxe

    return gxe


def _context(docs_dir: Path) -> Any:
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        # In-memory stores and no temporary docs site (the default one lives in the system temp dir).
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={_SITE: {
            "class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


# -- running, reading the results ---------------------------------------------------------------------


def _json_safe(obj: Any) -> Any:
    """Strict JSON: NaN/inf (GX reports nulls in float columns as NaN) become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _error_of(exception_info: Any) -> str | None:
    """GX reports an expectation that could not run either flat or per metric; return its message."""
    if not isinstance(exception_info, dict):
        return None
    if exception_info.get("raised_exception") is True:
        return str(exception_info.get("exception_message") or "raised an exception")
    for v in exception_info.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return str(v.get("exception_message") or "raised an exception")
    return None


def _detail(result: Mapping[str, Any]) -> str:
    if "partial_unexpected_list" in result and result.get("unexpected_count"):
        vals = list(dict.fromkeys(repr(v) for v in _json_safe(result["partial_unexpected_list"])))[:5]
        return "unexpected: " + ", ".join(vals)
    details = result.get("details")
    if isinstance(details, dict) and details.get("mismatched"):
        missing = details["mismatched"].get("missing")
        if missing:
            return "missing columns: " + ", ".join(map(str, missing))
    return ""


def _outcomes(results: Any, planned: list[_Planned], keys: list[str]) -> list[ExpectationOutcome]:
    by_name = {(p.name, p.source): p for p in planned}
    out = []
    for r in results:
        meta = r.expectation_config.meta or {}
        p = by_name[(meta["clearframe"], meta.get("source"))]
        res = dict(r.result or {})
        error = _error_of(r.exception_info)
        rows = sorted({int(e[ROW]) for e in res.get("unexpected_index_list") or [] if isinstance(e, dict)
                       and e.get(ROW) is not None})
        out.append(ExpectationOutcome(
            name=p.name, severity=meta["severity"], success=bool(r.success) and error is None,
            expectation_type=r.expectation_config.type, column=p.column, source=p.source,
            element_count=res.get("element_count"), unexpected_count=res.get("unexpected_count"),
            detail=f"not evaluated: {error}" if error else _detail(res), error=error,
            keys=list(dict.fromkeys(keys[i] for i in rows)),
        ))
    order = {(p.name, p.source): i for i, p in enumerate(planned)}
    return sorted(out, key=lambda o: order[(o.name, o.source)])


def _blame(outcomes: list[ExpectationOutcome], keys: list[str]) -> tuple[bool, dict[str, list[str]],
                                                                       dict[str, list[str]]]:
    failed = [o for o in outcomes if not o.success]
    blocking = [o for o in failed if o.severity == "fail"]
    warned: dict[str, list[str]] = {}
    for o in failed:
        if o.severity == "warn":
            for k in o.keys:
                warned.setdefault(k, []).append(o.name)
    if not blocking:
        return True, {}, {k: list(dict.fromkeys(v)) for k, v in warned.items()}
    at_fault: dict[str, list[str]] = {}
    for o in blocking:
        for k in o.keys:  # table-level failures and ones that could not run name no rows
            at_fault.setdefault(k, []).append(o.name)
    names = list(dict.fromkeys(o.name for o in blocking))
    reasons = {}
    for k in dict.fromkeys(keys):
        own = list(dict.fromkeys(at_fault.get(k, [])))
        reasons[k] = own + [f"batch:{n}" for n in names if n not in own]
    return False, reasons, {k: list(dict.fromkeys(v)) for k, v in warned.items()}


def _summary(stage: str, dataset: str, label: str | None, run_id: str, rows: int, outcomes: list[ExpectationOutcome],
             passed: bool, failing: Mapping[str, list[str]], docs_uri: str) -> str:
    what = f"{stage} validation of {dataset}" + (f" {label}" if label else "") + f" (run {run_id})"

    def listed(sev: str) -> str:
        counts: dict[str, int] = {}
        for o in outcomes:
            if not o.success and o.severity == sev:
                counts[o.name] = counts.get(o.name, 0) + (len(o.keys) if o.keys else 0)
        parts = [f"{n} ({c} row{'s' if c != 1 else ''})" if c else f"{n} (whole batch)" for n, c in counts.items()]
        return ", ".join(parts)

    n_exp = len(outcomes)
    fails, warns = listed("fail"), listed("warn")
    text = f"{what}: {'PASSED' if passed else 'FAILED'} over {rows} rows and {n_exp} expectations."
    if fails:
        at_fault = sum(1 for v in failing.values() if not v[0].startswith("batch:"))  # own reasons come first
        held = f"its {len(failing)} items go" if len(failing) != 1 else "its one item goes"
        text += (f" Failed (blocking): {fails}. The whole batch is held back: {held} to quarantine with the "
                 f"failed expectations as the reason ({at_fault} at fault themselves).")
    if warns:
        text += f" Warnings (not blocking): {warns}."
    if passed and not warns:
        text += " Every expectation was met."
    return text + f" Data Docs: {docs_uri}"


def _upload(storage: Storage, out_dir: Path, prefix: str) -> None:
    """The pages and the static files they reference (GX's site folder also holds ~4 MB of fonts and
    animations no page links to), the result JSON; report.json is written by the caller, last."""
    docs = out_dir / "docs"
    pages = sorted(p for p in docs.rglob("*") if p.is_file() and "static" not in p.relative_to(docs).parts)
    referenced: set[str] = set()
    for p in pages:
        referenced.update(_STATIC_RE.findall(p.read_text(encoding="utf-8", errors="replace")))
    static = sorted(docs / ref for ref in referenced if (docs / ref).is_file())
    for css in [s for s in static if s.suffix == ".css"]:
        referenced.update(_STATIC_RE.findall(css.read_text(encoding="utf-8", errors="replace")))
    static = sorted({docs / ref for ref in referenced if (docs / ref).is_file()})
    for p in [*pages, *static]:
        storage.put_file(p, prefix + p.relative_to(out_dir).as_posix())
    for name in ("result.json", "summary.txt"):
        storage.put_file(out_dir / name, prefix + name)


def _validate(stage: Stage, rows: list[dict[str, Any]], columns: Mapping[str, tuple[list[str], bool]],
              sources: Mapping[str, Source], registry: Registry, *, url_columns: Sequence[str], storage: Storage,
              run_id: str, work_dir: Path, dataset: str, label: str | None, max_age: dt.timedelta | None,
              now: dt.datetime | None, severity: Mapping[str, str] | None) -> ValidationReport:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    table = resolve_severity(severity)
    age = resolve_max_optout_age(sources.values(), max_age)
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValidationError(f"now={now.isoformat()} has no time zone: pass an aware datetime (UTC)")
    df, allowed, keys, hits = _frame(rows, columns, sources, registry, url_columns, now)
    timings["prepare_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier

    timings["gx_import_s"] = time.perf_counter() - t
    prefix = validation_prefix(dataset, run_id, stage, label)
    out_dir = Path(work_dir) / prefix.rstrip("/")
    if out_dir.exists():  # a retry: the site must show this run only
        shutil.rmtree(out_dir)
    (out_dir / "docs").mkdir(parents=True)

    t = time.perf_counter()
    ctx = _context(out_dir / "docs")
    planned = _plan(stage, columns, set(df.columns), sources, allowed, age, table)
    suite = ctx.suites.add(gx.ExpectationSuite(name=f"clearframe.{stage}",
                                               expectations=[p.expectation for p in planned]))
    batch = ctx.data_sources.add_pandas("clearframe").add_dataframe_asset(dataset) \
        .add_batch_definition_whole_dataframe(label or stage)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{stage}:{label or dataset}", data=batch,
                                                                suite=suite))
    timings["gx_setup_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result = vd.run(batch_parameters={"dataframe": df},
                    result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW, "key"]},
                    run_id=RunIdentifier(run_name=run_id, run_time=now))
    timings["gx_validate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ctx.build_data_docs(site_names=[_SITE])
    timings["gx_docs_s"] = time.perf_counter() - t

    outcomes = _outcomes(result.results, planned, keys)
    passed, failing, warned = _blame(outcomes, keys)
    docs_key = prefix + "docs/index.html"
    docs_uri = storage.uri(docs_key)
    summary = _summary(stage, dataset, label, run_id, len(rows), outcomes, passed, failing, docs_uri)
    report = ValidationReport(
        passed=passed, stage=stage, dataset=dataset, run_id=run_id, label=label, rows=len(rows), results=outcomes,
        failing_keys=failing, warnings=warned, registry_hits=hits, docs_key=docs_key, docs_uri=docs_uri,
        result_key=prefix + "result.json", report_key=prefix + "report.json", summary=summary, timings=timings)

    t = time.perf_counter()
    (out_dir / "result.json").write_text(json.dumps(_json_safe(result.to_json_dict()), indent=1, default=str),
                                         encoding="utf-8")
    (out_dir / "summary.txt").write_text(summary + "\n", encoding="utf-8")
    _upload(storage, out_dir, prefix)
    timings["upload_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    body = json.dumps(_json_safe(report.to_dict()), indent=1, default=str).encode()
    (out_dir / "report.json").write_bytes(body)
    storage.put_bytes(report.report_key, body)  # the commit point: the folder is complete
    (log.info if passed else log.warning)("%s", summary)
    return report
