"""`ytdlp` sources: flat listing with yt-dlp against a real loopback site, and the entry -> Candidate mapping
with recorded flat playlists (clearframe.sources.ytdlp)."""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearframe.config import Acquisition, Settings, Source
from clearframe.errors import ConfigError
from clearframe.gate.licenses import LicensePolicy, evaluate
from clearframe.gate.robots import RobotsChecker
from clearframe.net import make_session
from clearframe.records import Finding, Verdict
from clearframe.sources.ytdlp import (
    MAX_NESTING,
    YtdlpInput,
    candidate_from_entry,
    discover_ytdlp,
    make_ytdlp,
    read_ytdlp,
    ytdlp_params,
)
from support.site import Site

DATA = Path(__file__).parent / "data" / "ytdlp_info"
UA = "ClearFrameBot/0.1.0 (+https://clearframe.dev/bot)"


@pytest.fixture
def cf_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, storage=str(tmp_path / "storage"), registry_url="sqlite://",
                    product_token="ClearFrameBot", user_agent=UA)


def ytdlp_source(**acquisition: Any) -> Source:
    # config.Source has no `ytdlp` kind yet; model_construct builds one without it (options passed apart).
    return Source.model_construct(name="yt", kind="ytdlp", acquisition=Acquisition(**acquisition))


def opts(*urls: str, **kw: Any) -> YtdlpInput:
    return YtdlpInput(urls=list(urls), sleep_requests_s=0, **kw)


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))


def rss(base: str, items: list[tuple[str, str]]) -> str:
    body = "".join(f"<item><title>{t}</title>{link}</item>" for t, link in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Clips</title>{body}'
            "</channel></rss>").replace("{b}", base)


FEED_ITEMS = [
    ("Lighthouse", "<link>{b}/v/lighthouse</link><guid>lh-1</guid>"),
    ("Tram", '<enclosure url="{b}/media/tram.mp4" type="video/mp4" length="1000"/><guid>tram</guid>'),
    ("On YouTube", "<link>https://www.youtube.com/watch?v=dQw4w9WgXcQ</link>"),
    ("On PeerTube", "<link>https://framatube.org/w/kkGMgK9ZtnKfYAgnEtQxbv</link>"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeYdl:
    """Stands in for YoutubeDL where a test needs a platform's answer without the network."""

    def __init__(self, results: dict[str, Any]):
        self.results = results
        self.calls: list[tuple[str, str | None]] = []

    def extract_info(self, url: str, download: bool = True, process: bool = True, ie_key: str | None = None):
        assert download is False and process is False, "discovery must neither download nor process"
        self.calls.append((url, ie_key))
        result = self.results[url]
        if isinstance(result, BaseException):
            raise result
        return copy.deepcopy(result) if isinstance(result, dict) else result


# --- a real loopback site through yt-dlp's Generic extractor ----------------------------------------
def test_rss_feed_is_listed_flat_with_one_request_and_our_identity(cf_settings):
    with Site() as site:
        feed = site.add("/feed.xml", rss(site.base, FEED_ITEMS), content_type="application/rss+xml")
        site.add("/v/lighthouse", "<html><title>never fetched</title></html>")
        cands = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(feed)))
        assert [c.canonical_id for c in cands] == [
            f"url:{site.base}/v/lighthouse",
            f"url:{site.base}/media/tram.mp4",
            "Youtube:dQw4w9WgXcQ",
            "PeerTube:kkGMgK9ZtnKfYAgnEtQxbv",
        ]
        assert [c.url for c in cands] == [
            f"{site.base}/v/lighthouse",  # the RSS guid smuggled into the URL is gone
            f"{site.base}/media/tram.mp4",
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "https://framatube.org/w/kkGMgK9ZtnKfYAgnEtQxbv",
        ]
        assert [c.title for c in cands] == ["Lighthouse", "Tram", "On YouTube", "On PeerTube"]
        assert [c.video_id for c in cands] == [None, None, "dQw4w9WgXcQ", "kkGMgK9ZtnKfYAgnEtQxbv"]
        assert all(c.kind == "ytdlp" and c.source == "yt" and not c.input_error for c in cands)
        assert cands[0].locator == f"{feed} #1" and cands[3].locator == f"{feed} #4"
        # Flat: the list was read once, no entry page and no media was requested.
        assert dict(site.requests) == {("GET", "/feed.xml"): 1}
        assert site.user_agents == {UA}


