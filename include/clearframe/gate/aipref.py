"""IETF AIPREF ``Content-Usage`` (HTTP header and robots.txt rule) and Cloudflare ``Content-Signal``.

Specs read: the WG repository https://github.com/ietf-wg-aipref/drafts at 2026-08-19, whose text equals
draft-ietf-aipref-vocab-07 and draft-ietf-aipref-attach-05, plus the tagged earlier revisions -vocab-00..06
and -attach-00..04. Cited below as VOCAB and ATTACH with -07 / -05 section numbers. (-vocab-08 appeared on
2026-09-14; its full text was not available to check, so re-read §4 and §6 against it when updating.)

VOCAB (A Vocabulary For Expressing AI Usage Preferences)

- §6 / §6.5: a statement of preference is an RFC 9651 Dictionary. Keys are category labels, values the
  Tokens ``y`` (allow) or ``n`` (disallow). Anything else -- key absent, a Boolean (a bare key such as
  ``train-ai``), a String (``"n"``), an Integer, another Token -- leaves that category *unknown*; these
  "are not errors".
- §6.5.1: the RFC 9651 parser keeps only the last value of a duplicated key, so ``train-ai=y, train-ai``
  is unknown. "If the parsing of the Dictionary fails, preferences are unknown", which includes keys with
  uppercase letters (``Train-AI=n``). We say so in the finding's detail and rule ("unparseable").
- §6.4 / §6.5.2: unknown labels and all parameters MUST be ignored.
- §6.1: the current labels are ``train-ai`` (AI Model Training, §4.1: modifying the learned parameters of
  a model that generates synthetic content) and ``search`` (§4.2). Labels are case sensitive.
- §5: one statement yields allow / disallow / unknown per category. §5.1: several statements combine as
  "any disallow wins, else any allow, else unknown".
- §3.2: a recipient chooses whether to follow preferences; ClearFrame follows every ``n`` that covers its
  use and never treats ``y`` as permission (signals only restrict; licences grant).

ClearFrame's use -- training generative video models -- is AI Model Training (``train-ai``). Earlier
revisions of the same draft defined other labels and a hierarchy (a category inherits its parent's
preference when it has none of its own), and sites deployed them. We read every statement under each
revision and **deny when any reading disallows our use** (a restriction in any reading wins, like §5.1
across statements). Readings, most specific label first (`READINGS`):

- -05 .. -07 (current): ``train-ai``
- -04: ``train-ai`` (Foundation Model Production) inside ``bots`` (Automated Processing)
- -03: ``train-genai`` inside ``train-ai`` inside ``bots``
- -02: ``train-genai`` inside ``train-ai`` inside ``all``
- -01: ``genai`` inside ``ai`` inside ``tdm``

So ``bots=n``, ``all=n``, ``train-genai=n``, ``tdm=n`` deny; ``bots=n, train-ai=y`` does not (every
reading finds the explicit ``train-ai=y`` first); ``train-ai=n, train-genai=y`` denies (the current
reading). The current draft alone would ignore the legacy labels (§6.4); honouring them is our choice.
``search``, ``ai-use`` (-02), ``ai-output`` (-04) and ``inference`` (-01) do not cover training a
generative model and never deny here (the detail still lists them).

ATTACH (Associating AI Usage Preferences with Content in HTTP)

- §2: ``Content-Usage`` is a Dictionary field about the content of the response that carries it.
  RFC 9651 §4.2 joins all field lines into one value before parsing (so a later line's value of a key
  wins, and one bad line spoils the whole field). ClearFrame reads the joined field as the RFC says
  **and** each line on its own, and denies if either says ``n``: a line may come from a different party
  (an origin and a CDN) and we cannot tell, so each counts as a statement (§5.1). This is stricter than
  RFC 9651 for fields split over several lines and can only add a DENY. Callers must therefore pass the
  field lines as received (``resp.raw.headers.getlist("Content-Usage")`` with requests/urllib3); an
  already joined value also works, it only loses the per-line reading.
- §3: ``Content-Usage: [path] pref`` is a rule inside a robots.txt group (RFC 9309 §2.2.1 chooses the
  group: the one naming our product token, several merged, else ``*``). §3.2: the value runs to the first
  CR, LF or ``#``; it starts with ``/`` when a path is given, and the path ends at the first SP/HTAB.
  §3.1: the rule with the longest matching path applies (RFC 9309 §2.2.2 matching, ``*`` and ``$``,
  length in octets of the encoded path); rules with identical paths apply separately and combine (any
  ``n`` wins). ClearFrame details:

  * a rule without a path is treated as path ``/`` (it covers every URL, as in ATTACH §3.4's example);
    two winning rules of equal length but different patterns also apply separately (fail closed);
  * a rule whose statement does not parse still wins the longest match (its preferences are unknown,
    VOCAB §6.5.1), exactly as the draft says; the detail says so;
  * §3.1 says disallowed resources carry no preferences. We do not evaluate Allow/Disallow here: a URL
    that is disallowed for our group or for a known AI-training crawler is already DENY in
    `clearframe.gate.robots`, so applying preferences to it can only add a second reason to deny;
  * as in `clearframe.gate.robots`, groups naming a known AI-training crawler (`AI_TRAINING_TOKENS`)
    are honoured as a proxy: ``User-agent: GPTBot`` + ``Content-Usage: train-ai=n`` denies us too;
  * a Content-Usage or Content-Signal line before the first ``User-agent`` line belongs to no group
    (RFC 9309 would ignore it); ClearFrame honours it as a site-wide statement (stricter, documented).

Cloudflare Content Signals (https://contentsignals.org, draft-romm-aipref-contentsignals-00): a
``Content-Signal:`` line in a robots.txt group (and, on some Cloudflare responses, a header) carrying
``search=yes|no, ai-input=yes|no, ai-train=yes|no``; "yes" grants, "no" withholds, absence is neither.
``ai-train`` ("training or fine-tuning AI models") covers our use; ``search``, ``ai-input`` and
Cloudflare's ``use=`` level do not. The format has no formal grammar, so it is read leniently in the
restrictive direction: comma-separated ``key=value`` items, keys and values case-insensitive, quotes
around a value ignored, ``n``/``y`` accepted for no/yes, malformed items and unknown keys ignored, and if
the same key appears twice any ``no`` wins. Lines are scoped to groups and may carry a leading path, as
Content-Usage lines are (deployed files use ``Content-Signal: /blog/ ai-train=no``); the same group and
path rules apply, under the separate signal name ``content-signal``.

Every public function returns Findings whose verdict is NONE, DENY or DEFER (never GRANT); any exception
while evaluating becomes a DEFER finding (fail closed). Details say what was seen and where.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from urllib.parse import urlsplit

import http_sf

from clearframe.gate.robots import AI_TRAINING_TOKENS, RobotsLine, split_lines
from clearframe.records import Finding, Verdict

__all__ = [
    "CONTENT_SIGNAL",
    "COVERING_LABELS",
    "READINGS",
    "SIGNAL",
    "Reading",
    "Statement",
    "content_signal_header",
    "content_usage_header",
    "parse_statement",
    "robots_preferences",
]

SIGNAL = "aipref"
CONTENT_SIGNAL = "content-signal"

VOCAB = "draft-ietf-aipref-vocab-07"
ATTACH = "draft-ietf-aipref-attach-05"

_SHOW = 300  # longest field value quoted in a detail


@dataclass(frozen=True)
class Reading:
    """One revision's view of which labels cover training a generative model, most specific first."""

    draft: str
    chain: tuple[str, ...]


