"""Site-wide policy documents (``/.well-known/tdmrep.json``, ``/ai.txt``): fetched once per origin, cached.

Two pieces shared by the TDMRep (`clearframe.gate.tdmrep`) and Spawning ai.txt (`clearframe.gate.aitxt`)
signal units:

`WellKnownFetcher`
    GETs one fixed path on an origin (``scheme://host:port``), at most once per ``max_age`` seconds per
    origin, thread-safely (the other threads asking for the same origin wait for the one fetch and read
    the cache, as in `clearframe.gate.robots.RobotsChecker`). The answer is classified, never judged:
    the signal units decide what each class means for consent.

    ============================  ===========  ==========================================================
    what happened                 `DocStatus`  why
    ============================  ===========  ==========================================================
    2xx, body read and stored     FOUND        the body is parsed once (``parse``) and cached parsed
    3xx with a Location           (followed)   by hand (the session never follows on its own), across
                                               hosts, at most `MAX_REDIRECTS`; the sixth -> FAILED
    401, 403, 451                 REFUSED      design.md: a refusal stops that host (the signals DENY,
                                               as robots.py does for robots.txt)
    429                           FAILED       a rate limit is not an answer; cached for at least
                                               ``Retry-After``
    other 4xx (404, 410, ...)     ABSENT       the site does not publish the document
    5xx, other statuses           FAILED
    network error, timeout        FAILED
    body over ``max_bytes``       FAILED       a cut JSON or rule file is not the site's statement
    evidence store failed         FAILED       no decision without its evidence
    ============================  ===========  ==========================================================

    FAILED answers, and FOUND bodies whose ``parse`` raised, are cached for ``defer_max_age`` seconds
    only, so a long-lived worker looks again soon without hammering a failing host.

`PathPattern`
    The robots.txt path-pattern language (RFC 9309 §2.2.2 and §2.2.3; draft-koster-rep-00 §2.2.3, which
    TDMRep §"Use of regular expressions" adopts): a pattern matches when its end is reached before a
    difference in octets (a prefix match), ``*`` stands for any sequence of characters, a ``$`` that ends
    the pattern anchors it at the end of the URL; a ``$`` anywhere else is literal, as in Google's
    reference parser. The pattern is matched against the URL's path plus ``?query``.

    Before comparing, pattern and URL are brought to one form: percent-encoded *unreserved* characters
    (ALPHA, DIGIT, ``-._~``) are decoded (TDMRep §"TDM File on the Origin Server", RFC 9309 §2.2.2);
    other percent-encodings keep their meaning and are upper-cased; characters that may not appear
    literally in a URI (spaces, controls, non-ASCII, ``"<>\\^`{|}``) are percent-encoded as UTF-8; and the
    URL's literal ``*`` and ``$`` become ``%2A`` and ``%24``, so that a pattern can name them only in their
    encoded form (RFC 9309 §2.2.3: ``/path/foo-%24`` matches ``/path/foo-$``). Matching is case-sensitive.
    The matcher is linear (no regular expressions, no backtracking) whatever the number of ``*``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Generic, TypeVar
from urllib.parse import urljoin, urlsplit

import requests

from clearframe.net import REFUSAL_STATUSES, parse_retry_after

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_REDIRECTS",
    "DocStatus",
    "PathPattern",
    "WellKnownDoc",
    "WellKnownFetcher",
    "WellKnownResult",
    "path_target",
    "split_origin",
    "url_target",
]

MAX_REDIRECTS = 5  # the same bound as robots.txt (RFC 9309 §2.3.1.2); the sixth redirect fails
DEFAULT_MAX_BYTES = 512 * 1024
_CHUNK = 64 * 1024

T = TypeVar("T")


# --- URL and pattern normalisation --------------------------------------------------------------------

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# RFC 3986 gen-delims and sub-delims, minus "*" and "$" (the pattern language's special characters: a URL's
# literal "*" or "$" is compared in its encoded form, RFC 9309 §2.2.3).
_RESERVED_KEPT = frozenset(b":/?#[]@!&'()+,;=")
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _canon(text: str) -> str:
    """One comparable form for a URL path or a piece of a pattern (see the module docstring)."""
    data = text.encode("utf-8", "surrogatepass")
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b == 0x25:  # "%"
            if i + 2 < n and data[i + 1] in _HEX and data[i + 2] in _HEX:
                octet = int(data[i + 1 : i + 3], 16)
                out.append(chr(octet) if octet in _UNRESERVED else f"%{octet:02X}")
                i += 3
                continue
            out.append("%25")  # a lone "%" cannot be part of a URI: it stands for itself
        elif b in _UNRESERVED or b in _RESERVED_KEPT:
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
        i += 1
    return "".join(out)


def path_target(path: str) -> str:
    """What patterns are matched against, for an absolute path with an optional ``?query``.

    No URL parsing: ``//a/b`` is a path here, not an authority. A ``#fragment`` is dropped.
    """
    path = path.split("#", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    return _canon(path)


def url_target(url: str) -> str:
    """What patterns are matched against: the URL's path (``/`` when empty) plus ``?query`` when present.

    The fragment is never sent to a server and is dropped. A string that starts with ``/`` is taken as a
    path (`path_target`). ValueError for a URL that cannot be parsed (e.g. a malformed IPv6 host).
    """
    if url.startswith("/"):
        return path_target(url)
    parts = urlsplit(url)
    return path_target((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))


class PathPattern:
    """A robots.txt-style path pattern (``*`` wildcard, trailing ``$`` anchor), see the module docstring."""

    __slots__ = ("anchored", "raw", "_segments")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        body = raw
        self.anchored = body.endswith("$")
        if self.anchored:
            body = body[:-1]
        self._segments = tuple(_canon(piece) for piece in body.split("*"))

    @property
    def length(self) -> int:
        """Specificity for a longest-match rule: the pattern's octets as written (RFC 9309 §2.2.2)."""
        return len(self.raw.encode("utf-8", "surrogatepass"))

    def matches(self, target: str) -> bool:
        """Does the pattern match `target` (a `url_target` string)?"""
        segs = self._segments
        first = segs[0]
        if not target.startswith(first):
            return False
        pos = len(first)
        if len(segs) == 1:
            return pos == len(target) if self.anchored else True
        for seg in segs[1:-1]:
            found = target.find(seg, pos)  # leftmost: leaves the most room for what follows
            if found < 0:
                return False
            pos = found + len(seg)
        last = segs[-1]
        if self.anchored:
            return len(target) - len(last) >= pos and target.endswith(last)
        return target.find(last, pos) >= 0

    def __repr__(self) -> str:
        return f"PathPattern({self.raw!r})"


