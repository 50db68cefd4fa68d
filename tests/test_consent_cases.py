"""Every case of shared/consent-cases.md, end to end against a real site on 127.0.0.1.

Each test serves what the case describes, runs the pipeline's own `Context` (the gate, fetch, inspect and
embedded-rights checks exactly as `clearframe run` and the Airflow tasks build them) and asserts the
decision, the reason recorded, and what the site saw: a refusal means no media byte was requested.
Unless a case says otherwise the page carries a CC-BY-4.0 licence in JSON-LD, so only the signal under
test can change the outcome.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clearframe.config import Acquisition, FetchOptions, HttpInput, Settings, Source
from clearframe.gate.robots import RobotsChecker
from clearframe.ledger import read_ledger
from clearframe.net import SessionPool
from clearframe.pipeline import Context, run_batch
from clearframe.records import Candidate, Decision, Verdict
from support.site import Site, video_page

CC_BY = "https://creativecommons.org/licenses/by/4.0/"


@dataclass
class Outcome:
    decision: Decision
    status: str
    reasons: list[dict[str, Any]]
    row: dict[str, Any]

    def reason(self, signal: str) -> dict[str, Any]:
        """The first finding of this signal that objected, else its first quiet one."""
        found = [r for r in self.reasons if r["signal"] == signal]
        assert found, f"no {signal} finding among {[(r['signal'], r['verdict']) for r in self.reasons]}"
        return next((r for r in found if r["verdict"] != "none"), found[0])

    def signals(self, verdict: Verdict) -> set[str]:
        return {r["signal"] for r in self.reasons if r["verdict"] == str(verdict)}


class World:
    """A local site plus the pipeline, for one case."""

    def __init__(self, site: Site, settings: Settings, clip: Path):
        self.site = site
        self.settings = settings
        self.clip = clip
        self.runs = 0

    def serve(self, name: str, *, license_url: str | None = CC_BY, page_headers: dict[str, str] | None = None,
              media_headers: dict[str, str] | None = None, extra_head: str = "", creator: str | None = None,
              media: Path | None = None, media_url: str | None = None) -> str:
        target = media_url or f"/media/{name}.mp4"
        if media_url is None:
            self.site.add(target, (media or self.clip).read_bytes(), content_type="video/mp4",
                          headers=media_headers)
        return self.site.add(f"/v/{name}", video_page(name, target, license_url=license_url, creator=creator,
                                                      extra_head=extra_head), headers=page_headers)

    def robots(self, text: str, status: int = 200, **kw: Any) -> None:
        self.site.add("/robots.txt", text, status=status, content_type="text/plain", **kw)

    def source(self, acquisition: Acquisition | None = None, **fetch: Any) -> Source:
        return Source(name="cases", kind="http", http=HttpInput(urls="urls.txt"),
                      acquisition=acquisition or Acquisition(), fetch=FetchOptions(**fetch))

    def run(self, *urls: str, source: Source | None = None, **fields: Any) -> list[Outcome]:
        """The whole per-batch flow: gate, fetch, inspect, embedded rights, ledger."""
        self.runs += 1
        cands = [Candidate(source="cases", kind="http", canonical_id=f"url:{u}", url=u, locator=f"case:{i}",
                           **fields) for i, u in enumerate(urls)]
        with Context(source or self.source(), self.settings) as ctx:
            run_batch(ctx, cands, f"run{self.runs}", "00000")
            rows = read_ledger(ctx.storage, "cases").to_pylist()
        rows = [r for r in rows if r["run_id"] == f"run{self.runs}"]
        by_url = {r["url"]: r for r in rows}
        return [Outcome(Decision(by_url[u]["decision"]), by_url[u]["status"], json.loads(by_url[u]["reasons"]),
                        by_url[u]) for u in urls]

    def one(self, url: str, **kw: Any) -> Outcome:
        return self.run(url, **kw)[0]


@pytest.fixture
def world(site: Site, cf_home: Settings, clips: dict[str, Path]) -> Iterator[World]:
    yield World(site, cf_home, clips["clip1"])


def assert_refused_without_media(world: World, out: Outcome, decision: Decision = Decision.DENY) -> None:
    assert out.decision is decision, out.reasons
    assert world.site.media_requests() == 0


# --- robots.txt (page origin and media origin) -------------------------------------------------------------


def test_robots_star_disallow_all_denies(world: World) -> None:
    world.robots("User-agent: *\nDisallow: /\n")
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out)
    assert out.reason("robots")["verdict"] == "deny"
    assert world.site.count("GET", "/v/a") == 0  # not even the page


def test_robots_gptbot_only_refusal_is_honoured_as_a_proxy(world: World) -> None:
    world.robots("User-agent: GPTBot\nDisallow: /\n")
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out)
    assert "GPTBot" in out.reason("robots")["detail"] and "proxy" in out.reason("robots")["detail"]


def test_robots_allow_videos_disallow_rest_allows_a_video(world: World) -> None:
    world.robots("User-agent: *\nAllow: /v/\nAllow: /media/\nDisallow: /\n")
    out = world.one(world.serve("a"))
    assert out.decision is Decision.ALLOW and out.status == "admitted", out.reasons
    assert world.site.media_requests("/media/a.mp4") == 1


def test_robots_allow_wins_a_tie(world: World) -> None:
    world.robots("User-agent: *\nAllow: /v/a\nDisallow: /v/a\n")
    out = world.one(world.serve("a"))
    assert out.decision is Decision.ALLOW, out.reasons


@pytest.mark.parametrize("status", [503, 500])
def test_robots_server_error_defers(world: World, status: int) -> None:
    world.robots("down", status=status)
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out, Decision.DEFER)
    assert out.reason("robots")["status"] == status


def test_robots_connection_failure_defers(world: World) -> None:
    url = "http://127.0.0.1:9/v/nothing-listens-here"  # the discard port: connection refused
    out = world.one(url)
    assert out.decision is Decision.DEFER
    assert out.reason("robots")["verdict"] == "defer"


def test_robots_404_allows_and_says_unavailable(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a"))
    assert out.decision is Decision.ALLOW
    robots = out.reason("robots")  # a quiet NONE, but the ledger keeps what was checked
    assert robots["verdict"] == "none" and "unavailable" in robots["detail"] and robots["status"] == 404


@pytest.mark.parametrize("status", [401, 403])
def test_robots_access_controlled_denies(world: World, status: int) -> None:
    world.robots("private", status=status)
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out)
    assert "stricter than" in out.reason("robots")["detail"]


def test_robots_429_defers(world: World) -> None:
    world.robots("slow down", status=429, headers={"Retry-After": "30"})
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out, Decision.DEFER)


def test_robots_more_than_five_redirects_defers(world: World) -> None:
    world.robots("", status=302, headers={"Location": "/r1"})
    for i in range(1, 7):
        world.site.add(f"/r{i}", "", status=302, headers={"Location": f"/r{i + 1}"}, content_type="text/plain")
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out, Decision.DEFER)
    assert "more than 5 redirects" in out.reason("robots")["detail"]


def test_robots_cached_for_at_most_24h_then_fetched_again(site: Site) -> None:
    now = [1000.0]
    site.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    sessions = SessionPool("ClearFrameBot/test")
    checker = RobotsChecker(sessions.get, "ClearFrameBot", clock=lambda: now[0])
    assert checker.check(site.url("/v/1")).finding.verdict is Verdict.NONE
    now[0] += 23 * 3600
    checker.check(site.url("/v/2"))
    assert site.count("GET", "/robots.txt") == 1
    site.add("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
    now[0] += 2 * 3600  # 25 h after the first fetch: stale, fetched again before it is used
    assert checker.check(site.url("/v/3")).finding.verdict is Verdict.DENY
    assert site.count("GET", "/robots.txt") == 2


def test_robots_crawl_delay_spaces_requests_to_the_host(world: World) -> None:
    world.robots("User-agent: ClearFrameBot\nCrawl-delay: 2\nAllow: /\n")
    urls = [world.serve(n) for n in ("a", "b")]
    t0 = time.monotonic()
    outs = world.run(*urls)
    elapsed = time.monotonic() - t0
    assert [o.decision for o in outs] == [Decision.ALLOW, Decision.ALLOW]
    # robots.txt, 2 pages, 2 HEADs and 2 media GETs after it: at least 5 gaps of 2 s between 6 requests
    assert elapsed >= 2 * 5 - 0.5


def test_robots_on_the_media_origin_is_checked_too(world: World) -> None:
    world.robots("", status=404)
    with Site() as cdn:
        cdn.add("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
        cdn.add("/clip.mp4", world.clip.read_bytes(), content_type="video/mp4")
        out = world.one(world.serve("a", media_url=cdn.url("/clip.mp4")))
        assert out.decision is Decision.DENY
        assert cdn.count("HEAD", "/clip.mp4") == 0 and cdn.media_requests("/clip.mp4") == 0
    assert cdn.base in out.reason("robots")["locator"]


# --- licences and platforms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://www.youtube.com/watch?v=abc123", "https://www.netflix.com/watch/80100172"])
def test_platform_url_without_contract_is_denied_before_any_request(world: World, url: str) -> None:
    out = world.one(url)
    assert out.decision is Decision.DENY
    assert "terms forbid automated download" in out.reason("platform")["detail"]


def test_page_without_licence_is_denied(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", license_url=None))
    assert_refused_without_media(world, out)
    assert "not permission" in " ".join(r["detail"] for r in out.reasons)


def test_vimeo_style_by_nc_licence_is_denied(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", license_url="https://creativecommons.org/licenses/by-nc/3.0/"))
    assert_refused_without_media(world, out)
    assert out.reason("license")["verdict"] == "deny"


def test_share_alike_goes_to_review(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", license_url="https://creativecommons.org/licenses/by-sa/4.0/"))
    assert_refused_without_media(world, out, Decision.REVIEW)


def test_jsonld_cc_by_against_link_rel_all_rights_reserved_is_never_allowed(world: World) -> None:
    world.robots("", status=404)
    page = world.serve("a", extra_head='<link rel="license" href="https://rightsstatements.org/vocab/InC/1.0/">')
    out = world.one(page)
    assert out.decision in (Decision.REVIEW, Decision.DENY)
    assert world.site.media_requests() == 0


# --- registry and operations --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["domain", "url", "video"])
def test_opt_out_registry_denies_before_any_request(world: World, kind: str) -> None:
    from clearframe.gate.registry import Registry

    page = world.serve("a")
    value = {"domain": "127.0.0.1", "url": page, "video": "vid-123"}[kind]
    reg = Registry(world.settings.registry_url)
    reg.add(kind, value, requested_by="rights holder", reason="asked by email")
    reg.close()
    out = world.one(page, video_id="vid-123")
    assert out.decision is Decision.DENY
    assert dict(world.site.requests) == {}
    assert "rights holder" in out.reason("registry")["detail"]


def test_creator_in_registry_is_denied_before_the_media(world: World) -> None:
    from clearframe.gate.registry import Registry

    reg = Registry(world.settings.registry_url)
    reg.add("creator", "Opted Out", requested_by="the creator", reason="no AI training")
    reg.close()
    world.robots("", status=404)
    out = world.one(world.serve("a", creator="Opted Out"))
    assert_refused_without_media(world, out)


def test_channel_complaint_denies_its_future_candidates(world: World) -> None:
    from clearframe.gate.registry import Registry

    reg = Registry(world.settings.registry_url)
    reg.add("channel", "Studio North", requested_by="legal@studio-north.example", reason="complaint #42")
    reg.close()
    out = world.one(world.serve("a"), channel="Studio North")
    assert out.decision is Decision.DENY
    assert "complaint #42" in out.reason("registry")["detail"]
    assert dict(world.site.requests) == {}


def test_content_hash_in_registry_purges_after_fetch(world: World) -> None:
    import hashlib

    from clearframe.gate.registry import Registry

    reg = Registry(world.settings.registry_url)
    reg.add("hash", hashlib.sha256(world.clip.read_bytes()).hexdigest(), requested_by="owner", reason="takedown")
    reg.close()
    world.robots("", status=404)
    out = world.one(world.serve("a"))
    assert out.decision is Decision.DENY and out.status == "denied"
    assert "purged" in out.reason("registry")["detail"]
    staged = list((Path(world.settings.storage) / "staging").rglob("*")) if (
        Path(world.settings.storage) / "staging").exists() else []
    assert not [p for p in staged if p.is_file()]


def test_blocked_domain_denies_before_any_request(world: World) -> None:
    from clearframe.gate.registry import Registry

    reg = Registry(world.settings.registry_url)
    reg.block_domain("127.0.0.1", requested_by="trust and safety", reason="known piracy site")
    reg.close()
    out = world.one(world.serve("a"))
    assert out.decision is Decision.DENY and "blocked-domains" in out.reason("registry")["detail"]
    assert dict(world.site.requests) == {}


def test_429_on_media_waits_retry_after_with_the_same_identity(world: World) -> None:
    world.robots("", status=404)
    a, b = world.serve("a"), world.serve("b")
    for name in ("a", "b"):
        world.site.add(f"/media/{name}.mp4", b"", status=429, headers={"Retry-After": "120"},
                       content_type="video/mp4")
    # A worker never parks longer than max_retry_after_s; the host's 120 s of quiet still hold.
    outs = world.run(a, b, source=world.source(per_host=1, max_retry_after_s=10))
    assert [o.decision for o in outs] == [Decision.DEFER, Decision.DEFER]
    media = sum(world.site.count(m, f"/media/{n}.mp4") for m in ("GET", "HEAD") for n in ("a", "b"))
    assert media == 1  # asked once: nothing more went to that host within its 120 s
    assert "Retry-After 120" in " ".join(r["detail"] for o in outs for r in o.reasons)
    assert len(world.site.user_agents) == 1 and world.site.cookies_seen == 0


def test_403_on_media_stops_the_host_and_defers_without_another_identity(world: World) -> None:
    world.robots("", status=404)
    a, b = world.serve("a"), world.serve("b")
    for name in ("a", "b"):
        world.site.add(f"/media/{name}.mp4", b"", status=403, content_type="video/mp4")
    outs = world.run(a, b, source=world.source(per_host=1))
    assert [o.decision for o in outs] == [Decision.DEFER, Decision.DEFER]
    media = sum(world.site.count(m, f"/media/{n}.mp4") for m in ("GET", "HEAD") for n in ("a", "b"))
    assert media == 1  # the second candidate never went back to the stopped host
    assert any("stopped" in r["detail"] for o in outs for r in o.reasons)
    assert len(world.site.user_agents) == 1 and world.site.cookies_seen == 0
