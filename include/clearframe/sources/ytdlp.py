"""`ytdlp` sources: playlists, channels and search-result pages, listed by yt-dlp's flat extraction.

Discovery asks yt-dlp for the *list* only: `extract_info(url, download=False, process=False)` with
`extract_flat="in_playlist"`, so each entry stays the lightweight record the list page or API already
gave (no media byte, no per-video page). Entries are walked here rather than by YoutubeDL so that

- a lazily paged list (yt-dlp's `PagedList`, generators) is read one page at a time and stops at
  `max_entries` without fetching further pages;
- an error on page 3 keeps the entries of pages 1-2 and adds one candidate that names the list, the
  error and what happens next, instead of an exception that loses everything (so do an unsupported URL,
  a refusal, a network error);
- a list of lists (a channel's tabs, a PeerTube account's playlists) is expanded, at most
  `MAX_NESTING` levels deep, within the same `max_entries` budget; an entry is only expanded when its
  extractor returns playlists (yt-dlp's `is_single_video(url) is False`, or a YouTube tab).

One `YoutubeDL` serves the whole source. Its identity is ClearFrame's: our User-Agent on every request
yt-dlp makes with its default headers, no cookies (a cookie policy that neither stores nor sends any), no
proxy (`proxy=""`, environment proxies ignored), no faked `X-Forwarded-For` (`geo_bypass=False`), no
login (`usenetrc=False`, no cookie file), no retries of refusals (`extractor_retries=0`), no disk cache,
and a pause of `sleep_requests_s` between yt-dlp's own requests. Known limits, all yt-dlp's: extractors
that talk to private APIs set headers of their own (YouTube's innertube clients send app User-Agents,
Wikimedia sends yt-dlp's); requests beyond the listed URL (APIs, continuation pages) are not checked,
only list URLs are; an HTTP redirect is followed inside yt-dlp's request before we see it (the Generic
extractor then reports the new URL, which is checked before anything from it is listed); and the run's
per-host politeness (crawl-delay, Retry-After) does not reach yt-dlp: `sleep_requests_s` stands in.

Before a listed URL is requested it must be an http(s) URL (yt-dlp's `ytsearchN:` pseudo-URLs are refused:
the request they make could not be checked), its host must not be a platform whose terms forbid automated
download unless the source's contract authorises it (gate/basis.py; every candidate from it would be
denied anyway), and the optional `url_check` (the gate's `admit`: blocked domains, platform terms,
robots.txt; or `RobotsChecker.check`) must not return a restricting Finding (DENY, DEFER or REVIEW).

Each entry becomes a `Candidate(kind="ytdlp")`:

- `canonical_id`: `"{extractor_key}:{id}"` (e.g. `Youtube:dQw4w9WgXcQ`, `PeerTube:kkGMgK9Z...`), the same
  key a later full extraction of that video reports. Entries without an extractor of their own (RSS items,
  `<video>` tags, XSPF tracks, all of which the Generic extractor names after the *page*, so they
  collide) get `"url:{canonical URL}"`, the `http` source kind's id for the same URL.
- `url`: the entry's own page (`url` of a flat entry, `webpage_url` of a full one), else its media URL.
- `title`, `creator` (uploader), `channel` (channel name, else id), `video_id`, and `license` via
  `gate.ytdlp_licenses.license_from_info` when the entry states one. A file of an Internet Archive item
  inherits the item's licence and uploader (the item's metadata covers all its files); no other entry
  inherits anything from its list, because a playlist's owner is not the author of what it lists.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from clearframe.config import Settings, Source, YtdlpInput
from clearframe.errors import ConfigError
from clearframe.gate.ytdlp_licenses import license_from_info
from clearframe.records import Candidate, Finding, LicenseInfo, Verdict
from clearframe.sources.urllist import canonical_url, check_url

__all__ = [
    "MAX_NESTING",
    "YtdlpInput",
    "candidate_from_entry",
    "describe_error",
    "discover_ytdlp",
    "make_ytdlp",
    "read_ytdlp",
    "ytdlp_params",
]

KIND = "ytdlp"
MAX_NESTING = 3  # a list inside a list inside a list; deeper is a loop or a site map, not a channel
_MAX_REDIRECT_HOPS = 3  # a listed URL that yt-dlp resolves to another URL, and so on

# Extractors that name the page, not the video: their ids collide across entries and sites.
_URL_KEYED = frozenset({"Generic", "HTML5MediaEmbed"})
# Extractors whose flat entries are lists although yt-dlp cannot tell from the URL alone.
_CONTAINER_KEYS = frozenset({"YoutubeTab"})
# Lists that are one work with several files: the list's licence and uploader cover every entry.
_ITEM_LISTS = frozenset({"ArchiveOrg"})
# What of a flat entry is kept as evidence of what the list said.
_RECORD_FIELDS = (
    "_type", "ie_key", "extractor_key", "id", "url", "webpage_url", "title", "uploader", "uploader_id",
    "channel", "channel_id", "license", "duration", "timestamp",
)


# --- YoutubeDL with ClearFrame's identity -------------------------------------------------------------
class _Log:
    """yt-dlp's logger, silenced: its failures reach us as exceptions, which become candidates."""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        pass


