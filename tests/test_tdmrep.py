"""TDMRep signal (W3C CG Final Report 2024-05-10): tdmrep.json, tdm-reservation header and meta, priority.

The TDMRep lines of /work/shared/consent-cases.md, the spec's own examples (#sec-tdm-file-example,
#sec-tdm-header, #sec-tdm-html-meta), its matching and priority rules, and the fetcher against a real
loopback server (clearframe.demo_site.Site).
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

from clearframe.gate.tdmrep import (
    WELL_KNOWN_PATH,
    FileState,
    TdmFile,
    TdmRepError,
    TdmRepFetcher,
    first_match,
    parse_tdmrep_json,
    tdmrep_file_finding,
    tdmrep_finding,
)
from clearframe.gate.wellknown import (
    DocStatus,
    PathPattern,
    WellKnownDoc,
    WellKnownResult,
    url_target,
)
from clearframe.net import make_session
from clearframe.records import Verdict
from support.site import Site

UA = "ClearFrameBot/0.1 (+https://clearframe.example/bot)"
FILE_URL = "https://provider.com/.well-known/tdmrep.json"

# The spec's second example (#sec-tdm-file-example), verbatim in structure.
SPEC_EXAMPLE = json.dumps([
    {"location": "/directory-a/", "tdm-reservation": 1},
    {"location": "/directory-b/html/", "tdm-reservation": 1,
     "tdm-policy": "https://provider.com/policies/policy.json"},
    {"location": "/directory-b/images/*.jpg", "tdm-reservation": 0},
]).encode()


def file_of(body: bytes | str, status: int = 200) -> TdmFile:
    """A TdmFile as the fetcher would build it from a 2xx body."""
    data = body.encode() if isinstance(body, str) else body
    doc = WellKnownDoc(FILE_URL, DocStatus.FOUND, f"HTTP {status}", status, FILE_URL, data,
                       evidence=hashlib.sha256(data).hexdigest())
    try:
        result: WellKnownResult[list] = WellKnownResult(doc, parsed=parse_tdmrep_json(data))
    except TdmRepError as exc:
        result = WellKnownResult(doc, parse_error=str(exc))
    return TdmFile.from_result(result)


NO_FILE = TdmFile(FILE_URL, FileState.ABSENT, f"{FILE_URL}: HTTP 404", 404)


# --- the file: spec examples and consent cases ---------------------------------------------------------


def test_tdmrep_reservation_1_for_root_denies_everything() -> None:
    f = file_of('[{"location": "/", "tdm-reservation": 1}]')
    for url in ("https://provider.com/", "https://provider.com/v/clip.mp4", "https://provider.com/a?b=c"):
        finding = tdmrep_finding(url, f)
        assert finding.verdict is Verdict.DENY
        assert finding.signal == "tdmrep"
        assert finding.locator == FILE_URL
        assert finding.status == 200
        assert finding.evidence == hashlib.sha256(b'[{"location": "/", "tdm-reservation": 1}]').hexdigest()
        assert "rule #1" in finding.detail and "location '/'" in finding.detail and url in finding.detail


@pytest.mark.parametrize(
    ("path", "verdict", "rule"),
    [
        ("/directory-a/report.pdf", Verdict.DENY, "rule #1"),
        ("/directory-b/html/page.html", Verdict.DENY, "rule #2"),
        ("/directory-b/images/photo.jpg", Verdict.NONE, "rule #3"),
        ("/directory-b/images/photo.png", Verdict.NONE, None),  # no match: unset
        ("/directory-c/x", Verdict.NONE, None),
    ],
)
def test_tdmrep_spec_example_three_groups(path: str, verdict: Verdict, rule: str | None) -> None:
    finding = tdmrep_finding("https://provider.com" + path, file_of(SPEC_EXAMPLE))
    assert finding.verdict is verdict
    if rule is None:
        assert finding.rule is None
        assert "none matches" in finding.detail
    else:
        assert finding.rule is not None and rule in finding.rule


def test_tdmrep_policy_is_recorded_and_grants_nothing() -> None:
    finding = tdmrep_finding("https://provider.com/directory-b/html/p.html", file_of(SPEC_EXAMPLE))
    assert finding.verdict is Verdict.DENY
    assert "https://provider.com/policies/policy.json" in finding.detail
    assert "grants nothing" in finding.detail


def test_tdmrep_first_matching_rule_applies_not_the_longest() -> None:
    # #sec-tdm-file: "The most specific match is the first in sequence."
    body = json.dumps([{"location": "/", "tdm-reservation": 0}, {"location": "/videos/", "tdm-reservation": 1}])
    finding = tdmrep_finding("https://provider.com/videos/1", file_of(body))
    assert finding.verdict is Verdict.NONE
    assert "rule #1" in (finding.rule or "")
    assert "rule #2" in finding.detail and "first in sequence" in finding.detail  # the shadowed rule is named
    reverse = json.dumps([{"location": "/videos/", "tdm-reservation": 1}, {"location": "/", "tdm-reservation": 0}])
    assert tdmrep_finding("https://provider.com/videos/1", file_of(reverse)).verdict is Verdict.DENY
    assert tdmrep_finding("https://provider.com/other", file_of(reverse)).verdict is Verdict.NONE


@pytest.mark.parametrize(
    ("location", "path", "matches"),
    [
        ("/", "/anything/at/all", True),
        ("/*", "/x", True),
        ("/fish", "/fish.html", True),  # prefix match
        ("/fish", "/Fish", False),  # case-sensitive
        ("/fish/", "/fish", False),
        ("/this/*/then", "/this/a/b/then/more", True),
        ("/this/path/exactly$", "/this/path/exactly", True),
        ("/this/path/exactly$", "/this/path/exactly/more", False),
        ("/v/*.mp4$", "/v/a/b.mp4", True),
        ("/v/*.mp4$", "/v/a.mp4?x=1", False),  # the query is part of what is matched
        ("/v/*.mp4", "/v/a.mp4?x=1", True),
        ("/path/foo-%24", "/path/foo-$", True),  # spec example: a literal $ is written %24
        ("/path/foo-$", "/path/foo-", True),  # a trailing $ is the anchor
        ("/a$b", "/a$b", True),  # a $ that does not end the pattern is literal
        ("/%7Euser/", "/~user/page", True),  # unreserved percent-encodings are decoded
        ("/~user/", "/%7euser/page", True),
        ("/a%2Fb", "/a/b", False),  # a reserved character encoded keeps its meaning
        ("/a%2fb", "/a%2Fb", True),  # hex case does not matter
        ("/caf%C3%A9", "/café", True),  # non-ASCII is compared as UTF-8 octets
        ("*.jpg", "/x/y.jpg", True),
        ("/a*b*c", "/aXbYc", True),
        ("/a*b*c", "/aXcYb", False),
        ("/a*b$", "/ab-ab", True),
        ("/a*b$", "/ab-a", False),
    ],
)
def test_tdmrep_location_pattern_matching(location: str, path: str, matches: bool) -> None:
    assert PathPattern(location).matches(url_target(path)) is matches
    rule = parse_tdmrep_json(json.dumps([{"location": location, "tdm-reservation": 1}]).encode())[0]
    assert rule.matches("https://provider.com" + path) is matches


@pytest.mark.parametrize("value", ['"1"', "true", "2", '"yes"', "null", "[1]", "-1", "0.5"])
def test_tdmrep_invalid_value_in_file_counts_as_unset_and_is_flagged(value: str) -> None:
    body = '[{"location": "/", "tdm-reservation": ' + value + "}]"
    f = file_of(body)
    assert f.state is FileState.RULES
    finding = tdmrep_finding("https://provider.com/v/1", f)
    assert finding.verdict is Verdict.NONE
    assert "protocol error" in finding.detail and value in finding.detail
    assert tdmrep_file_finding(f, "https://provider.com/v/1") is None  # the next source decides
    # invalid is unset, so it resets nothing: a header reservation still applies
    assert tdmrep_finding("https://provider.com/v/1", f, {"tdm-reservation": "1"}).verdict is Verdict.DENY


def test_tdmrep_json_number_one_point_zero_is_one() -> None:
    f = file_of('[{"location": "/", "tdm-reservation": 1.0}]')
    assert tdmrep_finding("https://provider.com/x", f).verdict is Verdict.DENY


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"<!doctype html><html><body>Not found</body></html>", "looks like HTML"),
        (b'{"tdm-reservation": 1, "tdm-policy": "https://x/legal"}', "top-level value is an object"),
        (b"[1, 2]", "rule #1 is 1, not an object"),
        (b'[{"tdm-reservation": 1}]', "rule #1 has no location"),
        (b'[{"location": 5, "tdm-reservation": 1}]', "location 5 is not a string"),
        (b'[{"location": "https://provider.com/", "tdm-reservation": 1}]', "not a path pattern"),
        (b'[{"location": "", "tdm-reservation": 1}]', "not a path pattern"),
        (b'[{"location": "/"}]', "has no tdm-reservation"),
        (b'[{"location": "/", "tdm-reservation": 0, "tdm-reservation": 1}]', "twice"),
        (b'[{"location": "/", "tdm-reservation": NaN}]', "NaN"),
        (b"\xff\xfe[]", "not UTF-8"),
        (b"[" * 100000 + b"]" * 100000, "not valid JSON"),
    ],
)
def test_tdmrep_invalid_document_is_an_error_and_defers(body: bytes, message: str) -> None:
    with pytest.raises(TdmRepError, match=re.escape(message)):
        parse_tdmrep_json(body)
    f = file_of(body)
    assert f.state is FileState.UNKNOWN
    finding = tdmrep_finding("https://provider.com/v/1", f)
    assert finding.verdict is Verdict.DEFER
    assert message in finding.detail
    assert finding.locator == FILE_URL
    assert finding.evidence == hashlib.sha256(body).hexdigest()  # what we saw is kept even when unusable


def test_tdmrep_empty_array_and_bom_are_valid() -> None:
    assert parse_tdmrep_json(b"[]") == []
    assert parse_tdmrep_json(b'\xef\xbb\xbf[{"location": "/", "tdm-reservation": 0}]')[0].reservation == 0
    assert tdmrep_finding("https://provider.com/x", file_of(b"[]")).verdict is Verdict.NONE


def test_tdmrep_first_match_returns_all_matches_in_order() -> None:
    rules = parse_tdmrep_json(SPEC_EXAMPLE + b"")
    rules += parse_tdmrep_json(b'[{"location": "/directory-a/*.pdf", "tdm-reservation": 0}]')
    rule, matching = first_match(rules, "https://provider.com/directory-a/x.pdf")
    assert rule is not None and rule.location == "/directory-a/"
    assert [r.location for r in matching] == ["/directory-a/", "/directory-a/*.pdf"]


# --- header and meta ----------------------------------------------------------------------------------


def test_tdmrep_header_yes_is_invalid_counts_as_unset_and_is_flagged() -> None:
    url = "https://provider.com/v/1"
    finding = tdmrep_finding(url, NO_FILE, {"tdm-reservation": "yes"})
    assert finding.verdict is Verdict.NONE
    assert "'yes'" in finding.detail and "not 1 or 0" in finding.detail and "protocol error" in finding.detail
    assert "response header tdm-reservation" in finding.detail


def test_tdmrep_spec_header_examples() -> None:
    url = "https://provider.com/img.jpg"
    plain = tdmrep_finding(url, NO_FILE, [("Date", "Wed, 14 Jul 2021 12:07:48 GMT"), ("Content-type", "image/jpg"),
                                          ("tdm-reservation", "1")])
    assert plain.verdict is Verdict.DENY
    assert plain.locator == url and plain.rule == f"response header tdm-reservation of {url}: 1"
    with_policy = tdmrep_finding(url, NO_FILE, {"tdm-reservation": "1",
                                                "tdm-policy": "https://provider.com/policies/policy.json"})
    assert with_policy.verdict is Verdict.DENY
    assert "https://provider.com/policies/policy.json" in with_policy.detail


@pytest.mark.parametrize(
    "headers",
    [
        CaseInsensitiveDict({"TDM-Reservation": "1"}),
        {"Tdm-Reservation": " 1 "},
        [("tdm-reservation", "1"), ("tdm-reservation", "1")],
        {"tdm-reservation": "1, 1"},
        {"tdm-reservation": "1, yes"},  # the invalid member is flagged, the valid one stands
        {"tdm-reservation": ["1"], "link": ["<x>; rel=license"]},  # probe.signal_headers: name -> lines
        {"tdm-reservation": ["yes", "1"]},
    ],
)
def test_tdmrep_header_forms_that_reserve(headers: object) -> None:
    assert tdmrep_finding("https://provider.com/x", NO_FILE, headers).verdict is Verdict.DENY  # type: ignore[arg-type]


def test_tdmrep_contradictory_header_lines_need_review() -> None:
    f = tdmrep_finding("https://provider.com/x", NO_FILE, [("tdm-reservation", "1"), ("TDM-Reservation", "0")])
    assert f.verdict is Verdict.REVIEW
    assert tdmrep_finding("https://provider.com/x", NO_FILE, {"tdm-reservation": ["0", "1"]}).verdict is Verdict.REVIEW
    assert "both 1 and 0" in f.detail
    # a later source (meta) settles it
    settled = tdmrep_finding("https://provider.com/x", NO_FILE, {"tdm-reservation": "1, 0"},
                             {"tdm-reservation": ["1"]})
    assert settled.verdict is Verdict.DENY


def test_tdmrep_spec_html_meta_example() -> None:
    meta = {"tdm-reservation": ["1"], "tdm-policy": ["https://provider.com/policies/policy.json"]}
    f = tdmrep_finding("https://provider.com/page.html", NO_FILE, {}, meta)
    assert f.verdict is Verdict.DENY
    assert '<meta name="tdm-reservation">' in (f.rule or "")
    assert "https://provider.com/policies/policy.json" in f.detail


# --- priority order (#sec-processing-priority) ---------------------------------------------------------


ROOT_1 = '[{"location": "/", "tdm-reservation": 1}]'
ROOT_0 = '[{"location": "/", "tdm-reservation": 0}]'


@pytest.mark.parametrize(
    ("file_body", "header", "meta", "verdict"),
    [
        (ROOT_1, None, None, Verdict.DENY),
        (ROOT_1, "0", None, Verdict.NONE),  # the header supersedes the file
        (ROOT_0, "1", None, Verdict.DENY),
        (ROOT_1, "0", "1", Verdict.DENY),  # meta supersedes the header
        (ROOT_0, "1", "0", Verdict.NONE),
        (ROOT_1, "yes", None, Verdict.DENY),  # an invalid header is unset and resets nothing
        (ROOT_1, None, "maybe", Verdict.DENY),
        (ROOT_1, "0", "yes", Verdict.NONE),
        (ROOT_0, None, None, Verdict.NONE),
        (None, None, None, Verdict.NONE),  # no file, nothing declared
        (None, "0", "1", Verdict.DENY),
    ],
)
def test_tdmrep_priority_order(file_body: str | None, header: str | None, meta: str | None,
                               verdict: Verdict) -> None:
    f = file_of(file_body) if file_body else NO_FILE
    headers = {"tdm-reservation": header} if header is not None else {}
    metas = {"tdm-reservation": [meta]} if meta is not None else {}
    finding = tdmrep_finding("https://provider.com/v/1", f, headers, metas)
    assert finding.verdict is verdict


def test_tdmrep_superseded_values_are_named_in_the_detail() -> None:
    url = "https://provider.com/v/1"
    finding = tdmrep_finding(url, file_of(ROOT_1), {"tdm-reservation": "0"})
    assert finding.verdict is Verdict.NONE
    assert finding.rule == f"response header tdm-reservation of {url}: 0" and finding.locator == url
    assert "superseding" in finding.detail and "rule #1" in finding.detail


def test_tdmrep_policy_survives_when_a_later_source_only_sets_the_reservation() -> None:
    body = json.dumps([{"location": "/", "tdm-reservation": 0, "tdm-policy": "https://provider.com/p.json"}])
    finding = tdmrep_finding("https://provider.com/x", file_of(body), {"tdm-reservation": "1"})
    assert finding.verdict is Verdict.DENY
    assert "https://provider.com/p.json" in finding.detail and "from the tdmrep.json" in finding.detail


def test_tdmrep_unreadable_file_defers_unless_something_reserves() -> None:
    broken = TdmFile(FILE_URL, FileState.UNKNOWN, f"{FILE_URL}: server error HTTP 500", 500)
    url = "https://provider.com/v/1"
    assert tdmrep_finding(url, broken).verdict is Verdict.DEFER
    not_reserved = tdmrep_finding(url, broken, {"tdm-reservation": "0"})
    assert not_reserved.verdict is Verdict.DEFER  # the file must be checked first
    assert "HTTP 500" in not_reserved.detail and "checked first" in not_reserved.detail
    reserved = tdmrep_finding(url, broken, {"tdm-reservation": "1"})
    assert reserved.verdict is Verdict.DENY
    assert "could not be read" in reserved.detail


def test_tdmrep_refused_file_denies_even_with_header_0() -> None:
    refused = TdmFile(FILE_URL, FileState.REFUSED, f"{FILE_URL}: HTTP 403: the host refuses access", 403)
    f = tdmrep_finding("https://provider.com/x", refused, {"tdm-reservation": "0"})
    assert f.verdict is Verdict.DENY and f.status == 403 and "refusal of the host" in f.detail


def test_tdmrep_file_finding_alone() -> None:
    url = "https://provider.com/directory-a/x"
    assert tdmrep_file_finding(NO_FILE, url) is None
    deny = tdmrep_file_finding(file_of(SPEC_EXAMPLE), url)
    assert deny is not None and deny.verdict is Verdict.DENY and deny.status == 200
    none = tdmrep_file_finding(file_of(SPEC_EXAMPLE), "https://provider.com/directory-b/images/a.jpg")
    assert none is not None and none.verdict is Verdict.NONE
    assert tdmrep_file_finding(file_of(SPEC_EXAMPLE), "https://provider.com/elsewhere") is None
    broken = tdmrep_file_finding(file_of(b"{"), url)
    assert broken is not None and broken.verdict is Verdict.DEFER


# --- hypothesis: the parser never crashes and errors never pass ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
rule_like = st.fixed_dictionaries(
    {},
    optional={
        "location": st.one_of(st.text(max_size=12), st.sampled_from(["/", "/*", "/a/", "*.mp4", "/v/*$"]), json_values),
        "tdm-reservation": st.one_of(st.sampled_from([0, 1, 1.0, "1", True, 2]), json_values),
        "tdm-policy": st.one_of(st.text(max_size=20), json_values),
    },
)
documents = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(rule_like, max_size=5).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=documents, path=st.text(max_size=20),
       header=st.one_of(st.none(), st.sampled_from(["0", "1", "yes", ""]), st.text(max_size=5)))
@example(body=b'{"tdm-reservation": 0}', path="x", header="0")
@example(body=b"{", path="x", header="1, 1")
@example(body=b"{", path="x", header="1,0")
@example(body=b"[{\"location\": \"/\", \"tdm-reservation\": 0}", path="", header=None)
def test_tdmrep_parser_never_crashes_and_a_parse_error_never_passes(body: bytes, path: str,
                                                                    header: str | None) -> None:
    try:
        rules = parse_tdmrep_json(body)
    except TdmRepError:
        rules = None
    f = file_of(body)
    url = "https://provider.com/" + path
    headers = {"tdm-reservation": header} if header is not None else {}
    finding = tdmrep_finding(url, f, headers)
    assert finding.verdict is not Verdict.GRANT
    if rules is None:
        assert f.state is FileState.UNKNOWN
        # only a known reservation may turn a DEFER into a DENY; never into NONE
        members = {m.strip(" \t\r\n\f") for m in (header or "").split(",")} & {"0", "1"}
        expected = Verdict.DENY if members == {"1"} else Verdict.DEFER
        assert finding.verdict is expected
    else:
        assert all(r.reservation in (0, 1, None) for r in rules)
        assert finding.verdict in (Verdict.NONE, Verdict.DENY)


header_names = st.sampled_from(["tdm-reservation", "TDM-Reservation", "tdm-policy", "x-other"])
header_lists = st.lists(st.tuples(header_names, st.text(max_size=8)), max_size=5)
meta_maps = st.dictionaries(st.sampled_from(["tdm-reservation", "tdm-policy", "robots"]),
                            st.lists(st.text(max_size=6), max_size=3), max_size=3)


@settings(max_examples=400, deadline=None)
@given(headers=header_lists, meta=meta_maps, url=st.text(max_size=30))
def test_tdmrep_finding_never_raises_and_never_grants(headers: list[tuple[str, str]],
                                                      meta: dict[str, list[str]], url: str) -> None:
    finding = tdmrep_finding(url, NO_FILE, headers, meta)
    assert finding.verdict in (Verdict.NONE, Verdict.DENY, Verdict.REVIEW, Verdict.DEFER)
    assert finding.detail


@settings(max_examples=300, deadline=None)
@given(headers=header_lists)
def test_tdmrep_a_lone_valid_1_in_the_header_always_denies(headers: list[tuple[str, str]]) -> None:
    values = [m.strip(" \t\r\n\f") for k, v in headers if k.lower() == "tdm-reservation" for m in v.split(",")]
    finding = tdmrep_finding("https://provider.com/x", NO_FILE, headers)
    if "1" in values and "0" not in values:
        assert finding.verdict is Verdict.DENY
    elif "1" not in values:
        assert finding.verdict is Verdict.NONE


def _reference_match(pattern: str, target: str) -> bool:
    """A backtracking regex model of the same pattern language (small inputs only)."""
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    from clearframe.gate.wellknown import _canon

    regex = ".*".join(re.escape(_canon(p)) for p in body.split("*")) + ("$" if anchored else "")
    return re.match(regex, target, re.DOTALL) is not None


@settings(max_examples=500, deadline=None)
@given(pattern=st.text(alphabet="/ab*$%2F", max_size=8), path=st.text(alphabet="/ab$%2F*", max_size=10))
def test_path_pattern_agrees_with_a_regex_model(pattern: str, path: str) -> None:
    target = url_target("/" + path)
    assert PathPattern(pattern).matches(target) == _reference_match(pattern, target)


# --- the fetcher against a real server -----------------------------------------------------------------


def fetcher(**kw: object) -> TdmRepFetcher:
    session = make_session(UA)
    return TdmRepFetcher(lambda: session, **kw)  # type: ignore[arg-type]


def test_tdmrep_fetcher_consent_case_deny(site: Site) -> None:
    body = b'[{"location":"/","tdm-reservation":1}]'
    site.add(WELL_KNOWN_PATH, body, content_type="application/json")
    stored: list[tuple[bytes, str]] = []

    def store(data: bytes, media_type: str) -> str:
        stored.append((data, media_type))
        return hashlib.sha256(data).hexdigest()

    f = fetcher(store_evidence=store).check(site.url("/v/lighthouse"), {"Content-Type": "text/html"}, {})
    assert f.verdict is Verdict.DENY
    assert f.locator == site.url(WELL_KNOWN_PATH) and f.status == 200
    assert f.evidence == hashlib.sha256(body).hexdigest()
    assert stored == [(body, "application/json")]
    assert UA in site.user_agents


@pytest.mark.parametrize("status", [404, 410])
def test_tdmrep_fetcher_missing_file_lets_header_and_meta_decide(site: Site, status: int) -> None:
    site.add(WELL_KNOWN_PATH, b"gone", status)
    tdm = fetcher()
    url = site.url("/v/1")
    quiet = tdm.check(url)
    assert quiet.verdict is Verdict.NONE and f"HTTP {status}" in quiet.detail
    assert tdm.check(url, {"tdm-reservation": "1"}).verdict is Verdict.DENY
    assert tdm.check(url, {}, {"tdm-reservation": ["1"]}).verdict is Verdict.DENY


def test_tdmrep_fetcher_nothing_served_at_all_is_no_file(site: Site) -> None:
    assert fetcher().check(site.url("/v/1")).verdict is Verdict.NONE


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (500, b"oops", "server error HTTP 500"),
        (503, b"", "server error HTTP 503"),
        (200, b"{not json", "not valid JSON"),
        (200, b"<!doctype html><title>Home</title>", "looks like HTML"),
        (200, b'{"tdm-reservation": 1}', "top-level value is an object"),
        (429, b"slow down", "429"),
    ],
)
def test_tdmrep_fetcher_unusable_answers_defer(site: Site, status: int, body: bytes, words: str) -> None:
    site.add(WELL_KNOWN_PATH, body, status)
    f = fetcher().check(site.url("/v/1"), {"tdm-reservation": "0"})
    assert f.verdict is Verdict.DEFER
    assert words in f.detail and site.url(WELL_KNOWN_PATH) in f.detail


@pytest.mark.parametrize("status", [401, 403, 451])
def test_tdmrep_fetcher_refusal_denies(site: Site, status: int) -> None:
    site.add(WELL_KNOWN_PATH, b"no", status)
    f = fetcher().check(site.url("/v/1"))
    assert f.verdict is Verdict.DENY and f.status == status


def _chain(site: Site, hops: int, body: bytes) -> None:
    site.add(WELL_KNOWN_PATH, b"", 301, headers={"Location": "/hop1"})
    for i in range(1, hops):
        site.add(f"/hop{i}", b"", 302, headers={"Location": f"/hop{i + 1}"})
    site.add(f"/hop{hops}", body, content_type="application/json")


def test_tdmrep_fetcher_follows_five_redirects(site: Site) -> None:
    _chain(site, 5, b'[{"location":"/","tdm-reservation":1}]')
    f = fetcher().check(site.url("/v/1"))
    assert f.verdict is Verdict.DENY
    assert site.count("GET", "/hop5") == 1


def test_tdmrep_fetcher_six_redirects_defer(site: Site) -> None:
    _chain(site, 6, b'[{"location":"/","tdm-reservation":1}]')
    f = fetcher().check(site.url("/v/1"))
    assert f.verdict is Verdict.DEFER and "more than 5 redirects" in f.detail
    assert site.count("GET", "/hop6") == 0


def test_tdmrep_fetcher_redirect_to_another_host_is_followed(site: Site) -> None:
    with Site() as other:
        other.add("/policies/tdmrep.json", b'[{"location":"/v/","tdm-reservation":1}]')
        site.add(WELL_KNOWN_PATH, b"", 308, headers={"Location": other.url("/policies/tdmrep.json")})
        tdm = fetcher()
        assert tdm.check(site.url("/v/1")).verdict is Verdict.DENY  # rules apply to the original origin
        assert tdm.check(site.url("/w/1")).verdict is Verdict.NONE


def test_tdmrep_fetcher_too_large_defers(site: Site) -> None:
    site.add(WELL_KNOWN_PATH, b"[" + b" " * 5000 + b"]")
    f = fetcher(max_bytes=1000).check(site.url("/v/1"))
    assert f.verdict is Verdict.DEFER and "larger than 1000 bytes" in f.detail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tdmrep_fetcher_connection_refused_defers() -> None:
    f = fetcher(timeout=2).check(f"http://127.0.0.1:{_free_port()}/v/1", {"tdm-reservation": "0"})
    assert f.verdict is Verdict.DEFER and "unreachable" in f.detail


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts TCP connections (in the kernel backlog) and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def test_tdmrep_fetcher_timeout_defers() -> None:
    with silent_server() as port:
        f = fetcher(timeout=0.3).check(f"http://127.0.0.1:{port}/v/1")
    assert f.verdict is Verdict.DEFER and "Timeout" in f.detail


def test_tdmrep_fetcher_evidence_store_failure_defers(site: Site) -> None:
    site.add(WELL_KNOWN_PATH, b'[{"location":"/","tdm-reservation":0}]')

    def broken(data: bytes, media_type: str) -> str:
        raise OSError("disk full")

    f = fetcher(store_evidence=broken).check(site.url("/v/1"))
    assert f.verdict is Verdict.DEFER and "disk full" in f.detail and "evidence could not be stored" in f.detail


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http:///nohost", "http://h:99999/x"])
def test_tdmrep_fetcher_bad_url_defers(url: str) -> None:
    f = fetcher().check(url, {"tdm-reservation": "0"})
    assert f.verdict is Verdict.DEFER


def test_tdmrep_fetcher_fetches_once_per_origin(site: Site) -> None:
    site.add(WELL_KNOWN_PATH, SPEC_EXAMPLE)
    tdm = fetcher()
    verdicts = [tdm.check(site.url(p)).verdict for p in
                ("/directory-a/x", "/directory-b/html/y", "/directory-b/images/z.jpg", "/elsewhere")]
    assert verdicts == [Verdict.DENY, Verdict.DENY, Verdict.NONE, Verdict.NONE]
    assert site.count("GET", WELL_KNOWN_PATH) == 1
    with Site() as other:
        other.add(WELL_KNOWN_PATH, b"[]")
        assert tdm.check(other.url("/directory-a/x")).verdict is Verdict.NONE  # its own origin's file
        assert other.count("GET", WELL_KNOWN_PATH) == 1
    assert site.count("GET", WELL_KNOWN_PATH) == 1


def test_tdmrep_fetcher_one_fetch_under_concurrency(site: Site) -> None:
    site.add(WELL_KNOWN_PATH, b'[{"location":"/","tdm-reservation":1}]')
    tdm = TdmRepFetcher(lambda: make_session(UA))  # a session per call, as a SessionPool gives per thread
    results: list[Verdict] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        v = tdm.check(site.url(f"/v/{i}")).verdict
        with lock:
            results.append(v)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [Verdict.DENY] * 12
    assert site.count("GET", WELL_KNOWN_PATH) == 1


def test_tdmrep_fetcher_cache_expires_after_max_age(site: Site) -> None:
    now = [1000.0]
    site.add(WELL_KNOWN_PATH, b'[{"location":"/","tdm-reservation":0}]')
    tdm = fetcher(clock=lambda: now[0], max_age=86400)
    assert tdm.check(site.url("/a")).verdict is Verdict.NONE
    site.add(WELL_KNOWN_PATH, b'[{"location":"/","tdm-reservation":1}]')
    now[0] += 86000
    assert tdm.check(site.url("/a")).verdict is Verdict.NONE  # still the cached file
    now[0] += 1000
    assert tdm.check(site.url("/a")).verdict is Verdict.DENY
    assert site.count("GET", WELL_KNOWN_PATH) == 2


def test_tdmrep_fetcher_defer_is_cached_briefly(site: Site) -> None:
    now = [0.0]
    site.add(WELL_KNOWN_PATH, b"", 503)
    tdm = fetcher(clock=lambda: now[0], defer_max_age=300)
    assert tdm.check(site.url("/a")).verdict is Verdict.DEFER
    assert tdm.check(site.url("/b")).verdict is Verdict.DEFER
    assert site.count("GET", WELL_KNOWN_PATH) == 1
    site.add(WELL_KNOWN_PATH, b"[]")
    now[0] += 301
    assert tdm.check(site.url("/a")).verdict is Verdict.NONE
    assert site.count("GET", WELL_KNOWN_PATH) == 2


def test_tdmrep_fetcher_429_waits_for_retry_after(site: Site) -> None:
    now = [0.0]
    site.add(WELL_KNOWN_PATH, b"", 429, headers={"Retry-After": "900"})
    tdm = fetcher(clock=lambda: now[0], defer_max_age=300)
    assert tdm.check(site.url("/a")).verdict is Verdict.DEFER
    site.add(WELL_KNOWN_PATH, b"[]")
    now[0] += 600
    assert tdm.check(site.url("/a")).verdict is Verdict.DEFER  # Retry-After not yet over
    now[0] += 301
    assert tdm.check(site.url("/a")).verdict is Verdict.NONE
    assert site.count("GET", WELL_KNOWN_PATH) == 2
