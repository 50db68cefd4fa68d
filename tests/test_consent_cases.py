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


# --- AIPREF Content-Usage and Content-Signal -----------------------------------------------------------------


def test_content_usage_train_ai_n_header_denies(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", page_headers={"Content-Usage": "train-ai=n"}))
    assert_refused_without_media(world, out)
    assert out.reason("aipref")["verdict"] == "deny"


def test_content_usage_on_the_media_head_denies_before_the_get(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", media_headers={"Content-Usage": "train-ai=n"}))
    assert_refused_without_media(world, out)
    assert world.site.count("HEAD", "/media/a.mp4") == 1


@pytest.mark.parametrize("value", ['train-ai=y, train-ai', 'search="n"'])
def test_content_usage_invalid_values_have_no_effect(world: World, value: str) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", page_headers={"Content-Usage": value}))
    assert out.decision is Decision.ALLOW, out.reasons
    assert out.reason("aipref")["verdict"] == "none"


@pytest.mark.parametrize("value", ["train-genai=n", "bots=n"])
def test_content_usage_legacy_labels_deny(world: World, value: str) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", page_headers={"Content-Usage": value}))
    assert_refused_without_media(world, out)


def test_robots_content_usage_line_denies(world: World) -> None:
    world.robots("User-agent: *\nAllow: /\nContent-Usage: train-ai=n\n")
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out)
    assert world.site.count("GET", "/v/a") == 0  # decided from robots.txt, before the page


def test_robots_content_signal_ai_train_no_denies(world: World) -> None:
    world.robots("User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n")
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out)
    assert out.reason("content-signal")["verdict"] == "deny"


# --- X-Robots-Tag and meta robots ------------------------------------------------------------------------------