READINGS: tuple[Reading, ...] = (
    Reading("draft-ietf-aipref-vocab-05..07 (current)", ("train-ai",)),
    Reading("draft-ietf-aipref-vocab-04", ("train-ai", "bots")),
    Reading("draft-ietf-aipref-vocab-03", ("train-genai", "train-ai", "bots")),
    Reading("draft-ietf-aipref-vocab-02", ("train-genai", "train-ai", "all")),
    Reading("draft-ietf-aipref-vocab-01", ("genai", "ai", "tdm")),
)

_LABEL_NAMES: dict[str, str] = {
    "train-ai": f"AI Model Training ({VOCAB} §4.1)",
    "train-genai": "Generative AI Training (legacy label, vocab-02/-03)",
    "bots": "Automated Processing, which contains AI training (legacy label, vocab-03/-04)",
    "all": "Automated Processing, which contains AI training (legacy label, vocab-02)",
    "genai": "Generative AI Training (legacy label, vocab-01)",
    "ai": "AI Training (legacy label, vocab-01)",
    "tdm": "Text and Data Mining, which contains AI training (legacy label, vocab-01)",
}

COVERING_LABELS: frozenset[str] = frozenset(label for r in READINGS for label in r.chain)

# Labels that exist(ed) in the vocabulary but do not cover training a generative model.
_OTHER_LABELS = frozenset({"search", "ai-use", "ai-output", "inference"})


