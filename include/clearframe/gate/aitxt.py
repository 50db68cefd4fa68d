"""Spawning ai.txt signal: ``/ai.txt`` on the media origin and on the page origin.

What Spawning documents (announcement "ai.txt: a new way for websites to set permissions for AI",
spawning.substack.com, May 2023; the generator at site.spawning.ai/spawning-ai-txt and Spawning's
WordPress plugin, github.com/Spawning-Inc/spawning-wp-plugin, config/ai_txt_options.json): ai.txt is a
file at the root of a site that "selectively restricts or permits access to the site's content and
media, mirroring the widely adopted robots.txt standard"; unlike robots.txt it "is read when a site's
media is downloaded", from "the site where they download the media". Spawning publishes no grammar beyond
that; its generator writes robots.txt syntax::

    # Spawning AI
    User-Agent: *
    Disallow: *.mp4          <- one line per file type of a refused category (images, audio, video, ...)
    Allow: *.jpg             <- one line per file type of an allowed category
    Disallow: /              <- "everything else" (tied to the text category); "Allow: /" when allowed

(the WordPress plugin also writes stray lines such as a bare ``/``, which are not directives and are
skipped). So ClearFrame reads ai.txt as robots.txt (RFC 9309) with these choices:

- Groups: ``User-Agent`` lines open a group; groups naming the same agent are merged; the group for our
  product token applies, else ``User-Agent: *`` (RFC 9309 §2.2.1). As in robots.py, a group naming a known
  AI-training crawler (`clearframe.gate.robots.AI_TRAINING_TOKENS`) that disallows the URL is honoured as
  a refusal too. Rules that stand before any ``User-Agent`` line (or under a User-Agent line naming no
  readable token) form a group of their own that is honoured when it disallows (fail closed: a site that
  wrote ``Disallow: /`` alone meant it).
- Rules: ``Allow``/``Disallow`` with the robots.txt pattern language (`wellknown.PathPattern`: prefix
  match, ``*``, trailing ``$``, percent-encoding normalised, case-sensitive), matched against path plus
  query; the longest pattern wins and Allow wins a tie (RFC 9309 §2.2.2); an empty value is no rule.
  Spawning's ``*.mp4`` is such a pattern: ``*`` then ``.mp4``, unanchored, so it also covers
  ``/a/clip.mp4?sig=...``. A value that starts with neither ``/`` nor ``*`` is not a pattern: under
  Disallow it is read as ``*`` + value (``Disallow: .mp4`` -> ``*.mp4``; the broadest reading, fail
  closed), under Allow it is ignored (the narrowest reading); the detail says so when such a rule decides.
- Field names are case-insensitive, ``#`` starts a comment, a UTF-8 BOM is skipped, undecodable bytes are
  replaced, lines without a ``:`` and unknown fields are ignored.

How the rules apply to a video (decided here, documented, fail closed):

- The **media origin's** ai.txt is asked about the media URL as it is (path and query); and, because the
  generator's rules are about *file types*, also about the same path with a lower-cased extension
  (``/a/CLIP.MP4`` -> ``/a/CLIP.mp4``) and with each extension of the media's Content-Type from the HEAD
  (``video/mp4`` -> ``/media/12345.mp4``, ``/media/12345.m4v``) unless the URL already ends with one of
  them, so that ``Disallow: *.mp4`` covers an MP4 served from an extension-less URL. Any of these
  disallowed -> DENY.
- The **page origin's** ai.txt (when the media lives on another origin) is asked about the media file's
  name and type the same way (``/clip.mp4``, ``/12345.mp4``), by its file-type rules only (patterns that
  start with ``*``: ``*.mp4``, ``*``): the site's statement about a file type covers its videos wherever
  they are hosted, while its path rules are about its own paths; a disallow -> DENY.
- The **page URL** itself, in its own origin's ai.txt: disallowed -> DENY, because the video belongs to
  that page; except when the same file explicitly *allows* the media (its deciding rule for the media is
  an ``Allow`` line, e.g. the generator's ``Allow: *.mp4`` next to ``Disallow: /``): that is a
  contradiction for a person to judge -> REVIEW.
- Reading several candidate paths only adds ways to refuse. The cost: with the generator's "video
  allowed, the rest refused" file, an extension-less media URL is also refused by ``Disallow: /``.

Fetch outcomes are TDMRep's (`clearframe.gate.wellknown`): 404/410 and other non-refusal 4xx -> no ai.txt,
NONE; 401/403/451 -> DENY (a refusal of the host, as robots.py); 5xx, 429, network errors, timeouts, more
than 5 redirects, a body over 512 KiB -> DEFER; fetched once per origin and cached. A 200 answer that is
an HTML page (a "soft 404") has no directives and says nothing: NONE, as robots.py does; the detail says
the body looks like HTML. ai.txt never grants: the best it says is NONE.
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from clearframe.gate.robots import AI_TRAINING_TOKENS
from clearframe.gate.wellknown import (
    DEFAULT_MAX_BYTES,
    DocStatus,
    PathPattern,
    WellKnownFetcher,
    WellKnownResult,
    path_target,
    split_origin,
    url_target,
)
from clearframe.records import Finding, Verdict

__all__ = [
    "AI_TXT_PATH",
    "SIGNAL",
    "AiTxt",
    "AiTxtFetcher",
    "AiTxtGroup",
    "AiTxtRule",
    "media_extensions",
    "parse_ai_txt",
]

SIGNAL = "ai-txt"
AI_TXT_PATH = "/ai.txt"
ORPHAN_GROUP = "(rules outside any User-Agent group)"

_USER_AGENT = {"user-agent", "useragent", "user agent"}
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_MAX_NOTES = 20


@dataclass(frozen=True)
class AiTxtRule:
    allow: bool
    pattern: PathPattern
    lineno: int
    text: str  # the line as written, comment removed
    note: str | None = None  # how an irregular value was read

    def describe(self) -> str:
        return f"{self.text!r} (line {self.lineno}" + (f"; {self.note}" if self.note else "") + ")"


@dataclass(frozen=True)
class AiTxtGroup:
    agent: str  # lower-cased product token, "*", or ORPHAN_GROUP
    rules: tuple[AiTxtRule, ...]

    def decide(self, target: str, *, types_only: bool = False) -> tuple[bool, AiTxtRule | None]:
        """(allowed, deciding rule) for a `url_target` string: longest match, Allow wins a tie.

        With `types_only`, only the rules whose pattern starts with ``*`` (file-type rules such as
        ``*.mp4``, or ``*`` itself) are considered.
        """
        best: AiTxtRule | None = None
        for rule in self.rules:
            if types_only and not rule.pattern.raw.startswith("*"):
                continue
            if not rule.pattern.matches(target):
                continue
            if (
                best is None
                or rule.pattern.length > best.pattern.length
                or (rule.pattern.length == best.pattern.length and rule.allow and not best.allow)
            ):
                best = rule
        return (best is None or best.allow), best

    @property
    def label(self) -> str:
        return self.agent if self.agent == ORPHAN_GROUP else f"User-Agent: {self.agent}"


@dataclass(frozen=True)
class _Judgement:
    allowed: bool
    group: AiTxtGroup | None
    rule: AiTxtRule | None

    def rule_text(self) -> str | None:
        if self.group is None:
            return None
        return f"{self.group.label} / {self.rule.describe()}" if self.rule else self.group.label


@dataclass(frozen=True)
class AiTxt:
    """A parsed ai.txt: merged groups by lower-cased agent, plus the rules outside any group."""

    groups: Mapping[str, AiTxtGroup]
    orphans: AiTxtGroup | None = None
    notes: tuple[str, ...] = ()  # lines read in an unusual way or ignored
    looks_like_html: bool = False

    def group_for(self, product_token: str | None) -> AiTxtGroup | None:
        """The group that applies to `product_token`: its own (merged), else ``*`` (RFC 9309 §2.2.1)."""
        if product_token and product_token.lower() in self.groups:
            return self.groups[product_token.lower()]
        return self.groups.get("*")

    def judge(self, target: str, product_token: str | None = None,
              ai_tokens: Iterable[str] = (), *, types_only: bool = False) -> _Judgement:
        """Our group, the orphan rules and the AI-training crawlers' groups; any refusal counts."""
        ours = self.group_for(product_token)
        considered: list[AiTxtGroup] = [g for g in (ours, self.orphans) if g is not None]
        ours_key = ours.agent if ours is not None else None
        for tok in ai_tokens:
            g = self.groups.get(tok.lower())
            if g is not None and g.agent != ours_key and g not in considered:
                considered.append(g)
        first_allow: _Judgement | None = None
        for group in considered:
            allowed, rule = group.decide(target, types_only=types_only)
            if not allowed:
                return _Judgement(False, group, rule)
            if first_allow is None:
                first_allow = _Judgement(True, group, rule)
        return first_allow or _Judgement(True, None, None)

    def allows(self, url: str, product_token: str | None = None,
               ai_tokens: Iterable[str] = ()) -> tuple[bool, AiTxtRule | None]:
        """(is `url` (a URL or an absolute path) allowed, the deciding rule or None).

        Our group (`product_token`, else ``*``), the rules outside any group and the groups of `ai_tokens`
        are asked; any refusal counts. ValueError for a URL that cannot be parsed.
        """
        j = self.judge(url_target(url), product_token, ai_tokens)
        return j.allowed, j.rule