def test_entries_named_after_the_page_get_distinct_ids_from_their_media(cf_settings):
    xspf = ('<?xml version="1.0" encoding="UTF-8"?><playlist version="1" xmlns="http://xspf.org/ns/0/">'
            "<trackList><track><location>{b}/media/x.mp4</location><title>X</title></track>"
            "<track><location>{b}/media/y.mp4</location><title>Y</title></track></trackList></playlist>")
    gallery = ('<!doctype html><html><head><title>Gallery</title></head><body><video src="/media/a.mp4">'
               '</video><video><source src="/media/b.mp4" type="video/mp4"></video></body></html>')
    with Site() as site:
        lst = site.add("/list.xspf", xspf.replace("{b}", site.base), content_type="application/xspf+xml")
        page = site.add("/gallery.html", gallery)
        cands = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(lst, page)))
        # yt-dlp calls both XSPF tracks "list" and the <video>s "gallery-1"/"gallery-2": page names, not ids.
        assert [c.canonical_id for c in cands] == [
            f"url:{site.base}/media/x.mp4",
            f"url:{site.base}/media/y.mp4",
            f"url:{site.base}/media/a.mp4",
            f"url:{site.base}/media/b.mp4",
        ]
        assert [c.title for c in cands[:2]] == ["X", "Y"]
        assert site.media_requests() == 0


def test_errors_become_candidates_naming_the_url_and_the_rest_is_still_listed(cf_settings):
    closed = f"http://127.0.0.1:{free_port()}/feed.xml"
    with Site() as site:
        feed = site.add("/feed.xml", rss(site.base, FEED_ITEMS[:2]), content_type="application/rss+xml")
        plain = site.add("/plain.html", "<html><head><title>About</title></head><body>no video</body></html>")
        refused = site.add("/members.xml", "no", status=403)
        broken = site.add("/broken.xml", "oops", status=500)
        missing = site.url("/gone.xml")
        source = ytdlp_source()
        cands = list(discover_ytdlp(source, cf_settings,
                                    options=opts(missing, feed, plain, refused, broken, closed)))
    errors = {c.url: c.input_error for c in cands if c.input_error}
    assert [c.title for c in cands if not c.input_error] == ["Lighthouse", "Tram"]
    assert set(errors) == {missing, plain, refused, broken, closed}
    assert "ytdlp.urls[0]" in errors[missing] and missing in errors[missing]
    assert "not found (HTTP 404); fix or remove the URL" in errors[missing]
    assert "unsupported URL" in errors[plain] and "http source" in errors[plain]
    assert "refused the request (HTTP 403)" in errors[refused] and "another identity" in errors[refused]
    assert "server error (HTTP 500)" in errors[broken] and "next run" in errors[broken]
    assert "network error" in errors[closed] and "next run" in errors[closed]
    # error candidates are stable rows of their own, keyed by the listed position and URL
    assert {c.canonical_id for c in cands if c.input_error} == {
        f"input:ytdlp.urls[{i}]:{u}" for i, u in [(0, missing), (2, plain), (3, refused), (4, broken), (5, closed)]
    }


def test_max_entries_caps_each_listed_url(cf_settings):
    with Site() as site:
        a = site.add("/a.xml", rss(site.base, FEED_ITEMS), content_type="application/rss+xml")
        b = site.add("/b.xml", rss(site.base, FEED_ITEMS[2:]), content_type="application/rss+xml")
        cands = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(a, b, max_entries=1)))
    assert [c.title for c in cands] == ["Lighthouse", "On YouTube"]


