"""`clearframe` command line: check one URL, or run the whole flow for one source."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from clearframe.config import HttpInput, Settings, Source, load_source
from clearframe.errors import ClearFrameError, ConfigError

EXIT_CONFIG = 2


def _check(args: argparse.Namespace) -> int:
    from clearframe.pipeline import Context
    from clearframe.sources.urllist import candidate_from_url

    settings = Settings.from_env(args.storage)
    source = load_source(args.source) if args.source else Source(name="check", kind="http",
                                                                   http=HttpInput(urls="-"))
    cand = candidate_from_url(source, args.url, "command line")
    with Context(source, settings) as ctx:
        outcome = ctx.gate.evaluate([cand])[0]
    res = outcome.result
    lic = res.license
    payload: dict[str, Any] = {
        "url": args.url,
        "decision": str(res.decision),
        "reasons": [f.to_dict() for f in res.reasons],
        "findings": [f.to_dict() for f in res.findings],
        "license": {"raw": lic.raw if lic else None, "spdx": lic.spdx if lic else None,
                    "found_in": lic.found_in if lic else None},
        "media_url": outcome.probe.media_url,
        "evidence": sorted({f.evidence for f in res.findings if f.evidence}),
        "policy_version": res.policy_version,
        "decided_at": res.decided_at,
    }
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    out = Console()
    colour = {"allow": "green", "deny": "red", "defer": "yellow", "review": "magenta"}[payload["decision"]]
    out.print(f"[bold {colour}]{payload['decision'].upper()}[/]  {args.url}")
    out.print(f"license: {payload['license']['spdx'] or '-'} (raw: {payload['license']['raw'] or '-'})")
    for f in res.reasons:
        out.print(f"  [{f.verdict}] {f.signal}: {f.detail}", markup=False, highlight=False)
    for digest in payload["evidence"]:
        out.print(f"  evidence: sha256:{digest}", highlight=False)
    return 0


def _run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from clearframe.pipeline import run_source

    settings = Settings.from_env(args.storage)
    source = load_source(args.source_file)
    err = Console(stderr=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=err, disable=not err.is_terminal)
    with progress:
        task = progress.add_task(source.name, total=None)
        result = run_source(
            source, settings, limit=args.limit, batch_size=args.batch_size, dry_run=args.dry_run,
            on_discovered=lambda n: progress.update(task, total=n),
            on_progress=lambda n: progress.advance(task, n),
        )
    counts = asdict(result.counts)
    if args.json:
        print(json.dumps({"run_id": result.run_id, "storage": settings.storage, **counts}))
        return 0
    table = Table(title=f"{source.name}  run {result.run_id}")
    for k in ("candidates", "allow", "deny", "defer", "review", "fetched", "quarantined", "sharded", "bytes"):
        table.add_column(k, justify="right")
    table.add_row(*(f"{counts[k]:,}" for k in ("candidates", "allow", "deny", "defer", "review", "fetched",
                                                "quarantined", "sharded", "bytes")))
    out = Console()
    if not out.is_terminal:
        out = Console(width=140)  # a log file or pipe: keep the table whole
    out.print(table)
    out.print(f"storage: {settings.storage}", highlight=False)
    if result.shards and result.shards.missing_staged:
        out.print(f"[yellow]warning:[/] {len(result.shards.missing_staged)} admitted items had no staged copy")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from clearframe.sources.demo import ensure_demo_delivery

    path = ensure_demo_delivery(Settings.from_env())
    print(f"demo delivery ready in {path}")
    return 0


def _pools(args: argparse.Namespace) -> int:
    """Airflow pools, one per source, sized by its per-host cap (for `airflow pools import`)."""
    from clearframe.config import load_registry
    from clearframe.naming import pool_name, sources_dir

    sources, errors = load_registry(sources_dir())
    for e in errors:
        print(f"clearframe: skipping broken source: {e}", file=sys.stderr)
    pools = {pool_name(s.name): {"slots": s.fetch.per_host, "description": f"requests to source {s.name}",
                                 "include_deferred": False} for s in sources}
    print(json.dumps(pools, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="clearframe", description="Consent-first video ingestion.")
    p.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="probe and gate one URL; fetch no media")
    c.add_argument("url")
    c.add_argument("--source", help="a source file whose policy to apply")
    c.add_argument("--storage", help="where evidence is stored (default: $CLEARFRAME_STORAGE)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=_check)

    r = sub.add_parser("run", help="the whole flow for one source")
    r.add_argument("source_file")
    r.add_argument("--storage", help="a folder or s3://bucket/prefix (default: $CLEARFRAME_STORAGE)")
    r.add_argument("--limit", type=int, help="at most N candidates")
    r.add_argument("--batch-size", type=int, help="candidates per batch (default: the source's batch_size)")
    r.add_argument("--dry-run", action="store_true", help="gate only: write the ledger, fetch no media")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    r.set_defaults(func=_run)

    d = sub.add_parser("demo", help="generate the demo partner delivery and seed the demo registry")
    d.set_defaults(func=_demo)
    pl = sub.add_parser("pools", help="print one Airflow pool per source as JSON (airflow pools import)")
    pl.set_defaults(func=_pools)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"clearframe: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ClearFrameError as exc:
        print(f"clearframe: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
