"""Validation: Great Expectations suites as blocking gates, run for real (GX 1.x, ephemeral context)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clearframe.config import Source, parse_source
from clearframe.gate.registry import Registry
from clearframe.records import candidate_key
from clearframe.shard import INDEX_SCHEMA, shard_items, shards_prefix
from clearframe.storage import Storage, open_storage
from clearframe.validate import (
    DEFAULT_MAX_OPTOUT_AGE,
    SEVERITY,
    ValidationError,
    ValidationReport,
    resolve_max_optout_age,
    validate_index,
    validate_manifest,
    validate_version,
    validation_prefix,
)

ROOT = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DECIDED = (NOW - dt.timedelta(days=2)).isoformat(timespec="seconds")
BOUNDS = {"min_duration_s": 0.5, "max_duration_s": 600, "min_width": 64, "max_width": 1920,
          "min_height": 64, "max_height": 1080, "min_fps": 10, "max_fps": 60}


def make_source(name: str = "clips", *, contract: bool = False, media: dict[str, Any] | None = None,
                policy: dict[str, list[str]] | None = None) -> Source:
    data: dict[str, Any] = {"name": name, "dataset": "demo", "media": media or BOUNDS, "license_policy": policy or {}}
    if contract:
        data |= {"kind": "delivery", "delivery": {"location": "x"},
                 "acquisition": {"basis": "contract", "contract_id": "C-1", "covers_training": True}}
    else:
        data |= {"kind": "http", "http": {"urls": "urls.txt"}}
    return parse_source(data, f"/sources/{name}.yaml")


def item(i: int, source: str = "clips", **over: Any) -> dict[str, Any]:
    """One batch-manifest line, shaped exactly as pipeline.run_batch writes it."""
    cid = f"https://videos.example.org/v/{source}/{i}"
    key = candidate_key(cid)
    media = {"container": "mp4", "codec": "h264", "duration": 4.0, "width": 640, "height": 360, "fps": 25.0,
             "has_audio": True, "audio_codec": "aac", "frames_decoded": 12}
    media |= over.pop("media", {})
    it = {
        "key": key, "staged": f"staging/demo/{key}.mp4", "source": source, "canonical_id": cid, "url": cid,
        "media_url": f"https://cdn.example.org/{source}/{i}.mp4", "title": f"Clip {i}", "creator": f"Creator {i}",
        "license_spdx": "CC-BY-4.0", "license_raw": "https://creativecommons.org/licenses/by/4.0/",
        "license_found_in": "json-ld", "contract_id": None, "attribution": f'"Clip {i}" by Creator {i}, CC-BY-4.0',
        "sha256": hashlib.sha256(cid.encode()).hexdigest(), "bytes": 1000 + i, "media": media,
        "decision": "allow", "policy_version": "2026.11.1", "decided_at": DECIDED, "run_id": "run-1",
    }
    it.update(over)
    return it


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return open_storage(str(tmp_path / "storage"))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    yield reg
    reg.close()


Run = Callable[..., ValidationReport]


@pytest.fixture
def run(storage: Storage, registry: Registry, tmp_path: Path) -> Run:
    def go(items: list[dict[str, Any]], source: Source | None = None, **kw: Any) -> ValidationReport:
        kw.setdefault("now", NOW)
        kw.setdefault("batch_id", "00000")
        return validate_manifest(items, source or make_source(), registry, storage=storage, run_id="run-1",
                                 work_dir=tmp_path / "work", **kw)
    return go


def outcome(report: ValidationReport, name: str):  # noqa: ANN201
    [o] = [o for o in report.results if o.name == name]
    return o


def failed_names(report: ValidationReport) -> set[str]:
    return {o.name for o in report.results if not o.success}


# -- each expectation catches its violation ----------------------------------------------------------

def _dup_key(items: list[dict[str, Any]]) -> None:
    items[1]["key"] = items[0]["key"]


def _dup_sha(items: list[dict[str, Any]]) -> None:
    items[1]["sha256"] = items[0]["sha256"]


VIOLATIONS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], None]]] = {
    "decision_allow": ("decision_allow", lambda its: its[1].update(decision="review")),
    "licence_missing": ("license.present", lambda its: its[1].update(license_spdx=None)),
    "licence_not_allowed": ("license.allowed", lambda its: its[1].update(license_spdx="CC-BY-NC-4.0")),
    "licence_share_alike_needs_review": ("license.allowed", lambda its: its[1].update(license_spdx="CC-BY-SA-4.0")),
    "duplicate_key": ("unique_key", _dup_key),
    "duplicate_sha256": ("unique_sha256", _dup_sha),
    "duration_too_short": ("media_bounds.duration", lambda its: its[1]["media"].update(duration=0.2)),
    "width_too_large": ("media_bounds.width", lambda its: its[1]["media"].update(width=4096)),
    "height_too_small": ("media_bounds.height", lambda its: its[1]["media"].update(height=32)),
    "fps_too_high": ("media_bounds.fps", lambda its: its[1]["media"].update(fps=120.0)),
    "optout_check_too_old": ("optout_fresh", lambda its: its[1].update(
        decided_at=(NOW - dt.timedelta(days=31)).isoformat())),
    "optout_check_in_the_future": ("optout_fresh", lambda its: its[1].update(
        decided_at=(NOW + dt.timedelta(hours=1)).isoformat())),
    "optout_check_undated": ("optout_fresh.dated", lambda its: its[1].update(decided_at="last tuesday")),
    "width_not_an_integer": ("types.width", lambda its: its[1]["media"].update(width="640")),
    "sha256_missing": ("required.sha256", lambda its: its[1].update(sha256=None)),
    "sha256_malformed": ("format.sha256", lambda its: its[1].update(sha256="not-a-digest")),
    "row_of_another_source": ("source_known", lambda its: its[1].update(source="someone_else")),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_each_expectation_catches_its_violation(case: str, run: Run) -> None:
    name, spoil = VIOLATIONS[case]
    items = [item(i) for i in range(3)]
    spoil(items)
    bad = items[1]["key"]

    report = run(items)

    assert not report.passed
    assert name in failed_names(report)
    o = outcome(report, name)
    assert bad in o.keys and o.severity == "fail"
    assert report.failing_keys[bad][0] == name  # the item at fault is told what it broke, first
    innocent = [it["key"] for it in items if it["key"] not in o.keys]
    assert innocent  # and the others are held back only because the batch failed
    for key in innocent:
        assert all(r.startswith("batch:") for r in report.failing_keys[key])
        assert f"batch:{name}" in report.failing_keys[key]


def test_a_clean_batch_passes_every_expectation(run: Run) -> None:
    report = run([item(i) for i in range(4)])
    assert report.passed, report.summary
    assert all(o.success for o in report.results)
    assert report.failing_keys == {} and report.warnings == {} and report.registry_hits == {}
    assert report.rows == 4 and "PASSED" in report.summary and "Every expectation was met" in report.summary
    assert {"schema", "decision_allow", "unique_key", "unique_sha256", "optout_registry", "optout_fresh",
            "license.present", "license.allowed", "media_bounds.fps"} <= {o.name for o in report.results}


def test_a_missing_column_fails_the_schema_for_the_whole_batch(run: Run) -> None:
    items = [item(i) for i in range(2)]
    for it in items:
        del it["policy_version"]
    report = run(items)
    o = outcome(report, "schema")
    assert not report.passed and not o.success and o.keys == []
    assert "policy_version" in o.detail
    assert report.failing_keys == {it["key"]: ["batch:schema"] for it in items}


def test_media_bounds_come_from_the_source_file(run: Run) -> None:
    items = [item(0), item(1, media={"width": 1280})]
    assert run(items).passed  # 1280 is inside the default source bounds
    narrow = make_source(media={**BOUNDS, "max_width": 800})
    report = run(items, narrow)
    assert outcome(report, "media_bounds.width").keys == [items[1]["key"]]
    assert "unexpected: 1280" in outcome(report, "media_bounds.width").detail


def test_licence_allowed_set_follows_the_source_policy(run: Run) -> None:
    items = [item(0), item(1, license_spdx="CC-BY-SA-4.0")]
    assert not run(items).passed
    assert run(items, make_source(policy={"allow": ["CC-BY-SA-*"]})).passed


def test_a_contract_that_covers_training_stands_in_for_a_missing_licence(run: Run) -> None:
    partner = make_source("partner", contract=True)
    covered = item(0, "partner", license_spdx=None, license_raw=None, contract_id="C-1")
    uncovered = item(1, "partner", license_spdx=None, license_raw=None, contract_id=None)
    assert run([covered], partner).passed
    report = run([covered, uncovered], partner)
    assert outcome(report, "license.present").keys == [uncovered["key"]]
    # The open-licence source has no such basis: the same contract id is no licence there.
    report = run([item(2, license_spdx=None, contract_id="C-1")])
    assert "license.present" in failed_names(report)


# -- the opt-out registry at validation time ---------------------------------------------------------

def test_registry_hit_at_validation_time_blocks(run: Run, registry: Registry) -> None:
    items = [item(i) for i in range(7)]
    items[5]["channel"] = "Some Channel"
    assert run(items).passed  # nothing opted out when the batch was gated and fetched

    registry.add("creator", "creator 1", "c1@example.org", "complaint 101")  # case and spacing normalised
    registry.add("url", items[2]["url"], "c2@example.org")
    registry.add("hash", items[3]["sha256"].upper(), "c4@example.org")
    registry.add("channel", "some channel", "c5@example.org")
    registry.add("domain", "sub.videos.example.net", "c6@example.org")
    items[4]["media_url"] = "https://a.sub.videos.example.net/x.mp4"  # a subdomain of an opted-out domain
    registry.block_domain("blocked.example.com", "ops", "takedown 9")
    items[6]["url"] = "https://www.blocked.example.com/v/6"

    report = run(items)

    assert not report.passed
    flagged = {items[i]["key"] for i in (1, 2, 3, 4, 5, 6)}
    assert set(outcome(report, "optout_registry").keys) == flagged
    assert report.failing_keys[items[0]["key"]] == ["batch:optout_registry"]
    assert "complaint 101" in report.registry_hits[items[1]["key"]][0]
    assert report.registry_hits[items[6]["key"]] == [
        "domain 'blocked.example.com' is on the blocked-domains list (takedown 9)"]
    assert set(report.registry_hits) == flagged


def test_registry_is_asked_once_per_batch(run: Run, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = registry.lookup

    def counting(wanted: dict[str, Any]) -> Any:
        calls.append({k: sorted(v) for k, v in wanted.items()})
        return real(wanted)

    monkeypatch.setattr(registry, "lookup", counting)
    run([item(i) for i in range(50)])
    assert len(calls) == 1
    assert {k for k, v in calls[0].items() if v} == {"creator", "url", "domain", "hash"}
    assert len(calls[0]["hash"]) == 50


# -- severity and blocking ---------------------------------------------------------------------------

def test_a_warn_expectation_is_reported_but_does_not_block(run: Run) -> None:
    items = [item(0), item(1, creator=None)]  # CC-BY needs someone to credit
    report = run(items)
    assert SEVERITY["attribution"] == "warn"
    assert report.passed
    assert report.failing_keys == {}
    assert report.warnings == {items[1]["key"]: ["attribution.creator"]}
    assert "Warnings (not blocking): attribution.creator (1 row)" in report.summary


def test_an_attribution_free_licence_needs_no_creator(run: Run) -> None:
    report = run([item(0, creator=None, license_spdx="CC0-1.0")])
    assert report.passed and report.warnings == {}


def test_severity_override_by_family_and_by_id(run: Run) -> None:
    items = [item(0, decision="review"), item(1, media={"fps": 120.0}), item(2, media={"width": 4000})]
    report = run(items, severity={"decision_allow": "warn", "media_bounds.fps": "warn"})
    assert not report.passed  # the width is still a failure: only fps was downgraded in its family
    assert outcome(report, "media_bounds.width").severity == "fail"
    assert outcome(report, "media_bounds.fps").severity == "warn"
    assert report.failing_keys[items[2]["key"]] == ["media_bounds.width"]
    assert report.warnings == {items[0]["key"]: ["decision_allow"], items[1]["key"]: ["media_bounds.fps"]}

    relaxed = run(items, severity={"decision_allow": "warn", "media_bounds": "warn"})
    assert relaxed.passed and relaxed.failing_keys == {}


def test_unknown_severity_names_are_rejected(run: Run) -> None:
    with pytest.raises(ValidationError, match="unknown expectation.*decision_allow"):
        run([item(0)], severity={"decisions": "warn"})
    with pytest.raises(ValidationError, match="'fatal' is not 'fail' or 'warn'"):
        run([item(0)], severity={"decision_allow": "fatal"})


def test_a_failed_batch_quarantines_every_item_with_the_reasons(run: Run) -> None:
    items = [item(i) for i in range(4)]
    items[0]["decision"] = "deny"
    items[0]["media"]["fps"] = 5.0
    items[3]["license_spdx"] = "CC-BY-NC-4.0"
    report = run(items)
    assert not report.passed
    assert set(report.failing_keys) == {it["key"] for it in items}
    assert report.failing_keys[items[0]["key"]] == ["media_bounds.fps", "decision_allow", "batch:license.allowed"]
    assert report.failing_keys[items[1]["key"]] == ["batch:license.allowed", "batch:media_bounds.fps",
                                                    "batch:decision_allow"]
    assert report.reason(items[3]["key"]) == ("failed validation (manifest): license.allowed, "
                                              "batch:media_bounds.fps, batch:decision_allow")
    assert "The whole batch is held back: its 4 items go to quarantine" in report.summary
    assert "(2 at fault themselves)" in report.summary


def test_optout_max_age_is_configurable(run: Run) -> None:
    assert DEFAULT_MAX_OPTOUT_AGE == dt.timedelta(days=30)
    ten_days = item(0, decided_at=(NOW - dt.timedelta(days=10)).isoformat())
    assert run([ten_days]).passed
    report = run([ten_days], max_optout_age=dt.timedelta(days=7))
    assert outcome(report, "optout_fresh").keys == [ten_days["key"]]
    skewed = item(1, decided_at=(NOW + dt.timedelta(minutes=1)).isoformat())  # a worker's clock runs ahead
    assert run([skewed]).passed


def test_max_age_setting_resolves_explicit_then_strictest_source_then_default() -> None:
    src = make_source()
    assert resolve_max_optout_age([src]) == DEFAULT_MAX_OPTOUT_AGE
    # A source file's `validation.max_optout_age_days` (the field this module reads once Source has it).
    strict = SimpleNamespace(validation=SimpleNamespace(max_optout_age_days=7))
    lax = SimpleNamespace(validation=SimpleNamespace(max_optout_age_days=60))
    assert resolve_max_optout_age([src, lax, strict]) == dt.timedelta(days=7)  # type: ignore[list-item]
    assert resolve_max_optout_age([strict], dt.timedelta(days=1)) == dt.timedelta(days=1)  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="must be positive"):
        resolve_max_optout_age([src], dt.timedelta(0))


def test_an_empty_batch_passes(run: Run, storage: Storage) -> None:
    report = run([])
    assert report.passed and report.rows == 0 and report.failing_keys == {}
    assert storage.exists(report.docs_key)


# -- results and Data Docs in storage ---------------------------------------------------------------

def _strict_json(data: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(data, parse_constant=no_constants)


def _check_stored(storage: Storage, report: ValidationReport, prefix: str) -> None:
    keys = storage.list(prefix)
    assert report.docs_key == prefix + "docs/index.html" and report.docs_key in keys
    assert report.result_key == prefix + "result.json" and report.report_key == prefix + "report.json"
    pages = [k for k in keys if k.startswith(prefix + "docs/validations/") and k.endswith(".html")]
    assert len(pages) == 1
    page = storage.get_bytes(pages[0]).decode()
    assert "clearframe.manifest" in page and "decision_allow" not in page  # GX renders, we do not inject
    assert "values must belong to this set" in page
    index = storage.get_bytes(report.docs_key).decode()
    assert "clearframe.manifest" in index
    assert prefix + "docs/static/images/favicon.ico" in keys  # referenced by the pages
    assert not any(k.endswith((".gif", ".otf")) for k in keys)  # GX's unreferenced assets stay behind
    result = _strict_json(storage.get_bytes(report.result_key))
    assert result["success"] is report.passed
    assert len(result["results"]) == len(report.results)
    stored = _strict_json(storage.get_bytes(report.report_key))
    assert stored["passed"] is report.passed and stored["failing_keys"] == report.failing_keys
    assert storage.get_bytes(prefix + "summary.txt").decode().strip() == report.summary
    assert report.docs_uri == storage.uri(report.docs_key) and report.summary.endswith(report.docs_uri)


def test_results_and_data_docs_are_stored_under_the_run(run: Run, storage: Storage, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="clearframe")
    report = run([item(0), item(1, decision="review")])
    [logged] = [r for r in caplog.records if r.name == "clearframe"]
    assert logged.levelname == "WARNING" and logged.getMessage() == report.summary  # the task log's line
    assert report.docs_uri in report.summary
    prefix = "validation/demo/run=run-1/manifest/batch=00000/"
    assert validation_prefix("demo", "run-1", "manifest", "batch=00000") == prefix
    _check_stored(storage, report, prefix)
    assert (tmp_path / "work" / prefix / "docs" / "index.html").is_file()  # written in the run's folder first


def test_results_and_data_docs_upload_to_s3(registry: Registry, tmp_path: Path, s3_endpoint: str) -> None:
    from support.s3 import s3_client

    s3 = open_storage("s3://cf-test/cf")
    report = validate_manifest([item(0), item(1, media={"fps": 1.0})], make_source(), registry, storage=s3,
                               run_id="run-9", work_dir=tmp_path / "work", batch_id="00007", now=NOW)
    prefix = "validation/demo/run=run-9/manifest/batch=00007/"
    _check_stored(s3, report, prefix)
    assert report.docs_uri == f"s3://cf-test/cf/{prefix}docs/index.html"
    listed = s3_client(s3_endpoint).list_objects_v2(Bucket="cf-test", Prefix=f"cf/{prefix}")
    assert f"cf/{prefix}report.json" in {o["Key"] for o in listed["Contents"]}


# -- GX stays inside its box -------------------------------------------------------------------------

def _python(code: str, cwd: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GX_", "PYTHON"))}
    env |= {"PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(ROOT / "tests")]), **env_extra}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_importing_validate_does_not_import_great_expectations(tmp_path: Path) -> None:
    proc = _python("import sys, clearframe.validate\n"
                   "print(sorted(m for m in sys.modules if m.split('.')[0] in ('great_expectations', 'pandas')))",
                   tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_gx_writes_nothing_outside_the_work_dir(tmp_path: Path) -> None:
    home, cwd, tmp, base = (tmp_path / d for d in ("home", "cwd", "tmp", "base"))
    for d in (home, cwd, tmp, base):
        d.mkdir()
    code = textwrap.dedent(f"""
        import datetime as dt, sys, warnings
        from pathlib import Path
        warnings.simplefilter("error")  # GX's deprecated import must not trip warnings-as-errors
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_validate import NOW, item, make_source
        from clearframe.gate.registry import Registry
        from clearframe.storage import open_storage
        from clearframe.validate import validate_manifest
        base = Path({str(base)!r})
        reg = Registry(f"sqlite:///{{base / 'registry' / 'r.sqlite'}}")
        rep = validate_manifest([item(0), item(1, decision="review")], make_source(), reg,
                                storage=open_storage(str(base / "storage")), run_id="run-1",
                                work_dir=base / "work", batch_id="00000", now=NOW)
        print(rep.passed)
    """)
    proc = _python(code, cwd, {"HOME": str(home), "TMPDIR": str(tmp), "XDG_CACHE_HOME": str(home / ".cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "False"
    assert list(home.iterdir()) == [] and list(cwd.iterdir()) == [] and list(tmp.iterdir()) == []
    assert sorted(p.name for p in base.iterdir()) == ["registry", "storage", "work"]
    work = [p.relative_to(base / "work").as_posix() for p in (base / "work").rglob("*") if p.is_file()]
    assert work and all(w.startswith("validation/demo/run=run-1/manifest/batch=00000/") for w in work)


# -- the shard index and the dataset version ---------------------------------------------------------

def index_rows(items: list[dict[str, Any]], shard: str = "shard-0000000000000000") -> list[dict[str, Any]]:
    """Index rows as the shard writer fills INDEX_SCHEMA (offsets made up; columns from the schema)."""
    out = []
    for n, it in enumerate(items):
        known = {**{k: v for k, v in it.items() if k != "media"}, **it["media"], "shard": shard,
                 "offset": 512 + 4096 * n, "size": it["bytes"], "json_offset": 2048 + 4096 * n, "json_size": 600,
                 "source_url": it["url"]}
        out.append({name: known.get(name) for name in INDEX_SCHEMA.names})
    return out


def test_index_of_a_real_shard_passes_then_fails_after_an_optout(clips: dict[str, Path], storage: Storage,
                                                                 registry: Registry, tmp_path: Path) -> None:
    items = []
    for n, name in enumerate(["clip1", "clip2", "clip3"]):
        data = clips[name].read_bytes()
        it = item(n, media={"duration": 1.0, "width": 160, "height": 96, "fps": 12.0},
                  sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
        storage.put_bytes(it["staged"], data)
        items.append(it)
    shard_items(storage, "demo", items, 10**9, tmp_path / "shard-work")
    [key] = [k for k in storage.list(shards_prefix("demo")) if k.endswith(".parquet")]
    table = pq.read_table(io.BytesIO(storage.get_bytes(key)))
    shard = key.rsplit("/", 1)[1].removesuffix(".parquet")
    kw: dict[str, Any] = {"storage": storage, "run_id": "run-1", "work_dir": tmp_path / "work", "shard": shard,
                          "now": NOW}

    report = validate_index(table, make_source(), registry, **kw)
    assert report.passed, report.summary
    assert report.docs_key == f"validation/demo/run=run-1/index/{shard}/docs/index.html"
    assert {"index_ranges.offset", "index_ranges.unique", "types.has_audio"} <= {o.name for o in report.results}

    registry.add("hash", items[1]["sha256"], "rights@example.org", "takedown 12")
    report = validate_index(table, make_source(), registry, **kw)
    assert not report.passed
    assert outcome(report, "optout_registry").keys == [items[1]["key"]]


def test_index_ranges_must_not_overlap(registry: Registry, storage: Storage, tmp_path: Path) -> None:
    rows = index_rows([item(i) for i in range(3)])
    rows[2]["offset"] = rows[1]["offset"]
    rows[0]["json_size"] = 0
    report = validate_index(pa.Table.from_pylist(rows, schema=INDEX_SCHEMA), make_source(), registry,
                            storage=storage, run_id="run-1", work_dir=tmp_path / "w", shard="s", now=NOW)
    assert set(outcome(report, "index_ranges.unique").keys) == {rows[1]["key"], rows[2]["key"]}
    assert outcome(report, "index_ranges.json_size").keys == [rows[0]["key"]]


def test_index_without_the_gate_columns_fails_its_schema(registry: Registry, storage: Storage,
                                                         tmp_path: Path) -> None:
    table = pa.Table.from_pylist(index_rows([item(0)]), schema=INDEX_SCHEMA).drop_columns(["decision",
                                                                                          "decided_at"])
    report = validate_index(table, make_source(), registry, storage=storage, run_id="run-1",
                            work_dir=tmp_path / "w", shard="s", now=NOW)
    assert not report.passed
    assert outcome(report, "schema").detail == "missing columns: decided_at, decision"


def test_version_finds_duplicates_across_shards_and_applies_each_source_bounds(
        registry: Registry, storage: Storage, tmp_path: Path) -> None:
    wide, narrow = make_source("wide"), make_source("narrow", media={**BOUNDS, "min_width": 320})
    a = [item(0, "wide", media={"width": 160}), item(1, "wide")]
    b = [item(2, "narrow", media={"width": 160}), item(3, "narrow", sha256=a[1]["sha256"])]
    rows = index_rows(a, "shard-a") + index_rows(b, "shard-b")
    report = validate_version(pa.Table.from_pylist(rows, schema=INDEX_SCHEMA), [wide, narrow], registry,
                              storage=storage, run_id="run-1", work_dir=tmp_path / "w", version="v3", now=NOW)
    assert not report.passed
    assert set(outcome(report, "unique_sha256").keys) == {a[1]["key"], b[1]["key"]}
    bounds = [o for o in report.results if o.name == "media_bounds.width"]
    assert {o.source: o.keys for o in bounds} == {"narrow": [b[0]["key"]], "wide": []}
    assert report.docs_key == "validation/demo/run=run-1/version/v3/docs/index.html"


def test_version_of_sources_from_several_datasets_needs_a_dataset(registry: Registry, storage: Storage,
                                                                  tmp_path: Path) -> None:
    other = parse_source({**make_source("other").model_dump(), "dataset": "elsewhere"}, "/sources/other.yaml")
    with pytest.raises(ValidationError, match="several datasets.*pass dataset="):
        validate_version([], [make_source(), other], registry, storage=storage, run_id="r", work_dir=tmp_path,
                         version="v1", now=NOW)