# --- one statement of preference (VOCAB §6.5) ---------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """A parsed statement: explicit ``y``/``n`` per label, why other values are unknown, or a parse error."""

    text: str
    prefs: dict[str, str] = field(default_factory=dict)  # label -> "y" | "n" (Tokens only)
    unknown: dict[str, str] = field(default_factory=dict)  # label -> description of a non-y/n value
    error: str | None = None  # not an RFC 9651 Dictionary: every preference unknown (VOCAB §6.5.1)


def _kind(value: object) -> str:
    """How an RFC 9651 value reads in an audit, for values that are not the Tokens y / n."""
    if isinstance(value, list):
        return "an Inner List"
    if value is True:
        return "Boolean true (a bare key)"
    if value is False:
        return "Boolean false"
    if isinstance(value, http_sf.Token):
        return f"the Token {str(value)!r}"
    if isinstance(value, http_sf.DisplayString):
        return "a Display String"
    if isinstance(value, str):
        return f"the String {value!r}"
    if isinstance(value, bytes):
        return "a Byte Sequence"
    if isinstance(value, (int, float, Decimal)):
        return f"the number {value}"
    if isinstance(value, datetime):
        return "a Date"
    return f"a {type(value).__name__}"


def parse_statement(text: str | bytes) -> Statement:
    """Parse one statement of preference as VOCAB §6.5 says: an RFC 9651 Dictionary, y/n Tokens only."""
    shown = text if isinstance(text, str) else text.decode("latin-1")
    # Structured fields are ASCII (RFC 9651 §4.2); anything else is a parse failure, so encoding choices
    # for non-ASCII characters cannot change a result.
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    try:
        parsed = http_sf.parse(data, tltype="dictionary")
    except http_sf.StructuredFieldError as exc:
        return Statement(shown, error=str(exc) or type(exc).__name__)
    if not isinstance(parsed, dict):  # cannot happen for tltype="dictionary"; fail closed all the same
        return Statement(shown, error=f"parsed as {type(parsed).__name__}, not a Dictionary")
    prefs: dict[str, str] = {}
    unknown: dict[str, str] = {}
    for key, member in parsed.items():
        # A member is (bare item, params) or (inner list, params); parameters are ignored (§6.5.2).
        value = member[0] if isinstance(member, tuple) else member
        if isinstance(value, http_sf.Token) and str(value) in ("y", "n"):
            prefs[key] = str(value)
        else:
            unknown[key] = _kind(value)
    return Statement(shown, prefs, unknown)


@dataclass(frozen=True)
class _Outcome:
    preference: str  # "n" | "y" | "unknown"
    label: str | None = None
    reading: Reading | None = None


def _our_preference(stmt: Statement) -> _Outcome:
    """The preference for training a generative model: ``n`` if any revision's reading disallows it."""
    allow: _Outcome | None = None
    for reading in READINGS:
        for label in reading.chain:
            value = stmt.prefs.get(label)
            if value is None:
                continue  # unknown here: the revision's hierarchy consults the parent category
            if value == "n":
                return _Outcome("n", label, reading)
            allow = allow or _Outcome("y", label, reading)
            break
    return allow or _Outcome("unknown")


def _show(text: str) -> str:
    text = text.strip()
    if len(text) > _SHOW:
        text = text[:_SHOW] + "..."
    return "`" + text.encode("unicode_escape").decode("ascii").replace("`", "'") + "`"


