"""IETF AIPREF Content-Usage (header and robots.txt rule) and Cloudflare Content-Signal.

Covers the AIPREF lines of /work/shared/consent-cases.md, the examples and edge cases of
draft-ietf-aipref-vocab-07 / draft-ietf-aipref-attach-05, ClearFrame's documented choices (legacy labels,
per-line header reading, proxy groups, site-wide lines), real HTTP on loopback, and properties: no input
crashes, nothing ever grants, a parse failure never yields more than "no signal", and an applicable
``n`` always denies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_sf
import pytest
import requests
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clearframe.gate import aipref
from clearframe.gate.aipref import (
    CONTENT_SIGNAL,
    COVERING_LABELS,
    SIGNAL,
    content_signal_header,
    content_usage_header,
    parse_statement,
    robots_preferences,
)
from clearframe.records import Finding, Verdict
from support.site import Site

TOKEN = "ClearFrameBot"
PAGE = "https://videos.example/v/1"
ROBOTS = "https://videos.example/robots.txt"
ALLOWED = {Verdict.NONE, Verdict.DENY, Verdict.DEFER}


def header(*values: str) -> Finding:
    return content_usage_header(list(values), PAGE)


def usage(robots: str, url: str = PAGE, token: str = TOKEN) -> Finding:
    found = robots_preferences(robots, url, token, ROBOTS)
    assert [f.signal for f in found] == [SIGNAL, CONTENT_SIGNAL]
    return found[0]


def signal(robots: str, url: str = PAGE, token: str = TOKEN) -> Finding:
    return robots_preferences(robots, url, token, ROBOTS)[1]


# --- consent-cases.md ----------------------------------------------------------------------------------


def test_header_train_ai_n_denies() -> None:
    f = header("train-ai=n")
    assert f.verdict is Verdict.DENY
    assert f.signal == "aipref"
    assert f.locator == PAGE
    assert f.rule == "Content-Usage: train-ai=n"
    assert "train-ai=n" in f.detail and PAGE in f.detail


def test_header_duplicate_key_last_value_bare_key_is_unknown() -> None:
    f = header("train-ai=y, train-ai")
    assert f.verdict is Verdict.NONE
    assert "Boolean true" in f.detail and "unknown" in f.detail


def test_header_string_value_is_unknown_no_effect() -> None:
    f = header('search="n"')
    assert f.verdict is Verdict.NONE
    assert "the String 'n'" in f.detail


def test_header_string_n_for_train_ai_is_not_a_refusal() -> None:
    f = header('train-ai="n"')
    assert f.verdict is Verdict.NONE
    assert "train-ai: the String 'n'" in f.detail


@pytest.mark.parametrize("label", ["train-genai", "bots", "all", "genai", "ai", "tdm"])
def test_header_legacy_label_n_denies(label: str) -> None:
    f = header(f"{label}=n")
    assert f.verdict is Verdict.DENY
    assert f"{label}=n" in f.detail and "legacy label" in f.detail


def test_robots_content_signal_search_yes_ai_train_no_denies() -> None:
    f = signal("User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n")
    assert f.verdict is Verdict.DENY
    assert f.signal == "content-signal"
    assert f.locator == ROBOTS
    assert "line 2" in f.detail and "ai-train=no" in f.detail
    assert f.rule == "User-agent: * / Content-Signal: search=yes, ai-train=no (line 2)"


def test_robots_content_signal_ai_train_no_alone_denies() -> None:
    assert signal("User-agent: *\nContent-Signal: ai-train=no\n").verdict is Verdict.DENY


# --- draft-ietf-aipref-vocab-07 §6.5: parsing -------------------------------------------------------------


def test_header_unparseable_field_has_no_effect_and_says_so() -> None:
    f = header("Train-AI=n")  # uppercase keys fail to parse (§6.5.1): preferences unknown
    assert f.verdict is Verdict.NONE
    assert f.rule == "Content-Usage (unparseable)"
    assert "not a valid RFC 9651 Dictionary" in f.detail and "§6.5.1" in f.detail


def test_header_token_other_than_y_or_n_is_unknown() -> None:
    assert header("train-ai=no").verdict is Verdict.NONE
    assert header("train-ai=(n)").verdict is Verdict.NONE  # an Inner List is not a Token
    assert header("train-ai=0").verdict is Verdict.NONE


def test_header_parameters_are_ignored() -> None:
    assert header('train-ai=n;reason="licensing"').verdict is Verdict.DENY
    # vocab §6.5.2's example: the parameters of the first member are dropped with its value
    assert header("train-ai;allow=n, train-ai=y").verdict is Verdict.NONE


def test_header_last_value_of_a_key_wins_within_one_line() -> None:
    assert header("train-ai=n, train-ai=y").verdict is Verdict.NONE
    assert header("train-ai=y, train-ai=n").verdict is Verdict.DENY


def test_header_vocab_example_with_all_preferences_unknown() -> None:
    # draft-ietf-aipref-vocab-07 §6.5.1: "results in all preferences being unknown"
    assert header('train-ai=y, train-ai, search=n, search="n"').verdict is Verdict.NONE


def test_header_search_n_does_not_cover_training() -> None:
    f = header("train-ai=y, search=n")
    assert f.verdict is Verdict.NONE
    assert "search=n" in f.detail


@pytest.mark.parametrize("label", ["ai-output", "ai-use", "inference"])
def test_header_legacy_categories_outside_training_do_not_deny(label: str) -> None:
    assert header(f"{label}=n").verdict is Verdict.NONE


def test_header_unknown_labels_are_ignored() -> None:
    f = header("train-video=n, x-other=n")
    assert f.verdict is Verdict.NONE
    assert "ignored" in f.detail


def test_header_explicit_train_ai_y_overrides_legacy_parent_bots_n() -> None:
    # every revision's hierarchy consults the explicit child first
    assert header("bots=n, train-ai=y").verdict is Verdict.NONE


def test_header_train_ai_n_wins_over_legacy_child_train_genai_y() -> None:
    # vocab-03 would read train-genai=y, the current draft reads train-ai=n: any reading's n denies
    f = header("train-ai=n, train-genai=y")
    assert f.verdict is Verdict.DENY
    assert "current" in f.detail


def test_header_legacy_parent_applies_when_child_value_is_not_a_token() -> None:
    assert header('train-ai="y", bots=n').verdict is Verdict.DENY


def test_parse_statement_reports_values() -> None:
    s = parse_statement('train-ai=n, search=?1, x="y"')
    assert s.error is None
    assert s.prefs == {"train-ai": "n"}
    assert set(s.unknown) == {"search", "x"}
    assert parse_statement("train-ai=n,").error is not None


# --- several field lines (RFC 9651 §4.2, ClearFrame's per-line reading) ---------------------------------


def test_header_any_line_with_n_denies_although_joined_field_says_y() -> None:
    f = header("train-ai=n", "train-ai=y")
    assert f.verdict is Verdict.DENY
    assert f.rule == "Content-Usage: train-ai=n (line 1)"
    assert "line 1 of 2" in f.detail and "RFC 9651 §4.2" in f.detail


def test_header_bad_line_does_not_hide_a_good_lines_n() -> None:
    # joined, the field fails to parse (unknown); the second line on its own says n
    assert header("Train-AI=y", "train-ai=n").verdict is Verdict.DENY


def test_header_joined_field_n_denies() -> None:
    f = header("search=y", "train-ai=n")
    assert f.verdict is Verdict.DENY
    assert f.rule == "Content-Usage: train-ai=n"


def test_header_empty_lines_are_ignored() -> None:
    assert header("", "train-ai=n", "  ").verdict is Verdict.DENY
    f = header()
    assert f.verdict is Verdict.NONE and "no Content-Usage header" in f.detail


def test_header_status_and_evidence_are_recorded() -> None:
    f = content_usage_header(["train-ai=n"], PAGE, status=200, evidence="ab" * 32)
    assert (f.status, f.evidence) == (200, "ab" * 32)


def test_header_evaluation_error_defers(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(text: str | bytes) -> None:
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(aipref, "parse_statement", boom)
    f = header("train-ai=y")
    assert f.verdict is Verdict.DEFER
    assert "parser exploded" in f.detail and PAGE in f.detail


# --- robots.txt Content-Usage (draft-ietf-aipref-attach-05 §3) -------------------------------------------

ATTACH_EXAMPLE = """User-Agent: *
Allow: /
Disallow: /never/
Content-Usage: train-ai=n
Content-Usage: /ai-ok/ train-ai=y