def test_robots_disallowed_list_is_never_requested(cf_settings):
    with Site() as site:
        site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
        open_feed = site.add("/feed.xml", rss(site.base, FEED_ITEMS[:1]), content_type="application/rss+xml")
        closed_feed = site.add("/private/feed.xml", rss(site.base, FEED_ITEMS), content_type="application/rss+xml")
        robots = RobotsChecker(make_session(UA), "ClearFrameBot")
        cands = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(closed_feed, open_feed),
                                    url_check=robots.check))
        assert site.count("GET", "/private/feed.xml") == 0
        assert site.count("GET", "/feed.xml") == 1
    assert cands[0].url == closed_feed and cands[0].input_error
    assert "robots says deny" in cands[0].input_error and "remove the URL" in cands[0].input_error
    assert [c.title for c in cands[1:]] == ["Lighthouse"]


def test_a_deferring_or_failing_check_keeps_the_list_unrequested(cf_settings):
    def defer(url: str) -> Finding:
        return Finding("robots", Verdict.DEFER, f"robots.txt for {url} answered 503", locator=url, status=503)

    def boom(url: str) -> Finding:
        raise RuntimeError("registry unreachable")

    with Site() as site:
        feed = site.add("/feed.xml", rss(site.base, FEED_ITEMS), content_type="application/rss+xml")
        deferred = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(feed), url_check=defer))
        failed = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(feed), url_check=boom))
        assert site.count("GET", "/feed.xml") == 0
    assert len(deferred) == 1 and "answered 503" in (deferred[0].input_error or "")
    assert "tried again on the next run" in (deferred[0].input_error or "")
    assert len(failed) == 1 and "registry unreachable" in (failed[0].input_error or "")


def test_a_redirected_list_is_checked_again_before_it_is_listed(cf_settings):
    with Site() as site:
        feed = site.add("/feed.xml", rss(site.base, FEED_ITEMS[:2]), content_type="application/rss+xml")
        old = site.add("/old.xml", "", status=301, headers={"Location": "/feed.xml"})
        checked: list[str] = []

        def allow(url: str) -> None:
            checked.append(url)

        def deny_new(url: str) -> Finding | None:
            if url == feed:
                return Finding("robots", Verdict.DENY, f"{url} is disallowed for ClearFrameBot", locator=url)
            return None

        listed = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(old), url_check=allow))
        refused = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(old), url_check=deny_new))
    assert checked == [old, feed]
    assert [c.title for c in listed] == ["Lighthouse", "Tram"]
    assert len(refused) == 1 and "disallowed for ClearFrameBot" in (refused[0].input_error or "")


def test_cookies_are_neither_kept_nor_sent(cf_settings):
    with Site() as site:
        a = site.add("/a.xml", rss(site.base, FEED_ITEMS[:1]), content_type="application/rss+xml",
                     headers={"Set-Cookie": "session=abc; Path=/"})
        b = site.add("/b.xml", rss(site.base, FEED_ITEMS[1:2]), content_type="application/rss+xml")
        cands = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(a, b)))
        assert [c.title for c in cands] == ["Lighthouse", "Tram"]
        assert site.cookies_seen == 0


def test_environment_proxies_are_ignored(cf_settings, monkeypatch):
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, dead_proxy)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with Site() as site:
        feed = site.add("/feed.xml", rss(site.base, FEED_ITEMS[:1]), content_type="application/rss+xml")
        cands = list(discover_ytdlp(ytdlp_source(), cf_settings, options=opts(feed)))
    assert [c.title for c in cands] == ["Lighthouse"] and not cands[0].input_error


