"""Probe: metadata only. A page GET, a HEAD on the media URL, never a media byte.

Media URLs come from yt-dlp's generic extraction (HTML5 <video>/<source>); the licence comes from what
yt-dlp drops: schema.org JSON-LD `license` / `acquireLicensePage` and `<link rel="license">`, plus a
`Link: <...>; rel="license"` header on the media itself.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urljoin, urlsplit

from clearframe.gate.licenses import normalize as normalize_license
from clearframe.net import HostPoliteness, SessionPool, polite_request
from clearframe.records import Finding, LicenseInfo, Probe, Verdict

MEDIA_EXTENSIONS = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".ogv", ".avi")
MAX_PAGE_BYTES = 4 * 1024 * 1024
# Response headers that carry an opt-out or rights signal; kept on the Probe for the gate's signal units.
SIGNAL_HEADERS = ("content-usage", "x-robots-tag", "tdm-reservation", "tdm-policy", "link")

Admit = Callable[[str], Finding | None]


def signal_headers(resp: Any) -> dict[str, list[str]]:
    """Each signal header line as sent (urllib3 keeps repeated lines apart; requests would join them)."""
    raw = getattr(getattr(resp, "raw", None), "headers", None)
    out: dict[str, list[str]] = {}
    for name in SIGNAL_HEADERS:
        if raw is not None and hasattr(raw, "getlist"):
            values = [str(v) for v in raw.getlist(name)]
        else:
            v = resp.headers.get(name)
            values = [v] if v is not None else []
        if values:
            out[name] = values
    return out


def looks_like_media(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(MEDIA_EXTENSIONS)


@dataclass
class PageMeta:
    title: str | None = None
    jsonld: list[Any] = field(default_factory=list)
    jsonld_errors: list[str] = field(default_factory=list)
    license_links: list[str] = field(default_factory=list)
    meta: dict[str, list[str]] = field(default_factory=dict)


class _HeadParser(HTMLParser):
    """Collects JSON-LD blocks, rel=license links, meta tags and the title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = PageMeta()
        self._in_jsonld = False
        self._in_title = False
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "script" and a.get("type", "").strip().lower() == "application/ld+json":
            self._in_jsonld, self._buf = True, []
        elif tag == "title":
            self._in_title, self._buf = True, []
        elif tag in ("link", "a") and "license" in a.get("rel", "").lower().split() and a.get("href"):
            self.page.license_links.append(a["href"])
        elif tag == "meta" and a.get("name"):
            self.page.meta.setdefault(a["name"].strip().lower(), []).append(a.get("content", ""))

    def handle_data(self, data: str) -> None:
        if self._in_jsonld or self._in_title:
            self._buf.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_jsonld:
            self._in_jsonld = False
            text = "".join(self._buf).strip()
            try:
                self.page.jsonld.append(json.loads(text))
            except json.JSONDecodeError as exc:
                self.page.jsonld_errors.append(f"JSON-LD block is not valid JSON ({exc.msg})")
        elif tag == "title" and self._in_title:
            self._in_title = False
            self.page.title = " ".join("".join(self._buf).split()) or None


def parse_page(html: str) -> PageMeta:
    p = _HeadParser()
    p.feed(html)
    p.close()
    return p.page


def _walk_jsonld(node: Any) -> list[dict[str, Any]]:
    """Flatten @graph / lists into objects."""
    out: list[dict[str, Any]] = []
    if isinstance(node, list):
        for n in node:
            out.extend(_walk_jsonld(n))
    elif isinstance(node, dict):
        out.append(node)
        if "@graph" in node:
            out.extend(_walk_jsonld(node["@graph"]))
    return out


def _types(obj: dict[str, Any]) -> set[str]:
    t = obj.get("@type", [])
    return {str(x).split("/")[-1].lower() for x in (t if isinstance(t, list) else [t])}


def _as_text(v: Any) -> str | None:
    if isinstance(v, str):
        return v.strip() or None
    if isinstance(v, dict):
        return _as_text(v.get("@id") or v.get("url") or v.get("name"))
    if isinstance(v, list) and v:
        return _as_text(v[0])
    return None


def video_objects(page: PageMeta) -> list[dict[str, Any]]:
    objs = [o for block in page.jsonld for o in _walk_jsonld(block)]
    return [o for o in objs if "videoobject" in _types(o)]