# --- origins --------------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)  # pure; each candidate's URLs are asked about by several signals
def split_origin(url: str) -> tuple[str, str]:
    """(cache key ``scheme://host:port``, base URL ``scheme://host[:port]``) of an http(s) URL.

    Raises ValueError for anything else (no scheme, other schemes, no host, a malformed port).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    default = 80 if scheme == "http" else 443
    port = parts.port or default  # .port raises ValueError on a malformed port
    host_part = f"[{host}]" if ":" in host else host
    netloc = host_part if port == default else f"{host_part}:{port}"
    return f"{scheme}://{host_part}:{port}", f"{scheme}://{netloc}"


# --- fetched documents ----------------------------------------------------------------------------------


class DocStatus(StrEnum):
    FOUND = "found"  # 2xx: a body to parse
    ABSENT = "absent"  # 404, 410 and the other 4xx that are not refusals: the site publishes no document
    REFUSED = "refused"  # 401, 403, 451: the host refuses us
    FAILED = "failed"  # 5xx, 429, network error, timeout, too many redirects, too large: no answer yet


@dataclass(frozen=True)
class WellKnownDoc:
    """One fetch of a well-known document, classified (see the module docstring)."""

    url: str  # the document's URL on the origin that was asked
    status: DocStatus
    detail: str  # what happened, readable in an audit (status, redirects, error)
    http_status: int | None = None  # of the last response, when there was one
    final_url: str | None = None  # where the body came from, after redirects
    body: bytes | None = None  # FOUND only
    content_type: str | None = None
    evidence: str | None = None  # sha256 of the stored body (FOUND only)
    redirects: int = 0
    retry_after: float | None = None  # 429's Retry-After, seconds


@dataclass(frozen=True)
class WellKnownResult(Generic[T]):
    """A fetched document and, for FOUND ones, its parsed form or why it could not be parsed."""

    doc: WellKnownDoc
    parsed: T | None = None
    parse_error: str | None = None


@dataclass
class _Entry(Generic[T]):
    fetched_at: float
    ttl: float
    result: WellKnownResult[T]


class WellKnownFetcher(Generic[T]):
    """GET ``path`` once per origin per ``max_age`` seconds; thread-safe; results parsed once and cached.

    ``session`` is a `requests.Session` or a callable giving the calling thread its own (requests does not
    promise that one Session is thread-safe; `clearframe.net.SessionPool.get` is such a callable). It
    carries ClearFrame's fixed identity and is never altered here. ``parse`` turns a FOUND body into ``T``;
    whatever it raises is kept as ``parse_error`` (the signal units DEFER on it).
    """

    def __init__(
        self,
        session: requests.Session | Callable[[], requests.Session],
        path: str,
        parse: Callable[[bytes], T],
        *,
        media_type: str,
        store_evidence: Callable[[bytes, str], str] | None = None,
        max_age: float = 86400,
        defer_max_age: float = 300,
        timeout: float = 10,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"well-known path must start with '/': {path!r}")
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if isinstance(session, requests.Session):
            fixed = session
            self._session: Callable[[], requests.Session] = lambda: fixed
        else:
            self._session = session
        self.path = path
        self._parse = parse
        self.media_type = media_type
        self._store = store_evidence
        self.max_age = max_age
        self.defer_max_age = min(defer_max_age, max_age)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()  # guards the two dicts below
        self._cache: dict[str, _Entry[T]] = {}
        self._origin_locks: dict[str, threading.Lock] = {}

    def url_for(self, url: str) -> str:
        """The document's URL on `url`'s origin (ValueError for a URL that is not http(s))."""
        return split_origin(url)[1] + self.path

    def get(self, url: str) -> WellKnownResult[T]:
        """The (cached) document of `url`'s origin. ValueError for a URL that is not http(s)."""
        key, base = split_origin(url)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and self._fresh(entry):
                return entry.result
            origin_lock = self._origin_locks.setdefault(key, threading.Lock())
        with origin_lock:  # one fetch per origin; the other threads wait for it and read the cache
            with self._lock:
                entry = self._cache.get(key)
            if entry is not None and self._fresh(entry):
                return entry.result
            fetched_at = self._clock()
            result = self._load(base + self.path)
            entry = _Entry(fetched_at, self._ttl(result), result)
            with self._lock:
                self._cache[key] = entry
            return result

    # -- cache -----------------------------------------------------------------------------------------

    def _fresh(self, entry: _Entry[T]) -> bool:
        return self._clock() - entry.fetched_at <= entry.ttl

    def _ttl(self, result: WellKnownResult[T]) -> float:
        doc = result.doc
        if doc.status is DocStatus.FAILED:
            return max(self.defer_max_age, doc.retry_after or 0.0)
        if result.parse_error is not None:
            return self.defer_max_age
        return self.max_age

    # -- fetching --------------------------------------------------------------------------------------

    def _load(self, doc_url: str) -> WellKnownResult[T]:
        doc = self.fetch(doc_url)
        if doc.status is not DocStatus.FOUND:
            return WellKnownResult(doc)
        assert doc.body is not None
        try:
            return WellKnownResult(doc, parsed=self._parse(doc.body))
        except Exception as exc:  # any parser failure is a parse error, never a pass
            return WellKnownResult(doc, parse_error=str(exc) or type(exc).__name__)

    def fetch(self, doc_url: str) -> WellKnownDoc:
        """One uncached fetch of `doc_url`, redirects followed by hand, classified."""
        url = doc_url
        redirects = 0

        def failed(detail: str, status: int | None, retry_after: float | None = None) -> WellKnownDoc:
            return WellKnownDoc(doc_url, DocStatus.FAILED, detail, status, url, redirects=redirects,
                                retry_after=retry_after)

        try:
            while True:
                resp = self._session().get(url, allow_redirects=False, timeout=self.timeout, stream=True)
                with resp:
                    status = resp.status_code
                    via = f" (after {redirects} redirect(s), at {url})" if redirects else ""
                    if 300 <= status < 400:
                        location = resp.headers.get("Location")
                        if not location:
                            return failed(f"{url} answered {status} without a Location header", status)
                        if redirects >= MAX_REDIRECTS:
                            return failed(
                                f"more than {MAX_REDIRECTS} redirects fetching {doc_url} "
                                f"(the last: {url} -> {location})",
                                status,
                            )
                        nxt = urljoin(url, location)
                        if urlsplit(nxt).scheme.lower() not in ("http", "https"):
                            return failed(f"{url} redirected to a non-http(s) URL {nxt!r}", status)
                        url = nxt
                        redirects += 1
                        continue
                    ctype = resp.headers.get("Content-Type")
                    if 200 <= status < 300:
                        body = self._read(resp)
                        if body is None:
                            return failed(
                                f"{doc_url} is larger than {self.max_bytes} bytes{via}; a cut document is not "
                                "the site's statement",
                                status,
                            )
                        try:
                            evidence = (
                                self._store(body, self.media_type) if self._store
                                else hashlib.sha256(body).hexdigest()
                            )
                        except Exception as exc:  # no decision without its evidence
                            return failed(
                                f"{doc_url} was read (HTTP {status}{via}) but its evidence could not be stored: "
                                f"{type(exc).__name__}: {exc}",
                                status,
                            )
                        return WellKnownDoc(
                            doc_url, DocStatus.FOUND, f"HTTP {status}{via}, {len(body)} bytes", status, url,
                            body, ctype, evidence, redirects,
                        )
                    if status in REFUSAL_STATUSES:
                        return WellKnownDoc(
                            doc_url, DocStatus.REFUSED, f"HTTP {status}{via}: the host refuses access", status,
                            url, content_type=ctype, redirects=redirects,
                        )
                    if status == 429:
                        wait = parse_retry_after(resp.headers.get("Retry-After"))
                        return failed(
                            f"HTTP 429 (rate limited{via}"
                            + (f", Retry-After {wait:.0f} s" if wait is not None else "")
                            + "): not an answer; asked again later",
                            status,
                            wait,
                        )
                    if 400 <= status < 500:
                        return WellKnownDoc(
                            doc_url, DocStatus.ABSENT, f"HTTP {status}{via}: the site publishes no such document",
                            status, url, content_type=ctype, redirects=redirects,
                        )
                    kind = "server error" if 500 <= status < 600 else "unexpected status"
                    return failed(f"{kind} HTTP {status}{via}", status)
        except Exception as exc:  # network error, timeout, unreadable body, evidence store failure
            what = "unreachable" if isinstance(exc, (requests.RequestException, OSError)) else "not usable"
            return failed(f"{url} {what}: {type(exc).__name__}: {exc}", None)

    def _read(self, resp: requests.Response) -> bytes | None:
        """The whole body, or None when it is larger than max_bytes; TimeoutError past the deadline."""
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_content(_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"body not read within {self.timeout} s")
        return b"".join(chunks)