def test_ytdlp_params_carry_one_honest_identity(cf_settings):
    params = ytdlp_params(cf_settings, opts("https://example.org/list"), timeout=12)
    assert params["http_headers"] == {"User-Agent": UA}
    assert params["proxy"] == "" and params["geo_bypass"] is False
    assert params["cookiefile"] is None and params["usenetrc"] is False
    assert params["extract_flat"] == "in_playlist" and params["skip_download"] is True
    assert params["socket_timeout"] == 12 and params["extractor_retries"] == 0
    ydl = make_ytdlp(cf_settings, opts("https://example.org/list"))
    assert ydl.cookiejar._policy.allowed_domains() == ()


# --- what is refused before any request ------------------------------------------------------------------
def test_platform_forbidding_download_is_not_listed_without_a_contract(cf_settings):
    ydl = FakeYdl({})  # any request would be a KeyError
    cands = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=ydl,
                                options=opts("https://www.youtube.com/@BKCHarvard/videos")))
    assert ydl.calls == []
    assert len(cands) == 1 and "YouTube's terms forbid automated download" in (cands[0].input_error or "")


def test_a_contract_that_covers_training_lets_the_platform_be_listed(cf_settings):
    url = "https://www.youtube.com/playlist?list=PLwP_SiTJvIW9_5Dk6UDz3Z5S4v6WZ4Pwe"
    ydl = FakeYdl({url: recorded("youtube_playlist_flat")})
    source = ytdlp_source(basis="contract", contract_id="BKC-2026-01", covers_training=True)
    cands = list(discover_ytdlp(source, cf_settings, ydl=ydl, options=opts(url)))
    assert [c.canonical_id for c in cands] == ["Youtube:M4gD1WSo5mA", "Youtube:eQcmzGIKrzg"]
    assert all(c.contract_id == "BKC-2026-01" for c in cands)


@pytest.mark.parametrize("url", ["ytsearch10:creative commons", "ftp://example.org/list", "not a url"])
def test_non_http_inputs_are_refused_without_a_request(cf_settings, url):
    ydl = FakeYdl({})
    cands = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=ydl, options=opts(url)))
    assert ydl.calls == [] and len(cands) == 1
    assert url in (cands[0].input_error or "") and "fix or remove the URL" in (cands[0].input_error or "")


def test_search_prefix_refusal_says_to_use_the_search_page(cf_settings):
    cands = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=FakeYdl({}), options=opts("ytsearch5:cats")))
    assert "search-results page URL" in (cands[0].input_error or "")


def test_missing_ytdlp_section_is_a_config_error(cf_settings):
    with pytest.raises(ConfigError, match="ytdlp"):
        list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=FakeYdl({})))


# --- paging, errors mid-list, nesting -------------------------------------------------------------
def _paged(pages: list[list[dict[str, Any]] | Exception], fetched: list[int]) -> Any:
    from yt_dlp.utils import OnDemandPagedList

    def page(n: int):
        fetched.append(n)
        item = pages[n] if n < len(pages) else []
        if isinstance(item, Exception):
            raise item
        return item

    return OnDemandPagedList(page, 3)


def _pt(n: int) -> dict[str, Any]:
    vid = f"video{n:02d}AAAAAAAAAAAAAAAA"
    return {"_type": "url", "ie_key": "PeerTube", "id": vid, "url": f"https://framatube.org/w/{vid}",
            "title": f"Video {n}"}


def test_a_list_that_fails_on_a_later_page_keeps_the_earlier_entries(cf_settings):
    from yt_dlp.networking.exceptions import TransportError

    fetched: list[int] = []
    url = "https://framatube.org/c/framasoft/videos"
    listing = {"_type": "playlist", "id": "framasoft", "extractor_key": "PeerTubePlaylist", "webpage_url": url,
               "entries": _paged([[_pt(1), _pt(2), _pt(3)], TransportError("connection reset by peer")], fetched)}
    cands = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=FakeYdl({url: listing}), options=opts(url)))
    assert [c.title for c in cands[:3]] == ["Video 1", "Video 2", "Video 3"]
    assert len(cands) == 4 and cands[3].input_error
    assert "stopped after 3 entries" in cands[3].input_error and "network error" in cands[3].input_error
    assert "connection reset by peer" in cands[3].input_error and url in cands[3].input_error


