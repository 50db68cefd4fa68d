"""Great Expectations validation time per 10,000 rows, for the batch-manifest and dataset-version suites.

    .venv/bin/python bench/bench_validate.py [--rows 10000] [--rounds 3] [--registry 10000] [--dirty 0.01]

What is timed is one whole `clearframe.validate` call, the way a curate task makes it: build the frame
(licence policy per distinct licence, one batched opt-out registry lookup against a SQLite registry
holding `--registry` entries, opt-out check ages), build the suite (~55 expectations), run it with GX
(ephemeral context, pandas, result format COMPLETE so failing rows are named), build the Data Docs site
and upload the pages, the result JSON and the report to a local storage folder. The one-off import of
great_expectations (~5 s) is timed separately, before the rounds; it is paid once per task process.

The table (seeded, reproducible): `--rows` manifest rows of one delivery source shaped exactly like
pipeline.run_batch writes them (24-hex keys from canonical ids, sha256 of the id, licences 70% CC-BY-4.0,
20% CC0-1.0, 10% none under a contract that covers training, media within the source's bounds, decided
2 days before `now`). With `--dirty F` a fraction F of rows each carries one violation (NC licence,
width out of bounds, decision "review", stale decision, or a creator in the registry), the realistic
worst case for result size: GX then lists every failing row. The version suite runs on the same rows
reshaped as shard-index rows (every column of shard.INDEX_SCHEMA).

Output: median seconds per phase and per 10,000 rows, printed and written to bench/out/validate_bench.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

sys.path.insert(0, str(BENCH))
import in_venv  # noqa: E402, F401  (re-runs this script inside the project's venv when needed)

from clearframe.config import Source, parse_source  # noqa: E402
from clearframe.gate.registry import NewEntry, Registry  # noqa: E402
from clearframe.records import candidate_key  # noqa: E402
from clearframe.storage import open_storage  # noqa: E402

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
CONTRACT = "BENCH-CONTRACT-1"
FLAWS = ("license", "width", "decision", "stale", "optout")


def bench_source(path: str) -> Source:
    return parse_source({
        "name": "bench_partner", "kind": "delivery", "dataset": "bench", "delivery": {"location": "x"},
        "acquisition": {"basis": "contract", "contract_id": CONTRACT, "covers_training": True},
        "media": {"min_duration_s": 1, "max_duration_s": 600, "min_width": 320, "max_width": 3840,
                  "min_height": 240, "max_height": 2160, "min_fps": 12, "max_fps": 60},
    }, path)


def manifest_rows(n: int, dirty: float, seed: int = 11) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows, and the creators that must be put in the registry for the `optout` flaw."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    opted_out: list[str] = []
    for i in range(n):
        cid = f"delivery:{CONTRACT}:clip-{i:07d}"
        key = candidate_key(cid)
        lic = rnd.choices(["CC-BY-4.0", "CC0-1.0", None], [70, 20, 10])[0]
        creator = f"Creator {rnd.randrange(max(1, n // 20)):05d}"
        decided = NOW - dt.timedelta(days=2, seconds=rnd.randrange(3600))
        row: dict[str, Any] = {
            "key": key, "staged": f"staging/bench/{key}.mp4", "source": "bench_partner", "canonical_id": cid,
            "url": None, "media_url": f"file:///deliveries/clip-{i:07d}.mp4", "title": f"Clip {i}",
            "creator": creator, "license_spdx": lic, "license_raw": lic, "license_found_in": "manifest",
            "contract_id": CONTRACT, "attribution": f'"Clip {i}" by {creator}, {lic or "licence unknown"}',
            "sha256": hashlib.sha256(cid.encode()).hexdigest(), "bytes": rnd.randrange(200_000, 90_000_000),
            "media": {"container": "mp4", "codec": "h264", "duration": round(rnd.uniform(2, 300), 3),
                      "width": rnd.choice([640, 1280, 1920]), "height": rnd.choice([360, 720, 1080]),
                      "fps": rnd.choice([24.0, 25.0, 30.0]), "has_audio": True, "audio_codec": "aac",
                      "frames_decoded": 12},
            "decision": "allow", "policy_version": "2026.11.1", "decided_at": decided.isoformat(timespec="seconds"),
            "run_id": "bench-run",
        }
        if rnd.random() < dirty:
            flaw = FLAWS[i % len(FLAWS)]
            if flaw == "license":
                row["license_spdx"] = "CC-BY-NC-4.0"
            elif flaw == "width":
                row["media"]["width"] = 100
            elif flaw == "decision":
                row["decision"] = "review"
            elif flaw == "stale":
                row["decided_at"] = (NOW - dt.timedelta(days=90)).isoformat(timespec="seconds")
            else:
                row["creator"] = f"Opted Out {i}"
                opted_out.append(row["creator"])
        rows.append(row)
    return rows, opted_out


def index_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same items as shard-index rows: every column of shard.INDEX_SCHEMA, as the shard writer fills it."""
    from clearframe.shard import INDEX_SCHEMA

    out = []
    for i, r in enumerate(rows):
        m = r["media"]
        known = {**{k: v for k, v in r.items() if k != "media"}, **m,
                 "shard": f"shard-{i // 1000:016x}", "offset": 512 + (i % 1000) * 4096, "size": r["bytes"],
                 "json_offset": 1024 + (i % 1000) * 4096, "json_size": 700, "source_url": r["url"]}
        out.append({name: known.get(name) for name in INDEX_SCHEMA.names})
    return out


