"""X-Robots-Tag headers and robots meta tags: ``noai`` / ``noimageai`` refusals, scoped and unscoped.

Covers the X-Robots-Tag / meta lines of /work/shared/consent-cases.md, Google's header syntax (optional
``<bot-name>:`` scope, comma lists, several header lines, ``unavailable_after`` with its colons), the
DeviantArt directives (``noimageai`` counts for video), search directives that are *not* AI refusals,
real HTTP on loopback, and properties: nothing crashes, nothing grants, an applicable refusal denies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from clearframe.gate import xrobots
from clearframe.gate.xrobots import META_SIGNAL, SIGNAL, meta_robots, x_robots_tag
from clearframe.probe import parse_page
from clearframe.records import Finding, Verdict
from support.site import Site

TOKEN = "ClearFrameBot"
MEDIA = "https://videos.example/media/1.mp4"
PAGE = "https://videos.example/v/1"
ALLOWED = {Verdict.NONE, Verdict.DENY, Verdict.DEFER}


def xrt(*values: str) -> Finding:
    return x_robots_tag(list(values), TOKEN, MEDIA)


def meta(tags: dict[str, list[str]]) -> Finding:
    return meta_robots(tags, TOKEN, PAGE)


# --- consent-cases.md ----------------------------------------------------------------------------------


def test_header_noai_denies() -> None:
    f = xrt("noai")
    assert f.verdict is Verdict.DENY
    assert f.signal == "x-robots-tag" and f.locator == MEDIA
    assert f.rule == "X-Robots-Tag: noai"
    assert "noai" in f.detail and "all crawlers" in f.detail and MEDIA in f.detail


def test_header_noai_scoped_to_other_bot_has_no_effect() -> None:
    f = xrt("otherbot: noai")
    assert f.verdict is Verdict.NONE
    assert "otherbot: noai" in f.detail and "no effect" in f.detail


def test_meta_robots_noai_is_case_insensitive_and_denies() -> None:
    f = meta({"robots": ["NoAI"]})
    assert f.verdict is Verdict.DENY
    assert f.signal == "meta-robots" and f.locator == PAGE
    assert '<meta name="robots"' in f.detail and "NoAI" in f.detail


# --- scopes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ClearFrameBot: noai", "clearframebot: NOAI", "CLEARFRAMEBOT:noai",
                                   "ClearFrameBot/1.0: noai"])
def test_header_noai_scoped_to_our_token_denies(value: str) -> None:
    f = xrt(value)
    assert f.verdict is Verdict.DENY
    assert "our product token" in f.detail


def test_header_noai_scoped_to_ai_training_crawler_is_a_proxy() -> None:
    f = xrt("GPTBot: noai")
    assert f.verdict is Verdict.DENY
    assert "GPTBot" in f.detail and "proxy" in f.detail
    assert f.rule == "X-Robots-Tag: GPTBot: noai"


def test_header_scope_runs_to_the_next_scope_in_the_line() -> None:
    assert xrt("otherbot: noindex, ClearFrameBot: noai").verdict is Verdict.DENY
    assert xrt("ClearFrameBot: noindex, otherbot: noai").verdict is Verdict.NONE
    assert xrt("otherbot: noindex, noai").verdict is Verdict.NONE  # still otherbot's (MDN syntax)
    assert xrt("noai, otherbot: noindex").verdict is Verdict.DENY  # before any scope: everyone


def test_header_scope_does_not_carry_over_to_the_next_line() -> None:
    f = xrt("otherbot: noindex", "noai")
    assert f.verdict is Verdict.DENY
    assert "line 2 of 2" in f.detail


def test_header_robots_scope_is_read_as_all_crawlers() -> None:
    assert xrt("robots: noai").verdict is Verdict.DENY


# --- directives ---------------------------------------------------------------------------------------


def test_noimageai_counts_as_a_refusal_for_video() -> None:
    f = xrt("noimageai")
    assert f.verdict is Verdict.DENY
    assert "video frames are images" in f.detail
    assert meta({"robots": ["noimageai"]}).verdict is Verdict.DENY


@pytest.mark.parametrize("value", ["noindex", "none", "nofollow", "noindex, nofollow", "noarchive",
                                   "nosnippet", "noimageindex", "max-image-preview: none", "all"])
def test_search_directives_are_not_ai_refusals(value: str) -> None:
    f = xrt(value)
    assert f.verdict is Verdict.NONE
    assert "not AI-use refusals" in f.detail
    assert meta({"robots": [value]}).verdict is Verdict.NONE


def test_header_comma_list_with_noai_denies() -> None:
    assert xrt("noindex, nofollow, noai").verdict is Verdict.DENY
    assert xrt("noindex noai").verdict is Verdict.DENY  # space-separated words, read leniently


def test_unavailable_after_colon_is_not_a_scope() -> None:
    assert xrt("unavailable_after: 25 Jun 2010 15:00:00 PST, noai").verdict is Verdict.DENY
    assert xrt("unavailable_after: Friday, 25-Jun-10 15:00:00 GMT, noai").verdict is Verdict.DENY
    assert xrt("unavailable_after: 2010-06-25T15:00:00Z", "noai").verdict is Verdict.DENY
    # a time after a comma ("15:00") must not open a scope named "15"
    assert xrt("unavailable_after: 25 Jun 2010, 15:00 GMT, noai").verdict is Verdict.DENY


def test_value_rules_with_colons_are_not_scopes() -> None:
    assert xrt("max-snippet: 20, max-image-preview: large, noai").verdict is Verdict.DENY
    assert xrt("max-video-preview: -1, noimageai").verdict is Verdict.DENY


def test_header_empty_or_absent_is_no_signal() -> None:
    assert xrt().verdict is Verdict.NONE
    assert xrt("", " ").verdict is Verdict.NONE


def test_header_status_and_evidence_are_recorded() -> None:
    f = x_robots_tag(["noai"], TOKEN, MEDIA, status=200, evidence="ef" * 32)
    assert (f.status, f.evidence) == (200, "ef" * 32)


def test_header_evaluation_error_defers(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(line: str) -> None:
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(xrobots, "_parse_line", boom)
    f = xrt("noindex")
    assert f.verdict is Verdict.DEFER
    assert "tokenizer exploded" in f.detail and MEDIA in f.detail


# --- meta tags -----------------------------------------------------------------------------------------


def test_meta_named_for_our_token_denies() -> None:
    f = meta({"clearframebot": ["noai"]})
    assert f.verdict is Verdict.DENY
    assert f.rule == 'meta name="clearframebot": noai'


def test_meta_named_for_other_bot_has_no_effect() -> None:
    f = meta({"otherbot": ["noai"], "robots": ["index, follow"]})
    assert f.verdict is Verdict.NONE
    assert 'name="otherbot"' in f.detail


def test_meta_named_for_ai_training_crawler_is_a_proxy() -> None:
    f = meta({"ccbot": ["noimageai"]})
    assert f.verdict is Verdict.DENY and "proxy" in f.detail


def test_meta_most_restrictive_of_several_tags_wins() -> None:
    assert meta({"robots": ["all", "noindex, noai"], "clearframebot": ["index"]}).verdict is Verdict.DENY


def test_meta_other_tags_are_not_read() -> None:
    f = meta({"description": ["noai everywhere"], "author": ["noai"]})
    assert f.verdict is Verdict.NONE
    assert "no robots meta tag for us" in f.detail


def test_meta_from_parsed_html_page() -> None:
    page = parse_page('<html><head><META NAME="ROBOTS" CONTENT="NoIndex, NoAI"></head><body></body></html>')
    assert meta_robots(page.meta, TOKEN, PAGE).verdict is Verdict.DENY
    other = parse_page('<html><head><meta name="OtherBot" content="noai"></head></html>')
    assert meta_robots(other.meta, TOKEN, PAGE).verdict is Verdict.NONE


def test_meta_evaluation_error_defers() -> None:
    class Broken(dict[str, list[str]]):
        def items(self):  # type: ignore[override]
            raise RuntimeError("meta map exploded")

    f = meta_robots(Broken(), TOKEN, PAGE)
    assert f.verdict is Verdict.DEFER and "meta map exploded" in f.detail


# --- over real HTTP on loopback ----------------------------------------------------------------------


def test_site_page_meta_and_media_header_over_http() -> None:
    with Site() as site:
        site.add("/v/1", '<html><head><meta name="robots" content="noindex"></head></html>')
        site.add("/v/2", '<html><head><meta name="ClearFrameBot" content="NOAI"></head></html>')
        site.add("/media/1.mp4", b"", content_type="video/mp4", headers={"X-Robots-Tag": "noimageai"})
        site.add("/media/2.mp4", b"", content_type="video/mp4", headers={"X-Robots-Tag": "otherbot: noai"})
        p1, p2 = (requests.get(site.url(p), timeout=5) for p in ("/v/1", "/v/2"))
        m1, m2 = (requests.head(site.url(p), timeout=5) for p in ("/media/1.mp4", "/media/2.mp4"))
    assert meta_robots(parse_page(p1.text).meta, TOKEN, p1.url).verdict is Verdict.NONE
    assert meta_robots(parse_page(p2.text).meta, TOKEN, p2.url).verdict is Verdict.DENY
    f1 = x_robots_tag(m1.raw.headers.getlist("X-Robots-Tag"), TOKEN, m1.url, status=m1.status_code)
    assert f1.verdict is Verdict.DENY and m1.url in f1.detail and f1.status == 200
    assert x_robots_tag(m2.raw.headers.getlist("X-Robots-Tag"), TOKEN, m2.url).verdict is Verdict.NONE


@pytest.fixture
def two_line_media() -> Iterator[str]:
    lines = [("X-Robots-Tag", "otherbot: noindex"), ("X-Robots-Tag", "noai")]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self.send_response(200)
            for name, value in lines:
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/media/1.mp4"
    finally:
        server.shutdown()
        server.server_close()


def test_separate_header_lines_over_http_keep_their_own_scope(two_line_media: str) -> None:
    resp = requests.head(two_line_media, timeout=5)
    lines = resp.raw.headers.getlist("X-Robots-Tag")
    assert lines == ["otherbot: noindex", "noai"]
    assert x_robots_tag(lines, TOKEN, resp.url).verdict is Verdict.DENY
    # requests joins the lines; read as one line the refusal falls inside otherbot's scope. This is why
    # callers must pass raw field lines.
    assert resp.headers["X-Robots-Tag"] == "otherbot: noindex, noai"
    assert x_robots_tag([resp.headers["X-Robots-Tag"]], TOKEN, resp.url).verdict is Verdict.NONE


# --- properties --------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=5))
def test_property_header_never_crashes_or_grants(values: list[str]) -> None:
    f = x_robots_tag(values, TOKEN, MEDIA)
    assert f.verdict in ALLOWED and f.signal == SIGNAL and f.detail


_scopes = st.sampled_from(["", "ClearFrameBot: ", "clearframebot: ", "GPTBot: ", "robots: "])
_refusals = st.sampled_from(["noai", "NoAI", "noimageai", "NOIMAGEAI"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=4), _scopes, _refusals, st.data())
def test_property_applicable_refusal_line_always_denies(
    noise: list[str], scope: str, refusal: str, data: st.DataObject
) -> None:
    lines = list(noise)
    lines.insert(data.draw(st.integers(min_value=0, max_value=len(lines))), f"{scope}{refusal}")
    assert x_robots_tag(lines, TOKEN, MEDIA).verdict is Verdict.DENY


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.lists(st.text(max_size=40), max_size=3), max_size=5))
def test_property_meta_never_crashes_or_grants(tags: dict[str, list[str]]) -> None:
    f = meta_robots(tags, TOKEN, PAGE)
    assert f.verdict in ALLOWED and f.signal == META_SIGNAL and f.detail


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.lists(st.text(max_size=40), max_size=3), max_size=5),
       st.sampled_from(["robots", "clearframebot", "gptbot"]), _refusals, st.text(max_size=20))
def test_property_applicable_meta_refusal_always_denies(
    tags: dict[str, list[str]], name: str, refusal: str, other: str
) -> None:
    tags = dict(tags)
    tags[name] = [*tags.get(name, []), f"{other.replace(',', ' ')}, {refusal}"]
    assert meta_robots(tags, TOKEN, PAGE).verdict is Verdict.DENY
