"""`clearframe` command line: check one URL, or run the whole flow for one source."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from clearframe.config import HttpInput, Settings, Source, load_source
from clearframe.errors import ClearFrameError, ConfigError

if TYPE_CHECKING:
    from clearframe.gate.registry import Registry

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
        cur = result.curation
        v = cur.version if cur is not None else None
        print(json.dumps({"run_id": result.run_id, "storage": settings.storage, **counts,
                          "version": v.version if v else None, "latest": v.latest if v else None,
                          "validation_blocked": len(cur.blocked) if cur else 0}))
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
    cur = result.curation
    if cur is not None and cur.version is not None:
        v = cur.version
        made = f"published v{v.version} (+{v.added} items)" if v.version else "no new version (nothing new)"
        out.print(f"dataset {v.dataset}: {made}; latest v{v.latest}: {v.members} items in {len(v.shards)} shards",
                  highlight=False)
        if v.card_key:
            from clearframe.storage import open_storage

            out.print(f"card: {open_storage(settings.storage).uri(v.card_key)}", highlight=False)
        if v.missing_staged:
            out.print(f"[yellow]warning:[/] {len(v.missing_staged)} admitted items had no staged copy")
    if cur is not None and cur.blocked:
        out.print(f"[yellow]validation blocked {len(cur.blocked)} batch(es), {cur.quarantined} items quarantined; "
                  f"see {', '.join(b['docs'] for b in cur.blocked if b.get('docs'))}")
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


# -- operating the registry, explaining decisions (logic in clearframe.ops) ----------------------------

EXIT_NOT_FOUND = 1
EXIT_INPUT = 2
EXIT_REGISTRY = 3

OPTOUT_HELP = """\
Manage ClearFrame's opt-out registry. An entry stops every future candidate that matches it, before any
request is sent (the gate checks the registry first).

kinds:
  creator   a creator's name, any spelling or case ("Mara Lind")
  channel   a channel or account name
  video     a platform video id (case-sensitive)
  url       one page or media URL (http/https)
  domain    a site and all its subdomains (example.com)
  hash      a file's SHA-256 (64 hex digits), checked after download: the file is purged

Complaints and takedowns are opt-outs with the complaint in the reason. A complaint against a channel:
  clearframe optout add channel "Some Channel" --by "legal@example.org" --reason "complaint #123"

Every change (add, remove, import) is recorded with who asked, when and why; `optout list --history`
shows the record. Import files are CSV with the header kind,value,requested_by,reason (requested_by and
reason may be left out when --by / --reason give them); the whole file is checked first and refused as a
whole if any row is wrong; importing the same file again changes nothing.

The registry is $CLEARFRAME_REGISTRY_URL (default: sqlite under $CLEARFRAME_HOME).
exit codes: 0 done (or already so), 1 `remove` found no such entry, 2 bad input (the message names the
file, line and field), 3 the registry database failed (nothing was changed).
"""

BLOCKED_HELP = """\
Manage the blocked-domains list (e.g. known piracy sites): candidates on a blocked domain or any of its
subdomains are denied before any request. Import files are CSV with the header domain,requested_by,reason.
Every change is recorded with who asked, when and why (`blocked list --history`).
exit codes: 0 done (or already so), 1 `remove` found no such domain, 2 bad input, 3 the registry database
failed (nothing was changed).
"""

EXPLAIN_HELP = """\
Explain a recorded decision: the latest ledger row for one candidate, each finding in order (signal,
verdict, detail, locator, HTTP status, rule, evidence and whether that evidence is in storage), the licence,
the policy version and time, registry entries behind opt-out findings (who, when, why), and how many
earlier rows the candidate has.