def fill_registry(registry: Registry, size: int, opted_out: list[str]) -> None:
    entries = [NewEntry("creator", c, "bench", "bench complaint") for c in opted_out]
    entries += [NewEntry("creator", f"unrelated creator {k}", "bench") for k in range(size // 2)]
    entries += [NewEntry("domain", f"u{k}.example.net", "bench") for k in range(size - size // 2)]
    registry.import_entries(entries)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--registry", type=int, default=10_000, help="opt-out registry entries")
    ap.add_argument("--dirty", type=float, default=0.01, help="fraction of rows with one violation each")
    ap.add_argument("--out", default=str(BENCH / "out" / "validate_bench.json"))
    args = ap.parse_args()

    t = time.perf_counter()
    from clearframe import validate

    import_clearframe_validate = time.perf_counter() - t
    t = time.perf_counter()
    validate._gx()  # the one-off import, paid once per task process
    gx_import = time.perf_counter() - t

    rows, opted_out = manifest_rows(args.rows, args.dirty)
    idx = index_rows(rows)
    results: dict[str, Any] = {"rows": args.rows, "rounds": args.rounds, "registry_entries": args.registry,
                               "dirty": args.dirty, "import_clearframe_validate_s": round(import_clearframe_validate, 3),
                               "gx_import_s": round(gx_import, 3), "suites": {}}
    with tempfile.TemporaryDirectory(prefix="cf-bench-validate-") as tmp:
        base = Path(tmp)
        source = bench_source(str(base / "bench_partner.yaml"))
        registry = Registry(f"sqlite:///{base / 'registry.sqlite'}")
        fill_registry(registry, args.registry, opted_out)
        storage = open_storage(str(base / "storage"))
        for suite in ("manifest", "version"):
            rounds: list[dict[str, float]] = []
            outcome: dict[str, Any] = {}
            for r in range(args.rounds):
                kw: dict[str, Any] = {"storage": storage, "run_id": f"bench-{r}", "work_dir": base / f"work-{r}",
                                      "now": NOW}
                if suite == "manifest":
                    rep = validate.validate_manifest(rows, source, registry, batch_id="00000", **kw)
                else:
                    rep = validate.validate_version(idx, source, registry, version="v1", **kw)
                rounds.append(rep.timings)
                outcome = {"passed": rep.passed, "expectations": len(rep.results),
                           "failed_expectations": sorted({o.name for o in rep.results if not o.success}),
                           "rows_at_fault": sum(1 for v in rep.failing_keys.values() if not v[0].startswith("batch:")),
                           "result_json_bytes": storage.size(rep.result_key)}
            phases = {k: round(statistics.median(t[k] for t in rounds), 3) for k in rounds[0] if k != "gx_import_s"}
            per_10k = {k: round(v * 10_000 / args.rows, 3) for k, v in phases.items()}
            results["suites"][suite] = {"median_s": phases, "per_10k_rows_s": per_10k, **outcome}
            print(f"{suite:8s} {args.rows} rows: total {phases['total_s']:.2f} s (prepare {phases['prepare_s']:.2f}, "
                  f"GX validate {phases['gx_validate_s']:.2f}, Data Docs {phases['gx_docs_s']:.2f}, "
                  f"upload {phases['upload_s']:.2f}) -> {per_10k['total_s']:.2f} s per 10,000 rows; "
                  f"{outcome['expectations']} expectations, {outcome['rows_at_fault']} rows at fault")
        registry.close()
    print(f"import great_expectations (once per process): {gx_import:.2f} s; "
          f"import clearframe.validate: {import_clearframe_validate:.2f} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