User-Agent: ExampleBot
Allow: /
Content-Usage: train-ai=y
"""


def test_robots_attach_example_table() -> None:
    # draft-ietf-aipref-attach-05 §3.4, for a crawler that uses the * group
    test = usage(ATTACH_EXAMPLE, "https://videos.example/test")
    assert test.verdict is Verdict.DENY and "line 4" in test.detail
    assert test.rule == "User-agent: * / Content-Usage: train-ai=n (line 4)"
    ai_ok = usage(ATTACH_EXAMPLE, "https://videos.example/ai-ok/test")
    assert ai_ok.verdict is Verdict.NONE and "line 5" in ai_ok.detail


def test_robots_own_group_replaces_star_group() -> None:
    f = usage(ATTACH_EXAMPLE, "https://videos.example/test", token="ExampleBot")
    assert f.verdict is Verdict.NONE
    assert "line 9" in f.detail


def test_robots_our_token_is_case_insensitive_and_groups_merge() -> None:
    robots = (
        "User-agent: clearframebot\nAllow: /\n\nUser-agent: *\nContent-Usage: train-ai=y\n\n"
        "User-agent: CLEARFRAMEBOT\nContent-Usage: /v/ train-ai=n\n"
    )
    f = usage(robots)
    assert f.verdict is Verdict.DENY
    assert "our product token" in f.detail and "line 8" in f.detail


def test_robots_known_ai_crawler_group_is_honoured_as_proxy() -> None:
    f = usage("User-agent: GPTBot\nAllow: /\nContent-Usage: train-ai=n\n")
    assert f.verdict is Verdict.DENY
    assert "GPTBot" in f.detail and "proxy" in f.detail


def test_robots_other_crawlers_group_does_not_apply() -> None:
    f = usage("User-agent: Googlebot\nContent-Usage: train-ai=n\n\nUser-agent: *\nAllow: /\n")
    assert f.verdict is Verdict.NONE
    assert "no Content-Usage rule" in f.detail


def test_robots_identical_paths_apply_separately_and_n_wins() -> None:
    robots = "User-agent: *\nContent-Usage: /v/ train-ai=y\nContent-Usage: /v/ train-ai=n\n"
    assert usage(robots).verdict is Verdict.DENY


def test_robots_pathless_rule_ties_with_root_path() -> None:
    robots = "User-agent: *\nContent-Usage: / train-ai=y\nContent-Usage: train-ai=n\n"
    assert usage(robots).verdict is Verdict.DENY


def test_robots_longer_path_y_overrides_shorter_n() -> None:
    robots = "User-agent: *\nContent-Usage: /v/ train-ai=n\nContent-Usage: /v/1 train-ai=y\n"
    assert usage(robots).verdict is Verdict.NONE
    assert usage(robots, "https://videos.example/v/2").verdict is Verdict.DENY


def test_robots_wildcard_and_end_anchor() -> None:
    robots = "User-agent: *\nContent-Usage: /*.mp4$ train-ai=n\n"
    assert usage(robots, "https://videos.example/media/a.mp4").verdict is Verdict.DENY
    assert usage(robots, "https://videos.example/media/a.mp4?x=1").verdict is Verdict.NONE
    assert usage(robots, "https://videos.example/media/a.mp4.html").verdict is Verdict.NONE


def test_robots_end_anchor_without_wildcard_matches_exactly() -> None:
    robots = "User-agent: *\nContent-Usage: /v/1$ train-ai=n\n"
    assert usage(robots, "https://videos.example/v/1").verdict is Verdict.DENY
    assert usage(robots, "https://videos.example/v/10").verdict is Verdict.NONE


def test_robots_path_matching_includes_the_query() -> None:
    robots = "User-agent: *\nContent-Usage: /*?private train-ai=n\n"
    assert usage(robots, "https://videos.example/v/1?private=1").verdict is Verdict.DENY
    assert usage(robots, "https://videos.example/v/1").verdict is Verdict.NONE


def test_robots_percent_encoding_is_normalised() -> None:
    robots = "User-agent: *\nContent-Usage: /caf%C3%A9/ train-ai=n\nContent-Usage: /%7Euser/ train-ai=n\n"
    assert usage(robots, "https://videos.example/café/1").verdict is Verdict.DENY
    assert usage(robots, "https://videos.example/caf%c3%a9/1").verdict is Verdict.DENY
    assert usage(robots, "https://videos.example/~user/1").verdict is Verdict.DENY


def test_robots_literal_dollar_needs_percent_24() -> None:
    robots = "User-agent: *\nContent-Usage: /a%24b train-ai=n\n"
    assert usage(robots, "https://videos.example/a$b").verdict is Verdict.DENY
    assert usage(robots, "https://videos.example/ab").verdict is Verdict.NONE


def test_robots_comment_ends_the_rule_value() -> None:
    assert usage("User-agent: *\nContent-Usage: train-ai=n # no training\n").verdict is Verdict.DENY
    assert usage("User-agent: *\nContent-Usage: train-ai=y # , train-ai=n\n").verdict is Verdict.NONE


def test_robots_label_and_colon_whitespace_is_ignored() -> None:
    assert usage("User-agent: *\n  content-usage\t :\ttrain-ai=n\n").verdict is Verdict.DENY


def test_robots_sitemap_line_does_not_end_the_group() -> None:
    robots = "User-agent: *\nSitemap: https://videos.example/s.xml\nUser-agent: GPTBot\nContent-Usage: train-ai=n\n"
    f = usage(robots)  # the * group and the GPTBot group are one group here
    assert f.verdict is Verdict.DENY
    assert "User-agent: * " in f.detail


def test_robots_line_before_any_group_is_honoured_site_wide() -> None:
    f = usage("Content-Usage: train-ai=n\n\nUser-agent: *\nAllow: /\n")
    assert f.verdict is Verdict.DENY
    assert "before any User-agent line" in f.detail


def test_robots_unparseable_longest_rule_leaves_preferences_unknown() -> None:
    # attach §3.1 picks the longest path; vocab §6.5.1 makes its unparseable statement "unknown"
    robots = "User-agent: *\nContent-Usage: train-ai=n\nContent-Usage: /v/ Train-AI=y\n"
    f = usage(robots)
    assert f.verdict is Verdict.NONE
    assert "not a valid RFC 9651 Dictionary" in f.detail and "line 3" in f.detail


def test_robots_byte_order_mark_does_not_hide_the_first_group() -> None:
    assert usage("\ufeffUser-agent: *\nContent-Usage: train-ai=n\n").verdict is Verdict.DENY


def test_robots_legacy_label_denies() -> None:
    assert usage("User-agent: *\nContent-Usage: bots=n\n").verdict is Verdict.DENY


def test_robots_status_and_evidence_are_recorded() -> None:
    found = robots_preferences("User-agent: *\nContent-Usage: train-ai=n\n", PAGE, TOKEN, ROBOTS,
                               "cd" * 32, status=200)
    assert all((f.status, f.evidence, f.locator) == (200, "cd" * 32, ROBOTS) for f in found)


def test_robots_evaluation_error_defers_both_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("split exploded")

    monkeypatch.setattr(aipref, "_split", boom)
    aipref._scopes_cached.cache_clear()  # parses are cached per robots.txt text
    found = robots_preferences("User-agent: *\nContent-Usage: train-ai=n\n", PAGE, TOKEN, ROBOTS)
    assert [f.verdict for f in found] == [Verdict.DEFER, Verdict.DEFER]
    assert all("split exploded" in f.detail for f in found)


# --- Content-Signal -----------------------------------------------------------------------------------


def test_content_signal_path_scopes_the_line() -> None:
    robots = "User-agent: *\nContent-Signal: /blog/ ai-train=no, search=yes\nAllow: /\n"
    assert signal(robots, "https://videos.example/blog/post").verdict is Verdict.DENY
    assert signal(robots, "https://videos.example/about").verdict is Verdict.NONE


def test_content_signal_other_keys_do_not_deny() -> None:
    f = signal("User-agent: *\nContent-Signal: search=no, ai-input=no, use=reference, foo=bar\n")
    assert f.verdict is Verdict.NONE
    assert "search=no" in f.detail and "no ai-train signal" in f.detail


def test_content_signal_yes_never_grants() -> None:
    f = signal("User-agent: *\nContent-Signal: ai-train=yes\n")
    assert f.verdict is Verdict.NONE and "never grants" in f.detail


def test_content_signal_is_read_case_insensitively_and_quotes_ignored() -> None:
    assert signal('User-agent: *\nContent-Signal: AI-Train="No"\n').verdict is Verdict.DENY


def test_content_signal_duplicate_key_any_no_wins() -> None:
    assert signal("User-agent: *\nContent-Signal: ai-train=no, ai-train=yes\n").verdict is Verdict.DENY


def test_content_signal_in_another_crawlers_group_does_not_apply() -> None:
    robots = "User-agent: Googlebot\nContent-Signal: ai-train=no\n\nUser-agent: *\nAllow: /\n"
    assert signal(robots).verdict is Verdict.NONE


def test_content_signal_in_ai_crawler_group_is_a_proxy() -> None:
    f = signal("User-agent: CCBot\nContent-Signal: ai-train=no\n")
    assert f.verdict is Verdict.DENY and "proxy" in f.detail


def test_content_signal_and_content_usage_are_separate_findings() -> None:
    robots = "User-agent: *\nContent-Signal: ai-train=no\nContent-Usage: train-ai=y\n"
    cu, cs = robots_preferences(robots, PAGE, TOKEN, ROBOTS)
    assert (cu.verdict, cs.verdict) == (Verdict.NONE, Verdict.DENY)


def test_content_signal_header_denies_and_ignores_malformed_items() -> None:
    f = content_signal_header(["search=yes", "garbage, ai-train=no"], PAGE)
    assert f.verdict is Verdict.DENY and "line 2 of 2" in f.detail
    g = content_signal_header(["ai-train=yes, search=yes, ai-input=yes, junk"], PAGE)
    assert g.verdict is Verdict.NONE and "malformed" in g.detail


# --- over real HTTP on loopback ----------------------------------------------------------------------


def test_site_header_and_robots_rules_over_http() -> None:
    with Site() as site:
        site.add("/robots.txt", "User-agent: *\nAllow: /\nContent-Signal: search=yes, ai-train=no\n",
                 content_type="text/plain")
        site.add("/v/free", "<html></html>")
        site.add("/v/refused", "<html></html>", headers={"Content-Usage": "train-ai=n"})
        robots = requests.get(site.url("/robots.txt"), timeout=5)
        free = requests.get(site.url("/v/free"), timeout=5)
        refused = requests.get(site.url("/v/refused"), timeout=5)
    free_f = content_usage_header(free.raw.headers.getlist("Content-Usage"), free.url, status=free.status_code)
    refused_f = content_usage_header(refused.raw.headers.getlist("Content-Usage"), refused.url)
    assert free_f.verdict is Verdict.NONE
    assert refused_f.verdict is Verdict.DENY and refused.url in refused_f.detail
    cu, cs = robots_preferences(robots.text, free.url, TOKEN, robots.url, status=robots.status_code)
    assert cu.verdict is Verdict.NONE and cs.verdict is Verdict.DENY
    assert cs.locator == robots.url and cs.status == 200


class _RepeatedHeaderServer:
    """Loopback server whose one page sends the given header lines as separate field lines."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                for name, value in lines:
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v/1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _RepeatedHeaderServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def two_line_server() -> Iterator[_RepeatedHeaderServer]:
    with _RepeatedHeaderServer([("Content-Usage", "train-ai=n"), ("Content-Usage", "train-ai=y")]) as s:
        yield s