CANDIDATE is a candidate key (24 hex digits), a canonical id (url:https://..., delivery:CONTRACT:ITEM) or a
URL. exit codes: 0 explained, 1 not found, 2 bad input or several candidates match (they are listed).
"""


def _open_registry() -> Registry:
    from clearframe.gate.registry import Registry

    return Registry(Settings.from_env().registry_url)


def _refused(what: str, exc: Exception) -> int:
    from clearframe.ops import clean_lines

    print(f"clearframe: {what}:\n{clean_lines(exc)}", file=sys.stderr)
    return EXIT_INPUT


def _registry_failed(registry: Registry, exc: Exception) -> int:
    where = registry.engine.url.render_as_string(hide_password=True)
    print(f"clearframe: the registry database {where} failed: {exc.__class__.__name__}: {exc}; nothing was "
          "changed (a change and its audit record are one transaction): check the database and try again",
          file=sys.stderr)
    return EXIT_REGISTRY


def _with_registry(apply: Callable[[Registry], int]) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    registry = _open_registry()
    try:
        return apply(registry)
    except SQLAlchemyError as exc:
        return _registry_failed(registry, exc)
    finally:
        registry.close()


def _print_list(items: list[Any], describe: Callable[[Any], str], as_json: bool, empty: str) -> int:
    if as_json:
        print(json.dumps([i.to_dict() for i in items], indent=2))
    else:
        print("\n".join(describe(i) for i in items) or empty)
    return 0


def _optout(args: argparse.Namespace) -> int:
    from clearframe import ops

    action = args.action
    entries = []
    try:
        if action in ("add", "remove"):
            ops.check_command_line(args.kind, args.value, args.by, validate_value=action == "add")
            if not args.reason.strip():
                raise ops.InputProblems([ops.Problem("command line", "--reason", "is empty: say why (a "
                                                     "complaint or ticket number is enough)")])
        if action == "import":
            entries = ops.read_optout_csv(args.file, by=args.by, reason=args.reason)
    except ops.InputProblems as exc:
        note = f"; nothing was imported from {args.file}" if action == "import" else ""
        return _refused(f"optout {action} refused{note}", exc)

    def apply(registry: Registry) -> int:
        if action in ("add", "remove"):
            kind = args.kind.strip().lower()
            if action == "add":
                added = registry.add(kind, args.value, args.by.strip(), args.reason.strip(),
                                     origin="command line")
                now = registry.entry(kind, args.value)
                shown = ops.describe_entry(now) if now else f"{kind} {args.value!r}"
                print(f"added: {shown}" if added else f"already in the registry, nothing changed: {shown}")
                return 0
            gone = registry.remove_entry(kind, args.value, args.by.strip(), args.reason.strip(),
                                         origin="command line")
            if gone is None:
                print(f"clearframe: not in the registry: {kind} {args.value!r}; nothing removed "
                      f"(see `clearframe optout list --kind {kind}`)", file=sys.stderr)
                return EXIT_NOT_FOUND
            print(f"removed: {ops.describe_entry(gone)}")
            return 0
        if action == "import":
            report = ops.ImportReport(args.file, registry.import_entries(entries))
            print(json.dumps(report.to_dict(), indent=2) if args.json else ops.clean(report.summary()))
            return 0
        if args.history:
            events = registry.events(kinds=[args.kind] if args.kind else list(ops.KINDS))
            return _print_list(events, ops.describe_event, args.json, "(no changes recorded)")
        return _print_list(registry.entries(args.kind), ops.describe_entry, args.json, "(no entries)")

    return _with_registry(apply)


def _blocked(args: argparse.Namespace) -> int:
    from clearframe import ops
    from clearframe.gate.registry import BLOCKED_KIND

    action = args.action
    entries = []
    try:
        if action in ("add", "remove"):
            ops.check_command_line(BLOCKED_KIND, args.domain, args.by, validate_value=action == "add")
            if not args.reason.strip():
                raise ops.InputProblems([ops.Problem("command line", "--reason", "is empty: say why")])
        if action == "import":
            entries = ops.read_blocked_csv(args.file, by=args.by, reason=args.reason)
    except ops.InputProblems as exc:
        note = f"; nothing was imported from {args.file}" if action == "import" else ""
        return _refused(f"blocked {action} refused{note}", exc)

    def apply(registry: Registry) -> int:
        if action == "add":
            added = registry.block_domain(args.domain, args.by.strip(), args.reason.strip(),
                                          origin="command line")
            now = registry.entry(BLOCKED_KIND, args.domain)
            shown = ops.describe_entry(now) if now else f"domain {args.domain}"
            print(f"blocked: {shown}" if added else f"already blocked, nothing changed: {shown}")
            return 0
        if action == "remove":
            gone = registry.unblock_domain(args.domain, args.by.strip(), args.reason.strip(),
                                           origin="command line")
            if gone is None:
                print(f"clearframe: {args.domain!r} is not on the blocked-domains list; nothing removed "
                      "(see `clearframe blocked list`)", file=sys.stderr)
                return EXIT_NOT_FOUND
            print(f"unblocked: {ops.describe_entry(gone)}")
            return 0
        if action == "import":
            report = ops.ImportReport(args.file, registry.import_entries(entries))
            print(json.dumps(report.to_dict(), indent=2) if args.json else ops.clean(report.summary()))
            return 0
        if args.history:
            return _print_list(registry.events(kinds=[BLOCKED_KIND]), ops.describe_event, args.json,
                               "(no changes recorded)")
        return _print_list(registry.blocked_entries(), ops.describe_entry, args.json, "(no blocked domains)")

    return _with_registry(apply)


def _explain(args: argparse.Namespace) -> int:
    from clearframe import ops
    from clearframe.storage import open_storage

    settings = Settings.from_env(args.storage)
    storage = open_storage(settings.storage)
    try:
        expl = ops.explain(storage, args.candidate, source=args.source, registry_url=settings.registry_url,
                           show_evidence=args.show_evidence)
    except ops.InputProblems as exc:
        return _refused("explain refused", exc)
    except ops.CandidateNotFound as exc:
        if args.json:
            print(json.dumps({"error": "not-found", "query": args.candidate, "searched": exc.query.describe(),
                              "storage": exc.storage, "parts": exc.parts, "unreadable": exc.unreadable}))
        print(f"clearframe: {ops.clean_lines(exc)}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except ops.AmbiguousCandidate as exc:
        if args.json:
            print(json.dumps({"error": "ambiguous", "query": args.candidate, "matches": exc.matches},
                             indent=2))
        print(f"clearframe: {ops.clean_lines(exc)}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(json.dumps(expl.to_dict(), indent=2))
    else:
        print(ops.render(expl, show_evidence=args.show_evidence))
    return 0


def _add_ops_commands(sub: Any) -> None:
    from clearframe.gate.registry import KINDS

    raw = argparse.RawDescriptionHelpFormatter
    o = sub.add_parser("optout", help="add, remove, list or import opt-outs and complaints",
                       description=OPTOUT_HELP, formatter_class=raw)
    osub = o.add_subparsers(dest="action", required=True)
    for action, verb in (("add", "add an opt-out (or a complaint: put its number in --reason)"),
                         ("remove", "remove an opt-out; the removal is recorded too")):
        a = osub.add_parser(action, help=verb, description=OPTOUT_HELP, formatter_class=raw)
        a.add_argument("kind", metavar="KIND", help=f"one of {', '.join(KINDS)}")
        a.add_argument("value", metavar="VALUE", help="the name, id, URL, domain or SHA-256")
        a.add_argument("--by", required=True, metavar="WHO", help="who asked (name, email, ticket queue)")
        a.add_argument("--reason", required=True, metavar="WHY", help='why, e.g. "complaint #123"')
    ol = osub.add_parser("list", help="list opt-outs, or with --history every recorded change")
    ol.add_argument("--kind", choices=KINDS, help="only this kind")
    ol.add_argument("--history", action="store_true", help="every add/remove/import, oldest first")
    ol.add_argument("--json", action="store_true", help="print JSON")
    oi = osub.add_parser("import", help="import a CSV (kind,value,requested_by,reason): all rows or none",
                         description=OPTOUT_HELP, formatter_class=raw)
    oi.add_argument("file", metavar="FILE.csv")
    oi.add_argument("--by", metavar="WHO", help="who asked, for rows that do not say")
    oi.add_argument("--reason", metavar="WHY", help="why, for rows that do not say")
    oi.add_argument("--json", action="store_true", help="print the report as JSON")
    o.set_defaults(func=_optout)

    b = sub.add_parser("blocked", help="add, remove, list or import blocked domains",
                       description=BLOCKED_HELP, formatter_class=raw)
    bsub = b.add_subparsers(dest="action", required=True)
    for action, verb in (("add", "block a domain and its subdomains"),
                         ("remove", "unblock a domain; the removal is recorded too")):
        a = bsub.add_parser(action, help=verb, description=BLOCKED_HELP, formatter_class=raw)
        a.add_argument("domain", metavar="DOMAIN")
        a.add_argument("--by", required=True, metavar="WHO", help="who asked")
        a.add_argument("--reason", required=True, metavar="WHY", help="why")
    bl = bsub.add_parser("list", help="list blocked domains, or with --history every recorded change")
    bl.add_argument("--history", action="store_true", help="every block/unblock/import, oldest first")
    bl.add_argument("--json", action="store_true", help="print JSON")
    bi = bsub.add_parser("import", help="import a CSV (domain,requested_by,reason): all rows or none",
                         description=BLOCKED_HELP, formatter_class=raw)
    bi.add_argument("file", metavar="FILE.csv")
    bi.add_argument("--by", metavar="WHO", help="who asked, for rows that do not say")
    bi.add_argument("--reason", metavar="WHY", help="why, for rows that do not say")
    bi.add_argument("--json", action="store_true", help="print the report as JSON")
    b.set_defaults(func=_blocked)

    e = sub.add_parser("explain", help="why a candidate was decided as it was, from the ledger",
                       description=EXPLAIN_HELP, formatter_class=raw)
    e.add_argument("candidate", metavar="CANDIDATE", help="candidate key, canonical id or URL")
    e.add_argument("--source", metavar="NAME", help="only this source's ledger")
    e.add_argument("--storage", help="where the ledger is (default: $CLEARFRAME_STORAGE)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--show-evidence", action="store_true", help="print the first lines of each text evidence "
                   "document")
    e.set_defaults(func=_explain)


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
    _add_ops_commands(sub)
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