def ytdlp_params(settings: Settings, options: YtdlpInput, timeout: float = 30) -> dict[str, Any]:
    """YoutubeDL parameters for listing: flat, metadata only, one honest identity."""
    return {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Log(),
        "color": "no_color",
        "extract_flat": "in_playlist",
        "skip_download": True,
        "simulate": True,
        "http_headers": {"User-Agent": settings.user_agent},
        "proxy": "",  # direct connection; environment proxies are ignored
        "geo_bypass": False,  # never fake X-Forwarded-For
        "usenetrc": False,
        "cookiefile": None,
        "cookiesfrombrowser": None,
        "cachedir": False,
        "socket_timeout": timeout,
        "extractor_retries": 0,
        "retries": 0,
        "sleep_interval_requests": options.sleep_requests_s,
        "ignoreerrors": False,
        "noplaylist": False,
    }


def make_ytdlp(settings: Settings, options: YtdlpInput, timeout: float = 30) -> Any:
    """One YoutubeDL for a source's listing; it neither stores nor sends cookies."""
    from http.cookiejar import DefaultCookiePolicy

    import yt_dlp

    ydl = yt_dlp.YoutubeDL(ytdlp_params(settings, options, timeout))
    # allowed_domains=[]: no cookie is accepted from a response or returned with a request.
    ydl.cookiejar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return ydl


# --- extractor lookups (no network) ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def _extractor_classes() -> tuple[Any, ...]:
    from yt_dlp.extractor import gen_extractor_classes

    return tuple(gen_extractor_classes())


@lru_cache(maxsize=512)
def _extractor_class(key: str) -> Any | None:
    from yt_dlp.extractor import get_info_extractor

    try:
        return get_info_extractor(key)
    except Exception:  # noqa: BLE001 - an unknown key is simply not an extractor we can consult
        return None


def _extractor_for(url: str) -> tuple[str | None, str | None]:
    """(ie_key, id) of the first extractor that takes the URL, as yt-dlp would pick it; Generic is None."""
    for cls in _extractor_classes():
        try:
            if cls.suitable(url):
                key = cls.ie_key()
                return (None, None) if key in _URL_KEYED else (key, cls.get_temp_id(url))
        except Exception:  # noqa: BLE001 - a broken pattern in one extractor must not stop discovery
            continue
    return None, None


def site_extractor(url: str) -> str | None:
    """The yt-dlp extractor that owns this URL (e.g. "PeerTube", "Vimeo"), or None for a plain web page."""
    return _extractor_for(url)[0]


def _is_container(entry: Mapping[str, Any], url: str) -> bool:
    key = entry.get("ie_key")
    if not isinstance(key, str) or not key:
        return False
    if key in _CONTAINER_KEYS:
        return True
    cls = _extractor_class(key)
    try:
        return cls is not None and cls.is_single_video(url) is False
    except Exception:  # noqa: BLE001
        return False


# --- entry -> Candidate ------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return " ".join(value.split()) or None
    return None


def _clean_url(value: Any) -> str | None:
    """yt-dlp's own URL: smuggled data (`#__youtubedl_smuggle=`) removed, scheme-less `//` made https."""
    if not isinstance(value, str) or not value.strip():
        return None
    from yt_dlp.utils import sanitize_url, unsmuggle_url

    url, _ = unsmuggle_url(value.strip(), {})
    return str(sanitize_url(url, scheme="https"))


