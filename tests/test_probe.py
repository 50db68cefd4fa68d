"""clearframe.probe: licence and media URL from the page and a HEAD, and never a GET of the media."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from clearframe.net import HostPoliteness, SessionPool
from clearframe.probe import Prober, parse_page, video_objects
from clearframe.records import Probe, Verdict
from support.site import Site, video_page

UA = "ClearFrameBot/0.1 (+https://clearframe.dev/bot)"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
CC_BY_SA = "https://creativecommons.org/licenses/by-sa/4.0/"
VIDEO = b"\x00\x00\x00\x18ftypmp42 not really a video"


@pytest.fixture
def evidence() -> dict[str, bytes]:
    return {}


@pytest.fixture
def prober(evidence: dict[str, bytes]) -> Iterator[Prober]:
    def store(data: bytes, media_type: str) -> str:
        digest = hashlib.sha256(data).hexdigest()
        evidence[digest] = data
        return digest

    sessions = SessionPool(UA)
    yield Prober(sessions, HostPoliteness(4), timeout=5, max_retries=0, max_retry_after=10,
                 store_evidence=store)
    sessions.close()


def test_probe_module_imports_on_its_own() -> None:
    # In a fresh interpreter: inside pytest another module may already have imported clearframe.gate.
    proc = subprocess.run([sys.executable, "-c", "import clearframe.probe"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def probe_all(prober: Prober, url: str) -> Probe:
    """What the gate does for an http candidate: the page, then a HEAD on the media it names."""
    probe = prober.probe_page(url)
    if probe.media_url and not probe.findings:
        prober.probe_media(probe)
    return probe


def jsonld_page(*blocks: str, body: str = "") -> str:
    scripts = "".join(f'<script type="application/ld+json">{b}</script>' for b in blocks)
    return f"<!doctype html><html><head><title>Page</title>{scripts}</head><body>{body}</body></html>"


def verdicts(probe: Probe) -> list[Verdict]:
    return [f.verdict for f in probe.findings]


# --- JSON-LD and link rel ---------------------------------------------------------------------------------


def test_jsonld_gives_license_author_and_relative_content_url(site: Site, prober: Prober,
                                                              evidence: dict[str, bytes]) -> None:
    site.add("/v/media/clip.mp4", VIDEO, content_type="video/mp4")
    page = site.add("/v/one", video_page("Harbour at dawn", "media/clip.mp4", license_url=CC_BY,
                                         creator="Ada Example"))
    probe = probe_all(prober, page)
    assert probe.media_url == site.url("/v/media/clip.mp4")  # resolved against the page URL
    assert probe.title == "Harbour at dawn"
    assert probe.creator == "Ada Example"
    assert [(li.spdx, li.found_in) for li in probe.licenses] == [("CC-BY-4.0", "json-ld")]
    assert probe.licenses[0].raw == CC_BY
    assert verdicts(probe) == []
    assert probe.content_type == "video/mp4" and probe.content_length == len(VIDEO)
    # The page itself is kept as evidence, byte for byte.
    assert site.routes["/v/one"].body in evidence.values()


def test_link_rel_license_is_read(site: Site, prober: Prober) -> None:
    site.add("/media/a.mp4", VIDEO, content_type="video/mp4")
    page = site.add("/v/a", video_page("A", "/media/a.mp4", link_license=CC_BY_SA))
    probe = probe_all(prober, page)
    assert [(li.spdx, li.found_in) for li in probe.licenses] == [("CC-BY-SA-4.0", "link-rel")]


def test_jsonld_and_link_rel_are_both_kept(site: Site, prober: Prober) -> None:
    site.add("/media/a.mp4", VIDEO, content_type="video/mp4")
    page = site.add("/v/a", video_page("A", "/media/a.mp4", license_url=CC_BY,
                                       link_license="All rights reserved"))
    probe = probe_all(prober, page)
    assert {(li.spdx, li.found_in) for li in probe.licenses} == {
        ("CC-BY-4.0", "json-ld"), ("LicenseRef-All-Rights-Reserved", "link-rel")}


def test_jsonld_graph_is_searched_for_the_video_object(site: Site, prober: Prober) -> None:
    site.add("/media/g.mp4", VIDEO, content_type="video/mp4")
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebPage", "name": "Not the video", "license": "All rights reserved"},
        {"@type": ["VideoObject", "CreativeWork"], "name": "In a graph", "contentUrl": "/media/g.mp4",
         "license": {"@id": CC_BY}, "creator": {"@type": "Person", "name": "Grace"}},
    ]}
    probe = probe_all(prober, site.add("/v/g", jsonld_page(json.dumps(graph))))
    assert probe.media_url == site.url("/media/g.mp4")
    assert probe.title == "In a graph"
    assert probe.creator == "Grace"
    assert [li.spdx for li in probe.licenses] == ["CC-BY-4.0"]  # the WebPage's licence is not the video's


def test_invalid_jsonld_block_is_recorded_and_the_rest_still_read(site: Site, prober: Prober) -> None:
    site.add("/media/a.mp4", VIDEO, content_type="video/mp4")
    good = json.dumps({"@type": "VideoObject", "contentUrl": "/media/a.mp4", "license": CC_BY})
    probe = probe_all(prober, site.add("/v/a", jsonld_page('{"@type": "VideoObject", oops', good)))
    notes = [f for f in probe.findings if "not valid JSON" in f.detail]
    assert len(notes) == 1 and notes[0].verdict is Verdict.NONE and notes[0].signal == "probe"
    assert probe.media_url == site.url("/media/a.mp4")
    assert [li.spdx for li in probe.licenses] == ["CC-BY-4.0"]


def test_acquire_license_page_alone_grants_nothing(site: Site, prober: Prober) -> None:
    site.add("/media/a.mp4", VIDEO, content_type="video/mp4")
    obj = {"@type": "VideoObject", "contentUrl": "/media/a.mp4",
           "acquireLicensePage": "https://shop.test/buy"}
    probe = probe_all(prober, site.add("/v/a", jsonld_page(json.dumps(obj))))
    assert [li.spdx for li in probe.licenses] == ["LicenseRef-All-Rights-Reserved"]


def test_parse_page_reads_every_license_link_and_jsonld_block() -> None:
    page = parse_page('<html><head><link rel="license" href="/l1"><script type="application/ld+json">'
                      '[{"@type": "VideoObject", "name": "x"}, {"@type": "Person"}]</script></head>'
                      '<body><a rel="nofollow license" href="/l2">licence</a></body></html>')
    assert page.license_links == ["/l1", "/l2"]
    assert [o["name"] for o in video_objects(page)] == ["x"]


# --- finding the media ------------------------------------------------------------------------------------


def test_page_without_video_is_denied(site: Site, prober: Prober) -> None:
    page = site.add("/v/text", "<html><head><title>Words</title></head><body><p>only text</p></body></html>")
    probe = prober.probe_page(page)
    assert probe.media_url is None
    assert verdicts(probe) == [Verdict.DENY]
    assert "no video found" in probe.findings[0].detail
    assert probe.findings[0].evidence  # the page that was looked at is referenced


def test_html5_video_found_without_jsonld(site: Site, prober: Prober) -> None:
    site.add("/media/plain.mp4", VIDEO, content_type="video/mp4")
    page = site.add("/v/plain", video_page("Plain", "/media/plain.mp4", jsonld=False))
    probe = probe_all(prober, page)
    assert probe.media_url == site.url("/media/plain.mp4")
    assert probe.licenses == []  # nothing declared: the gate will have to deny for want of a licence
    assert verdicts(probe) == []


def test_html5_video_src_attribute_relative_to_the_page(site: Site, prober: Prober) -> None:
    site.add("/v/files/s.webm", VIDEO, content_type="video/webm")
    page = site.add("/v/s", '<html><body><video src="files/s.webm" controls></video></body></html>')
    assert prober.probe_page(page).media_url == site.url("/v/files/s.webm")


def test_non_http_media_url_is_denied(site: Site, prober: Prober) -> None:
    obj = {"@type": "VideoObject", "contentUrl": "ftp://files.test/a.mp4", "license": CC_BY}
    probe = prober.probe_page(site.add("/v/ftp", jsonld_page(json.dumps(obj))))
    assert probe.media_url is None
    assert Verdict.DENY in verdicts(probe)


def test_direct_media_url_is_not_requested_by_the_page_probe(site: Site, prober: Prober) -> None:
    url = site.add("/media/direct.mp4", VIDEO, content_type="video/mp4")
    probe = prober.probe_page(url)
    assert probe.media_url == url
    assert site.requests == {}


# --- HEAD on the media ------------------------------------------------------------------------------------


def test_head_link_license_header_is_read(site: Site, prober: Prober) -> None:
    site.add("/media/a.mp4", VIDEO, content_type="video/mp4", headers={"Link": f'<{CC_BY}>; rel="license"'})
    probe = Probe(media_url=site.url("/media/a.mp4"))
    prober.probe_media(probe)
    assert [(li.spdx, li.found_in) for li in probe.licenses] == [("CC-BY-4.0", "link-header")]
    assert site.count("HEAD", "/media/a.mp4") == 1


def test_head_405_is_tolerated(site: Site, prober: Prober) -> None:
    site.add("/media/a.mp4", b"", status=405, content_type="text/plain")
    probe = Probe(media_url=site.url("/media/a.mp4"))
    prober.probe_media(probe)
    assert probe.findings == []
    assert probe.content_length is None


def test_head_answering_html_is_denied(site: Site, prober: Prober) -> None:
    site.add("/media/a.mp4", "<html>login</html>")
    probe = Probe(media_url=site.url("/media/a.mp4"))
    prober.probe_media(probe)
    assert verdicts(probe) == [Verdict.DENY]


def test_head_server_error_defers(site: Site, prober: Prober) -> None:
    site.add("/media/a.mp4", b"", status=503)
    probe = Probe(media_url=site.url("/media/a.mp4"))
    prober.probe_media(probe)
    assert verdicts(probe) == [Verdict.DEFER]


def test_page_server_error_defers_without_parsing(site: Site, prober: Prober) -> None:
    page = site.add("/v/a", video_page("A", "/media/a.mp4", license_url=CC_BY), status=500)
    probe = prober.probe_page(page)
    assert verdicts(probe) == [Verdict.DEFER]
    assert probe.media_url is None and probe.licenses == []


# --- the promise ------------------------------------------------------------------------------------------


def test_probing_never_gets_the_media(site: Site, prober: Prober) -> None:
    pages = []
    for name, kw in [("ld", {"license_url": CC_BY}), ("plain", {"jsonld": False}),
                     ("link", {"link_license": CC_BY})]:
        site.add(f"/media/{name}.mp4", VIDEO, content_type="video/mp4",
                 headers={"Link": f'<{CC_BY}>; rel="license"'})
        html = video_page(name, f"/media/{name}.mp4", **kw)  # type: ignore[arg-type]
        pages.append(site.add(f"/v/{name}", html))
    for page in pages:
        probe = probe_all(prober, page)
        assert probe.media_url and probe.content_length == len(VIDEO)
    assert site.media_requests() == 0
    assert sum(site.count("HEAD", f"/media/{n}.mp4") for n in ("ld", "plain", "link")) == 3
    assert site.user_agents == {UA}
