"""Spawning ai.txt signal: robots.txt-style rules read for the media URL, its file type, and its page.

Files in the shape Spawning's generator and WordPress plugin write them (Spawning-Inc/spawning-wp-plugin,
config/ai_txt_options.json and includes/form-handler.php), plus the robots.txt semantics ai.txt mirrors
(longest match, Allow wins a tie, merged groups), against a real loopback server (clearframe.demo_site.Site).
"""

from __future__ import annotations

import hashlib
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearframe.gate.aitxt import AI_TXT_PATH, AiTxtFetcher, media_extensions, parse_ai_txt
from clearframe.net import make_session
from clearframe.records import Finding, Verdict
from support.site import Site

TOKEN = "ClearFrameBot"
UA = f"{TOKEN}/0.1 (+https://clearframe.example/bot)"

# What the WordPress plugin writes when "Video" is allowed and everything else refused: its stray "/"
# lines included (spawning_construct_file_content appends "/\n" after the comment and the User-agent line).
GENERATOR_VIDEO_ONLY = """# Spawning AI
/

User-agent: *
/
Disallow: *.bmp
Disallow: *.jpg
Disallow: *.mp3
Allow: *.mp4
Allow: *.webm
Allow: *.mov
Disallow: *.txt
Disallow: *.html
Disallow: /
"""
# ... and when nothing is allowed.
GENERATOR_NOTHING = "# Spawning AI\n/\n\nUser-agent: *\n/\nDisallow: *\nDisallow: /\n"
# The block list Spawning's site generator shows for "refuse video".
REFUSE_VIDEO = "User-Agent: *\nDisallow: *.mp4\nDisallow: *.webm\nDisallow: *.mov\nAllow: /\n"


# --- parsing and rule semantics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allowed", "line"),
    [
        ("/media/clip.mp4", True, "Allow: *.mp4"),
        ("/media/clip.mp4?sig=abc", True, "Allow: *.mp4"),  # unanchored: the query does not matter
        ("/media/photo.jpg", False, "Disallow: *.jpg"),
        ("/v/lighthouse", False, "Disallow: /"),
        ("/notes.txt", False, "Disallow: *.txt"),
    ],
)
def test_aitxt_generator_file_video_only(path: str, allowed: bool, line: str) -> None:
    aitxt = parse_ai_txt(GENERATOR_VIDEO_ONLY)
    ok, rule = aitxt.allows(path)
    assert ok is allowed
    assert rule is not None and rule.text == line


def test_aitxt_generator_nothing_allowed_disallows_everything() -> None:
    aitxt = parse_ai_txt(GENERATOR_NOTHING)
    for path in ("/", "/media/clip.mp4", "/v/page", "/a?b"):
        assert aitxt.allows(path)[0] is False


def test_aitxt_longest_match_and_allow_wins_tie() -> None:
    aitxt = parse_ai_txt("User-Agent: *\nAllow: /\nDisallow: *.mp4\nDisallow: /a\nAllow: /a\n")
    assert aitxt.allows("/v/clip.mp4") == (False, aitxt.groups["*"].rules[1])
    assert aitxt.allows("/a")[0] is True  # Allow wins the tie (RFC 9309 §2.2.2)
    assert aitxt.allows("/page")[0] is True


def test_aitxt_our_group_wins_over_star_and_groups_merge() -> None:
    text = (
        "User-Agent: *\nDisallow: /\n\n"
        f"User-Agent: {TOKEN}\nAllow: /public/\n\n"
        "User-Agent: other\nDisallow: /public/\n\n"
        f"user-agent: {TOKEN.lower()}/2.0\nDisallow: /public/secret\n"
    )
    aitxt = parse_ai_txt(text)
    assert aitxt.allows("/public/clip.mp4", TOKEN)[0] is True
    assert aitxt.allows("/public/secret.mp4", TOKEN)[0] is False  # merged group, longer rule
    assert aitxt.allows("/private/x", TOKEN)[0] is True  # our group has no rule for it; * does not apply
    assert aitxt.allows("/public/clip.mp4")[0] is False  # without a token, the * group


def test_aitxt_ai_crawler_refusal_is_honoured_as_a_proxy() -> None:
    aitxt = parse_ai_txt("User-Agent: GPTBot\nDisallow: /\n\nUser-Agent: *\nAllow: /\n")
    assert aitxt.allows("/v/1.mp4", TOKEN)[0] is True
    ok, rule = aitxt.allows("/v/1.mp4", TOKEN, ["GPTBot"])
    assert ok is False and rule is not None and rule.lineno == 2