class Prober:
    def __init__(self, sessions: SessionPool, hosts: HostPoliteness, *, timeout: float, max_retries: int,
                 max_retry_after: float, store_evidence: Any):
        self.sessions = sessions
        self.hosts = hosts
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.store_evidence = store_evidence
        self._local = threading.local()

    def _ydl(self) -> Any:
        """One YoutubeDL per worker thread, built once and reused (each costs ~50 ms)."""
        ydl = getattr(self._local, "ydl", None)
        if ydl is None:
            import yt_dlp

            ydl = yt_dlp.YoutubeDL({
                "quiet": True, "no_warnings": True, "noplaylist": True, "skip_download": True,
                "http_headers": {"User-Agent": self.sessions.user_agent},
                # One honest identity: no proxy, no faked X-Forwarded-For, no netrc, no cookies kept or sent.
                "proxy": "", "geo_bypass": False, "usenetrc": False, "cachedir": False,
                "socket_timeout": self.timeout, "extractor_retries": 0, "retries": 0,
            })
            ydl.cookiejar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            self._local.ydl = ydl
        return ydl

    def _request(self, method: str, url: str, signal: str, stream: bool = False,
                 admit: Admit | None = None) -> tuple[Any, Finding | None]:
        return polite_request(self.sessions, self.hosts, method, url, signal=signal, timeout=self.timeout,
                              max_retries=self.max_retries, max_retry_after=self.max_retry_after,
                              stream=stream, admit=admit)

    def probe_page(self, url: str, admit: Admit | None = None) -> Probe:
        """GET the page (bounded), read its licence metadata and find the media URL with yt-dlp."""
        probe = Probe(page_url=url)
        if looks_like_media(url):
            probe.media_url = url
            return probe
        resp, finding = self._request("GET", url, "probe", stream=True, admit=admit)
        if finding:
            probe.findings.append(finding)
            return probe
        probe.page_headers = signal_headers(resp)
        probe.final_page_url = resp.url or url
        url = probe.final_page_url
        try:
            ctype = resp.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip().lower().startswith("video/"):
                probe.media_url = url  # a media URL without an extension; no body was read
                return probe
            body = resp.raw.read(MAX_PAGE_BYTES + 1, decode_content=True)
        finally:
            resp.close()
        if len(body) > MAX_PAGE_BYTES:
            probe.findings.append(Finding("probe", Verdict.DEFER, f"{url}: page larger than "
                                          f"{MAX_PAGE_BYTES} bytes; not parsed", locator=url))
            return probe
        digest = self.store_evidence(body, "text/html")
        html = body.decode(resp.encoding or "utf-8", errors="replace")
        page = parse_page(html)
        self._apply_page(probe, url, page, html, digest)
        return probe

    def _apply_page(self, probe: Probe, url: str, page: PageMeta, html: str, digest: str) -> None:
        probe.title = page.title
        probe.meta = page.meta
        probe.page_evidence = digest
        for err in page.jsonld_errors:
            probe.findings.append(Finding("probe", Verdict.NONE, f"{url}: {err}", locator=url, evidence=digest))
        videos = video_objects(page)
        v = videos[0] if videos else {}
        if v:
            probe.title = _as_text(v.get("name")) or probe.title
            probe.creator = _as_text(v.get("author") or v.get("creator"))
            lic = _as_text(v.get("license"))
            if lic:
                probe.licenses.append(normalize_license(lic, found_in="json-ld", url=urljoin(url, lic)))
            acquire = _as_text(v.get("acquireLicensePage"))
            if acquire and not lic:
                # A page to buy a licence from is the opposite of a grant: record it, grant nothing.
                probe.licenses.append(LicenseInfo(raw=f"acquireLicensePage: {acquire}",
                                                  spdx="LicenseRef-All-Rights-Reserved", found_in="json-ld"))
            content = _as_text(v.get("contentUrl"))
            if content:
                probe.media_url = urljoin(url, content)
        for href in page.license_links:
            probe.licenses.append(normalize_license(href, found_in="link-rel", url=urljoin(url, href)))
        probe.creator = probe.creator or next(iter(page.meta.get("author", [])), None) or None
        if probe.media_url is None:
            ie = self._ydl().get_info_extractor("Generic")
            entries = ie._parse_html5_media_entries(url, html, "page")
            formats = [f for e in entries for f in e.get("formats", []) if f.get("url")]
            if formats:
                probe.media_url = formats[0]["url"]
        if probe.media_url is None:
            probe.findings.append(Finding("probe", Verdict.DENY, f"{url}: no video found on the page (no JSON-LD "
                                          "VideoObject contentUrl, no <video> source)", locator=url,
                                          evidence=digest))
        if probe.media_url and not re.match(r"^https?://", probe.media_url):
            probe.findings.append(Finding("probe", Verdict.DENY, f"{url}: media URL {probe.media_url!r} is "
                                          "not http(s)", locator=url))
            probe.media_url = None

    def probe_ytdlp(self, url: str) -> Probe:
        """A video page of a site yt-dlp supports (a `ytdlp` source): its extractor's metadata and licence.

        yt-dlp makes the page requests itself, with ClearFrame's identity but outside `polite_request`; the
        gate has already checked robots.txt, the registry and platform terms for this URL before calling.
        Only a single progressive file over http(s) is fetched later; a video offered only as a streaming
        manifest (HLS/DASH) is denied with that reason rather than assembled from segments.
        """
        from clearframe.gate.ytdlp_licenses import license_from_info

        probe = Probe(page_url=url)
        try:
            info = self._ydl().extract_info(url, download=False)
        except Exception as exc:
            msg = " ".join(str(exc).split())[:300]
            probe.findings.append(Finding("probe", Verdict.DEFER, f"{url}: yt-dlp could not read the video page "
                                          f"({exc.__class__.__name__}: {msg}); deferred", locator=url))
            return probe
        if not isinstance(info, dict) or info.get("_type") in ("playlist", "multi_video"):
            probe.findings.append(Finding("probe", Verdict.DENY, f"{url}: not a single video (yt-dlp found a "
                                          "list); list it as a ytdlp source URL instead", locator=url))
            return probe
        probe.final_page_url = info.get("webpage_url") or url
        probe.title = info.get("title")
        probe.creator = info.get("uploader") or info.get("creator") or info.get("artist")
        probe.channel = info.get("channel") or info.get("uploader_id")
        probe.video_id = str(info["id"]) if info.get("id") is not None else None
        lic = license_from_info(info)
        if lic is not None:
            probe.licenses.append(lic)
        probe.media_url = _progressive_url(info)
        if probe.media_url is None:
            probe.findings.append(Finding("probe", Verdict.DENY, f"{url}: no single-file http(s) format with "
                                          "video (only streaming manifests or none); not fetched", locator=url))
        return probe

    def probe_media(self, probe: Probe, admit: Admit | None = None) -> None:
        """HEAD the media URL: size, type, any licence link and the signal headers, without a body byte."""
        assert probe.media_url
        resp, finding = self._request("HEAD", probe.media_url, "probe", admit=admit)
        if finding:
            if finding.status in (405, 501):  # HEAD not supported: fine, we learn the size at fetch
                return
            probe.findings.append(finding)
            return
        resp.close()
        probe.media_headers = signal_headers(resp)
        probe.final_media_url = resp.url or probe.media_url
        probe.content_type = resp.headers.get("Content-Type")
        length = resp.headers.get("Content-Length")
        probe.content_length = int(length) if length and length.isdigit() else None
        lic = resp.links.get("license", {}).get("url")
        if lic:
            probe.licenses.append(normalize_license(lic, found_in="link-header", url=urljoin(probe.media_url, lic)))
        ctype = (probe.content_type or "").split(";")[0].strip().lower()
        if ctype.startswith(("text/", "image/")):
            probe.findings.append(Finding("probe", Verdict.DENY, f"{probe.media_url}: Content-Type {ctype} is not "
                                          "video", locator=probe.media_url))


def _progressive_url(info: dict[str, Any]) -> str | None:
    """The best single-file http(s) format with video (with audio if there is one), from an info dict."""
    formats = [f for f in info.get("formats") or [info] if isinstance(f, dict) and f.get("url")]
    usable = [f for f in formats if str(f.get("protocol") or "https").split("+")[0] in ("http", "https")
              and f.get("vcodec") != "none" and str(f["url"]).startswith(("http://", "https://"))]
    with_audio = [f for f in usable if f.get("acodec") not in ("none",)]
    pick = (with_audio or usable or [None])[-1]  # yt-dlp orders formats worst to best
    return str(pick["url"]) if pick else None
