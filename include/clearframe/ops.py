"""Operating ClearFrame by hand: the consent registry, and why a candidate was decided as it was.

Two jobs, both behind `clearframe` subcommands (cli.py parses arguments and prints; the logic is here):

**Registry input** (`clearframe optout ...`, `clearframe blocked ...`). One validator serves the command line
and CSV imports, so an entry that could never match a candidate is refused before it is stored:

- ``creator`` / ``channel`` / ``video``: any non-empty text without control characters (normalised by
  `gate.registry.normalize`, the same function the gate uses to look them up).
- ``url``: an absolute http(s) URL (`sources.urllist.check_url`, the rule candidate URLs follow).
- ``domain``: a host name. RFC 1035 §2.3.1 letter-digit-hyphen labels with RFC 1123 §2.1's relaxation
  (a label may start with a digit), at most 63 characters a label and 253 a name (RFC 1035 §2.3.4, the
  textual form of a 255-octet name), at least two labels, and a top-level label that is not all digits
  (RFC 1123 §2.1: a dotted-decimal IP is not a host name). Internationalised names are checked in their
  ASCII (punycode) form. A URL, a port or a ``*.`` wildcard is refused with the fix spelled out: an entry
  already covers every subdomain.
- ``hash``: a SHA-256 digest, 64 hex digits, optionally written ``sha256:<hex>``.

Import files are CSV as RFC 4180 §2 describes it: comma-separated, fields optionally in double quotes
(``""`` for a quote inside one), a header line naming the columns, every record with as many fields as the
header (a differing count is an error, never a guess). UTF-8, with or without a BOM; CRLF or LF. Blank
lines are skipped. Leading and trailing spaces in a field are dropped (RFC 4180 keeps them, but no
identifier, name or reason is meant to carry them, and the registry would strip them anyway).
Opt-out files have the header ``kind,value,requested_by,reason`` and blocked-domain files
``domain,requested_by,reason``; ``requested_by`` and ``reason`` may be left out (column or cell) when
``--by`` / ``--reason`` give a default, and a cell wins over the default. Every row is checked before
anything is written; one bad row refuses the whole file, and the errors name ``FILE:LINE``, the field, what
is wrong and what to do. Then the rows go in in one transaction (`Registry.import_entries`), which
reports what was added and what was already there, so importing the same file twice changes nothing.

Not implemented on purpose: other separators (``;`` or tab) are refused with a hint rather than sniffed;
a removal does not validate the value's format, so an entry stored before validation existed can still
be removed.

**Explain** (`clearframe explain CANDIDATE`). CANDIDATE is a candidate key (24 hex digits), a canonical id
(``url:https://...``, ``delivery:CONTRACT:ITEM``) or a URL. Every ledger part under ``ledger/<source>/`` is
read with a pyarrow filter on key / canonical_id / url / media_url, so only the matching rows become Python
objects. The rows of one candidate are ordered by when they were recorded; the latest is explained
finding by finding, and each evidence sha256 is resolved to its storage key and checked for presence.
Registry findings are resolved against the registry as it is now (entry, who, when, why, and its history
of changes). A URL that matches candidates in several sources is ambiguous: the matches are listed and
nothing is guessed.
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearframe.errors import ClearFrameError
from clearframe.evidence import evidence_key
from clearframe.gate.registry import (
    BLOCKED_KIND,
    KINDS,
    Entry,
    Event,
    ImportResult,
    NewEntry,
    Registry,
    normalize,
)
from clearframe.records import candidate_key
from clearframe.sources.urllist import canonical_url, check_url
from clearframe.storage import Storage

MAX_VALUE = 2048  # the registry's value column
MAX_WHO = 256  # the registry's requested_by column
MAX_PROBLEMS_SHOWN = 50

OPTOUT_COLUMNS = ("kind", "value", "requested_by", "reason")
BLOCKED_COLUMNS = ("domain", "requested_by", "reason")


# ------------------------------------------------------------------------------------------ problems

@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (FILE:LINE, or "command line"), which field, what to do."""

    where: str
    field: str | None
    message: str

    def __str__(self) -> str:
        if self.field:
            return f"{self.where}: field '{self.field}': {self.message}"
        return f"{self.where}: {self.message}"


class InputProblems(ClearFrameError):
    """The input was refused as a whole; `problems` lists every reason (the CLI exits 2)."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"... and {len(self.problems) - MAX_PROBLEMS_SHOWN} more problems")
        super().__init__("\n".join(lines))


def clean(text: object) -> str:
    """Printable form of untrusted text (evidence bodies, ledger details): control characters escaped,
    so a document cannot rewrite the operator's terminal."""
    s = str(text)
    return "".join(f"\\x{ord(c):02x}" if c != "\t" and (ord(c) < 32 or 127 <= ord(c) < 160) else c
                   for c in s)