def _media_url(entry: Mapping[str, Any]) -> str | None:
    url = _clean_url(entry.get("url"))
    if url:
        return url
    formats = entry.get("formats")
    if isinstance(formats, list):
        for f in formats:
            if isinstance(f, Mapping) and (u := _clean_url(f.get("url"))):
                return u
    return None


def _record(entry: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in _RECORD_FIELDS:
        v = entry.get(k)
        if isinstance(v, str):
            out[k] = v[:2048]
        elif isinstance(v, (int, float, bool)):
            out[k] = v
    return out


def candidate_from_entry(
    source: str,
    entry: Mapping[str, Any],
    *,
    listed_from: str,
    locator: str,
    parent: Mapping[str, Any] | None = None,
    contract_id: str | None = None,
) -> Candidate:
    """One yt-dlp entry (flat `url` result or full video dict) as a Candidate. Never raises.

    `parent` is the list the entry came from (its extractor key stands in for a full entry's missing one).
    """
    try:
        return _candidate(source, entry, listed_from, locator, parent or {}, contract_id)
    except Exception as exc:  # noqa: BLE001 - one odd entry becomes a ledger row, not a lost listing
        return _error_candidate(source, listed_from, locator,
                                f"entry could not be read ({type(exc).__name__}: {exc}); it is skipped "
                                "until yt-dlp lists it readably", contract_id)


def _candidate(source: str, entry: Mapping[str, Any], listed_from: str, locator: str,
               parent: Mapping[str, Any], contract_id: str | None) -> Candidate:
    if not isinstance(entry, Mapping):
        raise TypeError(f"entry is a {type(entry).__name__}, not a mapping")
    kind = entry.get("_type") or "video"
    parent_key = _text(parent.get("extractor_key"))
    key: str | None
    vid = _text(entry.get("id"))
    if kind in ("url", "url_transparent"):
        url = _clean_url(entry.get("url"))
        key = _text(entry.get("ie_key"))
        if url and not key:
            key, guessed = _extractor_for(url)
            vid = guessed  # the list's id for the entry is not that extractor's id
        elif url and key and not vid:
            cls = _extractor_class(key)
            vid = _text(cls.get_temp_id(url)) if cls is not None else None
    else:
        key = _text(entry.get("extractor_key")) or parent_key
        own_page = _clean_url(entry.get("webpage_url"))
        if own_page and own_page == _clean_url(parent.get("webpage_url")):
            own_page = None  # a <video> on the list page itself: the page is not this entry's own
        if not own_page and key == "ArchiveOrg" and vid:
            own_page = f"https://archive.org/details/{vid}"  # ArchiveOrgIE's URL for one file of an item
        url = own_page or _media_url(entry)
    if vid is not None and vid == _text(parent.get("id")):
        vid = None  # e.g. XSPF tracks carry the playlist's id
    if not url or check_url(url) is not None:
        shown = url or entry.get("url") or entry.get("webpage_url")
        which = f"entry {vid!r}" if vid else "the entry"
        return _error_candidate(source, listed_from, locator,
                                f"{which} has no usable http(s) URL ({shown!r}); it cannot be probed", contract_id)
    by_extractor = bool(key and vid and key not in _URL_KEYED)
    canonical = f"{key}:{vid}" if by_extractor else f"url:{canonical_url(url)}"

    inherit = parent if parent_key in _ITEM_LISTS else {}
    lic: LicenseInfo | None = None
    if entry.get("license") is not None:
        lic = license_from_info({**entry, "extractor_key": key or parent_key})
    elif inherit.get("license") is not None:
        lic = license_from_info(inherit)
    creators = entry.get("creators") or inherit.get("creators")
    first_creator = creators[0] if isinstance(creators, list) and creators else None
    creator = (_text(entry.get("uploader")) or _text(first_creator) or _text(entry.get("uploader_id"))
               or _text(inherit.get("uploader")))
    channel = _text(entry.get("channel")) or _text(entry.get("channel_id"))
    return Candidate(
        source=source,
        kind=KIND,
        canonical_id=canonical,
        url=url,
        locator=locator,
        title=_text(entry.get("title")),
        creator=creator,
        channel=channel,
        video_id=vid if by_extractor else None,
        license=lic,
        contract_id=contract_id,
    )


def _error_candidate(source: str, url: str, locator: str, problem: str, contract_id: str | None,
                     file: str | None = None) -> Candidate:
    where = f"{file}: {locator}" if file else locator
    return Candidate(source=source, kind=KIND, canonical_id=f"input:{locator}:{url}", url=url or None,
                     locator=locator, input_error=f"{where}: {url}: {problem}", contract_id=contract_id,
                     # describe_error says "next run" exactly for the passing troubles (5xx, 429, network)
                     input_retry="next run" in problem)


# --- errors, said for an audit ----------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo and len(seen) < 12:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is s for s in seen):
            continue
        seen.append(e)
        info = getattr(e, "exc_info", None)
        todo += [getattr(e, "cause", None), info[1] if isinstance(info, tuple) and len(info) > 1 else None,
                 e.__cause__, e.__context__]
    return seen


def _message(exc: BaseException) -> str:
    text = getattr(exc, "orig_msg", None) or str(exc)
    text = _ANSI.sub("", str(text)).removeprefix("ERROR: ").strip()
    text = text.split("; please report this issue")[0]
    return text[:300]


def describe_error(exc: BaseException) -> str:
    """What went wrong listing a URL and what happens next, from a yt-dlp exception chain."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import GeoRestrictedError, UnsupportedError

    chain = _chain(exc)
    if any(isinstance(e, UnsupportedError) for e in chain):
        return ("yt-dlp found no playlist, channel or video at this URL (unsupported URL); check the URL, or "
                "list plain page URLs with an http source")
    if any(isinstance(e, GeoRestrictedError) for e in chain):
        return ("the site restricts this list by country; ClearFrame uses no proxy, so it is not listed; "
                "remove the URL")
    http = next((e for e in chain if isinstance(e, HTTPError)), None)
    if http is not None:
        status = http.status
        if status in (401, 403, 451):
            return (f"the site refused the request (HTTP {status}); ClearFrame does not retry with another "
                    "identity; remove the URL or ask the site for access")
        if status in (404, 410):
            return f"not found (HTTP {status}); fix or remove the URL"
        if status == 429:
            return "rate-limited (HTTP 429); it is listed again on the next run"
        if status >= 500:
            return f"server error (HTTP {status}); it is listed again on the next run"
        return f"HTTP {status} ({_message(http)}); check the URL; it is listed again on the next run"
    if any(isinstance(e, TransportError) for e in chain):
        transport = next(e for e in chain if isinstance(e, TransportError))
        return f"network error ({_message(transport)}); it is listed again on the next run"
    msg = _message(exc)
    if re.search(r"log ?in|sign ?in|cookies|authenticat|members[- ]only|registered users", msg, re.IGNORECASE):
        return (f"the site wants a login or cookies ({msg}); ClearFrame does not log in or send cookies, "
                "so it is not listed")
    return f"yt-dlp could not list it ({type(exc).__name__}: {msg}); check the URL; it is tried again next run"


# --- walking the lists ------------------------------------------------------------------------------
def _iterate(entries: Any) -> Iterator[Any]:
    """Entries one by one, lazily: a PagedList page by page, a generator as it yields."""
    if entries is None:
        return iter(())
    from yt_dlp.utils import PagedList

    if isinstance(entries, PagedList):
        lazy = getattr(entries, "_getslice", None)  # the generator behind PagedList.getslice
        return iter(lazy(0, None)) if callable(lazy) else iter(entries.getslice())
    if isinstance(entries, Mapping):
        return iter(())
    return iter(entries)


@dataclass
class _Listed:
    candidate: Candidate
    record: dict[str, Any]


class _Lister:
    def __init__(self, source: Source, options: YtdlpInput, ydl: Any,
                 url_check: Callable[[str], object] | None) -> None:
        self.source = source
        self.options = options
        self.ydl = ydl
        self.url_check = url_check
        acq = source.acquisition
        self.contract_id = acq.contract_id if acq.basis == "contract" else None

    def run(self) -> Iterator[_Listed]:
        for n, raw in enumerate(self.options.urls):
            url = raw.strip()
            where = f"ytdlp.urls[{n}]"
            budget = [self.options.max_entries]
            yield from self._list(url, where, depth=0, budget=budget, ie_key=None)

    def _file(self) -> str:
        return self.source.path or f"source {self.source.name}"

    def _error(self, url: str, where: str, problem: str) -> _Listed:
        cand = _error_candidate(self.source.name, url, where, problem, self.contract_id, self._file())
        return _Listed(cand, {"listed_from": url, "locator": where, "error": problem})

    def _refusal(self, url: str) -> str | None:
        """Why this URL must not be requested, or None."""
        problem = check_url(url)
        if problem:
            if re.match(r"^[a-z]+search\d*(?:all)?:", url, re.IGNORECASE):
                problem += ("; yt-dlp search prefixes are not accepted because the request they make cannot "
                            "be checked against robots.txt: list the site's search-results page URL instead")
            return f"{problem}; fix or remove the URL"
        from clearframe.gate.basis import platform_finding

        host = (urlsplit(url).hostname or "").lower()
        pf = platform_finding(host, self.source.acquisition, self.contract_id)
        if pf is not None and pf.verdict is Verdict.DENY:
            return f"not listed: {pf.detail}"
        if self.url_check is None:
            return None
        try:
            result = self.url_check(url)
        except Exception as exc:  # noqa: BLE001 - fail closed: an unchecked URL is not requested
            return (f"not listed: the check before listing failed ({type(exc).__name__}: {exc}); it is tried "
                    "again on the next run")
        finding = getattr(result, "finding", result)
        if isinstance(finding, Finding) and finding.verdict in (Verdict.DENY, Verdict.DEFER, Verdict.REVIEW):
            again = "it is tried again on the next run" if finding.verdict is Verdict.DEFER else "remove the URL"
            return f"not listed: {finding.signal} says {finding.verdict.value}: {finding.detail}; {again}"
        if result is not None and not isinstance(finding, Finding):
            return f"not listed: the check before listing returned {type(result).__name__}, not a Finding"
        return None

    def _list(self, url: str, where: str, depth: int, budget: list[int], ie_key: str | None,
              hops: int = 0) -> Iterator[_Listed]:
        """Check one list URL, request it, and walk what yt-dlp returns."""
        refusal = self._refusal(url)
        if refusal:
            yield self._error(url, where, refusal)
            return
        try:
            kwargs = {"ie_key": ie_key} if ie_key else {}
            info = self.ydl.extract_info(url, download=False, process=False, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure is a ledger row naming the URL
            yield self._error(url, where, describe_error(exc))
            return
        if not isinstance(info, Mapping):
            yield self._error(url, where, f"yt-dlp returned {type(info).__name__} instead of a result; "
                              "check the URL")
            return
        kind = info.get("_type") or "video"
        if kind in ("playlist", "multi_video"):
            yield from self._entries(info, url, where, depth + 1, budget)
        elif kind in ("url", "url_transparent") and (target := _clean_url(info.get("url"))) and (
                _is_container(info, target) or not (info.get("ie_key") or info.get("id"))):
            # The URL stands for another list (an embedded channel), or for another URL altogether (a
            # redirect the Generic extractor reports as a bare URL): follow it, checked like the first.
            if hops >= _MAX_REDIRECT_HOPS:
                yield self._error(url, where, f"yt-dlp kept resolving the URL to others; list {target} directly")
                return
            yield from self._list(target, where, depth, budget, _text(info.get("ie_key")), hops + 1)
        elif budget[0] > 0:
            budget[0] -= 1  # the URL is one video (or a url result naming one)
            yield self._entry(info, url, where, parent={})

    def _entries(self, playlist: Mapping[str, Any], url: str, where: str, depth: int,
                 budget: list[int]) -> Iterator[_Listed]:
        list_url = _clean_url(playlist.get("webpage_url")) or url
        if depth > MAX_NESTING:
            yield self._error(list_url, where, f"a list nested more than {MAX_NESTING} levels deep; list "
                              f"{list_url} directly if it is wanted")
            return
        n = 0
        try:
            for entry in _iterate(playlist.get("entries")):
                if budget[0] <= 0:
                    break
                n += 1
                if isinstance(entry, Mapping):
                    yield from self._one(entry, playlist, list_url, f"{list_url} #{n}", depth, budget)
                if budget[0] <= 0:
                    break  # before asking a PagedList for the next page
        except Exception as exc:  # noqa: BLE001 - keep what was listed, say where it stopped
            yield self._error(list_url, f"{where} (list stopped)",
                              f"the list stopped after {n} entries: {describe_error(exc)}")

    def _one(self, entry: Mapping[str, Any], playlist: Mapping[str, Any], list_url: str, locator: str,
             depth: int, budget: list[int]) -> Iterator[_Listed]:
        kind = entry.get("_type") or "video"
        if kind in ("playlist", "multi_video"):
            nested = {**entry, "extractor_key": entry.get("extractor_key") or playlist.get("extractor_key")}
            yield from self._entries(nested, list_url, locator, depth + 1, budget)
            return
        target = _clean_url(entry.get("url")) if kind in ("url", "url_transparent") else None
        if target and _is_container(entry, target):
            if depth >= MAX_NESTING:
                yield self._error(target, locator, f"a list nested more than {MAX_NESTING} levels deep; list "
                                  f"{target} directly if it is wanted")
                return
            yield from self._list(target, locator, depth, budget, _text(entry.get("ie_key")))
            return
        budget[0] -= 1
        yield self._entry(entry, list_url, locator, parent=playlist)

    def _entry(self, entry: Mapping[str, Any], list_url: str, locator: str,
               parent: Mapping[str, Any]) -> _Listed:
        cand = candidate_from_entry(self.source.name, entry, listed_from=list_url, locator=locator,
                                    parent=parent, contract_id=self.contract_id)
        record = {"listed_from": list_url, "locator": locator, "entry": _record(entry)}
        if cand.input_error:
            record["error"] = cand.input_error
        return _Listed(cand, record)


# --- public -------------------------------------------------------------------------------------------
def _options(source: Source, options: YtdlpInput | None) -> YtdlpInput:
    if options is not None:
        return options
    section = getattr(source, "ytdlp", None)
    if section is None:
        raise ConfigError(source.path or source.name, "ytdlp", "kind 'ytdlp' needs a 'ytdlp' section with 'urls'",
                          "list playlist, channel or search-results page URLs under ytdlp.urls")
    if isinstance(section, YtdlpInput):
        return section
    data = section.model_dump() if hasattr(section, "model_dump") else dict(section)
    return YtdlpInput.model_validate(data)


def _listing(source: Source, settings: Settings, options: YtdlpInput | None,
             url_check: Callable[[str], object] | None, ydl: Any | None) -> Iterator[_Listed]:
    opts = _options(source, options)
    ydl = ydl if ydl is not None else make_ytdlp(settings, opts, timeout=source.fetch.timeout_s)
    return _Lister(source, opts, ydl, url_check).run()


def discover_ytdlp(
    source: Source,
    settings: Settings,
    *,
    options: YtdlpInput | None = None,
    url_check: Callable[[str], object] | None = None,
    ydl: Any | None = None,
) -> Iterator[Candidate]:
    """Every entry of every listed URL as a Candidate, lazily, in list order (duplicates included).

    `options` defaults to the source's `ytdlp` section. `url_check(url)` is asked before each list URL is
    requested and may return None, a Finding, or an object with a `.finding` (RobotsChecker.check); a
    DENY, DEFER or REVIEW Finding keeps the URL unrequested (the same contract as net.polite_request's
    `admit`). `ydl` replaces the YoutubeDL built by `make_ytdlp`.
    Problems never raise: they are candidates with `input_error` naming the URL and what to do.
    """
    for listed in _listing(source, settings, options, url_check, ydl):
        yield listed.candidate


def read_ytdlp(
    source: Source,
    settings: Settings,
    *,
    options: YtdlpInput | None = None,
    url_check: Callable[[str], object] | None = None,
    ydl: Any | None = None,
) -> tuple[list[Candidate], bytes]:
    """The candidates, and what the lists said (JSON lines, one per entry or error) to keep as evidence."""
    candidates: list[Candidate] = []
    lines: list[str] = []
    for listed in _listing(source, settings, options, url_check, ydl):
        candidates.append(listed.candidate)
        lines.append(json.dumps(listed.record, sort_keys=True, ensure_ascii=False, default=str))
    document = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
    return candidates, document