def _agent_name(value: str) -> str | None:
    value = value.strip()
    if value.startswith("*") and (len(value) == 1 or value[1].isspace()):
        return "*"
    m = _TOKEN.match(value)
    return m.group(0).lower() if m else None


def parse_ai_txt(text: str | bytes) -> AiTxt:
    """Parse an ai.txt document. Never raises on any input: what it cannot read it skips and notes."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    elif text.startswith("\ufeff"):
        text = text[1:]
    groups: dict[str, list[AiTxtRule]] = {}
    orphans: list[AiTxtRule] = []
    notes: list[str] = []
    current: list[list[AiTxtRule]] = []  # the rule lists the lines of the current group go to
    in_agent_run = False
    seen_agent = False

    def note(msg: str) -> None:
        if len(notes) < _MAX_NOTES:
            notes.append(msg)

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" not in line:
            continue  # not a directive (e.g. the stray "/" lines some generators write)
        fld, value = line.split(":", 1)
        fld = fld.strip().lower()
        value = value.strip()
        if fld in _USER_AGENT:
            if not in_agent_run:
                current = []
                in_agent_run = True
            seen_agent = True
            name = _agent_name(value)
            if name is None:
                note(f"line {lineno}: User-Agent {value!r} names no product token; its rules are honoured "
                     "when they refuse")
                continue
            rules = groups.setdefault(name, [])
            if not any(rules is c for c in current):
                current.append(rules)
            continue
        in_agent_run = False
        if fld not in ("allow", "disallow"):
            continue
        allow = fld == "allow"
        if not value:
            continue  # "Disallow:" with no value restricts nothing (RFC 9309 §2.2.2)
        rule_note = None
        pattern_text = value
        if not value.startswith(("/", "*")):
            if allow:
                note(f"line {lineno}: {line!r} is not a path pattern (it must start with '/' or '*'); ignored")
                continue
            pattern_text = "*" + value
            rule_note = f"not a path pattern; read as {pattern_text!r}"
        rule = AiTxtRule(allow, PathPattern(pattern_text), lineno, line, rule_note)
        if not seen_agent or not current:
            orphans.append(rule)
        else:
            for rules in current:
                rules.append(rule)
    head = text.lstrip()[:200].lower()
    html = head.startswith(("<!doctype html", "<html")) or "<head" in head or "<body" in head
    return AiTxt(
        groups={name: AiTxtGroup(name, tuple(rules)) for name, rules in groups.items()},
        orphans=AiTxtGroup(ORPHAN_GROUP, tuple(orphans)) if orphans else None,
        notes=tuple(notes),
        looks_like_html=html,
    )


# --- media types -> file extensions ---------------------------------------------------------------------

_VIDEO_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "video/mp4": (".mp4", ".m4v"),
    "video/x-m4v": (".m4v",),
    "video/webm": (".webm",),
    "video/ogg": (".ogv", ".ogg"),
    "video/quicktime": (".mov", ".qt"),
    "video/x-matroska": (".mkv",),
    "video/x-msvideo": (".avi",),
    "video/avi": (".avi",),
    "video/x-flv": (".flv",),
    "video/x-ms-wmv": (".wmv",),
    "video/x-ms-asf": (".asf",),
    "video/mpeg": (".mpg", ".mpeg", ".mpg2"),
    "video/mp2t": (".ts", ".mts", ".m2ts"),
    "video/3gpp": (".3gp",),
    "video/3gpp2": (".3g2",),
    "video/h264": (".h264",),
    "application/vnd.apple.mpegurl": (".m3u8",),
    "application/x-mpegurl": (".m3u8",),
    "application/dash+xml": (".mpd",),
}


def media_extensions(media_type: str | None) -> tuple[str, ...]:
    """File extensions (lower case, with the dot) of a Content-Type value; () when unknown or absent."""
    if not media_type:
        return ()
    essence = media_type.split(";", 1)[0].strip().lower()
    if essence in _VIDEO_EXTENSIONS:
        return _VIDEO_EXTENSIONS[essence]
    return tuple(sorted(set(mimetypes.guess_all_extensions(essence, strict=False))))


def _extension(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path))[1]


@dataclass(frozen=True)
class _Target:
    target: str  # a url_target string
    what: str  # readable: which URL or path, and why it is asked
    types_only: bool = False  # asked of the file-type rules only (media on another origin)


def _media_targets(media_url: str, media_type: str | None, same_origin: bool) -> list[_Target]:
    path = urlsplit(media_url).path or "/"
    other = not same_origin  # another origin's path rules say nothing about this path: file types only
    if same_origin:
        base = path
        out = [_Target(url_target(media_url), f"the media URL {media_url}")]
    else:
        base = "/" + posixpath.basename(path)
        out = [_Target(path_target(base), f"the media file {base!r} (of {media_url}, served from another "
                       "origin; file-type rules only)", other)]
    ext = _extension(base)
    if ext and ext != ext.lower():
        lowered = base[: -len(ext)] + ext.lower()
        out.append(_Target(path_target(lowered), f"the media path with its extension in lower case, {lowered!r}",
                           other))
    typed_exts = media_extensions(media_type)
    if ext.lower() in typed_exts:
        typed_exts = ()  # the URL already names the type: "clip.mp4" is not also asked as "clip.mp4.m4v"
    for e in typed_exts:
        typed = base + e
        out.append(_Target(path_target(typed), f"the media as a {media_type} file, {typed!r}", other))
    seen: set[str] = set()
    unique = []
    for t in out:
        if t.target not in seen:
            seen.add(t.target)
            unique.append(t)
    return unique


# --- fetching and judging -------------------------------------------------------------------------------


@dataclass
class _Ask:
    """One origin's ai.txt and what to ask it."""

    origin_url: str  # any URL on that origin
    media: list[_Target] = field(default_factory=list)
    page: _Target | None = None


