"""The opt-out registry and blocked-domains list, on SQLite and on a real Postgres server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from clearframe.errors import ConfigError
from clearframe.gate import registry_findings
from clearframe.gate.registry import Registry, domain_suffixes, normalize
from clearframe.records import Candidate, Probe, Verdict
from support.services import postgres_url  # noqa: F401  (fixture, used through getfixturevalue)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'registry.sqlite'}"  # the folder is created on open
    else:
        url = request.getfixturevalue("postgres_url")
    reg = Registry(url)
    try:
        yield reg
    finally:
        reg.close()


class QueryCounter:
    """Counts the SQL statements an engine sends to the database."""

    def __init__(self, reg: Registry):
        self.engine = reg.engine
        self.statements: list[str] = []

    def _on_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        self.statements.append(statement)

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)


def cand(n: int, **kw: str | None) -> Candidate:
    fields: dict = {"url": f"https://videos.example.org/v/{n}", "creator": f"Creator {n}", **kw}
    return Candidate(source="s", kind="http", canonical_id=f"url:{fields['url']}", locator=f"urls.txt:{n}",
                     **fields)


def denials(findings: list) -> list[str | None]:
    return [f.rule for f in findings if f.verdict is Verdict.DENY]


# -------------------------------------------------------------------------------- normalisation

@pytest.mark.parametrize(("kind", "raw", "norm"), [
    ("creator", "  Mara   LIND ", "mara lind"),
    ("creator", "STRASSE", "strasse"),
    ("channel", "Some\tChannel", "some channel"),
    ("domain", "WWW.Example.COM.", "example.com"),
    ("domain", "cdn.example.com", "cdn.example.com"),
    ("url", "HTTPS://Example.COM/Video?id=1#t=30", "https://example.com/Video?id=1"),
    ("url", "https://example.com", "https://example.com/"),
    ("url", "https://example.com:443/v", "https://example.com/v"),
    ("url", "http://example.com:8080/v", "http://example.com:8080/v"),
    ("hash", "ABCDEF0123", "abcdef0123"),
    ("video", " dQw4w9WgXcQ ", "dQw4w9WgXcQ"),  # video ids are case-sensitive
])
def test_normalize_gives_one_spelling(kind: str, raw: str, norm: str) -> None:
    assert normalize(kind, raw) == norm


def test_domain_suffixes_cover_parents_but_not_the_bare_tld() -> None:
    assert domain_suffixes("a.b.Example.com:8443") == ["a.b.example.com", "b.example.com", "example.com"]
    assert domain_suffixes("www.example.com") == ["example.com"]
    assert domain_suffixes("localhost") == ["localhost"]


# ------------------------------------------------------------------------------ writes and reads

def test_add_list_and_remove_entries(registry: Registry) -> None:
    assert registry.add("creator", "Mara Lind", requested_by="mara@example.org", reason="asked by email")
    assert registry.add("domain", "www.opted-out.example", requested_by="legal")
    assert not registry.add("creator", "  mara   LIND", requested_by="someone else")  # same person

    [entry] = registry.entries("creator")
    assert (entry.kind, entry.value, entry.requested_by, entry.reason) == (
        "creator", "mara lind", "mara@example.org", "asked by email")
    assert entry.created_at is not None
    assert [(e.kind, e.value) for e in registry.entries()] == [("creator", "mara lind"),
                                                               ("domain", "opted-out.example")]
    assert registry.remove("creator", "MARA LIND")
    assert not registry.remove("creator", "Mara Lind")  # already gone
    assert [(e.kind, e.value) for e in registry.entries()] == [("domain", "opted-out.example")]


def test_unknown_kind_is_refused_with_the_known_ones(registry: Registry) -> None:
    with pytest.raises(ValueError, match="unknown opt-out kind 'person'.*creator"):
        registry.add("person", "x", requested_by="t")


def test_entries_survive_reopening(registry: Registry) -> None:
    registry.add("video", "abc123", requested_by="t")
    again = Registry(registry.url)
    try:
        assert [e.value for e in again.entries("video")] == ["abc123"]
    finally:
        again.close()


def test_lookup_matches_any_spelling(registry: Registry) -> None:
    registry.add("creator", "Mara Lind", requested_by="t")
    registry.add("url", "https://videos.example.org/v/7", requested_by="t")
    registry.add("hash", "ABCDEF", requested_by="t")
    hits = registry.lookup({
        "creator": ["MARA  lind", "Someone Else"],
        "url": ["https://Videos.Example.org/v/7#comments", "https://videos.example.org/v/8"],
        "hash": ["abcdef"],
        "channel": [],
    })
    assert sorted(hits) == [("creator", "mara lind"), ("hash", "abcdef"),
                            ("url", "https://videos.example.org/v/7")]


def test_url_opt_out_matches_with_or_without_default_port(registry: Registry) -> None:
    """A takedown filed for http://host:80/x must stop http://host/x: fail closed on spelling."""
    registry.add("url", "http://videos.example.org:80/v/9", requested_by="t")
    registry.add("url", "https://videos.example.org/v/10", requested_by="t")
    hits = registry.lookup({"url": ["http://videos.example.org/v/9", "https://videos.example.org:443/v/10"]})
    assert sorted(hits) == [("url", "http://videos.example.org/v/9"),
                            ("url", "https://videos.example.org/v/10")]