def test_paged_lists_stop_fetching_pages_at_max_entries(cf_settings):
    fetched: list[int] = []
    url = "https://framatube.org/c/framasoft/videos"
    pages = [[_pt(1), _pt(2), _pt(3)], [_pt(4), _pt(5), _pt(6)], [_pt(7)]]
    listing = {"_type": "playlist", "id": "framasoft", "extractor_key": "PeerTubePlaylist", "webpage_url": url,
               "entries": _paged(pages, fetched)}  # type: ignore[arg-type]
    cands = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=FakeYdl({url: listing}),
                                options=opts(url, max_entries=3)))
    assert [c.title for c in cands] == ["Video 1", "Video 2", "Video 3"]
    assert fetched == [0]  # page 2 was never requested


def test_lists_of_lists_are_expanded_within_one_budget_and_each_list_is_checked(cf_settings):
    account = "https://framatube.org/a/framasoft/video-channels"
    channel = "https://framatube.org/c/bf54d359-cfad-4935-9d45-9d6be93f63e8/videos"
    top = {"_type": "playlist", "id": "framasoft", "extractor_key": "PeerTubePlaylist", "webpage_url": account,
           "entries": [{"_type": "url", "ie_key": "PeerTubePlaylist", "url": channel, "title": "Framasoft"},
                       _pt(9)]}
    ydl = FakeYdl({account: top, channel: recorded("peertube_channel_flat")})
    checked: list[str] = []

    def check(url: str) -> None:
        checked.append(url)

    cands = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=ydl, options=opts(account), url_check=check))
    assert [c.canonical_id for c in cands] == [
        "PeerTube:kkGMgK9ZtnKfYAgnEtQxbv", "PeerTube:9C9J9eCbfjkc6dY3WbY2ZY", "PeerTube:tbAk2sMCp8RrX2fnu4VoMC",
        "PeerTube:video09AAAAAAAAAAAAAAAA",
    ]
    assert ydl.calls == [(account, None), (channel, "PeerTubePlaylist")]
    assert checked == [account, channel]
    capped = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=FakeYdl({account: top, channel:
                                 recorded("peertube_channel_flat")}), options=opts(account, max_entries=2)))
    assert len(capped) == 2


def test_nesting_deeper_than_the_limit_is_reported_not_followed(cf_settings):
    def level(n: int) -> str:
        return f"https://framatube.org/c/level{n}/videos"

    results = {level(n): {"_type": "playlist", "id": f"level{n}", "extractor_key": "PeerTubePlaylist",
                          "webpage_url": level(n),
                          "entries": [{"_type": "url", "ie_key": "PeerTubePlaylist", "url": level(n + 1)}]}
               for n in range(MAX_NESTING + 3)}
    ydl = FakeYdl(results)
    cands = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=ydl, options=opts(level(0))))
    assert len(ydl.calls) == MAX_NESTING
    assert len(cands) == 1 and f"nested more than {MAX_NESTING} levels" in (cands[0].input_error or "")


def test_a_single_video_url_is_one_candidate_with_its_licence(cf_settings):
    url = "https://vimeo.com/160743502/abd0e13fb4"
    cands = list(discover_ytdlp(ytdlp_source(), cf_settings, ydl=FakeYdl({url: recorded("vimeo_by_nc")}),
                                options=opts(url)))
    assert len(cands) == 1
    c = cands[0]
    assert (c.canonical_id, c.url, c.creator) == ("Vimeo:160743502", url, "Julian Tryba")
    assert c.license is not None and c.license.spdx == "LicenseRef-CC-BY-NC-unversioned"
    assert evaluate(c.license, LicensePolicy.default())[0] is Verdict.DENY