def test_x_robots_tag_noai_denies(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", page_headers={"X-Robots-Tag": "noai"}))
    assert_refused_without_media(world, out)
    assert out.reason("x-robots-tag")["verdict"] == "deny"


def test_x_robots_tag_scoped_to_another_bot_has_no_effect(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", page_headers={"X-Robots-Tag": "otherbot: noai"}))
    assert out.decision is Decision.ALLOW, out.reasons


def test_x_robots_tag_scoped_to_our_token_denies(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", media_headers={"X-Robots-Tag": "clearframebot: noai"}))
    assert_refused_without_media(world, out)


def test_meta_robots_noai_in_any_case_denies(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", extra_head='<meta name="robots" content="NoAI">'))
    assert_refused_without_media(world, out)
    assert out.reason("meta-robots")["verdict"] == "deny"


# --- TDMRep ----------------------------------------------------------------------------------------------------


def test_tdmrep_json_reservation_denies(world: World) -> None:
    world.robots("", status=404)
    world.site.add("/.well-known/tdmrep.json", '[{"location":"/","tdm-reservation":1}]',
                   content_type="application/json")
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out)
    assert out.reason("tdmrep")["verdict"] == "deny"
    assert world.site.count("GET", "/v/a") == 0  # the file is read before the page


def test_tdmrep_header_invalid_value_counts_as_unset_and_is_flagged(world: World) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", page_headers={"tdm-reservation": "yes"}))
    assert out.decision is Decision.ALLOW, out.reasons
    tdm = [r for r in out.reasons if r["signal"] == "tdmrep"]
    assert any("'yes', not 1 or 0" in r["detail"] and "read as unset" in r["detail"] for r in tdm), tdm


@pytest.mark.parametrize("status,body", [(500, "oops"), (200, "{not json")])
def test_tdmrep_json_error_or_invalid_defers(world: World, status: int, body: str) -> None:
    world.robots("", status=404)
    world.site.add("/.well-known/tdmrep.json", body, status=status, content_type="application/json")
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out, Decision.DEFER)


def test_ai_txt_disallowing_video_denies(world: World) -> None:
    world.robots("", status=404)
    world.site.add("/ai.txt", "User-Agent: *\nDisallow: *.mp4\n", content_type="text/plain")
    out = world.one(world.serve("a"))
    assert_refused_without_media(world, out)
    assert out.reason("ai-txt")["verdict"] == "deny"


# --- embedded rights (after download, before sharding) -------------------------------------------------------


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | bytes]:
    from clearframe.mediagen import make_clip
    from support.c2pa_files import (
        add_xmp_udta,
        make_credentials,
        sign_media,
        tamper_signature,
        training_mining,
        xmp_packet,
    )

    d = tmp_path_factory.mktemp("signed")
    clip = d / "clip.mp4"
    make_clip(str(clip), seconds=1.0, width=160, height=96, fps=12, audio=False, seed=7)  # moov last
    creds = make_credentials()
    no_train = [training_mining({"cawg.ai_training": "notAllowed", "cawg.ai_generative_training": "notAllowed"})]
    out: dict[str, Path | bytes] = {"clip": clip}
    out["not_allowed"] = d / "not_allowed.mp4"
    sign_media(clip, out["not_allowed"], creds=creds, assertions=no_train)  # type: ignore[arg-type]
    out["tampered"] = d / "tampered.mp4"
    tamper_signature(out["not_allowed"], out["tampered"])  # type: ignore[arg-type]
    out["xmp_unspecified"] = d / "xmp_unspecified.mp4"
    add_xmp_udta(clip, out["xmp_unspecified"], xmp_packet(data_mining="DMI-UNSPECIFIED"))  # type: ignore[arg-type]
    out["remote_asset"] = d / "remote.mp4"
    out["remote_store"] = sign_media(clip, out["remote_asset"], creds=creds, assertions=no_train,  # type: ignore[arg-type]
                                     remote_url="http://127.0.0.1:9/remote.c2pa")
    return out


def _purged(world: World) -> bool:
    root = Path(world.settings.storage)
    return not [p for p in root.rglob("*") if p.is_file() and ("staging" in p.parts or "quarantine" in p.parts)]


@pytest.mark.parametrize("which", ["not_allowed", "tampered"])
def test_c2pa_training_not_allowed_denies_and_purges_even_with_a_bad_signature(world: World, signed, which: str
                                                                               ) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", media=signed[which]))
    assert out.decision is Decision.DENY and out.status == "denied", out.reasons
    assert out.reason("c2pa")["verdict"] == "deny"
    assert any("purged" in r["detail"] for r in out.reasons)
    assert out.row["sha256"]  # the ledger keeps which bytes were refused
    assert _purged(world)


def test_xmp_datamining_unspecified_is_no_signal(world: World, signed) -> None:
    world.robots("", status=404)
    out = world.one(world.serve("a", media=signed["xmp_unspecified"]))
    assert out.decision is Decision.ALLOW and out.status == "admitted", out.reasons
    assert out.reason("xmp")["verdict"] == "none"


def test_link_c2pa_manifest_on_head_is_checked_before_download(world: World, signed) -> None:
    world.robots("", status=404)
    world.site.add("/manifests/a.c2pa", signed["remote_store"], content_type="application/c2pa")
    page = world.serve("a", media=signed["remote_asset"],
                       media_headers={"Link": '</manifests/a.c2pa>; rel="c2pa-manifest"'})
    out = world.one(page)
    assert_refused_without_media(world, out)
    assert out.reason("c2pa")["verdict"] == "deny"
    assert world.site.count("GET", "/manifests/a.c2pa") == 1


def test_partner_contract_with_embedded_not_allowed_goes_to_review(world: World, signed) -> None:
    world.robots("", status=404)
    contract = Acquisition(basis="contract", contract_id="C-9", covers_training=True)
    out = world.one(world.serve("a", media=signed["not_allowed"]), source=world.source(contract),
                    contract_id="C-9")
    assert out.decision is Decision.REVIEW and out.status == "review", out.reasons
    assert _purged(world)


# --- redirects across origins --------------------------------------------------------------------------------


def test_redirect_to_another_origin_is_followed_after_its_robots_check(world: World) -> None:
    world.robots("", status=404)
    with Site() as cdn:
        cdn.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
        cdn.add("/clip.mp4", world.clip.read_bytes(), content_type="video/mp4")
        world.site.add("/media/a.mp4", b"", status=302, headers={"Location": cdn.url("/clip.mp4")})
        out = world.one(world.serve("a", media_url="/media/a.mp4"))
        assert out.decision is Decision.ALLOW and out.status == "admitted", out.reasons
        assert cdn.count("GET", "/robots.txt") == 1 and cdn.media_requests("/clip.mp4") == 1


def test_redirect_to_an_origin_whose_robots_refuses_is_never_requested(world: World) -> None:
    world.robots("", status=404)
    with Site() as cdn:
        cdn.add("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
        cdn.add("/clip.mp4", world.clip.read_bytes(), content_type="video/mp4")
        world.site.add("/media/a.mp4", b"", status=302, headers={"Location": cdn.url("/clip.mp4")})
        out = world.one(world.serve("a", media_url="/media/a.mp4"))
        assert out.decision is Decision.DENY
        assert cdn.count("HEAD", "/clip.mp4") == 0 and cdn.media_requests("/clip.mp4") == 0
    assert "redirects to" in out.reason("robots")["detail"]


def test_a_check_needing_a_missing_credential_defers(world: World, s3_endpoint: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A partner delivery in S3 with no AWS credentials in the environment: nothing can be read, so DEFER."""
    from clearframe.config import DeliveryInput

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    contract = Acquisition(basis="contract", contract_id="C-1", covers_training=True)
    source = Source(name="cases", kind="delivery", delivery=DeliveryInput(location="s3://cf-test/partner/"),
                    acquisition=contract)
    cand = Candidate(source="cases", kind="delivery", canonical_id="delivery:x", url="s3://cf-test/partner/x.mp4",
                     locator="manifest.csv:2", contract_id="C-1",
                     license=None)
    with Context(source, world.settings) as ctx:
        run_batch(ctx, [cand], "run-cred", "00000")
        row = read_ledger(ctx.storage, "cases").to_pylist()[0]
    assert row["decision"] == "defer" and row["status"] == "deferred"
    assert "no usable AWS credentials" in row["reasons"]


def test_file_pointing_at_a_remote_manifest_is_judged_by_that_manifest_after_download(
        world: World, signed, tmp_path: Path) -> None:
    from support.c2pa_files import make_credentials, sign_media, training_mining

    world.robots("", status=404)
    asset = tmp_path / "provenance.mp4"
    store = sign_media(signed["clip"], asset, creds=make_credentials(),  # type: ignore[arg-type]
                       assertions=[training_mining({"cawg.ai_training": "notAllowed"})],
                       remote_url=world.site.url("/m/p.c2pa"))
    world.site.add("/m/p.c2pa", store, content_type="application/c2pa")
    out = world.one(world.serve("a", media=asset))  # no Link header: only the file itself names the store
    assert out.decision is Decision.DENY and out.status == "denied", out.reasons
    assert out.reason("c2pa")["verdict"] == "deny"
    assert world.site.count("GET", "/m/p.c2pa") == 1
    assert _purged(world)