def _summary(stmt: Statement) -> str:
    """What a statement says, for the detail of a finding that does not deny."""
    if stmt.error is not None:
        return (
            f"{_show(stmt.text)} is not a valid RFC 9651 Dictionary ({stmt.error}); {VOCAB} §6.5.1: when "
            "parsing fails the preferences are unknown, so it has no effect"
        )
    outcome = _our_preference(stmt)
    parts: list[str] = []
    if outcome.preference == "y":
        parts.append(
            f"{outcome.label}=y ({_LABEL_NAMES[outcome.label or '']}) allows AI training; a preference "
            "never grants anything in ClearFrame, so no effect"
        )
    else:
        ours = [f"{label}: {why}" for label, why in stmt.unknown.items() if label in COVERING_LABELS]
        if ours:
            parts.append(
                "no preference for AI training: "
                + "; ".join(ours)
                + f" -- not the Token y or n, so unknown ({VOCAB} §6.5)"
            )
        else:
            parts.append("no label covering AI training (unknown)")
    known = [f"{k}={v}" for k, v in stmt.prefs.items() if k in _OTHER_LABELS]
    rest = [f"{k}={v}" for k, v in stmt.prefs.items() if k not in COVERING_LABELS | _OTHER_LABELS]
    odd = [f"{k}: {why}" for k, why in stmt.unknown.items() if k not in COVERING_LABELS]
    if known:
        parts.append("categories that do not cover training: " + ", ".join(known))
    if rest:
        parts.append("unknown labels, ignored (§6.4): " + ", ".join(rest))
    if odd:
        parts.append("values that are not the Token y or n, unknown: " + "; ".join(odd))
    return f"{_show(stmt.text)}: " + "; ".join(parts)


def _denial(outcome: _Outcome) -> str:
    label = outcome.label or ""
    reading = outcome.reading.draft if outcome.reading else VOCAB
    return f"{label}=n disallows {_LABEL_NAMES.get(label, label)}, read per {reading}"


# --- the Content-Usage header (ATTACH §2) -------------------------------------------------------------


def _defer(signal: str, what: str, locator: str, exc: Exception, status: int | None,
           evidence: str | None) -> Finding:
    return Finding(
        signal=signal,
        verdict=Verdict.DEFER,
        detail=f"{what} at {locator} could not be evaluated ({type(exc).__name__}: {exc}); "
        "nothing is fetched, retried in a later run",
        locator=locator,
        status=status,
        rule=None,
        evidence=evidence,
    )


def content_usage_header(
    values: Sequence[str], locator: str, *, status: int | None = None, evidence: str | None = None
) -> Finding:
    """The ``aipref`` finding for the Content-Usage field lines of one response (ATTACH §2)."""
    try:
        return _content_usage_header(list(values), locator, status, evidence)
    except Exception as exc:  # fail closed
        return _defer(SIGNAL, "Content-Usage header", locator, exc, status, evidence)


def _content_usage_header(values: list[str], locator: str, status: int | None,
                          evidence: str | None) -> Finding:
    def finding(verdict: Verdict, detail: str, rule: str | None) -> Finding:
        return Finding(SIGNAL, verdict, detail, locator=locator, status=status, rule=rule, evidence=evidence)

    lines = [v for v in values if v.strip(" \t")]  # empty list elements are ignored (RFC 9110 §5.6.1)
    if not lines:
        return finding(Verdict.NONE, f"no Content-Usage header at {locator}: AI preferences unknown", None)

    joined = parse_statement(", ".join(lines)) if len(lines) > 1 else parse_statement(lines[0])
    whole = _our_preference(joined) if joined.error is None else _Outcome("unknown")
    if whole.preference == "n":
        return finding(
            Verdict.DENY,
            f"Content-Usage header at {locator} {_show(joined.text)}: {_denial(whole)} "
            f"({ATTACH} §2, {VOCAB} §6.5)",
            f"Content-Usage: {whole.label}=n",
        )
    if len(lines) > 1:
        for i, line in enumerate(lines, 1):
            stmt = parse_statement(line)
            outcome = _our_preference(stmt) if stmt.error is None else _Outcome("unknown")
            if outcome.preference == "n":
                return finding(
                    Verdict.DENY,
                    f"Content-Usage header line {i} of {len(lines)} at {locator} {_show(line)}: "
                    f"{_denial(outcome)}. RFC 9651 §4.2 joins the lines into one Dictionary "
                    f"(read that way: {_summary(joined)}), but ClearFrame treats each line as a "
                    f"statement of its own and any n wins ({VOCAB} §5.1)",
                    f"Content-Usage: {outcome.label}=n (line {i})",
                )
    how = "the field" if len(lines) == 1 else f"the {len(lines)} field lines joined (RFC 9651 §4.2)"
    rule = "Content-Usage (unparseable)" if joined.error is not None else "Content-Usage"
    return finding(Verdict.NONE, f"Content-Usage header at {locator}, {how}: {_summary(joined)}", rule)