def test_repeated_header_lines_over_http_any_line_n_denies(two_line_server: _RepeatedHeaderServer) -> None:
    resp = requests.get(two_line_server.url, timeout=5)
    lines = resp.raw.headers.getlist("Content-Usage")
    assert lines == ["train-ai=n", "train-ai=y"]
    assert content_usage_header(lines, resp.url).verdict is Verdict.DENY
    # requests' joined value is one Dictionary in which the later train-ai=y wins (RFC 9651 §4.2)
    assert resp.headers["Content-Usage"] == "train-ai=n, train-ai=y"
    assert content_usage_header([resp.headers["Content-Usage"]], resp.url).verdict is Verdict.NONE


# --- properties --------------------------------------------------------------------------------------

_keys = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,12}", fullmatch=True)
_tokens = st.from_regex(r"[A-Za-z*][A-Za-z0-9:/!#$%&'*+.^_`|~-]{0,8}", fullmatch=True)
_bare = st.one_of(
    _tokens.map(http_sf.Token),
    st.integers(min_value=-999, max_value=999),
    st.booleans(),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8),
)
_params = st.dictionaries(_keys, _bare, max_size=2)


@st.composite
def _dictionary_with_train_ai_n(draw: st.DrawFn) -> str:
    """A serialised RFC 9651 Dictionary in which train-ai's (last) value is the Token n."""
    others = draw(st.lists(st.tuples(_keys.filter(lambda k: k != "train-ai"), _bare, _params), max_size=6))
    at = draw(st.integers(min_value=0, max_value=len(others)))
    members = {k: (v, p) for k, v, p in others[:at]}
    members["train-ai"] = (http_sf.Token("n"), draw(_params))
    members.update({k: (v, p) for k, v, p in others[at:]})
    text = http_sf.ser(members)  # type: ignore[arg-type]
    return text.replace(", ", draw(st.sampled_from([", ", ",", " ,  ", "\t,\t"])))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=4))
