"""ClearFrame's own opt-out registry and blocked-domains list, in a real database (SQLAlchemy).

A SQLite file by default, Postgres by URL. Lookups are batched: one query per identifier kind for a
whole batch of candidates, never one query per candidate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
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


def normalize(kind: str, value: str) -> str:
    """One spelling per identifier so that lookups are exact-match and index-friendly."""
    v = value.strip()
    if kind in ("creator", "channel"):
        return " ".join(v.casefold().split())
    if kind == "domain":
        v = v.lower().rstrip(".")
        return v[4:] if v.startswith("www.") else v
    if kind == "url":
        # The same canonical form as candidate ids, so an entry matches every spelling of its URL.
        return canonical_url(v)
    if kind == "hash":
        return v.lower()
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

    # -- writes -------------------------------------------------------------------------------------
    def add(self, kind: str, value: str, requested_by: str, reason: str = "") -> bool:
        if kind not in KINDS:
            raise ValueError(f"unknown opt-out kind {kind!r}; use one of {', '.join(KINDS)}")
        norm = normalize(kind, value)
        try:
            with self.engine.begin() as conn:
                exists = conn.execute(
                    select(optouts.c.id).where(optouts.c.kind == kind, optouts.c.value == norm)
                ).first()
                if exists:
                    return False
                conn.execute(optouts.insert().values(
                    kind=kind, value=norm, requested_by=requested_by, reason=reason,
                    created_at=dt.datetime.now(dt.UTC)))
        except IntegrityError:  # another process added the same entry between our check and insert
            return False
        return True

    def remove(self, kind: str, value: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(delete(optouts).where(
                optouts.c.kind == kind, optouts.c.value == normalize(kind, value)))
        return bool(res.rowcount)

    def block_domain(self, domain: str, requested_by: str, reason: str = "") -> bool:
        norm = normalize("domain", domain)
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(blocked_domains.c.id).where(blocked_domains.c.domain == norm)).first():
                    return False
                conn.execute(blocked_domains.insert().values(
                    domain=norm, requested_by=requested_by, reason=reason, created_at=dt.datetime.now(dt.UTC)))
        except IntegrityError:
            return False
        return True

    def entries(self, kind: str | None = None) -> list[Entry]:
        q = select(optouts).order_by(optouts.c.kind, optouts.c.value)
        if kind:
            q = q.where(optouts.c.kind == kind)
        with self.engine.connect() as conn:
            return [Entry(r.kind, r.value, r.requested_by, r.reason, r.created_at) for r in conn.execute(q)]

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
                        found[(r.kind, r.value)] = Entry(r.kind, r.value, r.requested_by, r.reason, r.created_at)
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
                    found[r.domain] = Entry("blocked-domain", r.domain, r.requested_by, r.reason, r.created_at)
        return found

    def close(self) -> None:
        self.engine.dispose()
