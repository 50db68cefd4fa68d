"""``X-Robots-Tag`` response headers and ``<meta name="robots">`` tags: the ``noai`` / ``noimageai`` refusals.

Conventions read:

- Google's "Robots meta tag, data-nosnippet, and X-Robots-Tag specifications"
  (developers.google.com/search/docs/crawling-indexing/robots-meta-tag) and MDN's X-Robots-Tag page:
  a header value is a comma-separated list of rules; several header lines may be sent; "the X-Robots-Tag
  may optionally specify a user agent before the rules" (``X-Robots-Tag: googlebot: nofollow``), and per
  MDN a ``<bot-name>:`` applies to the rules that follow it (``noindex, otherbot: nofollow``); rules
  without a user agent apply to all crawlers; names and values are case-insensitive; where rules
  conflict the most restrictive one applies. In HTML, ``<meta name="robots">`` addresses every crawler
  and ``<meta name="<product token>">`` one crawler.
- DeviantArt's ``noai`` / ``noimageai`` directives (deviantart.com team journal, Nov 2022, "All
  Deviations Are Opted Out of AI Datasets"): content carrying either must be excluded from data sets
  used to train machine-learning models of any kind. ``noai`` refuses AI use of the content,
  ``noimageai`` AI use of its images. They are a de-facto convention, not part of Google's list.

Decision (signals only restrict: NONE, DENY or DEFER, never GRANT):

- ``noai`` or ``noimageai`` that applies to ClearFrame -> DENY. **ClearFrame treats ``noimageai`` as a
  refusal too**: video frames are images, and training a video model trains on them.
- It applies to ClearFrame when it has no user-agent scope (header) / sits in ``<meta name="robots">``,
  or is scoped to our product token (case-insensitive), or to a known AI-training crawler
  (`AI_TRAINING_TOKENS`, e.g. ``GPTBot: noai``), honoured as a proxy as `clearframe.gate.robots` does.
  A scope naming another crawler (``otherbot: noai``) has no effect on us. The header scope
  ``robots:`` is not in Google's spec; we read it like ``<meta name="robots">`` (all crawlers; stricter).
- ``noindex``, ``none``, ``nofollow``, ``noarchive``, ``nosnippet``, ``noimageindex`` ... are about
  search indexing and serving, **not** AI-use refusals: they are listed in the detail and have no effect.

Parsing choices:

- Each header line starts without a scope; a ``name:`` item opens a scope for the items after it, up to
  the next ``name:`` item or the end of the line. Items are split at commas.
- A ``name: value`` item whose name is a rule that takes a value (``unavailable_after``, ``max-snippet``,
  ``max-image-preview``, ``max-video-preview``) is that rule, not a scope; a scope name must start with a
  letter. So ``unavailable_after: 25 Jun 2010 15:00:00 PST`` and the pieces of a date that contains a
  comma (``unavailable_after: Friday, 25-Jun-10 15:00:00 GMT``) never open a scope.
- Inside an item, words are also split at whitespace (``noai noimageai``): a refusal word anywhere in an
  item counts (fail closed), except in the value of a value-taking rule.
- Callers must pass header lines as received (``resp.raw.headers.getlist("X-Robots-Tag")`` with
  requests/urllib3): requests joins repeated lines with ", ", and then ``otherbot: noindex`` followed by
  a separate ``noai`` line reads as ``otherbot: noindex, noai``, scoping our refusal away.

Any exception during evaluation -> DEFER (fail closed). Details name the header line or meta tag seen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clearframe.gate.robots import AI_TRAINING_TOKENS
from clearframe.records import Finding, Verdict

__all__ = ["AI_REFUSALS", "META_SIGNAL", "SIGNAL", "meta_robots", "x_robots_tag"]

SIGNAL = "x-robots-tag"
META_SIGNAL = "meta-robots"

AI_REFUSALS: dict[str, str] = {
    "noai": "noai (DeviantArt convention: the content must not be used to train AI models)",
    "noimageai": (
        "noimageai (DeviantArt convention: the images must not be used to train AI models; ClearFrame "
        "treats it as a refusal because video frames are images and training video models uses them)"
    ),
}

_VALUE_RULES = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})
# Google's (and older engines') indexing and serving rules: seen, reported, never an AI-use refusal.
_SEARCH_RULES = _VALUE_RULES | {
    "all", "index", "follow", "noindex", "nofollow", "none", "noarchive", "nocache", "nosnippet",
    "indexifembedded", "notranslate", "noimageindex", "noodp", "noydir",
}
_SCOPE = re.compile(r"([A-Za-z][A-Za-z0-9_./-]*)[ \t]*:(.*)", re.DOTALL)
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_WORD_EDGE = " \t\"';."
_SHOW = 300


def _show(text: str) -> str:
    text = text.strip()
    if len(text) > _SHOW:
        text = text[:_SHOW] + "..."
    return "`" + text.encode("unicode_escape").decode("ascii").replace("`", "'") + "`"


@dataclass(frozen=True)
class _Hit:
    directive: str  # "noai" | "noimageai"
    scope: str | None  # the scope as written; None when unscoped
    how: str  # "all" | "ours" | "proxy"
    where: str  # header line / meta tag, for the detail


def _directives(item: str) -> list[str]:
    """Lower-cased directive words of one rule item; a value-taking rule yields only its name."""
    words = [w.strip(_WORD_EDGE).lower() for w in item.split()]
    words = [w for w in words if w]
    if not words:
        return []
    head = words[0].split(":", 1)[0]
    if head in _VALUE_RULES:
        return [head]
    return [w.rstrip(":") for w in words]


def _product(name: str) -> str:
    m = _TOKEN.match(name)
    return m.group(0).lower() if m else name.lower()


class _Audience:
    def __init__(self, product_token: str, ai_tokens: Sequence[str]) -> None:
        self.ours = product_token.lower()
        self.ai = {t.lower() for t in ai_tokens} - {self.ours}

    def of(self, scope: str | None) -> str | None:
        """"all", "ours", "proxy", or None for another crawler."""
        if scope is None:
            return "all"
        name = _product(scope)
        if name == self.ours:
            return "ours"
        if name in self.ai:
            return "proxy"
        if name == "robots":
            return "all"
        return None


def _parse_line(line: str) -> list[tuple[str | None, str]]:
    """(scope or None, directive) for every directive of one X-Robots-Tag line."""
    out: list[tuple[str | None, str]] = []
    scope: str | None = None
    for item in line.split(","):
        item = item.strip(" \t")
        if not item:
            continue
        m = _SCOPE.fullmatch(item)
        if m and m.group(1).lower() not in _VALUE_RULES and m.group(1).lower() not in AI_REFUSALS:
            scope = m.group(1)
            item = m.group(2).strip(" \t")
            if not item:
                continue
        for d in _directives(item):
            out.append((scope, d))
    return out


def _why(hit: _Hit, product_token: str) -> str:
    if hit.how == "all":
        who = "for all crawlers" if hit.scope is None else f"for all crawlers (scope {hit.scope!r})"
    elif hit.how == "ours":
        who = f"scoped to our product token ({hit.scope}, matched case-insensitively to {product_token})"
    else:
        who = (
            f"scoped to the known AI-training crawler {hit.scope}; ClearFrame honours a refusal addressed to "
            "such crawlers as a proxy for the site's wishes about AI training"
        )
    return f"{AI_REFUSALS[hit.directive]}, {who}"


def x_robots_tag(
    values: Sequence[str],
    product_token: str,
    locator: str,
    *,
    ai_tokens: Sequence[str] = AI_TRAINING_TOKENS,
    status: int | None = None,
    evidence: str | None = None,
) -> Finding:
    """The ``x-robots-tag`` finding for the X-Robots-Tag lines of one response: DENY on an applicable
    ``noai`` / ``noimageai``, else NONE; DEFER if evaluation fails."""

    def finding(verdict: Verdict, detail: str, rule: str | None) -> Finding:
        return Finding(SIGNAL, verdict, detail, locator=locator, status=status, rule=rule, evidence=evidence)

    try:
        lines = [v for v in values if v.strip(" \t")]
        if not lines:
            return finding(Verdict.NONE, f"no X-Robots-Tag header at {locator}", None)
        audience = _Audience(product_token, ai_tokens)
        others: list[str] = []
        ignored: list[str] = []
        for i, line in enumerate(lines, 1):
            where = f"X-Robots-Tag header{f' line {i} of {len(lines)}' if len(lines) > 1 else ''} {_show(line)}"
            for scope, directive in _parse_line(line):
                how = audience.of(scope)
                if directive in AI_REFUSALS:
                    if how is None:
                        others.append(f"{scope}: {directive}")
                        continue
                    hit = _Hit(directive, scope, how, where)
                    rule = f"X-Robots-Tag: {scope + ': ' if scope else ''}{directive}"
                    return finding(
                        Verdict.DENY, f"{where} at {locator}: {_why(hit, product_token)}", rule
                    )
                elif how is not None and directive in _SEARCH_RULES:
                    ignored.append(directive)
        detail = f"X-Robots-Tag at {locator} ({'; '.join(_show(v) for v in lines)}): no noai/noimageai for us"
        if others:
            detail += "; refusals scoped to other crawlers have no effect on us: " + ", ".join(others)
        if ignored:
            detail += "; search directives, not AI-use refusals: " + ", ".join(dict.fromkeys(ignored))
        return finding(Verdict.NONE, detail, "X-Robots-Tag")
    except Exception as exc:  # fail closed
        return finding(
            Verdict.DEFER,
            f"X-Robots-Tag at {locator} could not be evaluated ({type(exc).__name__}: {exc}); "
            "nothing is fetched, retried in a later run",
            None,
        )


def meta_robots(
    meta: Mapping[str, Sequence[str]],
    product_token: str,
    locator: str,
    evidence: str | None = None,
    *,
    ai_tokens: Sequence[str] = AI_TRAINING_TOKENS,
    status: int | None = None,
) -> Finding:
    """The ``meta-robots`` finding for a page's ``<meta name=... content=...>`` tags (`meta` maps the
    lower-cased name to its content values, as `clearframe.probe.PageMeta.meta` does)."""

    def finding(verdict: Verdict, detail: str, rule: str | None) -> Finding:
        return Finding(META_SIGNAL, verdict, detail, locator=locator, status=status, rule=rule,
                       evidence=evidence)

    try:
        audience = _Audience(product_token, ai_tokens)
        looked: list[str] = []
        others: list[str] = []
        for raw_name, contents in meta.items():
            name = raw_name.strip().lower()
            if name == "robots":
                how: str | None = "all"
            else:
                how = audience.of(name) if _TOKEN.fullmatch(name) else None
            for content in contents:
                directives = [d for item in content.split(",") for d in _directives(item)]
                refusals = [d for d in directives if d in AI_REFUSALS]
                tag = f'<meta name="{raw_name}" content={_show(content)}>'
                if how is None:
                    if refusals:
                        others.append(tag)
                    continue
                looked.append(tag)
                if refusals:
                    hit = _Hit(refusals[0], None if name == "robots" else raw_name, how, tag)
                    return finding(
                        Verdict.DENY,
                        f"{tag} at {locator}: {_why(hit, product_token)}",
                        f'meta name="{raw_name}": {refusals[0]}',
                    )
        if not looked:
            detail = f"no robots meta tag for us at {locator} (robots, {product_token} or a known AI crawler)"
        else:
            detail = f"robots meta tags at {locator} carry no noai/noimageai: " + ", ".join(looked)
        if others:
            detail += "; refusals addressed to other crawlers have no effect on us: " + ", ".join(others)
        return finding(Verdict.NONE, detail, "meta robots" if looked else None)
    except Exception as exc:  # fail closed
        return finding(
            Verdict.DEFER,
            f"robots meta tags at {locator} could not be evaluated ({type(exc).__name__}: {exc}); "
            "nothing is fetched, retried in a later run",
            None,
        )