def test_read_ytdlp_keeps_what_the_lists_said_as_evidence(cf_settings):
    url = "https://vimeo.com/channels/tributes"
    bad = "https://vimeo.com/channels/gone"
    from yt_dlp.utils import DownloadError, ExtractorError

    ydl = FakeYdl({url: recorded("vimeo_channel_flat"),
                   bad: DownloadError("ERROR: [vimeo:channel] gone: Unable to download webpage",
                                      (ExtractorError, ExtractorError("Unable to download webpage"), None))})
    cands, document = read_ytdlp(ytdlp_source(), cf_settings, ydl=ydl, options=opts(url, bad))
    lines = [json.loads(line) for line in document.decode("utf-8").splitlines()]
    assert len(lines) == len(cands) == 3
    assert lines[0]["listed_from"] == url and lines[0]["entry"]["id"] == "6213729"
    assert lines[0]["entry"]["ie_key"] == "Vimeo"
    assert lines[2]["listed_from"] == bad and "Unable to download webpage" in lines[2]["error"]


# --- recorded flat playlists -> Candidates ---------------------------------------------------------------
def _map(name: str) -> list:
    playlist = recorded(name)
    return [candidate_from_entry("src", e, listed_from=playlist["webpage_url"], locator=f"#{i}", parent=playlist)
            for i, e in enumerate(playlist["entries"], 1)]


def test_peertube_channel_entries_map_to_peertube_ids():
    cands = _map("peertube_channel_flat")
    assert [(c.canonical_id, c.url, c.title) for c in cands] == [
        ("PeerTube:kkGMgK9ZtnKfYAgnEtQxbv", "https://framatube.org/w/kkGMgK9ZtnKfYAgnEtQxbv", "What is PeerTube?"),
        ("PeerTube:9C9J9eCbfjkc6dY3WbY2ZY", "https://framatube.org/w/9C9J9eCbfjkc6dY3WbY2ZY", "PeerTube v6"),
        ("PeerTube:tbAk2sMCp8RrX2fnu4VoMC", "https://framatube.org/w/tbAk2sMCp8RrX2fnu4VoMC",
         "Framasoft: qui sommes-nous ?"),
    ]
    # The channel owns the list, but a flat entry does not say who made the video: nothing is guessed.
    assert all(c.creator is None and c.channel is None and c.license is None for c in cands)


def test_vimeo_channel_entries_map_to_vimeo_ids():
    cands = _map("vimeo_channel_flat")
    assert [(c.canonical_id, c.url, c.video_id) for c in cands] == [
        ("Vimeo:6213729", "https://vimeo.com/channels/tributes/6213729", "6213729"),
        ("Vimeo:56015672", "https://vimeo.com/56015672", "56015672"),
    ]
    assert cands[1].title is None


def test_internet_archive_item_files_inherit_the_items_licence_and_uploader():
    cands = _map("archiveorg_item_playlist")
    assert [c.canonical_id for c in cands] == [
        "ArchiveOrg:Election_Ads/Commercial-JFK1960ElectionAdCampaignJingle.mpg",
        "ArchiveOrg:Election_Ads/Commercial-Nixon1960ElectionAdToughonDefense.mpg",
    ]
    assert cands[0].url == "https://archive.org/details/Election_Ads/Commercial-JFK1960ElectionAdCampaignJingle.mpg"
    for c in cands:
        assert c.license is not None and c.license.spdx == "CC-PDDC"
        assert c.license.raw == "http://creativecommons.org/licenses/publicdomain/"
        assert c.creator == "mikedavisstripmaster@yahoo.com"


def test_youtube_playlist_entries_carry_their_own_channel():
    cands = _map("youtube_playlist_flat")
    assert [c.canonical_id for c in cands] == ["Youtube:M4gD1WSo5mA", "Youtube:eQcmzGIKrzg"]
    assert cands[0].channel == "The Berkman Klein Center for Internet & Society"
    assert cands[0].creator == "The Berkman Klein Center for Internet & Society"
    assert cands[1].channel == "Bernie Sanders" and cands[1].url == "https://www.youtube.com/shorts/eQcmzGIKrzg"
    assert all(c.license is None for c in cands)  # a flat YouTube entry states no licence: unknown


