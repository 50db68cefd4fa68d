"""License evidence: from what platforms and pages say to an SPDX expression, and from that to a verdict.

Licence metadata in the wild is a zoo: Creative Commons deed URLs in every spelling, platform short codes
(Vimeo `by-nc`), UI labels (PeerTube "Attribution - Share Alike"), wiki templates, free text. The gate
must compare them, so `normalize` maps each to one SPDX id or expression and keeps the raw string as
evidence. Anything it cannot read becomes `LicenseRef-Unknown`, never a guess towards permission.

`evaluate` then sorts the expression into the policy's buckets (allow -> GRANT, review, deny). Only an
allowed license is positive evidence; a missing one is not permission. Parsing and validation of SPDX
expressions is delegated to `license-expression`; this module only walks the parsed tree.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from license_expression import (
    AND,
    OR,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    get_spdx_licensing,
)

from clearframe.records import LicenseInfo, Verdict

__all__ = [
    "ALL_RIGHTS_RESERVED",
    "CONTRACT",
    "NO_KNOWN_RESTRICTIONS",
    "PUBLIC_DOMAIN",
    "PUBLIC_DOMAIN_MARK",
    "UNKNOWN",
    "LicensePolicy",
    "combine",
    "evaluate",
    "license_ids",
    "normalize",
]

# The SPDX index shipped with license-expression (ScanCode LicenseDB). Besides the SPDX License List it
# carries ~1700 `LicenseRef-scancode-*` keys and aliases, so "known to license-expression" is not the same
# as "on the SPDX License List"; `_on_spdx_list` draws that line.
_LICENSING = get_spdx_licensing()
_KNOWN: Mapping[str, LicenseSymbol] = _LICENSING.known_symbols_lowercase


def _known_key(key: str) -> str | None:
    sym = _KNOWN.get(key.casefold())
    return sym.key if sym is not None else None


def _on_spdx_list(key: str) -> bool:
    known = _known_key(key)
    return known is not None and not known.startswith("LicenseRef-")


# --- ClearFrame's own ids ---------------------------------------------------------------------------
UNKNOWN = "LicenseRef-Unknown"
ALL_RIGHTS_RESERVED = "LicenseRef-All-Rights-Reserved"
PUBLIC_DOMAIN = "LicenseRef-Public-Domain"  # a bare "public domain" claim: ambiguous, a human checks it
NO_KNOWN_RESTRICTIONS = "LicenseRef-No-Known-Copyright-Restrictions"  # Flickr code 7, rightsstatements NKC
CONTRACT = "LicenseRef-ClearFrame-Contract"
PUBLIC_DOMAIN_MARK = "CC-PDM-1.0" if _on_spdx_list("CC-PDM-1.0") else "LicenseRef-CC-PDM-1.0"

_OWN_IDS = {
    i.casefold(): i for i in (UNKNOWN, ALL_RIGHTS_RESERVED, PUBLIC_DOMAIN, NO_KNOWN_RESTRICTIONS, CONTRACT)
} | {"licenseref-cc-pdm-1.0": PUBLIC_DOMAIN_MARK}

# Ids that no policy may turn into permission: they are the absence of a readable grant.
_NEVER_GRANT = frozenset({UNKNOWN.casefold(), ALL_RIGHTS_RESERVED.casefold()})

_MISSING = object()  # "the page says there is no license": same as no evidence at all
_MAX_INPUT = 4096  # longer "license" strings are prose, not metadata; do not feed them to the parser

_LICENSEREF_RE = re.compile(r"(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+", re.IGNORECASE)
_LICENSE_SUFFIX_RE = re.compile(r"(?P<name>.+?)\s+licen[cs]e", re.IGNORECASE)
_CC_CONDITION_RE = re.compile(r"(?<![A-Za-z])(?:BY|NC|ND|SA)(?![A-Za-z])", re.IGNORECASE)
_PATTERN_RE = re.compile(r"[A-Za-z0-9.+:*-]+")

# --- Creative Commons vocabulary -------------------------------------------------------------------
_CC_VERSIONS = frozenset({"1.0", "2.0", "2.1", "2.5", "3.0", "4.0"})
# CC jurisdiction ports (2.0-3.0 era). Only consulted right after a version number in free text.
_CC_PORTS = frozenset(
    "am ar at au az be bg br ca ch cl cn co cr cz de dk ec ee eg es fi fr ge gr gt hk hr hu ie igo il in "
    "it jp kr lu mk mt mx my nl no nz pe ph pl pr pt ro rs scotland se sg si th tw ug uk us ve vn za".split()
)
# Words that carry no licensing meaning in CC names ("... 4.0 International", "(reuse allowed)").
_CC_NOISE = frozenset(
    "license licence licensed licenses licences international unported generic universal deed legalcode "
    "legal code the under version v reuse allowed ported migrated".split()
)

_CC_URL_RE = re.compile(
    r"""^(?:https?:)?(?://)?(?:www\.)?creativecommons\.org/
    (?:
        licenses/(?P<fam>[a-z+-]+)/(?P<ver>\d+(?:\.\d+)?)(?:/(?P<port>(?!deed|legalcode|rdf)[a-z]{2,9}))?
      | publicdomain/(?P<pd>zero|mark)/(?P<pdver>\d+(?:\.\d+)?)
      | licenses/(?P<pddc>publicdomain)
    )
    (?:/(?:deed|legalcode|rdf)(?:\.[a-z0-9_-]+)*)?
    /?(?:[?#].*)?$""",
    re.IGNORECASE | re.VERBOSE,
)
_SPDX_URL_RE = re.compile(
    r"^(?:https?:)?(?://)?(?:www\.)?(?:spdx\.org/licenses|opensource\.org/licenses?)/"
    r"(?P<id>[A-Za-z0-9.+-]+?)(?:\.html|\.json|\.php)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)
_RIGHTS_URL_RE = re.compile(
    r"^(?:https?:)?(?://)?(?:www\.)?rightsstatements\.org/(?:vocab|page)/(?P<code>[A-Za-z-]+)/",
    re.IGNORECASE,
)
_URL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//|^www\.|^[a-z0-9-]+(?:\.[a-z0-9-]+)+/", re.IGNORECASE)

# Phrases compared against the canonical text (lowercase, runs of non [a-z0-9.] collapsed to one space).
_MISSING_PHRASES = frozenset(
    {"none", "null", "nil", "unknown", "undefined", "n a", "na", "not specified", "unspecified", "no license"}
)
_CONTRACT_PHRASES = frozenset({"contract", "partner contract"})
_ARR_PHRASES = frozenset(
    {
        "all rights reserved",
        "standard youtube license",
        "youtube standard license",
        "copyright",
        "copyrighted",
        "copyrighted contact publisher",
        "proprietary",
        "in copyright",
        "c",
    }
)
_PDDC_PHRASES = frozenset(
    {
        "pddc",
        "cc pddc",
        "public domain dedication and certification",
        "cc public domain dedication and certification",
    }
)
# Flickr labels its code 10 (the Public Domain Mark) "Public Domain Work".
_PDM_PHRASES = frozenset(
    {"pdm", "cc pdm", "public domain mark", "cc public domain mark", "public domain work"}
    | {f"{p} 1.0" for p in ("pdm", "cc pdm", "public domain mark", "cc public domain mark")}
)
_GOV_WORK_PHRASES = frozenset(
    {"united states government work", "us government work", "u.s. government work", "us govt work"}
)
_NKCR_PHRASES = frozenset({"no known copyright restrictions", "no known copyright"})
_RIGHTS_STATEMENTS = {"nkc": NO_KNOWN_RESTRICTIONS, "noc-us": PUBLIC_DOMAIN}
_SCANCODE_PUBLIC_DOMAIN = frozenset(
    {
        "licenseref-scancode-public-domain",
        "licenseref-scancode-public-domain-disclaimer",
        "licenseref-scancode-us-govt-public-domain",
    }
)


# --- normalize ---------------------------------------------------------------------------------------
def normalize(raw: str | None, found_in: str | None = None, url: str | None = None) -> LicenseInfo:
    """Turn license metadata as found into an SPDX id or expression, keeping the raw string as evidence.

    `url` is the license link when the place had one (JSON-LD `license`, `<link rel=license href>`); a
    page URL is harmless, it is simply not recognised. When both `raw` and `url` are readable and
    disagree, the more restrictive reading wins, because one declaration cannot grant more than it says.
    Never raises: unreadable input becomes `LicenseRef-Unknown`, absent input `spdx=None`.
    """
    if raw is not None and not isinstance(raw, str):
        raw = str(raw)
    from_raw = _safe_normalize_text(raw)
    from_url = _safe_normalize_text(url) if url and url != raw and _URL_RE.match(url.strip()) else None
    if from_url is None or from_url is _MISSING or from_url == UNKNOWN:
        spdx = from_raw
    elif from_raw is None or from_raw is _MISSING or from_raw == UNKNOWN:
        spdx = from_url
    elif _canonical(str(from_raw)) == _canonical(str(from_url)):
        spdx = from_raw
    else:
        spdx = _most_restrictive([str(from_raw), str(from_url)])
    return LicenseInfo(raw=raw, spdx=spdx if isinstance(spdx, str) else None, found_in=found_in, url=url)


def _safe_normalize_text(text: str | None) -> str | object | None:
    """None for no input, _MISSING for an explicit "no license", else an SPDX id/expression."""
    if text is None or not text.strip():
        return None
    if len(text) > _MAX_INPUT:
        return UNKNOWN
    try:
        single = _resolve_single(text)
        if single is not None:
            return single
        expression = _resolve_expression(text)
        if expression is None and (m := _LICENSE_SUFFIX_RE.fullmatch(text.strip())):
            expression = _resolve_expression(m["name"])  # "MIT License", "Apache-2.0 licence"
        return expression or UNKNOWN
    except Exception:  # noqa: BLE001 - metadata from the wild must never crash the gate
        return UNKNOWN


def _canon_text(text: str) -> str:
    text = text.strip().strip("\"'<>()[] ").casefold().replace("©", " c ").replace("&", " and ")
    text = re.sub(r"\(c\)", " c ", text)
    text = re.sub(r"creative\s*commons", " cc ", text)
    text = re.sub(r"[^a-z0-9.]+", " ", text)
    text = re.sub(r"(?<![0-9])\.|\.(?![0-9])", " ", text)  # keep dots only inside version numbers
    return " ".join(text.split())


def _resolve_single(text: str) -> str | object | None:
    """One license named in any of the ways platforms name it, or None if this is not one of those."""
    stripped = text.strip().strip("\"'<> ")
    low = stripped.casefold()
    if low in _OWN_IDS:
        return _OWN_IDS[low]
    if low.startswith("licenseref-"):
        # Our LicenseRef-CC-* namespace must round-trip; anything else there is malformed. Other
        # LicenseRefs are left to the expression path (which knows ScanCode's aliases).
        if low.startswith("licenseref-cc-") and _LICENSEREF_RE.fullmatch(stripped):
            return _cc_from_words(_canon_text(low.removeprefix("licenseref-"))) or UNKNOWN
        return None
    if _URL_RE.match(stripped):
        return _from_url(stripped) or UNKNOWN

    canon = _canon_text(stripped)
    if not canon:
        return None
    if canon in _MISSING_PHRASES:
        return _MISSING
    if canon in _CONTRACT_PHRASES:
        return CONTRACT
    if canon in _ARR_PHRASES or "all rights reserved" in canon:
        return ALL_RIGHTS_RESERVED
    if canon in _PDDC_PHRASES:
        return "CC-PDDC"
    if canon in _PDM_PHRASES:
        return PUBLIC_DOMAIN_MARK
    if canon in _NKCR_PHRASES:
        return NO_KNOWN_RESTRICTIONS
    cc = _cc_from_words(canon)
    if cc is not None:
        return cc
    # Bare public-domain claims, Wikimedia `pd`/`PD-old-70`/`PD-US` templates, US government works: a
    # statement about status, not a license; the review bucket decides.
    if (
        canon in _GOV_WORK_PHRASES
        or canon in {"pd", "public domain", "publicdomain"}
        or canon.startswith(("pd ", "public domain "))
    ):
        return PUBLIC_DOMAIN
    return None


def _cc_from_words(canon: str) -> str | None:
    """Read a Creative Commons name from its words, or None unless every word is CC vocabulary.

    Requiring every word to be known is what keeps "photo by Jane" from reading as CC BY.
    """
    canon = canon.replace("public domain dedication", "pdd").replace("public domain", "pd")
    toks = re.findall(r"\d+(?:\.\d+)?|[a-z]+", canon)
    elems: set[str] = set()
    versions: set[str] = set()
    port: str | None = None
    cc = pd = unversioned = False
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t == "cc" and nxt == "0":
            elems.add("ZERO")
            cc = True
            i += 1
        elif t in {"cc", "creative", "commons"}:
            cc = True
        elif t == "zero":
            elems.add("ZERO")
        elif t == "pdd":  # "Public Domain Dedication" is CC0's own name (PeerTube, Flickr, Wikimedia)
            elems.add("ZERO")
            cc = True
        elif t == "unversioned":  # only in our own LicenseRef-CC-*-unversioned ids
            unversioned = True
        elif t == "pd":
            pd = True
        elif t in {"by", "attribution"}:
            elems.add("BY")
        elif t in {"sa", "sharealike"}:
            elems.add("SA")
        elif t == "share" and nxt == "alike":
            elems.add("SA")
            i += 1
        elif t in {"nc", "noncommercial"}:
            elems.add("NC")
        elif t == "non" and nxt == "commercial":
            elems.add("NC")
            i += 1
        elif t in {"nd", "noderivs", "noderivatives", "noderiv"}:
            elems.add("ND")
        elif t == "no" and nxt in {"derivatives", "derivs", "derivative"}:
            elems.add("ND")
            i += 1
            if i + 1 < len(toks) and toks[i + 1] == "works":
                i += 1
        elif re.fullmatch(r"\d+(?:\.\d+)?", t):
            ver = f"{t}.0" if t in {"1", "2", "3", "4"} else t
            if ver not in _CC_VERSIONS:
                return None
            versions.add(ver)
            if nxt in _CC_PORTS:
                port = nxt
                i += 1
        elif t not in _CC_NOISE:
            return None
        i += 1

    if len(versions) > 1 or (unversioned and versions):
        return None
    version = next(iter(versions), None)
    if "ZERO" in elems:
        if elems != {"ZERO"} or not cc or port or version not in {None, "1.0"}:
            return None
        return "CC0-1.0"
    if pd or not elems:
        return None
    if "BY" not in elems and not cc:
        return None  # a bare "nc" or "sa" is not evidence of anything
    return _cc_id(elems, version, port)


def _cc_id(elems: set[str], version: str | None, port: str | None) -> str | None:
    if "ND" in elems and "SA" in elems:
        return None  # no such license
    family = "-".join(e for e in ("BY", "NC", "ND", "SA") if e in elems)
    if version is None:
        return f"LicenseRef-CC-{family}-unversioned"
    if version == "2.1" and not port:
        return None  # 2.1 exists only as jurisdiction ports
    if port:
        ported = _known_key(f"CC-{family}-{version}-{port}")
        if ported and _on_spdx_list(ported):
            return ported
    generic = _known_key(f"CC-{family}-{version}")
    if generic and _on_spdx_list(generic):
        return generic
    return f"LicenseRef-CC-{family}-{version}" + (f"-{port.upper()}" if port else "")


def _from_url(url: str) -> str | None:
    m = _CC_URL_RE.match(url)
    if m:
        if m["pddc"]:
            return "CC-PDDC"  # the retired CC Public Domain Dedication and Certification
        if m["pd"]:
            if m["pdver"] != "1.0":
                return None
            return "CC0-1.0" if m["pd"].casefold() == "zero" else PUBLIC_DOMAIN_MARK
        parts = m["fam"].casefold().split("-")
        codes = {"by": "BY", "nc": "NC", "nd": "ND", "sa": "SA"}
        if (
            m["ver"] not in _CC_VERSIONS
            or not all(p in codes for p in parts)
            or len(set(parts)) != len(parts)
        ):
            return None
        return _cc_id({codes[p] for p in parts}, m["ver"], (m["port"] or "").casefold() or None)
    m = _SPDX_URL_RE.match(url)
    if m:
        return _known_key(m["id"]) if _on_spdx_list(m["id"]) else None
    m = _RIGHTS_URL_RE.match(url)
    if m:
        code = m["code"].casefold()
        return ALL_RIGHTS_RESERVED if code.startswith("inc") else _RIGHTS_STATEMENTS.get(code)
    return None


# --- expressions: parsed by license-expression, walked here ---------------------------------------------
@dataclass(frozen=True)
class _With:
    license: str
    exception: str


@dataclass(frozen=True)
class _Op:
    op: str  # "AND" | "OR"
    args: tuple[Node, ...]


# A parsed expression as this module needs it: a license id, `id WITH exception`, or AND/OR of nodes.
Node = str | _With | _Op


class _Unreadable(Exception):
    pass


def _to_node(expr: Any, resolve: Callable[[str], str]) -> Node:
    if isinstance(expr, LicenseWithExceptionSymbol):
        exc = _KNOWN.get(expr.exception_symbol.key.casefold())
        if exc is None or not exc.is_exception:
            raise _Unreadable(f"{expr.exception_symbol.key!r} is not a license exception")
        return _With(resolve(expr.license_symbol.key), exc.key)
    if isinstance(expr, LicenseSymbol):
        return resolve(expr.key)
    if isinstance(expr, AND | OR):
        op = "AND" if isinstance(expr, AND) else "OR"
        return _Op(op, tuple(_to_node(a, resolve) for a in expr.args))
    raise _Unreadable(f"unexpected node {expr!r}")


def _resolve_symbol(key: str) -> str:
    """A symbol inside an expression: an SPDX id, one of our LicenseRefs, or a CC name in any spelling."""
    known = _known_key(key)
    if known is not None and not known.startswith("LicenseRef-"):
        sym = _KNOWN[known.casefold()]
        if sym.is_exception:
            raise _Unreadable(f"{known} is an exception, not a license")
        return known
    if known is not None:  # a ScanCode LicenseRef: fold the ones we have our own names for
        low = known.casefold()
        if low in _SCANCODE_PUBLIC_DOMAIN:
            return PUBLIC_DOMAIN
        if low.startswith("licenseref-scancode-cc-"):
            return _cc_from_words(_canon_text(low.removeprefix("licenseref-scancode-"))) or known
        return known
    single = _resolve_single(key)
    if single == UNKNOWN:  # a shape we own (a URL, LicenseRef-CC-*) that did not read: not a license
        raise _Unreadable(f"{key!r} is not a license")
    if isinstance(single, str):
        return single
    if _LICENSEREF_RE.fullmatch(key):  # someone's own LicenseRef: kept, with the prefix spelt as SPDX does
        at = key.casefold().rfind("licenseref-")
        return f"{key[:at]}LicenseRef-{key[at + len('licenseref-') :]}"
    raise _Unreadable(f"{key!r} is not a license")


def _resolve_expression(text: str) -> str | None:
    try:
        parsed = _LICENSING.parse(text)
        if parsed is None:
            return None
        return _render(_to_node(parsed, _resolve_symbol))
    except Exception:  # noqa: BLE001 - syntax errors, unknown symbols, deep nesting: all unreadable
        return None


def _render(node: Node, sort: bool = False) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, _With):
        return f"{node.license} WITH {node.exception}"
    parts = [f"({_render(c, sort)})" if isinstance(c, _Op) else _render(c, sort) for c in node.args]
    return f" {node.op} ".join(sorted(parts) if sort else parts)


@lru_cache(maxsize=4096)
def _tree(spdx: str) -> Node:
    """Parse an SPDX expression as stored on a LicenseInfo; raises _Unreadable when it is not one."""
    try:
        parsed = _LICENSING.parse(spdx)
    except Exception as exc:  # noqa: BLE001
        raise _Unreadable(str(exc)) from exc
    if parsed is None:
        raise _Unreadable("empty expression")

    def keep(key: str) -> str:
        known = _known_key(key)
        if known is not None and not _KNOWN[known.casefold()].is_exception:
            return known
        if known is None and _LICENSEREF_RE.fullmatch(key):
            return key
        raise _Unreadable(f"{key!r} is not an SPDX license id")

    return _to_node(parsed, keep)


def _canonical(spdx: str) -> str:
    """A comparison key: `A OR B` and `b or a` are the same declaration."""
    try:
        return _render(_tree(spdx), sort=True).casefold()
    except _Unreadable:
        return spdx.strip().casefold()


def license_ids(spdx: str | None) -> list[str]:
    """The license ids (exceptions left out) an SPDX expression names, in order; [] if unreadable."""
    if not spdx:
        return []
    try:
        node = _tree(spdx)
    except _Unreadable:
        return []
    out: list[str] = []

    def walk(n: Node) -> None:
        if isinstance(n, str):
            out.append(n)
        elif isinstance(n, _With):
            out.append(n.license)
        else:
            for c in n.args:
                walk(c)

    walk(node)
    return out


# --- policy ------------------------------------------------------------------------------------------
_BUCKET_WORD = {Verdict.GRANT: "allow", Verdict.REVIEW: "review", Verdict.DENY: "deny"}
_STRICTNESS = {Verdict.GRANT: 0, Verdict.REVIEW: 1, Verdict.DENY: 2}

# What the default patterns mean, for the detail line ("CC-BY-NC-4.0 is non-commercial: deny").
_REASONS = {
    "CC0-1.0": "a public-domain dedication",
    "CC-PDDC": "a public-domain dedication and certification",
    "CC-PDM-1.0": "marked as free of known copyright (Public Domain Mark)",
    "LicenseRef-CC-PDM-1.0": "marked as free of known copyright (Public Domain Mark)",
    "CC-BY-*": "attribution-only",
    "LicenseRef-CC-BY-*": "attribution-only",
    "CC-BY-SA-*": "share-alike",
    "LicenseRef-CC-BY-SA-*": "share-alike",
    "CC-SA-*": "share-alike",
    "LicenseRef-CC-SA-*": "share-alike",
    "CC-BY-ND-*": "no-derivatives",
    "LicenseRef-CC-BY-ND-*": "no-derivatives",
    "LicenseRef-CC-ND-*": "no-derivatives",
    PUBLIC_DOMAIN: "an unverified public-domain claim",
    NO_KNOWN_RESTRICTIONS: "'no known copyright restrictions', a status note rather than a license",
    "CC-BY-NC-*": "non-commercial",
    "LicenseRef-CC-BY-NC-*": "non-commercial",
    "LicenseRef-CC-NC-*": "non-commercial",
    "*-NC-*": "non-commercial",
    "*-NC": "non-commercial",
    ALL_RIGHTS_RESERVED: "all rights reserved",
    UNKNOWN: "not a license ClearFrame recognises",
}

_DEFAULT_ALLOW = (
    "CC0-1.0",
    "CC-PDDC",
    "CC-PDM-1.0",
    "LicenseRef-CC-PDM-1.0",
    "CC-BY-*",
    "LicenseRef-CC-BY-*",
)
_DEFAULT_REVIEW = (
    "CC-BY-SA-*",
    "LicenseRef-CC-BY-SA-*",
    "CC-SA-*",
    "LicenseRef-CC-SA-*",
    "CC-BY-ND-*",
    "LicenseRef-CC-BY-ND-*",
    "LicenseRef-CC-ND-*",
    PUBLIC_DOMAIN,
    NO_KNOWN_RESTRICTIONS,
)
_DEFAULT_DENY = (
    "CC-BY-NC-*",
    "LicenseRef-CC-BY-NC-*",
    "LicenseRef-CC-NC-*",
    "*-NC-*",
    "*-NC",
    ALL_RIGHTS_RESERVED,
    UNKNOWN,
)


def _specificity(pattern: str) -> tuple[int, int]:
    """An exact id beats any glob; among globs the one with more literal characters is more specific."""
    return ("*" not in pattern, len(pattern.replace("*", "")))


@dataclass(frozen=True)
class LicensePolicy:
    """Which SPDX ids (with `*` globs, case-insensitive) are allowed, need review, or are denied.

    Patterns overlap on purpose (`CC-BY-*` allows, `CC-BY-NC-*` denies), so the most specific matching
    pattern decides and a tie goes to the stricter bucket. That lets a source override one id without
    rewriting the families. An id no pattern matches is REVIEW if it is on the SPDX License List (a real
    license, just not one made for media, e.g. MIT) and DENY otherwise. A missing license and the
    partner-contract marker are not patterns: `evaluate` rules on them.
    """

    allow: frozenset[str] = field(default_factory=frozenset)
    review: frozenset[str] = field(default_factory=frozenset)
    deny: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for name in ("allow", "review", "deny"):
            patterns = frozenset(getattr(self, name))
            object.__setattr__(self, name, patterns)
            for p in patterns:
                if not isinstance(p, str) or not _PATTERN_RE.fullmatch(p):
                    raise ValueError(f"license policy {name}: {p!r} is not an SPDX id or `*` pattern")
                if p.casefold() in seen:
                    raise ValueError(
                        f"license policy: {p!r} is listed under both {seen[p.casefold()]} and {name}"
                    )
                seen[p.casefold()] = name
        for p in self.allow:
            if p.casefold() in _NEVER_GRANT:
                raise ValueError(f"license policy: {p} can never be allowed; it is the absence of a license")

    @classmethod
    def default(cls) -> LicensePolicy:
        return cls(frozenset(_DEFAULT_ALLOW), frozenset(_DEFAULT_REVIEW), frozenset(_DEFAULT_DENY))

    @classmethod
    def from_config(cls, config: Mapping[str, Iterable[str] | None] | None) -> LicensePolicy:
        """The defaults, with a source's `allow`/`review`/`deny` lists moved on top.

        A pattern named in the config leaves whatever default bucket held the identical pattern, so
        `{"allow": ["CC-BY-SA-*"]}` promotes share-alike; narrower defaults keep their say.
        """
        base = cls.default()
        if not config:
            return base
        if not isinstance(config, Mapping):
            raise TypeError(f"license policy config must be a mapping, not {type(config).__name__}")
        unknown = set(config) - {"allow", "review", "deny"}
        if unknown:
            raise ValueError(
                f"license policy config: unknown key(s) {sorted(unknown)}; use allow, review, deny"
            )
        buckets = {"allow": set(base.allow), "review": set(base.review), "deny": set(base.deny)}
        claimed: dict[str, str] = {}
        for name in ("allow", "review", "deny"):
            entries = config.get(name) or []
            if isinstance(entries, str):
                raise TypeError(f"license policy config {name}: expected a list of SPDX ids, got a string")
            for p in entries:
                if not isinstance(p, str):
                    raise ValueError(f"license policy config {name}: {p!r} is not a string")
                p = p.strip()
                key = p.casefold()
                if key in claimed and claimed[key] != name:
                    raise ValueError(f"license policy config: {p!r} is under both {claimed[key]} and {name}")
                claimed[key] = name
                for members in buckets.values():
                    members.difference_update({m for m in members if m.casefold() == key})
                buckets[name].add(p)
        return cls(frozenset(buckets["allow"]), frozenset(buckets["review"]), frozenset(buckets["deny"]))

    def classify(self, license_id: str) -> tuple[Verdict, str]:
        """The bucket of one license id (not an expression) and the detail line that says why."""
        lid = license_id.casefold()
        best: tuple[tuple[int, int], int, Verdict, str] | None = None
        for verdict, patterns in (
            (Verdict.GRANT, self.allow),
            (Verdict.REVIEW, self.review),
            (Verdict.DENY, self.deny),
        ):
            for p in patterns:
                if fnmatch.fnmatchcase(lid, p.casefold()):
                    cand = (_specificity(p), _STRICTNESS[verdict], verdict, p)
                    if best is None or cand[:2] > best[:2]:
                        best = cand
        if best is None:
            if _on_spdx_list(license_id):
                verdict, reason = (
                    Verdict.REVIEW,
                    "a license the policy does not list and not one made for media",
                )
            else:
                verdict, reason = Verdict.DENY, "not a license the policy recognises"
        else:
            _, _, verdict, pattern = best
            reason = _REASONS.get(pattern) or f"matched by {pattern!r} in the license policy"
        if verdict is Verdict.GRANT and lid in _NEVER_GRANT:
            verdict, reason = Verdict.DENY, _REASONS.get(license_id, "never permission")
        return verdict, f"{license_id} is {reason}: {_BUCKET_WORD[verdict]}"


_DEFAULT_POLICY = LicensePolicy.default()


# --- evaluate / combine -------------------------------------------------------------------------------
def evaluate(
    info: LicenseInfo | None, policy: LicensePolicy, contract_id: str | None = None
) -> tuple[Verdict, str]:
    """GRANT, REVIEW or DENY for a candidate's license, with a detail naming the license and the bucket.

    `A OR B` lets the licensee choose, so the most permissive option decides; `A AND B` binds to all, so
    the most restrictive decides; `A WITH exception` is judged by A (exceptions only add permissions).
    """
    if info is None or not info.spdx:
        seen = f" (saw {info.raw!r})" if info is not None and info.raw else ""
        return Verdict.DENY, f"no license evidence{seen}; a missing license is not permission"
    try:
        node = _tree(info.spdx)
    except _Unreadable as exc:
        return Verdict.DENY, f"{info.spdx!r} is not a readable SPDX expression ({exc}): deny"
    verdict, details = _judge(node, policy, contract_id)
    if isinstance(node, str):
        return verdict, details[0]
    if isinstance(node, _With):
        return verdict, f"{_render(node)} is judged by its base license: {details[0]}"
    how = (
        "the licensee may choose, so the most permissive option decides"
        if node.op == "OR"
        else "all terms apply, so the most restrictive decides"
    )
    return verdict, f"{_render(node)}: {how}: {_BUCKET_WORD[verdict]} ({'; '.join(dict.fromkeys(details))})"


def _judge(node: Node, policy: LicensePolicy, contract_id: str | None) -> tuple[Verdict, list[str]]:
    if not isinstance(node, _Op):
        lid = node if isinstance(node, str) else node.license
        if lid.casefold() == CONTRACT.casefold():
            if contract_id:
                return Verdict.GRANT, [f"{CONTRACT} is covered by partner contract {contract_id!r}: allow"]
            return Verdict.DENY, [
                f"{CONTRACT} names a partner contract, but the contract id is missing: deny"
            ]
        if lid.casefold().startswith("licenseref-cc-") and _resolve_single(lid) in (None, UNKNOWN):
            # Our namespace is generated, never typed: a malformed one must not ride a LicenseRef-CC-* glob.
            return Verdict.DENY, [f"{lid} is not a license ClearFrame recognises: deny"]
        verdict, detail = policy.classify(lid)
        return verdict, [detail]
    results = [_judge(c, policy, contract_id) for c in node.args]
    pick = min if node.op == "OR" else max
    verdict = pick((r[0] for r in results), key=_STRICTNESS.__getitem__)
    return verdict, [d for r in results for d in r[1]]


def _most_restrictive(spdx_ids: list[str]) -> str:
    """The first of the most restrictive, by the default policy, with any contract counted as granted.

    Within one bucket the declaration carrying more CC conditions (BY, NC, ND, SA) is the stricter one,
    so CC0 against CC-BY keeps the attribution duty.
    """

    def strictness(spdx: str) -> tuple[int, int]:
        verdict, _ = evaluate(LicenseInfo(raw=None, spdx=spdx), _DEFAULT_POLICY, contract_id="(any)")
        return _STRICTNESS[verdict], len(_CC_CONDITION_RE.findall(spdx))

    return max(spdx_ids, key=strictness)


def combine(infos: list[LicenseInfo]) -> tuple[LicenseInfo | None, str | None]:
    """One license for a candidate out of every place that declared one, and a note if they disagree.

    Absence (spdx None) is not a declaration and cannot conflict. On a real conflict the most
    restrictive declaration is returned with a note; the caller must then not allow, since a page that
    contradicts itself is no clear permission.
    """
    if not infos:
        return None, None
    stated = [i for i in infos if i.spdx]
    if not stated:
        return infos[0], None
    distinct = list(dict.fromkeys(_canonical(i.spdx or "") for i in stated))
    if len(distinct) == 1:
        return stated[0], None
    chosen_spdx = _most_restrictive([i.spdx or "" for i in stated])
    chosen = next(i for i in stated if i.spdx == chosen_spdx)
    said = ", ".join(f"{i.found_in or 'a declaration'} says {i.spdx}" for i in stated)
    return chosen, f"conflicting license declarations ({said}); the most restrictive, {chosen.spdx}, applies"