def test_property_header_never_crashes_or_grants(values: list[str]) -> None:
    f = content_usage_header(values, PAGE)
    assert f.verdict in ALLOWED
    assert f.signal == SIGNAL and f.detail


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_property_unparseable_header_is_no_signal_with_a_parse_note(value: str) -> None:
    try:
        http_sf.parse(value.encode("utf-8", "surrogatepass"), tltype="dictionary")
        return
    except http_sf.StructuredFieldError:
        pass
    f = content_usage_header([value], PAGE)
    assert f.verdict in (Verdict.NONE, Verdict.DEFER)
    if f.verdict is Verdict.NONE and value.strip(" \t"):
        assert "not a valid RFC 9651 Dictionary" in f.detail


@settings(max_examples=300, deadline=None)
@given(_dictionary_with_train_ai_n(), st.lists(st.text(max_size=40), max_size=3), st.data())
def test_property_any_line_with_train_ai_n_denies(line: str, noise: list[str], data: st.DataObject) -> None:
    lines = list(noise)
    lines.insert(data.draw(st.integers(min_value=0, max_value=len(lines))), line)
    assert content_usage_header(lines, PAGE).verdict is Verdict.DENY


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(COVERING_LABELS)))
def test_property_every_covering_label_n_alone_denies(label: str) -> None:
    assert header(f"{label}=n").verdict is Verdict.DENY


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.text(max_size=60))
def test_property_robots_never_crashes_or_grants(text: str, path: str) -> None:
    for f in robots_preferences(text, "https://videos.example/" + path, TOKEN, ROBOTS):
        assert f.verdict in ALLOWED and f.detail