def test_a_flat_entry_that_states_a_licence_is_read_in_its_extractors_format():
    entry = {"_type": "url", "ie_key": "Vimeo", "id": "1", "url": "https://vimeo.com/1", "license": "by-sa"}
    c = candidate_from_entry("src", entry, listed_from="https://vimeo.com/channels/x", locator="#1")
    assert c.license is not None and c.license.spdx == "LicenseRef-CC-BY-SA-unversioned"


def test_an_entry_without_a_usable_url_is_an_input_error():
    c = candidate_from_entry("src", {"_type": "url", "url": "javascript:void(0)", "title": "x"},
                             listed_from="https://example.org/list", locator="https://example.org/list #4")
    assert c.input_error and "https://example.org/list #4" in c.input_error and "no usable http(s) URL" in c.input_error


_VALUES = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.booleans(),
                    st.sampled_from(["url", "url_transparent", "video", "playlist", "Youtube", "PeerTube",
                                     "Generic", "https://framatube.org/w/abc", "//vimeo.com/5", "by-nc"]),
                    st.lists(st.text(max_size=5), max_size=2))
_ENTRY_KEYS = st.sampled_from(["_type", "ie_key", "extractor_key", "id", "url", "webpage_url", "title",
                               "uploader", "channel", "channel_id", "license", "creators", "formats"])


@settings(max_examples=300, deadline=None)
@given(entry=st.dictionaries(_ENTRY_KEYS, _VALUES, max_size=8),
       parent=st.dictionaries(_ENTRY_KEYS, _VALUES, max_size=4))
def test_entry_mapping_never_raises_and_never_yields_an_unusable_candidate(entry, parent):
    c = candidate_from_entry("src", entry, listed_from="https://example.org/list", locator="#1", parent=parent)
    assert c.kind == "ytdlp" and c.canonical_id
    if not c.input_error:
        assert c.url is not None and c.url.startswith(("http://", "https://"))
        assert c.canonical_id.startswith("url:") or ":" in c.canonical_id
    if c.license is not None and (c.license.spdx is None or c.license.spdx == "LicenseRef-Unknown"):
        assert evaluate(c.license, LicensePolicy.default())[0] is Verdict.DENY


def test_a_youtube_channel_lists_its_tabs_when_a_contract_covers_it(cf_settings):
    channel = "https://www.youtube.com/@BKCHarvard"
    tab = "https://www.youtube.com/@BKCHarvard/videos"
    tabs = {"_type": "playlist", "id": "UCuLGmD72gJDBwmLw06X58SA", "extractor_key": "YoutubeTab",
            "webpage_url": channel,
            "entries": [{"_type": "url", "ie_key": "YoutubeTab", "url": tab, "title": "Videos"}]}
    ydl = FakeYdl({channel: tabs, tab: recorded("youtube_playlist_flat")})
    source = ytdlp_source(basis="contract", contract_id="BKC-2026-01", covers_training=True)
    cands = list(discover_ytdlp(source, cf_settings, ydl=ydl, options=opts(channel)))
    assert ydl.calls == [(channel, None), (tab, "YoutubeTab")]
    assert [c.canonical_id for c in cands] == ["Youtube:M4gD1WSo5mA", "Youtube:eQcmzGIKrzg"]