# --- Content-Signal values (contentsignals.org) ------------------------------------------------------

_SIGNAL_VALUES = {"yes": "yes", "y": "yes", "no": "no", "n": "no"}


@dataclass(frozen=True)
class _Signals:
    text: str
    values: dict[str, list[str]]  # key (lowercased) -> "yes"/"no"/raw value, in order seen
    malformed: list[str]


def _parse_signals(text: str) -> _Signals:
    values: dict[str, list[str]] = {}
    malformed: list[str] = []
    for item in text.split(","):
        item = item.strip(" \t")
        if not item:
            continue
        key, eq, value = item.partition("=")
        key = key.strip(" \t").lower()
        value = value.strip(" \t").strip("\"'").strip(" \t").lower()
        if not eq or not key:
            malformed.append(item)
            continue
        values.setdefault(key, []).append(_SIGNAL_VALUES.get(value, value))
    return _Signals(text, values, malformed)


def _signal_train(sig: _Signals) -> str:
    seen = sig.values.get("ai-train", [])
    if "no" in seen:
        return "no"
    if "yes" in seen:
        return "yes"
    return "unknown"


def _signal_summary(sig: _Signals) -> str:
    train = sig.values.get("ai-train")
    if train is None:
        head = "no ai-train signal (neither grants nor restricts training)"
    elif "yes" in train:
        head = "ai-train=yes; a signal never grants anything in ClearFrame, so no effect"
    else:
        head = f"ai-train={'/'.join(train)} is neither yes nor no: ignored"
    others = [f"{k}={'/'.join(v)}" for k, v in sig.values.items() if k != "ai-train"]
    if others:
        head += "; not about training: " + ", ".join(others)
    if sig.malformed:
        head += "; malformed items ignored: " + ", ".join(_show(m) for m in sig.malformed)
    return f"{_show(sig.text)}: {head}"


_CS_DENIAL = (
    "ai-train=no withholds consent to training or fine-tuning AI models (contentsignals.org; "
    "draft-romm-aipref-contentsignals-00 §3.3)"
)


def content_signal_header(
    values: Sequence[str], locator: str, *, status: int | None = None, evidence: str | None = None
) -> Finding:
    """The ``content-signal`` finding for Content-Signal response header lines (Cloudflare's header form)."""
    try:
        lines = [v for v in values if v.strip(" \t")]
        if not lines:
            return Finding(CONTENT_SIGNAL, Verdict.NONE, f"no Content-Signal header at {locator}",
                           locator=locator, status=status, evidence=evidence)
        parsed = [_parse_signals(v) for v in lines]
        for i, sig in enumerate(parsed, 1):
            if _signal_train(sig) == "no":
                where = f" line {i} of {len(lines)}" if len(lines) > 1 else ""
                return Finding(CONTENT_SIGNAL, Verdict.DENY,
                               f"Content-Signal header{where} at {locator} {_show(sig.text)}: {_CS_DENIAL}",
                               locator=locator, status=status, rule="Content-Signal: ai-train=no",
                               evidence=evidence)
        detail = "; ".join(_signal_summary(s) for s in parsed)
        return Finding(CONTENT_SIGNAL, Verdict.NONE, f"Content-Signal header at {locator}: {detail}",
                       locator=locator, status=status, rule="Content-Signal", evidence=evidence)
    except Exception as exc:  # fail closed
        return _defer(CONTENT_SIGNAL, "Content-Signal header", locator, exc, status, evidence)


# --- robots.txt rules (ATTACH §3) ----------------------------------------------------------------------

_KINDS = ("content-usage", "content-signal")


@dataclass(frozen=True)
class _Rule:
    lineno: int
    kind: str  # "content-usage" | "content-signal"
    path: str  # normalised pattern; "/" when the line has no path
    statement: str
    text: str  # the line as written (comment removed)

    @property
    def length(self) -> int:
        return len(self.path)