class AiTxtFetcher:
    """ai.txt checks for one run; thread-safe; one ``/ai.txt`` fetch per origin per ``max_age`` seconds."""

    def __init__(
        self,
        session_factory: requests.Session | Callable[[], requests.Session],
        product_token: str,
        *,
        ai_tokens: Iterable[str] = AI_TRAINING_TOKENS,
        store_evidence: Callable[[bytes, str], str] | None = None,
        max_age: float = 86400,
        defer_max_age: float = 300,
        timeout: float = 10,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not _TOKEN.fullmatch(product_token):
            raise ValueError(f"not a product token (letters, digits, '_', '-'): {product_token!r}")
        self.product_token = product_token
        self.ai_tokens = tuple(t for t in ai_tokens if t.lower() != product_token.lower())
        self._docs: WellKnownFetcher[AiTxt] = WellKnownFetcher(
            session_factory,
            AI_TXT_PATH,
            parse_ai_txt,
            media_type="text/plain",
            store_evidence=store_evidence,
            max_age=max_age,
            defer_max_age=defer_max_age,
            timeout=timeout,
            max_bytes=max_bytes,
            clock=clock,
        )

    def check(self, url: str, *, media_type: str | None = None) -> Finding:
        """ai.txt of `url`'s origin about `url` as a media resource (and its type, when given)."""
        return self._safe(_Ask(url, _media_targets(url, media_type, True)), url)

    def check_candidate(self, media_url: str, page_url: str | None = None, *,
                        media_type: str | None = None) -> list[Finding]:
        """One finding per origin involved: the media origin's ai.txt, and the page origin's when different."""
        asks: list[_Ask] = []
        try:
            media_origin = split_origin(media_url)[0]
        except ValueError as exc:
            return [self._defer(media_url, f"ai.txt cannot be located for the media URL {media_url!r}: {exc}")]
        media_ask = _Ask(media_url, _media_targets(media_url, media_type, True))
        asks.append(media_ask)
        if page_url:
            try:
                page_origin = split_origin(page_url)[0]
            except ValueError as exc:
                return [self._safe(media_ask, media_url),
                        self._defer(page_url, f"ai.txt cannot be located for the page URL {page_url!r}: {exc}")]
            page_target = _Target(url_target(page_url), f"the page {page_url}")
            if page_origin == media_origin:
                media_ask.page = page_target
            else:
                asks.append(_Ask(page_url, _media_targets(media_url, media_type, False), page_target))
        return [self._safe(a, media_url) for a in asks]

    # -- internals -------------------------------------------------------------------------------------

    @staticmethod
    def _defer(locator: str, detail: str, status: int | None = None, evidence: str | None = None) -> Finding:
        return Finding(SIGNAL, Verdict.DEFER, detail + "; deferred, checked again later", locator=locator,
                       status=status, evidence=evidence)

    def _safe(self, ask: _Ask, subject: str) -> Finding:
        try:
            split_origin(ask.origin_url)
        except ValueError as exc:
            return self._defer(ask.origin_url, f"ai.txt cannot be located for {ask.origin_url!r}: {exc}")
        try:
            result = self._docs.get(ask.origin_url)
        except Exception as exc:  # fail closed
            return self._defer(ask.origin_url, f"ai.txt check failed ({type(exc).__name__}: {exc})")
        try:
            return self._judge(result, ask)
        except Exception as exc:  # fail closed: a bug or odd input is DEFER, never a pass
            doc = result.doc
            return self._defer(doc.url, f"ai.txt evaluation for {subject} failed ({type(exc).__name__}: {exc})",
                               doc.http_status, doc.evidence)

    def _judge(self, result: WellKnownResult[AiTxt], ask: _Ask) -> Finding:
        doc = result.doc
        where = doc.url

        def make(verdict: Verdict, detail: str, rule: str | None = None) -> Finding:
            return Finding(SIGNAL, verdict, detail, locator=where, status=doc.http_status, rule=rule,
                           evidence=doc.evidence)

        if doc.status is DocStatus.ABSENT:
            return make(Verdict.NONE, f"no ai.txt at {where} ({doc.detail}): no restriction from ai.txt")
        if doc.status is DocStatus.REFUSED:
            return make(
                Verdict.DENY,
                f"ai.txt at {where}: {doc.detail}. ClearFrame treats an access-controlled policy document as a "
                "refusal of the host (as for robots.txt) and never retries with another identity",
                f"{AI_TXT_PATH} HTTP {doc.http_status}",
            )
        if doc.status is DocStatus.FAILED:
            return make(Verdict.DEFER, f"ai.txt at {where} could not be read ({doc.detail}); deferred, checked "
                        "again later")
        if result.parse_error is not None or result.parsed is None:
            return make(Verdict.DEFER, f"ai.txt at {where} ({doc.detail}) could not be parsed: "
                        f"{result.parse_error}; deferred")
        aitxt = result.parsed
        extra = ""
        if aitxt.notes:
            extra += ". seen: " + "; ".join(aitxt.notes)
        if aitxt.looks_like_html:
            extra += ". The body looks like an HTML page (perhaps served with 200 instead of a 404)"

        media = [(t, aitxt.judge(t.target, self.product_token, self.ai_tokens, types_only=t.types_only))
                 for t in ask.media]
        for t, j in media:
            if not j.allowed:
                return make(
                    Verdict.DENY,
                    f"ai.txt at {where} ({doc.detail}) disallows {t.what} for AI training by "
                    f"{j.rule_text()}" + extra,
                    j.rule_text(),
                )
        if ask.page is not None:
            pj = aitxt.judge(ask.page.target, self.product_token, self.ai_tokens)
            if not pj.allowed:
                explicit = next(((t, j) for t, j in media if j.rule is not None and j.rule.allow), None)
                if explicit is not None:
                    t, j = explicit
                    return make(
                        Verdict.REVIEW,
                        f"ai.txt at {where} ({doc.detail}) disallows {ask.page.what} by {pj.rule_text()} but "
                        f"explicitly allows {t.what} by {j.rule_text()}: contradictory for this video, a person "
                        "must decide" + extra,
                        pj.rule_text(),
                    )
                return make(
                    Verdict.DENY,
                    f"ai.txt at {where} ({doc.detail}) disallows {ask.page.what} for AI training by "
                    f"{pj.rule_text()}; the video belongs to that page" + extra,
                    pj.rule_text(),
                )
        decided = next((j for _, j in media if j.rule is not None), None)
        asked = "; ".join(t.what for t in ask.media) + (f"; {ask.page.what}" if ask.page else "")
        ours = aitxt.group_for(self.product_token)
        group = ours.label if ours is not None else f"no group for {self.product_token} or *"
        return make(
            Verdict.NONE,
            f"ai.txt at {where} ({doc.detail}, {group}) disallows none of: {asked}" + extra,
            decided.rule_text() if decided is not None else None,
        )