# --- end to end: a ytdlp source through `clearframe run` -----------------------------------------------
def test_ytdlp_feed_source_runs_end_to_end_gated_fetched_and_sharded(tmp_path, monkeypatch, clips):
    """An RSS feed on 127.0.0.1 lists two local video pages and a YouTube link: the local pages are gated
    on their own licence and sharded; the YouTube item is denied by platform terms without a request."""
    from clearframe.cli import main
    from clearframe.ledger import read_ledger
    from clearframe.storage import open_storage
    from support.site import video_page

    monkeypatch.setenv("CLEARFRAME_HOME", str(tmp_path / "home"))
    with Site() as site:
        site.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
        for name, clip in (("a", clips["clip1"]), ("b", clips["clip2"])):
            site.add(f"/media/{name}.mp4", clip.read_bytes(), content_type="video/mp4")
            site.add(f"/v/{name}", video_page(name, f"/media/{name}.mp4",
                                              license_url="https://creativecommons.org/licenses/by/4.0/"))
        items = [("A", "<link>{b}/v/a</link>"), ("B", "<link>{b}/v/b</link>"),
                 ("On YouTube", "<link>https://www.youtube.com/watch?v=dQw4w9WgXcQ</link>")]
        feed = site.add("/feed.xml", rss(site.base, items), content_type="application/rss+xml")
        src = tmp_path / "feed.yaml"
        src.write_text(f"name: feed\nkind: ytdlp\nytdlp:\n  urls: ['{feed}']\n  sleep_requests_s: 0\n")
        storage = tmp_path / "storage"
        assert main(["run", str(src), "--storage", str(storage), "--json"]) == 0
        rows = {r["url"]: r for r in read_ledger(open_storage(str(storage)), "feed").to_pylist()}
        assert rows[f"{site.base}/v/a"]["status"] == "admitted" and rows[f"{site.base}/v/b"]["status"] == "admitted"
        yt = rows["https://www.youtube.com/watch?v=dQw4w9WgXcQ"]
        assert yt["decision"] == "deny" and "terms forbid" in yt["reasons"]
        assert site.media_requests() == 2
    shards = list((storage / "datasets" / "feed").rglob("*.tar"))
    assert shards, "admitted items were sharded"


def test_progressive_url_picks_the_best_single_file_format_never_a_manifest():
    from clearframe.probe import _progressive_url

    info = {"formats": [
        {"url": "https://cdn.example/a-360.mp4", "protocol": "https", "vcodec": "avc1", "acodec": "mp4a"},
        {"url": "https://cdn.example/a-audio.m4a", "protocol": "https", "vcodec": "none", "acodec": "mp4a"},
        {"url": "https://cdn.example/a-720.mp4", "protocol": "https", "vcodec": "avc1", "acodec": "mp4a"},
        {"url": "https://cdn.example/master.m3u8", "protocol": "m3u8_native", "vcodec": "avc1", "acodec": "mp4a"},
    ]}
    assert _progressive_url(info) == "https://cdn.example/a-720.mp4"
    only_hls = {"formats": [{"url": "https://cdn.example/m.m3u8", "protocol": "m3u8_native", "vcodec": "avc1"}]}
    assert _progressive_url(only_hls) is None
    assert _progressive_url({"url": "https://cdn.example/one.webm", "ext": "webm"}) == "https://cdn.example/one.webm"


def test_a_list_that_answers_500_defers_and_a_404_denies(tmp_path, monkeypatch):
    """A passing trouble (5xx) is retried by a later run (DEFER); a missing list (404) is an input error (DENY)."""
    from clearframe.cli import main
    from clearframe.ledger import read_ledger
    from clearframe.storage import open_storage

    monkeypatch.setenv("CLEARFRAME_HOME", str(tmp_path / "home"))
    with Site() as site:
        site.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
        site.add("/busy.xml", "try later", status=500, content_type="text/plain")
        src = tmp_path / "lists.yaml"
        src.write_text(f"name: lists\nkind: ytdlp\nytdlp:\n  urls: ['{site.url('/busy.xml')}', "
                       f"'{site.url('/gone.xml')}']\n  sleep_requests_s: 0\n")
        assert main(["run", str(src), "--storage", str(tmp_path / "st"), "--json"]) == 0
    rows = {r["url"]: r for r in read_ledger(open_storage(str(tmp_path / "st")), "lists").to_pylist()}
    assert rows[site.url("/busy.xml")]["decision"] == "defer"
    assert rows[site.url("/gone.xml")]["decision"] == "deny"