def _rule_value(kind: str, lineno: int, value: str, text: str) -> _Rule:
    """ATTACH §3.2: a leading "/" starts a path that ends at the first SP or HTAB."""
    value = value.strip(" \t")
    if value.startswith("/"):
        m = re.match(r"[^ \t]*", value)
        raw_path = m.group(0) if m else value
        return _Rule(lineno, kind, _normalise(raw_path, pattern=True), value[len(raw_path):].strip(" \t"),
                     text)
    return _Rule(lineno, kind, "/", value, text)


def _split(text: str) -> tuple[dict[str, list[_Rule]], list[_Rule]]:
    """Content-Usage / Content-Signal rules per agent (groups naming the same agent merged, RFC 9309
    §2.2.1), and the rules that come before any User-agent line. Lines are split into groups by
    clearframe.gate.robots, so the two signals always agree on which group a line belongs to; a rule's
    value ends at the first "#" (ATTACH §3.2), as every robots.txt line does."""
    groups, outside = split_lines(text)

    def rules(lines: list[RobotsLine]) -> list[_Rule]:
        return [_rule_value(ln.field, ln.lineno, ln.value, ln.text) for ln in lines if ln.field in _KINDS]

    return {agent: rules(lines) for agent, lines in groups.items()}, rules(outside)


# --- RFC 9309 §2.2.2 path matching ----------------------------------------------------------------

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _normalise(s: str, *, pattern: bool) -> str:
    """One canonical octet form for patterns and URLs: %-escapes of unreserved characters decoded, other
    escapes upper-cased, non-ASCII / controls / space %-encoded. In a pattern ``*`` and ``$`` stay special;
    in a URL they are encoded so that only a pattern's ``%2A`` / ``%24`` can match them."""
    data = s.encode("utf-8", "surrogatepass")
    out: list[str] = []
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x25 and i + 2 < len(data) and data[i + 1] in _HEX and data[i + 2] in _HEX:
            v = int(data[i + 1: i + 3], 16)
            out.append(chr(v) if v in _UNRESERVED else f"%{v:02X}")
            i += 3
            continue
        if b in (0x2A, 0x24) and not pattern:
            out.append(f"%{b:02X}")
        elif 0x21 <= b <= 0x7E and b != 0x25:
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
        i += 1
    return "".join(out)


def _matches(pattern: str, target: str) -> bool:
    """RFC 9309 §2.2.3: ``*`` matches any sequence, a final ``$`` anchors the end; otherwise a prefix.
    Greedy leftmost matching of the literal pieces, linear in the input (no regex backtracking)."""
    anchored = pattern.endswith("$")
    if anchored:
        pattern = pattern[:-1]
    pieces = [p.replace("$", "%24") for p in pattern.split("*")]
    first, *middle = pieces
    if not target.startswith(first):
        return False
    if not middle:
        return not anchored or target == first
    last = middle.pop()
    pos = len(first)
    for piece in middle:
        found = target.find(piece, pos)
        if found < 0:
            return False
        pos = found + len(piece)
    if anchored:
        return len(target) - len(last) >= pos and target.endswith(last)
    return target.find(last, pos) >= 0