def test_domain_entry_covers_subdomains_but_not_lookalikes(registry: Registry) -> None:
    registry.add("domain", "www.opted-out.example", requested_by="site owner", reason="ai.txt says no")
    items = [
        (cand(1, url="https://opted-out.example/v/1"), Probe()),
        (cand(2, url="https://media.cdn.opted-out.example/v/2"), Probe()),
        (cand(3, url="https://not-opted-out.example/v/3"), Probe()),
        (cand(4, url="https://opted-out.example.net/v/4"), Probe()),
        # The page is fine but the media it points to lives on the opted-out domain.
        (cand(5, url="https://fine.example/v/5"), Probe(media_url="https://opted-out.example/m/5.mp4")),
    ]
    found = registry_findings(registry, items)
    assert [denials(f) for f in found] == [["optout:domain"], ["optout:domain"], [], [], ["optout:domain"]]
    assert "ai.txt says no" in found[0][0].detail


def test_blocked_domains_cover_subdomains(registry: Registry) -> None:
    assert registry.block_domain("Piracy.Invalid", requested_by="trust & safety", reason="pirated uploads")
    assert not registry.block_domain("www.piracy.invalid", requested_by="again")
    blocked = registry.blocked(["piracy.invalid", "cdn.eu.piracy.invalid", "notpiracy.invalid", ""])
    assert list(blocked) == ["piracy.invalid"]
    assert blocked["piracy.invalid"].reason == "pirated uploads"
    found = registry_findings(registry, [(cand(1, url="https://cdn.piracy.invalid/v"), Probe()),
                                         (cand(2, url="https://legit.invalid/v"), Probe())])
    assert [denials(f) for f in found] == [["blocked-domain"], []]


def test_findings_name_who_asked_and_why(registry: Registry) -> None:
    registry.add("creator", "Mara Lind", requested_by="mara@example.org", reason="no AI training")
    [found] = registry_findings(registry, [(cand(1, creator=None), Probe(creator="Mara Lind"))])
    [f] = found
    assert f.signal == "registry" and f.verdict is Verdict.DENY and f.rule == "optout:creator"
    assert "mara@example.org" in f.detail and "no AI training" in f.detail


@pytest.mark.parametrize("n", [1, 1200])
def test_batch_lookup_uses_a_bounded_number_of_queries(registry: Registry, n: int) -> None:
    for i in (3, 599, 1100):
        registry.add("creator", f"Creator {i}", requested_by="t")
    registry.add("url", "https://videos.example.org/v/42", requested_by="t")
    registry.add("domain", "cdn.example.net", requested_by="t")
    registry.block_domain("blocked.example", requested_by="t")
    items = []
    for i in range(n):
        media = f"https://{'cdn.example.net' if i == 7 else 'media.example.org'}/{i}.mp4"
        c = cand(i, channel=f"Channel {i}", video_id=f"vid{i}", sha256=f"{i:064x}")
        if i == 11:
            c.url = "https://www.blocked.example/v/11"
        items.append((c, Probe(media_url=media, creator=f"Creator {i}")))

    with QueryCounter(registry) as counter:
        found = registry_findings(registry, items)

    # 6 identifier kinds, chunks of 500 values: at most 3 chunks each, plus the blocked-domains query.
    assert 1 <= len(counter.statements) <= 6 * 3 + 3, counter.statements
    if n == 1200:
        assert len(counter.statements) < 30  # not one query per candidate
        denied = {i: denials(f) for i, f in enumerate(found) if denials(f)}
        assert denied == {3: ["optout:creator"], 599: ["optout:creator"], 1100: ["optout:creator"],
                          42: ["optout:url"], 7: ["optout:domain"], 11: ["blocked-domain"]}
    else:
        assert [denials(f) for f in found] == [[]]


def test_unreachable_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        Registry("postgresql+psycopg2://postgres@127.0.0.1:9/none?connect_timeout=2")
    assert info.value.field == "CLEARFRAME_REGISTRY_URL"
    assert "check the database URL and that the server is running" in str(info.value)


def test_malformed_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Registry("not a database url")
