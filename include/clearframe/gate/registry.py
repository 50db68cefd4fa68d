"""ClearFrame's own opt-out registry and blocked-domains list, in a real database (SQLAlchemy).

A SQLite file by default, Postgres by URL. Lookups are batched: one query per identifier kind for a
whole batch of candidates, never one query per candidate.

Every change is audited: each add, remove, import, block and unblock writes a row to the append-only
`cf_registry_events` table in the same transaction as the change itself, so the history cannot disagree
with the tables. A removal keeps the removed entry (who asked for it, when and why) in the event, so an
audit can still answer "why was this excluded on that date" after the entry is gone. Nothing in ClearFrame
updates or deletes an event; in production, grant the application role INSERT and SELECT only on it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from clearframe.errors import ConfigError
from clearframe.sources.urllist import canonical_url

KINDS = ("creator", "channel", "video", "url", "domain", "hash")
BLOCKED_KIND = "blocked-domain"  # the kind recorded in events about the blocked-domains list
ACTIONS = ("add", "remove", "import", "block", "unblock")
_CHUNK = 500

_meta = MetaData()
optouts = Table(
    "cf_optouts",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("value", String(2048), nullable=False),
    Column("requested_by", String(256), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("kind", "value", name="uq_cf_optouts_kind_value"),
)
blocked_domains = Table(
    "cf_blocked_domains",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("domain", String(253), nullable=False, unique=True),
    Column("requested_by", String(256), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
registry_events = Table(
    "cf_registry_events",
    _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("action", String(16), nullable=False),  # add | remove | import | block | unblock
    Column("kind", String(16), nullable=False),  # an opt-out kind, or "blocked-domain"
    Column("value", String(2048), nullable=False),  # normalised, as stored in the entry table
    Column("requested_by", String(256), nullable=False),  # who asked for this change
    Column("reason", Text, nullable=False, default=""),  # why (a complaint number is enough)
    Column("at", DateTime(timezone=True), nullable=False),
    Column("origin", String(1024), nullable=True),  # how it arrived: "command line", "optouts.csv:4", ...
    Column("previous", Text, nullable=True),  # remove/unblock: the entry as it was, JSON
    Index("ix_cf_registry_events_kind_value", "kind", "value"),
)


def _utc(at: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything ClearFrame writes is UTC."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


@lru_cache(maxsize=1 << 16)  # pure, and the gate asks for the same identifiers several times per batch
def normalize(kind: str, value: str) -> str:
    """One spelling per identifier so that lookups are exact-match and index-friendly."""
    v = value.strip()
    if kind in ("creator", "channel"):
        return " ".join(v.casefold().split())
    if kind == "domain":
        v = v.lower().rstrip(".")
        if not v.isascii():
            # One spelling for internationalised names: the ASCII (punycode) form, whichever way a URL
            # or an operator wrote it. A name the codec refuses is kept as written.
            try:
                v = v.encode("idna").decode("ascii")
            except UnicodeError:
                pass
        return v[4:] if v.startswith("www.") else v
    if kind == "url":
        # The same canonical form as candidate ids, so an entry matches every spelling of its URL.
        return canonical_url(v)
    if kind == "hash":
        v = v.lower()
        return v[len("sha256:"):] if v.startswith("sha256:") else v
    return v


def domain_suffixes(host: str) -> list[str]:
    """a.b.example.com -> [a.b.example.com, b.example.com, example.com]: an entry covers subdomains."""
    labels = normalize("domain", host.split(":")[0]).split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or [".".join(labels)]


@dataclass(frozen=True)
class Entry:
    kind: str
    value: str
    requested_by: str
    reason: str
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "requested_by": self.requested_by,
                "reason": self.reason, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class NewEntry:
    """One entry to import: kind (an opt-out kind or "blocked-domain"), value, who asked, why, and where
    the request came from (e.g. "optouts.csv:4")."""

    kind: str
    value: str
    requested_by: str
    reason: str = ""
    origin: str | None = None


@dataclass(frozen=True)
class ImportResult:
    added: list[NewEntry]
    present: list[NewEntry]  # already in the registry (possibly asked for by someone else)
    repeated: list[NewEntry]  # the same entry earlier in the same import


@dataclass(frozen=True)
class Event:
    id: int
    action: str
    kind: str
    value: str
    requested_by: str
    reason: str
    at: dt.datetime
    origin: str | None = None
    previous: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "kind": self.kind, "value": self.value,
                "requested_by": self.requested_by, "reason": self.reason, "at": self.at.isoformat(),
                "origin": self.origin, "previous": self.previous}


def _entry(kind: str, value: str, row: Any) -> Entry:
    return Entry(kind, value, row.requested_by, row.reason, _utc(row.created_at))


def _previous(entry: Entry) -> str:
    return json.dumps({"requested_by": entry.requested_by, "reason": entry.reason,
                       "created_at": entry.created_at.isoformat()}, sort_keys=True)


class Registry:
    def __init__(self, url: str):
        self.url = url
        try:
            parsed = make_url(url)
            if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
            _meta.create_all(self.engine)
        except (SQLAlchemyError, ValueError) as exc:
            raise ConfigError(
                url, "CLEARFRAME_REGISTRY_URL", f"cannot open the opt-out registry: {exc.__class__.__name__}",
                "check the database URL and that the server is running",
            ) from exc

    # -- writes (each one with its audit event, in one transaction) --------------------------------
    def _event(self, conn: Any, action: str, kind: str, value: str, requested_by: str, reason: str,
               at: dt.datetime, origin: str | None = None, previous: str | None = None) -> None:
        conn.execute(registry_events.insert().values(
            action=action, kind=kind, value=value, requested_by=requested_by, reason=reason, at=at,
            origin=origin, previous=previous))

    def add(self, kind: str, value: str, requested_by: str, reason: str = "", *,
            origin: str | None = None) -> bool:
        """Add an opt-out; False if the same (normalised) entry is already there (nothing changes)."""
        if kind not in KINDS:
            raise ValueError(f"unknown opt-out kind {kind!r}; use one of {', '.join(KINDS)}")
        norm = normalize(kind, value)
        now = dt.datetime.now(dt.UTC)
        try:
            with self.engine.begin() as conn:
                exists = conn.execute(
                    select(optouts.c.id).where(optouts.c.kind == kind, optouts.c.value == norm)
                ).first()
                if exists:
                    return False
                conn.execute(optouts.insert().values(
                    kind=kind, value=norm, requested_by=requested_by, reason=reason, created_at=now))
                self._event(conn, "add", kind, norm, requested_by, reason, now, origin)
        except IntegrityError:  # another process added the same entry between our check and insert
            return False
        return True

    def remove(self, kind: str, value: str, requested_by: str = "", reason: str = "", *,
               origin: str | None = None) -> bool:
        """Remove an opt-out; False if it was not there. The event keeps the removed entry."""
        removed = self.remove_entry(kind, value, requested_by, reason, origin=origin)
        return removed is not None

    def remove_entry(self, kind: str, value: str, requested_by: str = "", reason: str = "", *,
                     origin: str | None = None) -> Entry | None:
        """Like `remove`, but returns the entry as it was (None if there was none)."""
        if kind not in KINDS:
            raise ValueError(f"unknown opt-out kind {kind!r}; use one of {', '.join(KINDS)}")
        norm = normalize(kind, value)
        with self.engine.begin() as conn:
            row = conn.execute(select(optouts).where(optouts.c.kind == kind, optouts.c.value == norm)).first()
            if row is None:
                return None
            if not conn.execute(delete(optouts).where(optouts.c.id == row.id)).rowcount:
                return None  # a concurrent removal won; it wrote the event
            entry = _entry(kind, norm, row)
            self._event(conn, "remove", kind, norm, requested_by, reason, dt.datetime.now(dt.UTC), origin,
                        _previous(entry))
        return entry

    def block_domain(self, domain: str, requested_by: str, reason: str = "", *,
                     origin: str | None = None) -> bool:
        norm = normalize("domain", domain)
        now = dt.datetime.now(dt.UTC)
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(blocked_domains.c.id).where(blocked_domains.c.domain == norm)).first():
                    return False
                conn.execute(blocked_domains.insert().values(
                    domain=norm, requested_by=requested_by, reason=reason, created_at=now))
                self._event(conn, "block", BLOCKED_KIND, norm, requested_by, reason, now, origin)
        except IntegrityError:
            return False
        return True

    def unblock_domain(self, domain: str, requested_by: str = "", reason: str = "", *,
                       origin: str | None = None) -> Entry | None:
        """Take a domain off the blocked list; returns the entry as it was (None if it was not listed)."""
        norm = normalize("domain", domain)
        with self.engine.begin() as conn:
            row = conn.execute(select(blocked_domains).where(blocked_domains.c.domain == norm)).first()
            if row is None:
                return None
            if not conn.execute(delete(blocked_domains).where(blocked_domains.c.id == row.id)).rowcount:
                return None
            entry = _entry(BLOCKED_KIND, norm, row)
            self._event(conn, "unblock", BLOCKED_KIND, norm, requested_by, reason, dt.datetime.now(dt.UTC),
                        origin, _previous(entry))
        return entry

    def import_entries(self, rows: Sequence[NewEntry]) -> ImportResult:
        """Add many entries in one transaction: all of them or none (a failure rolls everything back).

        Entries already present are left as they are and reported; repeating an import changes nothing.
        Kind "blocked-domain" goes to the blocked-domains list, the opt-out kinds to the registry.
        """
        for r in rows:
            if r.kind not in KINDS and r.kind != BLOCKED_KIND:
                raise ValueError(f"unknown kind {r.kind!r}; use one of {', '.join((*KINDS, BLOCKED_KIND))}")
        for attempt in range(3):
            try:
                return self._import_once(rows)
            except IntegrityError:
                # A concurrent writer added one of our entries after we looked: look again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _import_once(self, rows: Sequence[NewEntry]) -> ImportResult:
        now = dt.datetime.now(dt.UTC)
        normed = [NewEntry(r.kind, normalize("domain" if r.kind == BLOCKED_KIND else r.kind, r.value),
                           r.requested_by, r.reason, r.origin) for r in rows]
        added: list[NewEntry] = []
        present: list[NewEntry] = []
        repeated: list[NewEntry] = []
        with self.engine.begin() as conn:
            existing: set[tuple[str, str]] = set()
            by_kind: dict[str, set[str]] = {}
            for r in normed:
                by_kind.setdefault(r.kind, set()).add(r.value)
            for kind, values in by_kind.items():
                vals = sorted(values)
                for i in range(0, len(vals), _CHUNK):
                    chunk = vals[i : i + _CHUNK]
                    if kind == BLOCKED_KIND:
                        q = select(blocked_domains.c.domain).where(blocked_domains.c.domain.in_(chunk))
                    else:
                        q = select(optouts.c.value).where(optouts.c.kind == kind, optouts.c.value.in_(chunk))
                    existing.update((kind, v) for (v,) in conn.execute(q))
            seen: set[tuple[str, str]] = set()
            for r in normed:
                k = (r.kind, r.value)
                if k in existing:
                    present.append(r)
                elif k in seen:
                    repeated.append(r)
                else:
                    seen.add(k)
                    added.append(r)
            opt = [{"kind": r.kind, "value": r.value, "requested_by": r.requested_by, "reason": r.reason,
                    "created_at": now} for r in added if r.kind != BLOCKED_KIND]
            blk = [{"domain": r.value, "requested_by": r.requested_by, "reason": r.reason, "created_at": now}
                   for r in added if r.kind == BLOCKED_KIND]
            if opt:
                conn.execute(optouts.insert(), opt)
            if blk:
                conn.execute(blocked_domains.insert(), blk)
            if added:
                conn.execute(registry_events.insert(), [
                    {"action": "import", "kind": r.kind, "value": r.value, "requested_by": r.requested_by,
                     "reason": r.reason, "at": now, "origin": r.origin, "previous": None} for r in added])
        return ImportResult(added, present, repeated)

    # -- reads ----------------------------------------------------------------------------------------
    def entry(self, kind: str, value: str) -> Entry | None:
        """The current entry for one identifier (an opt-out kind, or "blocked-domain"), if any."""
        if kind == BLOCKED_KIND:
            norm = normalize("domain", value)
            with self.engine.connect() as conn:
                row = conn.execute(select(blocked_domains).where(blocked_domains.c.domain == norm)).first()
            return _entry(BLOCKED_KIND, norm, row) if row else None
        norm = normalize(kind, value)
        with self.engine.connect() as conn:
            row = conn.execute(select(optouts).where(optouts.c.kind == kind, optouts.c.value == norm)).first()
        return _entry(kind, norm, row) if row else None

    def blocked_entries(self) -> list[Entry]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(blocked_domains).order_by(blocked_domains.c.domain))
            return [_entry(BLOCKED_KIND, r.domain, r) for r in rows]

    def events(self, kinds: Iterable[str] | None = None, value: str | None = None) -> list[Event]:
        """The audit trail, oldest first; optionally only some kinds, or one identifier's history."""
        q = select(registry_events).order_by(registry_events.c.id)
        if kinds is not None:
            q = q.where(registry_events.c.kind.in_(sorted(set(kinds))))
        if value is not None:
            q = q.where(registry_events.c.value == value)
        out = []
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                try:
                    previous = json.loads(r.previous) if r.previous else None
                except ValueError:
                    previous = {"unreadable": r.previous}
                out.append(Event(r.id, r.action, r.kind, r.value, r.requested_by, r.reason, _utc(r.at),
                                 r.origin, previous))
        return out

    def entries(self, kind: str | None = None) -> list[Entry]:
        q = select(optouts).order_by(optouts.c.kind, optouts.c.value)
        if kind:
            q = q.where(optouts.c.kind == kind)
        with self.engine.connect() as conn:
            return [_entry(r.kind, r.value, r) for r in conn.execute(q)]

    # -- batched reads ------------------------------------------------------------------------------
    def lookup(self, wanted: dict[str, Iterable[str]]) -> dict[tuple[str, str], Entry]:
        """All registry entries matching any of the given identifiers, keyed by (kind, normalised value).

        One query per kind per chunk of identifiers, whatever the number of candidates.
        """
        found: dict[tuple[str, str], Entry] = {}
        with self.engine.connect() as conn:
            for kind, values in wanted.items():
                norm = sorted({normalize(kind, v) for v in values if v})
                for i in range(0, len(norm), _CHUNK):
                    chunk = norm[i : i + _CHUNK]
                    rows = conn.execute(
                        select(optouts).where(optouts.c.kind == kind, optouts.c.value.in_(chunk)))
                    for r in rows:
                        found[(r.kind, r.value)] = _entry(r.kind, r.value, r)
        return found

    def blocked(self, hosts: Iterable[str]) -> dict[str, Entry]:
        """Blocked-domain entries for any suffix of the given hosts, keyed by the blocked domain."""
        suffixes = sorted({s for h in hosts if h for s in domain_suffixes(h)})
        found: dict[str, Entry] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(suffixes), _CHUNK):
                rows = conn.execute(select(blocked_domains).where(
                    blocked_domains.c.domain.in_(suffixes[i : i + _CHUNK])))
                for r in rows:
                    found[r.domain] = _entry(BLOCKED_KIND, r.domain, r)
        return found

    def close(self) -> None:
        self.engine.dispose()