@lru_cache(maxsize=8192)  # pure; asked once per signal for the same URL
def _target(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _normalise(path, pattern=False)


def _winners(rules: Iterable[_Rule], target: str) -> list[_Rule]:
    """The matching rules of greatest length (ATTACH §3.1); ties all apply (fail closed)."""
    matching = [r for r in rules if _matches(r.path, target)]
    if not matching:
        return []
    longest = max(r.length for r in matching)
    return [r for r in matching if r.length == longest]


@dataclass(frozen=True)
class _Scope:
    label: str  # how the detail names the group
    rules: list[_Rule]
    proxy: bool = False  # an AI-training crawler's group, honoured as a proxy


def _scopes(text: str, product_token: str, ai_tokens: Sequence[str]) -> list[_Scope]:
    return _scopes_cached(text, product_token, tuple(ai_tokens))


@lru_cache(maxsize=256)  # one parse per robots.txt text, not per candidate (the text is cached per origin)
def _scopes_cached(text: str, product_token: str, ai_tokens: tuple[str, ...]) -> list[_Scope]:
    groups, outside = _split(text)
    token = product_token.lower()
    scopes: list[_Scope] = []
    if token in groups:
        scopes.append(_Scope(f"User-agent: {product_token} (our product token)", groups[token]))
    elif "*" in groups:
        scopes.append(_Scope(f"User-agent: * (the group for {product_token}; none names it)", groups["*"]))
    seen = {token}
    for tok in ai_tokens:
        low = tok.lower()
        if low in seen or low not in groups:
            continue
        seen.add(low)
        scopes.append(_Scope(f"User-agent: {tok} (a known AI-training crawler)", groups[low], proxy=True))
    if outside:
        scopes.append(_Scope("before any User-agent line (honoured as site-wide)", outside))
    return scopes


_PROXY_NOTE = (
    "; the group names a known AI-training crawler, and ClearFrame honours a refusal of AI training "
    "addressed to such crawlers as a proxy for the site's wishes"
)


def robots_preferences(
    robots_text: str,
    url: str,
    product_token: str,
    robots_url: str,
    evidence: str | None = None,
    *,
    ai_tokens: Sequence[str] = AI_TRAINING_TOKENS,
    status: int | None = None,
) -> list[Finding]:
    """``[aipref finding, content-signal finding]`` for `url` from the text of its origin's robots.txt."""
    out: list[Finding] = []
    for kind, signal, name in (("content-usage", SIGNAL, "Content-Usage"),
                               ("content-signal", CONTENT_SIGNAL, "Content-Signal")):
        try:
            out.append(_robots_finding(kind, signal, name, robots_text, url, product_token, robots_url,
                                       evidence, ai_tokens, status))
        except Exception as exc:  # fail closed, per signal
            out.append(_defer(signal, f"robots.txt {name} rules for {url}", robots_url, exc, status, evidence))
    return out


def _robots_finding(kind: str, signal: str, name: str, robots_text: str, url: str, product_token: str,
                    robots_url: str, evidence: str | None, ai_tokens: Sequence[str],
                    status: int | None) -> Finding:
    def finding(verdict: Verdict, detail: str, rule: str | None) -> Finding:
        return Finding(signal, verdict, detail, locator=robots_url, status=status, rule=rule, evidence=evidence)

    scopes = _scopes(robots_text, product_token, ai_tokens)
    if not any(r.kind == kind for scope in scopes for r in scope.rules):
        return finding(
            Verdict.NONE,
            f"robots.txt {robots_url} has no {name} rule for {url} in the group for {product_token} (or *), "
            "in a known AI-training crawler's group, or before the first group",
            None,
        )
    target = _target(url)
    seen: list[str] = []
    for scope in scopes:
        winners = _winners((r for r in scope.rules if r.kind == kind), target)
        for rule in winners:
            where = f"robots.txt {robots_url} line {rule.lineno} ({scope.label})"
            if kind == "content-usage":
                stmt = parse_statement(rule.statement)
                outcome = _our_preference(stmt) if stmt.error is None else _Outcome("unknown")
                if outcome.preference == "n":
                    return finding(
                        Verdict.DENY,
                        f"{where} {_show(rule.text)} applies to {url}: {_denial(outcome)} "
                        f"({ATTACH} §3.1, longest matching path)" + (_PROXY_NOTE if scope.proxy else ""),
                        f"{scope.label.split(' (')[0]} / {rule.text} (line {rule.lineno})",
                    )
                seen.append(f"line {rule.lineno} ({scope.label}): {_summary(stmt)}")
            else:
                sig = _parse_signals(rule.statement)
                if _signal_train(sig) == "no":
                    return finding(
                        Verdict.DENY,
                        f"{where} {_show(rule.text)} applies to {url}: {_CS_DENIAL}"
                        + (_PROXY_NOTE if scope.proxy else ""),
                        f"{scope.label.split(' (')[0]} / {rule.text} (line {rule.lineno})",
                    )
                seen.append(f"line {rule.lineno} ({scope.label}): {_signal_summary(sig)}")
    if not seen:
        return finding(
            Verdict.NONE,
            f"robots.txt {robots_url} has no {name} rule for {url} in the group for {product_token} (or *), "
            "in a known AI-training crawler's group, or before the first group",
            None,
        )
    return finding(
        Verdict.NONE,
        f"robots.txt {robots_url}: the {name} rules that apply to {url} do not restrict AI training: "
        + " | ".join(seen),
        name,
    )