_robots_lines = st.sampled_from([
    "User-agent: *", "User-agent: GPTBot", "User-agent: Googlebot", f"User-agent: {TOKEN}", "Allow: /",
    "Disallow: /", "Disallow: /v/", "Sitemap: https://videos.example/s.xml", "# comment", "",
    "Content-Usage: search=n", "Content-Usage: /w/ search=y", "Content-Signal: search=yes",
    "Crawl-delay: 3", "Content-Usage: Train-AI=y", "garbage line",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_robots_lines, max_size=12), st.lists(_robots_lines, max_size=6))
def test_property_our_group_train_ai_n_always_denies(before: list[str], after: list[str]) -> None:
    robots = "\n".join([*before, "", f"User-agent: {TOKEN}", "Content-Usage: train-ai=n", *after]) + "\n"
    f = usage(robots)
    assert f.verdict is Verdict.DENY, f.detail


_odd_lines = st.sampled_from([
    "User agent *", "useragent: GPTBot", "User-agent:", "User-agent: Clear Frame", "USER-AGENT: clearframebot",
    "Sitemap http://videos.example/s.xml", "content-usage:train-ai=n", "Content-Usage train-ai=n",
    "  content-signal \t: ai-train=no", "Disallow /x", "crawl delay 4", "foo bar", "Host: videos.example",
    "Content-Usage: /v/ train-ai=n # c", "# Content-Usage: train-ai=n", "Allow:/",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_robots_lines, _odd_lines, st.text(max_size=30)), max_size=14))