def clean_lines(text: object) -> str:
    """`clean`, line by line: the line breaks of a multi-line message survive."""
    return "\n".join(clean(line) for line in str(text).split("\n"))


def _has_controls(s: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in s)


# --------------------------------------------------------------------------------------- validation

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SHA256 = re.compile(r"(?:sha256:)?[0-9a-f]{64}")


def domain_problem(raw: str) -> str | None:
    """None if `raw` is a host name an opt-out or block can name, else what is wrong and what to do."""
    v = raw.strip()
    if not v:
        return "is empty: write a domain name such as example.com"
    if _has_controls(v) or any(c.isspace() for c in v):
        return f"{clean(v)!r} contains whitespace or control characters: write the domain name alone"
    if "://" in v or any(c in v for c in "/?#@"):
        from urllib.parse import urlsplit

        try:
            host = urlsplit(v if "://" in v else "//" + v).hostname
        except ValueError:
            host = None
        hint = f" ({host})" if host else ""
        return f"{v!r} is a URL, not a domain: give the host name only{hint}, or use kind 'url' for one page"
    if v.startswith("*."):
        return f"{v!r}: drop the '*.', a domain entry already covers every subdomain ({v[2:]})"
    if ":" in v or v.startswith("["):
        return f"{v!r} has a port or is an IP address: give the host name only"
    name = v.rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return f"{v!r} is not a valid internationalised domain name: check its spelling"
    if len(name) > 253:
        return f"{v[:40]!r}... is longer than 253 characters, the limit for a domain name (RFC 1035 §2.3.4)"
    labels = name.split(".")
    if len(labels) < 2:
        return f"{v!r} is a single label: write the full domain name (e.g. {name}.com)"
    for label in labels:
        if not _LABEL.fullmatch(label):
            return (f"label {label!r} of {v!r} is not a host name label: letters, digits and '-', 1 to 63 "
                    "characters, not starting or ending with '-' (RFC 1035 §2.3.1, RFC 1123 §2.1)")
    if labels[-1].isdigit():
        return f"{v!r} is an IP address, not a domain name: list the site's domain name"
    if "." not in normalize("domain", name):
        # The registry drops a leading "www.", so "www.com" would opt out of the whole top-level domain.
        return f"{v!r} would stand for a top-level domain alone: write the site's own domain name"
    return None


def value_problem(kind: str, value: str) -> str | None:
    """None if `value` is a usable identifier of this kind, else what is wrong and what to do."""
    v = value.strip()
    if not v:
        return f"is empty: give the {kind} to opt out"
    if len(v) > MAX_VALUE:
        return f"is {len(v)} characters long; the registry holds at most {MAX_VALUE}"
    if kind == "domain":
        return domain_problem(v)
    if _has_controls(v):
        return f"{clean(v)!r} contains control characters: remove them"
    if kind == "url":
        problem = check_url(v)
        return f"{v!r}: {problem}: give the full http(s) URL of the page or media" if problem else None
    if kind == "hash":
        if not _SHA256.fullmatch(v.lower()):
            return (f"{v!r} is not a SHA-256 digest: give 64 hexadecimal digits (e.g. from "
                    "`sha256sum FILE`), optionally written sha256:<hex>")
        return None
    if kind in ("creator", "channel") and not normalize(kind, v):
        return f"is empty: give the {kind}'s name"
    return None


def who_problem(who: str) -> str | None:
    w = who.strip()
    if not w:
        return "is empty: say who asked (a name, an email address, a ticket queue)"
    if len(w) > MAX_WHO:
        return f"is {len(w)} characters long; at most {MAX_WHO}"
    if _has_controls(w):
        return "contains control characters: remove them"
    return None