def test_aitxt_rules_outside_any_group_are_honoured_when_they_refuse() -> None:
    assert parse_ai_txt("Disallow: /\n").allows("/x.mp4")[0] is False
    # an Allow outside any group cannot lift the * group's refusal
    assert parse_ai_txt("Allow: /\nUser-Agent: *\nDisallow: /\n").allows("/x")[0] is False
    # a User-Agent line naming no token: its rules are honoured when they refuse
    assert parse_ai_txt("User-Agent: \nDisallow: *.mp4\n").allows("/x.mp4")[0] is False


def test_aitxt_irregular_values_read_fail_closed() -> None:
    aitxt = parse_ai_txt("User-Agent: *\nDisallow: .mp4\nAllow: mp4\nDisallow:\n")
    ok, rule = aitxt.allows("/media/clip.mp4")
    assert ok is False and rule is not None
    assert "read as '*.mp4'" in rule.describe()
    assert any("'Allow: mp4' is not a path pattern" in n for n in aitxt.notes)
    assert aitxt.allows("/media/page")[0] is True  # "Disallow:" with no value restricts nothing


def test_aitxt_syntax_tolerance() -> None:
    text = "\ufeffUSER-AGENT: *   # everyone\r\nDISALLOW: *.MP4\r\n# Disallow: /\r\nSitemap: https://x/s.xml\r\n"
    aitxt = parse_ai_txt(text.encode("utf-8"))
    assert aitxt.allows("/a.MP4")[0] is False
    assert aitxt.allows("/a.mp4")[0] is True  # matching is case-sensitive (the fetcher adds a lower-case variant)
    assert aitxt.allows("/b")[0] is True
    assert parse_ai_txt(b"User-Agent: *\nDisallow: /\xff\xfe\n").allows("/x")[0] is True  # replaced bytes, own path


def test_aitxt_soft_404_html_has_no_rules() -> None:
    aitxt = parse_ai_txt("<!doctype html><html><head><title>Home</title></head><body>hi</body></html>")
    assert aitxt.looks_like_html and aitxt.groups == {} and aitxt.orphans is None


def test_aitxt_media_extensions() -> None:
    assert media_extensions("video/mp4; codecs=avc1") == (".mp4", ".m4v")
    assert media_extensions("VIDEO/QUICKTIME") == (".mov", ".qt")
    assert media_extensions(None) == ()
    assert media_extensions("application/x-nothing-known") == ()


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300)),
       path=st.text(max_size=30))
def test_aitxt_parser_never_crashes(text: str | bytes, path: str) -> None:
    aitxt = parse_ai_txt(text)
    ok, rule = aitxt.allows("/" + path, TOKEN, ["GPTBot"])
    assert isinstance(ok, bool)
    if not ok:
        assert rule is None or not rule.allow


