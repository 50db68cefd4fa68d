"""robots.txt signal: RFC 9309 for ClearFrame's own product token, plus known AI-training crawlers.

One `RobotsChecker` per run (or per worker process) is shared by all its threads. It fetches
``/robots.txt`` once per origin (``scheme://host:port``), keeps only the parsed groups that matter to us,
and answers `check(url)` from that cache for up to ``max_age`` seconds (RFC 9309 §2.4: at most 24 h).

Decision, in order:

1. The group that applies to ClearFrame (the one naming our product token, several such groups merged;
   ``User-agent: *`` only when no group names us, RFC 9309 §2.2.1) disallows the URL -> DENY.
2. A group naming a known AI-training crawler (`AI_TRAINING_TOKENS`) disallows the URL -> DENY: a site
   that refuses AI-training crawlers has said what it thinks of AI training, and we honour that refusal as
   a proxy for its wishes even though it does not name us. Only groups that *name* such a token count; the
   ``*`` group is not an AI-training refusal (it already applies to us through step 1 when it applies).
3. Otherwise Verdict.NONE: robots.txt never grants anything, it can only restrict.

Fetch outcomes (RFC 9309 §2.3.1), all fail-closed:

- 2xx: parsed. At most ``max_bytes`` (>= 500 KiB, the RFC's minimum parsing limit, §2.5) are read; the rest
  of a larger file is ignored, as the RFC allows, and the finding says the file was truncated. The partial
  last line is dropped so that a cut ``Allow: /videos/x`` cannot turn into a broader ``Allow: /v``.
- 3xx: followed by hand (the session never follows redirects for us), across hosts, at most 5 hops; the
  rules found apply to the original origin (§2.3.1.2). A sixth redirect -> DEFER (the RFC would let us
  assume "unavailable" = allowed; we do not guess).
- 401 / 403 -> DENY. **Stricter than RFC 9309**, whose §2.3.1.3 files every 4xx as "unavailable" (crawl
  allowed). A site that puts its robots.txt behind authentication or forbids us to read it is refusing
  us; design.md says a 401/403 stops that host, and ClearFrame never retries with another identity.
- 429 -> DEFER (the RFC would call it "unavailable" = allowed; a rate limit is not permission). The
  DEFER is cached for at least the response's ``Retry-After``.
- other 4xx (404, 410, ...) -> Verdict.NONE, detail says "unavailable" (§2.3.1.3).
- 5xx, other statuses, network errors, timeouts, unreadable bodies, evidence-store failures -> DEFER:
  "complete disallow for now" (§2.3.1.4), retried in a later run. DEFER outcomes are cached only for
  ``defer_max_age`` seconds so that a long-lived worker re-checks soon, without hammering a failing host.

Matching is protego's (longest match, Allow wins ties, ``*`` and ``$``, percent-encoding normalisation),
but **group selection is ours**: protego 0.7.0 deviates from RFC 9309 in ways that matter here, and they
are corrected below (each has a test in tests/test_robots.py):

- protego matches user agents as *prefixes at a token boundary* and picks the longest: a group
  ``User-agent: Clear`` would apply to ``ClearFrame``, and ``User-agent: GPT`` to ``GPTBot``. RFC 9309
  §2.2.1 requires the product token itself (case-insensitive) and otherwise the ``*`` group. That can cut
  both ways (``User-agent: Clear`` + ``Allow: /`` would lift a ``*`` disallow). We therefore split the file
  into groups ourselves, merge every group naming the same token, and hand protego one synthesized
  single-group document per agent we care about.
- protego keeps a ``User-agent`` value verbatim (``GPTBot/1.0`` never matches ``GPTBot``); we read the
  leading product token, as Google's reference parser does. We also accept digits in tokens
  (``img2dataset``, ``AI2Bot``), which the RFC's letters/``_``/``-`` grammar would exclude.
- protego does not skip a UTF-8 byte-order mark, so ``\\ufeffUser-agent: *`` is not a user-agent line
  and the whole first group is lost. We decode with ``utf-8-sig``.
- ``Allow: /dir/index.html`` makes protego also allow ``/dir/`` exactly (a Google extension, not RFC).
- A pattern containing ``$`` is added twice by protego: once with ``$`` as the end anchor and once with a
  literal ``$`` (``%24``), so ``Allow: /a$`` also allows ``/a$anything``. RFC 9309 §2.2.3 reserves ``$``
  as the anchor; a literal dollar is written ``%24``.
  For both of these, only URLs that the extra allow can meet (path+query ending in ``/`` for the first,
  containing a ``$`` for the second) are judged against a variant of the group without the Allow lines
  that trigger it; every other URL gets protego's answer unchanged (so ``Allow: /$`` still allows ``/``).
  Removing Allow lines can only turn allow into disallow, so the result is never more permissive than
  the RFC; the cost is an occasional over-restriction on such rare URLs (fail closed), e.g. ``/a$b``
  under ``Allow: /a$b`` + ``Disallow: /``. The literal-``$`` copy of a *Disallow* only restricts more and
  is left alone.

Protego's longest match counts the octets of the normalised pattern (``*`` and ``$`` included), as
Google's parser does; RFC 9309 §2.2.2 says "most octets" without more detail. Crawl-delay is not part of
RFC 9309; we report protego's reading of it (a non-negative finite number of seconds, last one wins in
merged groups) for the group that applies to us, with no fallback to ``*`` when our own group has none.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import unquote, urljoin, urlsplit

import requests
from protego import Protego

from clearframe.net import parse_retry_after
from clearframe.records import Finding, Verdict

__all__ = ["AI_TRAINING_TOKENS", "RFC9309_MIN_PARSE_BYTES", "RobotsChecker", "RobotsVerdict"]

SIGNAL = "robots"

# Product tokens of crawlers that collect training data for AI models (or that operators name to opt out
# of AI training). Matched case-insensitively against *exact* group names.
AI_TRAINING_TOKENS: tuple[str, ...] = (
    "GPTBot",  # OpenAI
    "CCBot",  # Common Crawl, the base of most LLM corpora
    "Google-Extended",  # Google's AI-training control token
    "ClaudeBot",  # Anthropic
    "anthropic-ai",
    "Claude-Web",
    "Applebot-Extended",  # Apple's AI-training control token
    "Bytespider",  # ByteDance
    "meta-externalagent",  # Meta
    "FacebookBot",
    "cohere-training-data-crawler",  # Cohere
    "cohere-ai",
    "img2dataset",  # LAION-style image/video dataset downloader
    "PerplexityBot",
    "Amazonbot",
    "Diffbot",
    "omgili",  # Webz.io
    "omgilibot",
    "Webzio-Extended",
    "Timpibot",
    "ImagesiftBot",
    "AI2Bot",  # Allen Institute
    "Ai2Bot-Dolma",
    "PanguBot",  # Huawei
)

RFC9309_MIN_PARSE_BYTES = 500 * 1024  # RFC 9309 §2.5: the parsing limit MUST be at least 500 KiB
MAX_REDIRECTS = 5  # RFC 9309 §2.3.1.2: follow at least five consecutive redirects

_TOKEN = re.compile(r"[A-Za-z0-9_-]+")  # RFC 9309 product token (letters, "_", "-"), plus digits
_SAFE_HEAD = re.compile(r"[A-Za-z0-9_.~/=-]*")  # characters protego neither encodes nor decodes
_CHUNK = 64 * 1024

# --- line reading, kept identical to protego 0.7.0's own (protego._protego._extract_directive) -----------
# We split the file into groups ourselves but let protego read the rule lines, so both must agree on what
# a line is: in particular on which lines are user-agent lines.
_DISALLOW = {"disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"}
_ALLOW = {"allow"}
_USER_AGENT = {"user-agent", "useragent", "user agent"}
_SITE_WIDE = {"sitemap", "sitemaps", "site-map", "host"}  # do not belong to a group, do not end one
_KNOWN = (
    _DISALLOW
    | _ALLOW
    | _USER_AGENT
    | _SITE_WIDE
    | {"crawl-delay", "crawl delay", "request-rate", "request rate", "visit-time", "visit time"}
)
_MAX_WORDS = max(len(k.split()) for k in _KNOWN)


def _directive(line: str) -> tuple[str, str] | None:
    """(lowercased field, stripped value) of a comment-free, stripped, non-empty line, as protego reads it."""
    fld: str | None = None
    value = ""
    if ":" in line:
        fld, raw = line.split(":", 1)
        fld = fld.strip().lower()
        value = raw.strip()
        if fld in _KNOWN or not raw or raw[0].isspace():
            return fld, value
    words = line.split()
    for n in range(1, _MAX_WORDS + 1):
        candidate = " ".join(words[:n]).lower()
        if candidate in _KNOWN:
            return candidate, " ".join(words[n:])
    if fld is None:
        return None
    return fld, value


def _agent_name(value: str) -> str | None:
    """The product token a ``User-agent`` value names, lowercased; ``*`` for the global group."""
    value = value.strip()
    if value.startswith("*") and (len(value) == 1 or value[1].isspace()):
        return "*"
    m = _TOKEN.match(value)
    return m.group(0).lower() if m else None


@dataclass(frozen=True)
class _Line:
    lineno: int
    field: str
    value: str
    text: str  # the line without its comment


RobotsLine = _Line  # one directive line of a robots.txt, as split_lines returns it


def _split_groups(text: str) -> dict[str, list[_Line]]:
    """Every agent named in the file -> the merged rule lines of all groups naming it (RFC 9309 §2.2.1)."""
    return split_lines(text)[0]


def split_lines(text: str) -> tuple[dict[str, list[_Line]], list[_Line]]:
    """The file's lines by group: agent -> the merged lines of all groups naming it (RFC 9309 §2.2.1), and
    the lines that come before any user-agent line (other signals, e.g. AIPREF, read those too).

    A run of user-agent lines opens a group; the group's lines follow until the next user-agent line
    that comes after a non-user-agent line (sitemap/host lines neither belong to nor end a group).
    """
    groups: dict[str, list[_Line]] = {}
    outside: list[_Line] = []
    current: list[list[_Line]] | None = None
    in_agent_run = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        if lineno == 1:
            raw = raw.lstrip("\ufeff")
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parsed = _directive(line)
        if parsed is None:
            continue
        fld, value = parsed
        if fld in _USER_AGENT:
            if not in_agent_run:
                current = []
                in_agent_run = True
            name = _agent_name(value) if value else None
            if name is not None and current is not None:
                rules = groups.setdefault(name, [])
                if not any(rules is c for c in current):
                    current.append(rules)
            continue
        if fld in _SITE_WIDE:
            continue
        in_agent_run = False
        if current is None:
            outside.append(_Line(lineno, fld, value, line))
        else:
            for rules in current:
                rules.append(_Line(lineno, fld, value, line))
    return groups, outside


# --- one agent's merged group, evaluated by protego ---------------------------------------------------

_AGENT = "clearframe-robots-group"  # the single agent of every synthesized document


def _protego(lines: list[_Line]) -> Protego:
    p = Protego.parse("\n".join([f"User-agent: {_AGENT}", *(ln.text for ln in lines)]))
    # Build protego's lazy per-agent memo and prefix index now, under our fetch lock, so that the object
    # is only ever read afterwards by concurrent threads.
    p.can_fetch("/", _AGENT)
    return p


def _path_and_query(url: str) -> str:
    u = url.partition("#")[0]
    parts = urlsplit(u)
    pq = parts.path or "/"
    if "?" in u:
        pq += "?" + parts.query
    return pq


class _Group:
    """The merged rules of one agent, parsed once per origin and shared by every URL checked."""

    def __init__(self, agent: str, lines: list[_Line]) -> None:
        self.agent = agent  # as we spell it (our token, an AI token, or "*")
        self.lines = lines
        self.full = _protego(lines)
        # Allow lines for which protego adds an allow that RFC 9309 does not have (module docstring):
        # "$" in the value (also read as a literal "$", which only URLs containing "$" can meet) and
        # ".../index.html" (also allows ".../" exactly, which only URLs ending in "/" can meet).
        dollar = {id(ln) for ln in lines if ln.field in _ALLOW and "$" in ln.value}
        index = {id(ln) for ln in lines if ln.field in _ALLOW and unquote(ln.value).endswith("index.html")}
        self._variants: dict[tuple[bool, bool], tuple[Protego, frozenset[int]]] = {}
        for has_dollar in (False, True) if dollar else (False,):
            for ends_slash in (False, True) if index else (False,):
                drop = (dollar if has_dollar else set()) | (index if ends_slash else set())
                if drop:
                    kept = [ln for ln in lines if id(ln) not in drop]
                    self._variants[(has_dollar, ends_slash)] = (_protego(kept), frozenset(drop))
        self.crawl_delay: float | None = self.full.crawl_delay(_AGENT)
        self._matchers: dict[int, Protego] = {}
        # A rule's literal head (up to the first "*", "$" or "%"), kept only when made of characters that
        # protego's normalisation leaves alone: a URL whose decoded path+query does not start with it
        # cannot match, so matched_line() skips the rule without asking protego.
        self._heads: list[str] = []
        for ln in lines:
            head = re.split(r"[*$%]", ln.value, maxsplit=1)[0]
            self._heads.append(head if _SAFE_HEAD.fullmatch(head) else "")

    def _parser(self, url: str) -> tuple[Protego, frozenset[int]]:
        """The parser for this URL and the ids of the lines it leaves out."""
        if self._variants:
            pq = _path_and_query(url)
            variant = self._variants.get(("$" in unquote(pq), pq.endswith("/")))
            if variant is not None:
                return variant
        return self.full, frozenset()

    def allowed(self, url: str) -> bool:
        return self._parser(url)[0].can_fetch(url, _AGENT)

    def _matches(self, i: int, url: str) -> bool:
        m = self._matchers.get(i)
        if m is None:
            # Each line alone, as a Disallow, to learn whether its pattern matches (protego's matching).
            m = _protego([_Line(0, "disallow", self.lines[i].value, f"Disallow: {self.lines[i].value}")])
            self._matchers[i] = m  # a benign race: two threads may build equal matchers
        return not m.can_fetch(url, _AGENT)

    def matched_line(self, url: str, allowed: bool) -> _Line | None:
        """The line behind the decision, for the evidence: the longest matching rule of the deciding kind.

        Only lines of the decided kind are examined (the decision itself is protego's). Length is the
        line's raw octet count, which can differ from protego's normalised length for percent-encoded
        patterns; then the reported line may be a sibling of the decisive one, never one of the other kind.
        """
        kinds = _ALLOW if allowed else _DISALLOW
        left_out = self._parser(url)[1]
        decoded = unquote(_path_and_query(url))
        best: _Line | None = None
        best_len = -1
        for i, ln in enumerate(self.lines):
            if ln.field not in kinds or not ln.value or id(ln) in left_out:
                continue
            if decoded.startswith(self._heads[i]) and self._matches(i, url):
                n = len(ln.value.encode("utf-8"))
                if n > best_len:
                    best, best_len = ln, n
        return best


# --- cache entries ------------------------------------------------------------------------------------


@dataclass
class _Entry:
    fetched_at: float
    ttl: float
    robots_url: str
    status: int | None
    evidence: str | None
    # a fixed outcome (status or error) for every URL of the origin ...
    verdict: Verdict | None = None
    detail: str = ""
    # ... or a parsed robots.txt
    ours: _Group | None = None
    ai: list[_Group] = field(default_factory=list)
    note: str = ""  # redirects followed, truncation
    text: str | None = None  # the parsed text, for the other signals a robots.txt carries (Content-Usage)


@dataclass
class RobotsVerdict:
    finding: Finding
    crawl_delay: float | None
    text: str | None = None  # the robots.txt text that was parsed (None when there was none)
    robots_url: str | None = None


@lru_cache(maxsize=8192)  # pure; asked for every check of the same URLs
def _origin(url: str) -> tuple[str, str]:
    """(origin key ``scheme://host:port``, robots.txt URL) of an http(s) URL; ValueError otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    host = parts.hostname
    if not host:
        raise ValueError("URL has no host")
    default = 80 if scheme == "http" else 443
    port = parts.port or default  # .port raises ValueError on a malformed port
    host_part = f"[{host}]" if ":" in host else host
    netloc = host_part if port == default else f"{host_part}:{port}"
    return f"{scheme}://{host_part}:{port}", f"{scheme}://{netloc}/robots.txt"


_retry_after = parse_retry_after  # one Retry-After parser for the whole project (clearframe.net)


class RobotsChecker:
    """robots.txt checks for one run; thread-safe; one robots.txt fetch per origin per ``max_age``."""

    def __init__(
        self,
        session: requests.Session | Callable[[], requests.Session],
        product_token: str,
        *,
        ai_tokens: tuple[str, ...] | list[str] = AI_TRAINING_TOKENS,
        store_evidence: Callable[[bytes, str], str] | None = None,
        max_age: float = 86400,
        timeout: float = 10,
        max_bytes: int = 512 * 1024,
        clock: Callable[[], float] = time.monotonic,
        defer_max_age: float = 300,
    ) -> None:
        for tok in (product_token, *ai_tokens):
            if not _TOKEN.fullmatch(tok):
                raise ValueError(f"not a robots.txt product token (letters, digits, '_', '-'): {tok!r}")
        if max_bytes < RFC9309_MIN_PARSE_BYTES:
            raise ValueError(f"max_bytes must be at least {RFC9309_MIN_PARSE_BYTES} (RFC 9309 §2.5)")
        # A Session, or a callable giving the calling thread its own (requests does not promise that one
        # Session is thread-safe). Either carries ClearFrame's fixed User-Agent; never altered here.
        self._session = session if callable(session) and not isinstance(session, requests.Session) else (
            lambda: session)
        self.product_token = product_token
        seen = {product_token.lower()}  # our own token is judged as ours, not as an AI-training proxy
        unique: list[str] = []
        for tok in ai_tokens:
            if tok.lower() not in seen:
                seen.add(tok.lower())
                unique.append(tok)
        self.ai_tokens = tuple(unique)
        self._store = store_evidence
        self.max_age = max_age
        self.defer_max_age = min(defer_max_age, max_age)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()  # guards the two dicts below
        self._cache: dict[str, _Entry] = {}
        self._origin_locks: dict[str, threading.Lock] = {}

    # -- public ----------------------------------------------------------------------------------------

    def check(self, url: str) -> RobotsVerdict:
        try:
            origin, robots_url = _origin(url)
        except ValueError as exc:
            return self._verdict(
                Verdict.DEFER, f"robots.txt cannot be checked for {url!r}: {exc}", locator=url, status=None
            )
        entry = self._entry(origin, robots_url)
        try:
            out = self._evaluate(entry, url)
            out.text, out.robots_url = entry.text, entry.robots_url
            return out
        except Exception as exc:  # fail closed, never ALLOW on a bug or odd input
            return self._verdict(
                Verdict.DEFER,
                f"robots.txt evaluation failed: {type(exc).__name__}: {exc}",
                locator=robots_url,
                status=entry.status,
                evidence=entry.evidence,
            )

    # -- cache -----------------------------------------------------------------------------------------

    def _fresh(self, entry: _Entry | None) -> bool:
        return entry is not None and self._clock() - entry.fetched_at <= entry.ttl

    def _entry(self, origin: str, robots_url: str) -> _Entry:
        with self._lock:
            entry = self._cache.get(origin)
            if self._fresh(entry):
                assert entry is not None
                return entry
            origin_lock = self._origin_locks.setdefault(origin, threading.Lock())
        with origin_lock:  # one fetch per origin; the others wait for it and read the cache
            with self._lock:
                entry = self._cache.get(origin)
            if self._fresh(entry):
                assert entry is not None
                return entry
            entry = self._fetch(robots_url)
            with self._lock:
                self._cache[origin] = entry
            return entry

    # -- fetching --------------------------------------------------------------------------------------

    def _fetch(self, robots_url: str) -> _Entry:
        fetched_at = self._clock()

        def fixed(verdict: Verdict, detail: str, status: int | None, ttl: float | None = None) -> _Entry:
            if ttl is None:
                ttl = self.defer_max_age if verdict is Verdict.DEFER else self.max_age
            return _Entry(fetched_at, ttl, robots_url, status, None, verdict=verdict, detail=detail)

        url = robots_url
        redirects = 0
        try:
            while True:
                resp = self._session().get(url, allow_redirects=False, timeout=self.timeout, stream=True)
                with resp:
                    status = resp.status_code
                    if 300 <= status < 400:
                        location = resp.headers.get("Location")
                        if not location:
                            return fixed(
                                Verdict.DEFER,
                                f"robots.txt: {url} answered {status} without a Location; "
                                "complete disallow for now, retried later",
                                status,
                            )
                        if redirects >= MAX_REDIRECTS:
                            return fixed(
                                Verdict.DEFER,
                                f"robots.txt: more than {MAX_REDIRECTS} redirects (last {url} -> {location}); "
                                "complete disallow for now, retried later",
                                status,
                            )
                        url = urljoin(url, location)
                        if urlsplit(url).scheme.lower() not in ("http", "https"):
                            return fixed(
                                Verdict.DEFER, f"robots.txt redirected to a non-http(s) URL {url!r}", status
                            )
                        redirects += 1
                        continue
                    via = f" via {redirects} redirect(s) to {url}" if redirects else ""
                    if 200 <= status < 300:
                        body, truncated = self._read(resp)
                        return self._parsed(fetched_at, robots_url, status, body, truncated, via)
                    if status in (401, 403):
                        return fixed(
                            Verdict.DENY,
                            f"robots.txt answered {status}{via}: ClearFrame treats an access-controlled "
                            "robots.txt as a refusal of the whole host. This is deliberately stricter than "
                            "RFC 9309 §2.3.1.3, which files every 4xx as 'unavailable' (crawl allowed); "
                            "we never retry with another identity.",
                            status,
                        )
                    if status == 429:
                        wait = _retry_after(resp.headers.get("Retry-After"))
                        ttl = max(self.defer_max_age, wait or 0.0)
                        return fixed(
                            Verdict.DEFER,
                            f"robots.txt answered 429 (rate limited{via}"
                            + (f", Retry-After {wait:.0f} s" if wait is not None else "")
                            + "); not treated as 'unavailable': complete disallow for now, retried later",
                            status,
                            ttl,
                        )
                    if 400 <= status < 500:
                        return fixed(
                            Verdict.NONE,
                            f"robots.txt unavailable (HTTP {status}{via}): RFC 9309 §2.3.1.3 places no "
                            "restriction; robots grants nothing either",
                            status,
                            self.max_age,
                        )
                    kind = "server error" if 500 <= status < 600 else "unexpected status"
                    return fixed(
                        Verdict.DEFER,
                        f"robots.txt unreachable ({kind} {status}{via}): complete disallow for now "
                        "(RFC 9309 §2.3.1.4), retried later",
                        status,
                    )
        except Exception as exc:  # network error, timeout, bad body, evidence store, parse error
            what = "unreachable" if isinstance(exc, (requests.RequestException, OSError)) else "not usable"
            return fixed(
                Verdict.DEFER,
                f"robots.txt {what} ({type(exc).__name__}: {exc}) fetching {url}: complete disallow "
                "for now (RFC 9309 §2.3.1.4), retried later",
                None,
            )

    def _read(self, resp: requests.Response) -> tuple[bytes, bool]:
        """At most max_bytes of the (decoded) body, and whether more was there."""
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_content(_CHUNK):
            room = self.max_bytes - size
            if len(chunk) > room:
                chunks.append(chunk[:room])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError(f"robots.txt body not read within {self.timeout} s")
        return b"".join(chunks), False

    def _parsed(
        self, fetched_at: float, robots_url: str, status: int, body: bytes, truncated: bool, via: str
    ) -> _Entry:
        evidence = self._store(body, "text/plain") if self._store else hashlib.sha256(body).hexdigest()
        data = body
        note = via
        if truncated:
            cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
            data = data[: cut + 1]
            note += (
                f"; file larger than {self.max_bytes} bytes, only the first {len(data)} bytes (whole lines) "
                "were parsed, as RFC 9309 §2.5 allows"
            )
        text = data.decode("utf-8-sig", errors="replace")
        groups = _split_groups(text)
        token = self.product_token
        ours: _Group | None = None
        if token.lower() in groups:
            ours = _Group(token, groups[token.lower()])
        elif "*" in groups:
            ours = _Group("*", groups["*"])
        ai = [_Group(t, groups[t.lower()]) for t in self.ai_tokens if t.lower() in groups]
        return _Entry(fetched_at, self.max_age, robots_url, status, evidence, ours=ours, ai=ai, note=note,
                      text=text)

    # -- deciding --------------------------------------------------------------------------------------

    def _verdict(
        self,
        verdict: Verdict,
        detail: str,
        *,
        locator: str,
        status: int | None,
        rule: str | None = None,
        evidence: str | None = None,
        crawl_delay: float | None = None,
    ) -> RobotsVerdict:
        finding = Finding(
            signal=SIGNAL,
            verdict=verdict,
            detail=detail,
            locator=locator,
            status=status,
            rule=rule or self.product_token,
            evidence=evidence,
        )
        return RobotsVerdict(finding=finding, crawl_delay=crawl_delay)

    @staticmethod
    def _rule(group: _Group, line: _Line | None) -> str:
        head = f"User-agent: {group.agent}"
        return f"{head} / {line.text} (line {line.lineno})" if line else head

    def _evaluate(self, entry: _Entry, url: str) -> RobotsVerdict:
        def verdict(v: Verdict, detail: str, rule: str | None, delay: float | None) -> RobotsVerdict:
            return self._verdict(
                v,
                detail,
                locator=entry.robots_url,
                status=entry.status,
                rule=rule,
                evidence=entry.evidence,
                crawl_delay=delay,
            )

        if entry.verdict is not None:
            return verdict(entry.verdict, entry.detail, None, None)

        ours = entry.ours
        delay = ours.crawl_delay if ours else None
        if ours is not None and not ours.allowed(url):
            who = (
                f"our product token {self.product_token}"
                if ours.agent != "*"
                else f"all crawlers (User-agent: *, the group for {self.product_token} when none names it)"
            )
            return verdict(
                Verdict.DENY,
                f"robots.txt{entry.note} disallows {who} for this URL",
                self._rule(ours, ours.matched_line(url, allowed=False)),
                delay,
            )

        refused = [g for g in entry.ai if not g.allowed(url)]
        if refused:
            names = ", ".join(g.agent for g in refused)
            first = refused[0]
            return verdict(
                Verdict.DENY,
                f"robots.txt{entry.note} disallows the AI-training crawler(s) {names} for this URL; "
                "ClearFrame honours a refusal of AI-training crawlers as a proxy for the site's wishes "
                f"about AI training, whatever the file says to {self.product_token}",
                self._rule(first, first.matched_line(url, allowed=False)),
                delay,
            )

        if ours is None:
            rule = None
            detail = f"robots.txt{entry.note} has no group for {self.product_token} or *: no rules apply"
        else:
            line = ours.matched_line(url, allowed=True)
            rule = self._rule(ours, line)
            detail = (
                f"robots.txt{entry.note} allows this URL for {self.product_token} "
                f"(group User-agent: {ours.agent}) and refuses none of the known AI-training crawlers"
            )
        return verdict(Verdict.NONE, detail, rule, delay)