def kind_problem(kind: str) -> str | None:
    if not kind.strip():
        return f"is empty: use one of {', '.join(KINDS)}"
    if kind.strip().lower() not in KINDS:
        close = difflib.get_close_matches(kind.strip().lower(), KINDS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown kind {kind!r}{hint}: use one of {', '.join(KINDS)}"
    return None


def check_command_line(kind: str, value: str, who: str | None, *, validate_value: bool = True) -> None:
    """Validate one `optout`/`blocked` command; raises InputProblems naming the bad argument."""
    problems = []
    if kind != BLOCKED_KIND and (p := kind_problem(kind)):
        problems.append(Problem("command line", "KIND", p))
    elif validate_value:
        p = domain_problem(value) if kind == BLOCKED_KIND else value_problem(kind, value)
        if p:
            problems.append(Problem("command line", "DOMAIN" if kind == BLOCKED_KIND else "VALUE", p))
    elif not value.strip():
        problems.append(Problem("command line", "VALUE", "is empty: give the entry to remove"))
    if who is not None and (p := who_problem(who)):
        problems.append(Problem("command line", "--by", p))
    if problems:
        raise InputProblems(problems)


# -------------------------------------------------------------------------------------- CSV imports

@dataclass(frozen=True)
class ImportReport:
    file: str
    result: ImportResult

    def to_dict(self) -> dict[str, Any]:
        def rows(entries: list[NewEntry]) -> list[dict[str, Any]]:
            return [{"kind": e.kind, "value": e.value, "requested_by": e.requested_by, "reason": e.reason,
                     "origin": e.origin} for e in entries]

        r = self.result
        return {"file": self.file, "added": len(r.added), "already_present": len(r.present),
                "repeated_in_file": len(r.repeated), "added_entries": rows(r.added),
                "present_entries": rows(r.present), "repeated_entries": rows(r.repeated)}

    def summary(self) -> str:
        r = self.result
        text = f"{self.file}: {len(r.added)} added, {len(r.present)} already present"
        if r.repeated:
            where = ", ".join(clean(e.origin) for e in r.repeated[:5])
            where += ", ..." if len(r.repeated) > 5 else ""
            text += f", {len(r.repeated)} repeated within the file ({where})"
        return text


def _csv_records(path: Path, known: tuple[str, ...], required: tuple[str, ...], *, has_default_by: bool,
                 ) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    """The records of an import file as (line, {column: stripped value}), and the problems found."""
    name = str(path)
    header_text = ",".join(known)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [Problem(name, None, f"cannot read the file ({exc.strerror or exc}): check the path")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return [], [Problem(f"{name}:{line}", None, f"is not UTF-8 text (byte 0x{data[exc.start]:02x}): "
                            "save the file as UTF-8 CSV")]
    problems: list[Problem] = []
    records: list[tuple[int, dict[str, str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns: list[str] | None = None
    start = 1
    try:
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if columns is None:
                columns = [c.strip().lower() for c in row]
                problems.extend(_header_problems(f"{name}:{start}", columns, known, required, header_text,
                                                 has_default_by=has_default_by))
                if problems:
                    return [], problems
                continue
            if len(row) != len(columns):
                problems.append(Problem(f"{name}:{start}", None, f"has {len(row)} fields but the header has "
                                        f"{len(columns)}: put values that contain commas in double quotes"))
                continue
            records.append((start, {c: v.strip() for c, v in zip(columns, row, strict=True)}))
    except csv.Error as exc:
        problems.append(Problem(f"{name}:{max(reader.line_num, start)}", None,
                                f"is not valid CSV ({exc}): fix the quoting on this line"))
    if columns is None and not problems:
        problems.append(Problem(f"{name}:1", None, f"the file is empty: its first line must be the header "
                                f"{header_text}"))
    return records, problems


def _header_problems(where: str, columns: list[str], known: tuple[str, ...], required: tuple[str, ...],
                     header_text: str, *, has_default_by: bool) -> list[Problem]:
    out = []
    if len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
        return [Problem(where, None, f"the header {columns[0]!r} is one column: separate columns with commas "
                        f"({header_text})")]
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            out.append(Problem(where, c, "column appears twice in the header: keep one"))
        seen.add(c)
        if c not in known:
            close = difflib.get_close_matches(c, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            out.append(Problem(where, c or "(empty)", f"unknown column: {hint}the header is {header_text}"))
    for c in required:
        if c not in columns:
            out.append(Problem(where, c, f"required column is missing: the header is {header_text}"))
    if "requested_by" not in columns and not has_default_by:
        out.append(Problem(where, "requested_by", "column is missing and --by was not given: add the column "
                           "or pass --by WHO"))
    return out


def _who_and_why(where: str, rec: dict[str, str], by: str | None, reason: str | None, file: str,
                 problems: list[Problem]) -> tuple[str, str]:
    who = rec.get("requested_by") or (by or "")
    p = who_problem(who)
    if p:
        hint = "" if by else " (or pass --by WHO for rows without one)"
        problems.append(Problem(where, "requested_by", p + hint))
    why = rec.get("reason") or reason or f"bulk import from {Path(file).name} (no reason given)"
    return who.strip(), why


def read_optout_csv(path: str | Path, *, by: str | None = None, reason: str | None = None) -> list[NewEntry]:
    """The entries of an opt-out import file (header kind,value,requested_by,reason), every row checked.

    Raises InputProblems listing every bad row (FILE:LINE, field, what to do); returns nothing partial.
    """
    p = Path(path)
    records, problems = _csv_records(p, OPTOUT_COLUMNS, ("kind", "value"), has_default_by=bool(by))
    out = []
    for line, rec in records:
        where = f"{p}:{line}"
        kind = rec["kind"].lower()
        kp = kind_problem(kind)
        if kp:
            problems.append(Problem(where, "kind", kp))
        else:
            vp = value_problem(kind, rec["value"])
            if vp:
                problems.append(Problem(where, "value", vp))
        who, why = _who_and_why(where, rec, by, reason, str(p), problems)
        out.append(NewEntry(kind, rec["value"], who, why, origin=where))
    if problems:
        raise InputProblems(problems)
    return out


def read_blocked_csv(path: str | Path, *, by: str | None = None, reason: str | None = None) -> list[NewEntry]:
    """The entries of a blocked-domains import file (header domain,requested_by,reason), every row checked."""
    p = Path(path)
    records, problems = _csv_records(p, BLOCKED_COLUMNS, ("domain",), has_default_by=bool(by))
    out = []
    for line, rec in records:
        where = f"{p}:{line}"
        dp = domain_problem(rec["domain"])
        if dp:
            problems.append(Problem(where, "domain", dp))
        who, why = _who_and_why(where, rec, by, reason, str(p), problems)
        out.append(NewEntry(BLOCKED_KIND, rec["domain"], who, why, origin=where))
    if problems:
        raise InputProblems(problems)
    return out


def import_optouts(registry: Registry, path: str | Path, *, by: str | None = None,
                   reason: str | None = None) -> ImportReport:
    """Check the whole file, then add its entries in one transaction (all or nothing; idempotent)."""
    return ImportReport(str(path), registry.import_entries(read_optout_csv(path, by=by, reason=reason)))


def import_blocked(registry: Registry, path: str | Path, *, by: str | None = None,
                   reason: str | None = None) -> ImportReport:
    return ImportReport(str(path), registry.import_entries(read_blocked_csv(path, by=by, reason=reason)))


# ---------------------------------------------------------------------------------- registry output

def iso(at: dt.datetime) -> str:
    at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    return at.astimezone(dt.UTC).isoformat(timespec="seconds")


def describe_entry(e: Entry) -> str:
    """One line for an audit: what, who asked, when, why."""
    what = f"domain {e.value}" if e.kind == BLOCKED_KIND else f"{e.kind} {e.value!r}"
    why = e.reason or "(no reason given)"
    return clean(f"{what}: requested by {e.requested_by} on {iso(e.created_at)}: {why}")


def describe_event(ev: Event) -> str:
    what = f"domain {ev.value}" if ev.kind == BLOCKED_KIND else f"{ev.kind} {ev.value!r}"
    who = ev.requested_by or "(not recorded)"
    line = f"{iso(ev.at)}  {ev.action:<7}  {what}  by {who}: {ev.reason or '-'}"
    if ev.origin:
        line += f"  [via {ev.origin}]"
    if ev.previous:
        prev = ev.previous
        when = str(prev.get("created_at", "?"))
        try:
            when = iso(dt.datetime.fromisoformat(when))
        except ValueError:
            pass
        line += (f"  (entry was requested by {prev.get('requested_by', '?')} on {when}: "
                 f"{prev.get('reason') or '-'})")
    return clean(line)


# ------------------------------------------------------------------------------------------ explain

_KEY = re.compile(r"[0-9a-f]{24}")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_]{0,62}$")
_OPTOUT_DETAIL = re.compile(
    r"^(?P<kind>creator|channel|video|url|domain|hash) (?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") "
    r"is in the opt-out registry")
_HASH_DETAIL = re.compile(r"^content hash (?P<value>[0-9a-fA-F]{64}) is in the opt-out registry")
_BLOCKED_DETAIL = re.compile(r"^domain (?P<value>\S+) is on the blocked-domains list")
PREVIEW_BYTES = 64 * 1024
PREVIEW_LINES = 12
PREVIEW_WIDTH = 240


@dataclass(frozen=True)
class Query:
    """What `explain` looks for: any row whose key, canonical id, url or media url is one of these."""

    text: str
    keys: frozenset[str] = frozenset()
    canonical_ids: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()

    def describe(self) -> str:
        parts = []
        if self.keys:
            parts.append(f"key in {sorted(self.keys)}")
        if self.canonical_ids:
            parts.append(f"canonical_id in {sorted(self.canonical_ids)}")
        if self.urls:
            parts.append(f"url or media_url in {sorted(self.urls)}")
        return " or ".join(parts)


def parse_candidate(text: str) -> Query:
    """A key (24 hex digits), a URL (scheme://...) or otherwise a canonical id."""
    t = text.strip()
    if not t:
        raise InputProblems([Problem("command line", "CANDIDATE",
                                     "is empty: give a candidate key, a canonical id or a URL")])
    if _KEY.fullmatch(t.lower()):
        return Query(t, keys=frozenset({t.lower()}))
    if _URL.match(t):
        urls = {t}
        cids: set[str] = set()
        if check_url(t) is None:
            canon = canonical_url(t)
            urls.add(canon)
            cids.add(f"url:{canon}")
        return Query(t, keys=frozenset(candidate_key(c) for c in cids), canonical_ids=frozenset(cids),
                     urls=frozenset(urls))
    return Query(t, keys=frozenset({candidate_key(t)}), canonical_ids=frozenset({t}))


def _filter(q: Query) -> Any:
    import pyarrow.compute as pc

    expr = None
    for column, values in (("key", q.keys), ("canonical_id", q.canonical_ids), ("url", q.urls),
                           ("media_url", q.urls)):
        if values:
            e = pc.field(column).isin(sorted(values))
            expr = e if expr is None else expr | e
    return expr


def ledger_parts(storage: Storage, source: str | None = None) -> list[str]:
    prefix = f"ledger/{source}/" if source else "ledger/"
    return [k for k in storage.list(prefix) if k.endswith(".parquet")]


def find_rows(storage: Storage, query: Query, source: str | None = None) -> tuple[list[dict[str, Any]], int,
                                                                                    list[str]]:
    """Matching ledger rows, the number of parts searched, and the parts that could not be read.

    Each part is read with a pyarrow filter: only matching rows are decoded into Python objects.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    expr = _filter(query)
    parts = ledger_parts(storage, source)
    rows: list[dict[str, Any]] = []
    unreadable: list[str] = []
    for key in parts:
        try:
            local = storage.local_path(key)
            src: Any = local if local else pa.BufferReader(storage.get_bytes(key))
            table = pq.read_table(src, filters=expr)
        except Exception as exc:  # one broken part must not hide the others; it is reported instead
            unreadable.append(f"{key} ({exc.__class__.__name__}: {exc})")
            continue
        rows.extend(table.to_pylist())
    return rows, len(parts), unreadable


@dataclass
class EvidenceRef:
    sha256: str
    key: str | None
    present: bool
    size: int | None = None
    preview: list[str] | None = None  # first lines of a text document (with --show-evidence)
    note: str | None = None  # binary, unreadable, not a digest...

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "key": self.key, "present": self.present, "size": self.size,
                "preview": self.preview, "note": self.note}


@dataclass
class RegistryRef:
    """A registry finding resolved against the registry as it is now."""

    kind: str
    value: str | None
    entry: Entry | None = None
    history: list[Event] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "entry": self.entry.to_dict() if self.entry else None,
                "history": [e.to_dict() for e in self.history], "error": self.error}


@dataclass
class FindingView:
    signal: str
    verdict: str
    detail: str
    locator: str | None
    status: int | None
    rule: str | None
    evidence: EvidenceRef | None = None
    registry: RegistryRef | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "verdict": self.verdict, "detail": self.detail,
                "locator": self.locator, "status": self.status, "rule": self.rule,
                "evidence": self.evidence.to_dict() if self.evidence else None,
                "registry": self.registry.to_dict() if self.registry else None}


@dataclass
class Explanation:
    query: str
    row: dict[str, Any]  # the latest ledger row, as stored (reasons still JSON text)
    findings: list[FindingView]
    evidence: list[EvidenceRef]  # every document the decision rested on (the row's evidence column)
    earlier: list[dict[str, Any]]
    storage: str
    problems: list[str] = field(default_factory=list)  # unreadable ledger parts, unreadable reasons

    def to_dict(self) -> dict[str, Any]:
        r = self.row
        return {
            "query": self.query, "storage": self.storage, "source": r.get("source"), "key": r.get("key"),
            "canonical_id": r.get("canonical_id"), "locator": r.get("locator"), "url": r.get("url"),
            "media_url": r.get("media_url"), "title": r.get("title"), "creator": r.get("creator"),
            "contract_id": r.get("contract_id"), "run_id": r.get("run_id"), "batch_id": r.get("batch_id"),
            "decision": r.get("decision"), "status": r.get("status"),
            "findings": [f.to_dict() for f in self.findings],
            "license": {"raw": r.get("license_raw"), "spdx": r.get("license_spdx"),
                        "found_in": r.get("license_found_in")},
            "evidence": [e.to_dict() for e in self.evidence],
            "sha256": r.get("sha256"), "bytes": r.get("bytes"),
            "quarantine_reason": r.get("quarantine_reason"),
            "policy_version": r.get("policy_version"), "decided_at": r.get("decided_at"),
            "recorded_at": r.get("recorded_at"), "earlier": self.earlier, "problems": self.problems,
        }


class CandidateNotFound(ClearFrameError):
    def __init__(self, query: Query, storage: str, source: str | None, parts: int, unreadable: list[str],
                 sources: list[str]):
        self.query, self.storage, self.source = query, storage, source
        self.parts, self.unreadable = parts, unreadable
        where = f"{storage}/ledger/{source + '/' if source else ''}"
        lines = [f"no ledger row matches {query.text!r}: searched {parts} ledger part(s) under {where} for "
                 f"{query.describe()}"]
        if not parts:
            lines.append("nothing has been recorded there: check --storage / $CLEARFRAME_STORAGE"
                         + (f" and --source (sources with a ledger: {', '.join(sources) or 'none'})"
                            if source else ""))
        if unreadable:
            lines.append(f"{len(unreadable)} part(s) could not be read and may hold it: "
                         f"{'; '.join(unreadable[:5])}")
        lines.append("a candidate is named by its key (24 hex digits: sha256 of the canonical id), its "
                     "canonical id (url:<canonical URL> for http sources, delivery:<contract>:<item id> for "
                     "deliveries) or its URL; `clearframe run SOURCE.yaml --json` prints the storage and run "
                     "id whose ledger/<source>/run=<run id>/ parts list every key")
        super().__init__("\n".join(lines))


class AmbiguousCandidate(ClearFrameError):
    def __init__(self, query: Query, matches: list[dict[str, Any]]):
        self.query, self.matches = query, matches
        lines = [f"{query.text!r} matches {len(matches)} candidates; name one by key, or add --source:"]
        for m in matches:
            lines.append(clean(f"  {m['key']}  source {m['source']}  {m['canonical_id']}  latest: "
                               f"{m['decision']} ({m['status']}) at {m['decided_at']}  [{m['rows']} row(s)]"))
        super().__init__("\n".join(lines))


def _order(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return (row.get("recorded_at") or "", row.get("decided_at") or "", row.get("run_id") or "",
            row.get("batch_id") or "")


def _evidence_ref(storage: Storage, digest: str, show: bool) -> EvidenceRef:
    if not re.fullmatch(r"[0-9a-f]{64}", digest or ""):
        return EvidenceRef(str(digest), None, False, note="not a sha256 digest: the ledger row is damaged")
    key = evidence_key(digest)
    try:
        if not storage.exists(key):
            return EvidenceRef(digest, key, False, note="missing from storage")
        ref = EvidenceRef(digest, key, True, size=storage.size(key))
        if show:
            data = storage.get_range(key, 0, PREVIEW_BYTES)
            text = _as_text(data, truncated=ref.size is not None and ref.size > len(data))
            if text is None:
                ref.note = "binary document: no preview"
            else:
                lines = text.splitlines()
                ref.preview = [line[:PREVIEW_WIDTH] for line in lines[:PREVIEW_LINES]]
                if len(lines) > PREVIEW_LINES or (ref.size or 0) > len(data):
                    ref.note = f"first {min(len(lines), PREVIEW_LINES)} lines shown"
        return ref
    except Exception as exc:  # storage trouble: say so, keep explaining the rest
        return EvidenceRef(digest, key, False, note=f"could not be checked: {exc.__class__.__name__}: {exc}")


def _as_text(data: bytes, *, truncated: bool) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The preview may cut a multi-byte character in two at its end; anything else is not UTF-8 text.
        if truncated and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
        return None


def _registry_target(f: dict[str, Any], row: dict[str, Any]) -> tuple[str, str | None] | None:
    """The (kind, value) of the registry entry a registry finding names, read from the ledger."""
    rule = f.get("rule") or ""
    detail = f.get("detail") or ""
    locator = f.get("locator") or ""
    if locator.startswith("registry:") and locator.count(":") >= 2:  # the gate names the entry it matched
        _, kind, value = locator.split(":", 2)
        return kind, value
    if rule == "blocked-domain":
        m = _BLOCKED_DETAIL.match(detail)
        return BLOCKED_KIND, m.group("value") if m else None
    if not rule.startswith("optout:"):
        return None
    kind = rule.split(":", 1)[1]
    m = _OPTOUT_DETAIL.match(detail)
    if m and m.group("kind") == kind:
        try:
            return kind, str(ast.literal_eval(m.group("value")))
        except (ValueError, SyntaxError):
            pass
    if kind == "hash":
        h = _HASH_DETAIL.match(detail)
        return kind, h.group("value") if h else row.get("sha256")
    fallback = {"creator": row.get("creator"), "url": row.get("url")}.get(kind)
    return kind, fallback


def _resolve_registry(views: list[FindingView], targets: list[tuple[int, str, str | None]],
                      registry_url: str | None) -> None:
    if not targets:
        return
    if registry_url is None:
        for i, kind, value in targets:
            views[i].registry = RegistryRef(kind, value, error="registry not consulted")
        return
    try:
        registry = Registry(registry_url)
    except Exception as exc:
        for i, kind, value in targets:
            views[i].registry = RegistryRef(kind, value, error=f"registry could not be opened: {exc}")
        return
    try:
        for i, kind, value in targets:
            ref = RegistryRef(kind, value)
            if value is None:
                ref.error = "the ledger does not say which entry matched"
            else:
                try:
                    norm = normalize("domain" if kind == BLOCKED_KIND else kind, value)
                    ref.value = norm
                    ref.entry = registry.entry(kind, norm)
                    ref.history = registry.events([kind], norm)
                except Exception as exc:
                    ref.error = f"registry lookup failed: {exc.__class__.__name__}: {exc}"
            views[i].registry = ref
    finally:
        registry.close()


def explain(storage: Storage, text: str, *, source: str | None = None, registry_url: str | None = None,
            show_evidence: bool = False) -> Explanation:
    """The latest ledger decision for one candidate, finding by finding, with its evidence resolved.

    Raises InputProblems (bad CANDIDATE or --source), CandidateNotFound, or AmbiguousCandidate.
    """
    import json

    if source is not None and not _SOURCE.fullmatch(source):
        raise InputProblems([Problem("command line", "--source",
                                     f"{source!r} is not a source name (lower-case letters, digits and '_', "
                                     "as in include/sources/<name>.yaml)")])
    query = parse_candidate(text)
    rows, parts, unreadable = find_rows(storage, query, source)
    if not rows:
        sources = sorted({k.split("/")[1] for k in ledger_parts(storage)}) if source else []
        raise CandidateNotFound(query, storage.root, source, parts, unreadable, sources)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r.get("source") or "", r.get("key") or ""), []).append(r)
    if len(groups) > 1:
        matches = []
        for (src, key), rs in sorted(groups.items()):
            latest = max(rs, key=_order)
            matches.append({"source": src, "key": key, "canonical_id": latest.get("canonical_id"),
                            "decision": latest.get("decision"), "status": latest.get("status"),
                            "decided_at": latest.get("decided_at"), "rows": len(rs)})
        raise AmbiguousCandidate(query, matches)
    [history] = groups.values()
    history.sort(key=_order)
    row = history[-1]
    problems = [f"unreadable ledger part: {u}" for u in unreadable]
    try:
        reasons = json.loads(row.get("reasons") or "[]")
        if not isinstance(reasons, list):
            raise ValueError("not a list")
    except ValueError as exc:
        problems.append(f"the row's reasons could not be read ({exc}): {row.get('reasons')!r}")
        reasons = []
    evidence_cache: dict[str, EvidenceRef] = {}

    def ev(digest: str) -> EvidenceRef:
        if digest not in evidence_cache:
            evidence_cache[digest] = _evidence_ref(storage, digest, show_evidence)
        return evidence_cache[digest]

    views: list[FindingView] = []
    targets: list[tuple[int, str, str | None]] = []
    for f in reasons:
        if not isinstance(f, dict):
            problems.append(f"a finding could not be read: {f!r}")
            continue
        view = FindingView(str(f.get("signal")), str(f.get("verdict")), str(f.get("detail")),
                           f.get("locator"), f.get("status"), f.get("rule"),
                           ev(f["evidence"]) if f.get("evidence") else None)
        if f.get("signal") == "registry":
            target = _registry_target(f, row)
            if target:
                targets.append((len(views), *target))
        views.append(view)
    _resolve_registry(views, targets, registry_url)
    documents = [ev(d) for d in (row.get("evidence") or [])]
    earlier = [{"run_id": r.get("run_id"), "batch_id": r.get("batch_id"), "decision": r.get("decision"),
                "status": r.get("status"), "decided_at": r.get("decided_at"),
                "policy_version": r.get("policy_version")} for r in history[:-1]]
    return Explanation(query.text, row, views, documents, earlier, storage.root, problems)


def _evidence_line(e: EvidenceRef) -> str:
    state = f"present, {e.size:,} bytes" if e.present else "NOT PRESENT"
    line = f"sha256:{e.sha256}  at {e.key or '-'} ({state})"
    return line + (f"; {e.note}" if e.note and not e.preview else "")


def _preview_lines(e: EvidenceRef, indent: str) -> list[str]:
    if not e.preview:
        return []
    out = [f"{indent}| {clean(line)}" for line in e.preview]
    if e.note:
        out.append(f"{indent}| ({e.note})")
    return out


def render(expl: Explanation, *, show_evidence: bool = False) -> str:
    """The decision path as text for a person: decision, then every finding in order, then evidence."""
    r = expl.row
    out = [f"{str(r.get('decision') or '?').upper()} ({r.get('status')})  {r.get('canonical_id')}",
           f"  key {r.get('key')}  source {r.get('source')}  run {r.get('run_id')}  "
           f"batch {r.get('batch_id')}"]
    for label, k in (("from", "locator"), ("url", "url"), ("media url", "media_url"), ("title", "title"),
                     ("creator", "creator"), ("contract", "contract_id")):
        if r.get(k):
            out.append(f"  {label}: {r.get(k)}")
    spdx, raw, where = r.get("license_spdx"), r.get("license_raw"), r.get("license_found_in")
    if spdx or raw:
        out.append(f"  licence: {spdx or 'not recognised'} (raw {raw!r}, found in {where or 'unknown'})")
    else:
        out.append("  licence: none found")
    out.append(f"  decided at {r.get('decided_at')} under policy {r.get('policy_version')} "
               f"(recorded {r.get('recorded_at')})")
    if r.get("sha256"):
        out.append(f"  fetched: sha256:{r.get('sha256')}, {r.get('bytes') or 0:,} bytes")
    if r.get("quarantine_reason"):
        out.append(f"  quarantined: {r.get('quarantine_reason')}")
    # The ledger keeps the findings that shaped the decision (GateResult.reasons), not quiet "none" ones.
    out.append(f"findings that shaped the decision, in order ({len(expl.findings)}):")
    for n, f in enumerate(expl.findings, 1):
        out.append(f"  {n}. {f.signal}: {f.verdict}")
        out.append(f"     detail: {f.detail}")
        status = f.status if f.status is not None else "-"
        out.append(f"     locator: {f.locator or '-'}  HTTP status: {status}  rule: {f.rule or '-'}")
        if f.evidence:
            out.append(f"     evidence: {_evidence_line(f.evidence)}")
        if f.registry:
            out.extend(_registry_lines(f.registry))
    if not expl.findings:
        out.append("  (none recorded)")
    out.append(f"evidence documents the decision rests on ({len(expl.evidence)}):")
    for e in expl.evidence:
        out.append(f"  {_evidence_line(e)}")
        if show_evidence:
            out.extend(_preview_lines(e, "    "))
    if expl.earlier:
        out.append(f"earlier rows: {len(expl.earlier)}")
        for h in expl.earlier:
            out.append(f"  run {h['run_id']} batch {h['batch_id']}: {h['decision']} ({h['status']}) at "
                       f"{h['decided_at']}, policy {h['policy_version']}")
    else:
        out.append("earlier rows: none")
    for p in expl.problems:
        out.append(f"warning: {p}")
    return "\n".join(clean(line) for line in out)


def _registry_lines(ref: RegistryRef) -> list[str]:
    what = f"domain {ref.value}" if ref.kind == BLOCKED_KIND else f"{ref.kind} {ref.value!r}"
    if ref.error:
        return [f"     registry: {what}: {ref.error}"]
    out = []
    if ref.entry:
        e = ref.entry
        out.append(f"     registry entry now: {what}, requested by {e.requested_by} on {iso(e.created_at)}: "
                   f"{e.reason or '(no reason given)'}")
    else:
        out.append(f"     registry entry now: {what} is no longer in the registry")
    for ev in ref.history:
        out.append(f"       history: {describe_event(ev)}")
    if not ref.history:
        out.append("       history: no changes recorded (the entry predates the registry's audit log)")
    return out