line_noise = st.text(alphabet=st.characters(blacklist_characters=":\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                     max_size=30)


@settings(max_examples=300, deadline=None)
@given(noise=st.lists(line_noise, max_size=8), path=st.text(max_size=20))
def test_aitxt_lines_that_are_not_directives_change_nothing(noise: list[str], path: str) -> None:
    base = parse_ai_txt(REFUSE_VIDEO)
    noisy = parse_ai_txt("\n".join([*noise, *REFUSE_VIDEO.splitlines(), *noise]))
    target = "/" + path
    assert noisy.allows(target)[0] == base.allows(target)[0]


# --- the fetcher against real servers ------------------------------------------------------------------


def fetcher(**kw: object) -> AiTxtFetcher:
    session = make_session(UA)
    return AiTxtFetcher(lambda: session, TOKEN, **kw)  # type: ignore[arg-type]


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1
    return findings[0]


def test_aitxt_media_disallowed_by_file_type_denies(site: Site) -> None:
    site.add(AI_TXT_PATH, REFUSE_VIDEO, content_type="text/plain")
    stored: list[tuple[bytes, str]] = []

    def store(data: bytes, media_type: str) -> str:
        stored.append((data, media_type))
        return hashlib.sha256(data).hexdigest()

    f = fetcher(store_evidence=store).check(site.url("/media/clip.mp4"))
    assert f.verdict is Verdict.DENY and f.signal == "ai-txt"
    assert f.locator == site.url(AI_TXT_PATH) and f.status == 200
    assert f.rule == "User-Agent: * / 'Disallow: *.mp4' (line 2)"
    assert site.url("/media/clip.mp4") in f.detail
    assert f.evidence == hashlib.sha256(REFUSE_VIDEO.encode()).hexdigest()
    assert stored == [(REFUSE_VIDEO.encode(), "text/plain")]
    assert UA in site.user_agents


def test_aitxt_extensionless_media_is_judged_by_its_content_type(site: Site) -> None:
    site.add(AI_TXT_PATH, REFUSE_VIDEO)
    url = site.url("/stream/12345")
    ai = fetcher()
    assert ai.check(url).verdict is Verdict.NONE  # nothing says what it is
    f = ai.check(url, media_type="video/mp4")
    assert f.verdict is Verdict.DENY
    assert "'/stream/12345.mp4'" in f.detail and "video/mp4" in f.detail


def test_aitxt_double_slash_path_stays_a_path(site: Site) -> None:
    site.add(AI_TXT_PATH, "User-Agent: *\nDisallow: //cdn/\nDisallow: *.webm\n")
    ai = fetcher()
    assert ai.check(site.url("//cdn/x")).verdict is Verdict.DENY
    f = ai.check(site.url("//other/x"), media_type="video/webm")
    assert f.verdict is Verdict.DENY and "'//other/x.webm'" in f.detail


def test_aitxt_upper_case_extension_is_read_as_its_type(site: Site) -> None:
    site.add(AI_TXT_PATH, REFUSE_VIDEO)
    f = fetcher().check(site.url("/media/CLIP.MP4"))
    assert f.verdict is Verdict.DENY and "lower case" in f.detail


def test_aitxt_media_allowed_is_none_and_never_grants(site: Site) -> None:
    site.add(AI_TXT_PATH, GENERATOR_VIDEO_ONLY)
    f = fetcher().check(site.url("/media/clip.mp4"), media_type="video/mp4")
    assert f.verdict is Verdict.NONE
    assert f.rule == "User-Agent: * / 'Allow: *.mp4' (line 9)"
    assert ".m4v" not in f.detail  # a URL that names its type is not asked under the type's other extensions


def test_aitxt_page_origin_file_covers_media_on_another_origin(site: Site) -> None:
    with Site() as cdn:
        site.add(AI_TXT_PATH, REFUSE_VIDEO)  # the page's site refuses video
        media = cdn.url("/bucket/9f3a/clip.mp4")  # the CDN has no ai.txt
        findings = fetcher().check_candidate(media, site.url("/v/lighthouse"), media_type="video/mp4")
        assert [f.verdict for f in findings] == [Verdict.NONE, Verdict.DENY]
        media_f, page_f = findings
        assert media_f.locator == cdn.url(AI_TXT_PATH) and "no ai.txt" in media_f.detail
        assert page_f.locator == site.url(AI_TXT_PATH)
        assert "'/clip.mp4'" in page_f.detail and "another origin" in page_f.detail


def test_aitxt_page_origin_path_rules_do_not_apply_to_another_origins_paths(site: Site) -> None:
    with Site() as cdn:
        site.add(AI_TXT_PATH, "User-Agent: *\nDisallow: /s\n")  # about the site's own /s... paths
        findings = fetcher().check_candidate(cdn.url("/x/stream.mp4"), site.url("/v/1"))
        assert [f.verdict for f in findings] == [Verdict.NONE, Verdict.NONE]
        site.add(AI_TXT_PATH, GENERATOR_NOTHING)  # "Disallow: *" is about every file type
        findings = fetcher().check_candidate(cdn.url("/x/stream.mp4"), site.url("/v/1"))
        assert [f.verdict for f in findings] == [Verdict.NONE, Verdict.DENY]
        assert "'Disallow: *'" in findings[1].detail


def test_aitxt_page_disallowed_denies_the_video(site: Site) -> None:
    site.add(AI_TXT_PATH, "User-Agent: *\nDisallow: /v/\n")
    findings = fetcher().check_candidate(site.url("/media/lighthouse.mp4"), site.url("/v/lighthouse"),
                                         media_type="video/mp4")
    f = only(findings)
    assert f.verdict is Verdict.DENY
    assert "the page" in f.detail and "'Disallow: /v/'" in f.detail
    assert site.count("GET", AI_TXT_PATH) == 1  # page and media share the origin: one fetch


def test_aitxt_page_disallowed_but_video_explicitly_allowed_needs_review(site: Site) -> None:
    site.add(AI_TXT_PATH, GENERATOR_VIDEO_ONLY)
    f = only(fetcher().check_candidate(site.url("/media/lighthouse.mp4"), site.url("/v/lighthouse")))
    assert f.verdict is Verdict.REVIEW
    assert "'Disallow: /'" in f.detail and "'Allow: *.mp4'" in f.detail


def test_aitxt_generator_file_refuses_extensionless_video_fail_closed(site: Site) -> None:
    # documented cost of reading the raw path as well: "Disallow: /" covers /stream/12345 itself
    site.add(AI_TXT_PATH, GENERATOR_VIDEO_ONLY)
    f = fetcher().check(site.url("/stream/12345"), media_type="video/mp4")
    assert f.verdict is Verdict.DENY and "'Disallow: /'" in f.detail


@pytest.mark.parametrize("status", [404, 410])
def test_aitxt_missing_file_is_none(site: Site, status: int) -> None:
    site.add(AI_TXT_PATH, b"gone", status)
    f = fetcher().check(site.url("/media/clip.mp4"))
    assert f.verdict is Verdict.NONE and "no ai.txt" in f.detail and f"HTTP {status}" in f.detail


def test_aitxt_soft_404_page_is_none_and_flagged(site: Site) -> None:
    site.add(AI_TXT_PATH, "<!doctype html><html><body>Welcome</body></html>")
    f = fetcher().check(site.url("/media/clip.mp4"))
    assert f.verdict is Verdict.NONE and "looks like an HTML page" in f.detail


@pytest.mark.parametrize(("status", "verdict"), [(500, Verdict.DEFER), (503, Verdict.DEFER), (429, Verdict.DEFER),
                                                 (401, Verdict.DENY), (403, Verdict.DENY), (451, Verdict.DENY)])
def test_aitxt_status_rules(site: Site, status: int, verdict: Verdict) -> None:
    site.add(AI_TXT_PATH, b"", status)
    f = fetcher().check(site.url("/media/clip.mp4"))
    assert f.verdict is verdict and f.status == status


def test_aitxt_redirects_five_followed_six_defer(site: Site) -> None:
    site.add(AI_TXT_PATH, b"", 302, headers={"Location": "/r1"})
    for i in range(1, 6):
        site.add(f"/r{i}", b"", 302, headers={"Location": f"/r{i + 1}"})
    site.add("/r6", "User-Agent: *\nDisallow: /\n")
    six = fetcher().check(site.url("/media/clip.mp4"))
    assert six.verdict is Verdict.DEFER and "more than 5 redirects" in six.detail
    site.add(AI_TXT_PATH, b"", 302, headers={"Location": "/r2"})  # now five hops
    assert fetcher().check(site.url("/media/clip.mp4")).verdict is Verdict.DENY


def test_aitxt_unreachable_host_defers() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = fetcher(timeout=2).check(f"http://127.0.0.1:{port}/media/clip.mp4")
    assert f.verdict is Verdict.DEFER and "unreachable" in f.detail


def test_aitxt_bad_urls_defer() -> None:
    ai = fetcher()
    assert ai.check("file:///etc/passwd").verdict is Verdict.DEFER
    findings = ai.check_candidate("not a url", "https://example.invalid/v/1")
    assert [f.verdict for f in findings] == [Verdict.DEFER]


def test_aitxt_fetched_once_per_origin(site: Site) -> None:
    site.add(AI_TXT_PATH, REFUSE_VIDEO)
    ai = fetcher()
    verdicts = [ai.check(site.url(p)).verdict for p in ("/a.mp4", "/b.mov", "/c.jpg", "/d")]
    assert verdicts == [Verdict.DENY, Verdict.DENY, Verdict.NONE, Verdict.NONE]
    with Site() as cdn:
        for i in range(3):
            ai.check_candidate(cdn.url(f"/m/{i}.mp4"), site.url(f"/v/{i}"))
        assert cdn.count("GET", AI_TXT_PATH) == 1
    assert site.count("GET", AI_TXT_PATH) == 1


def test_aitxt_product_token_must_be_a_token() -> None:
    with pytest.raises(ValueError, match="product token"):
        AiTxtFetcher(lambda: make_session(UA), "Clear Frame/1.0")