@example(["User-agent: a", "Sitemap http://videos.example/s.xml", "User-agent: ClearFrameBot",
          "Content-Usage: train-ai=n"])
@example(["User-agent: a", "Content-Usage train-ai=n", "User-agent: b", "content-usage:train-ai=n"])
@example(["User agent *", "crawl delay 4", "useragent: GPTBot", "  content-signal \t: ai-train=no"])
@example(["Content-Usage: train-ai=n", "User-agent: *", "Host: x", "User-agent: GPTBot", "Content-Signal: x"])
def test_property_groups_agree_with_robots_module(lines: list[str]) -> None:
    """The group a Content-Usage line belongs to is the one clearframe.gate.robots would put it in."""
    from clearframe.gate.robots import _split_groups  # private: this test pins the two modules together

    text = "\n".join(lines).replace("\ufeff", "")
    theirs = {
        agent: [ln.lineno for ln in group if ln.field in ("content-usage", "content-signal")]
        for agent, group in _split_groups(text).items()
    }
    ours, _outside = aipref._split(text)
    assert {a: [r.lineno for r in rules] for a, rules in ours.items()} == theirs


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=4))
def test_property_content_signal_header_never_crashes_or_grants(values: list[str]) -> None:
    f = content_signal_header(values, PAGE)
    assert f.verdict in ALLOWED
    if any("ai-train=no" == v.strip() for v in values):
        assert f.verdict is Verdict.DENY
