"""W3C TDM Reservation Protocol (TDMRep) signal: ``/.well-known/tdmrep.json``, headers, HTML meta.

Spec: "TDM Reservation Protocol (TDMRep)", W3C Community Group Final Report of 10 May 2024
(https://www.w3.org/community/reports/tdmrep/CG-FINAL-tdmrep-20240510/, source
https://github.com/w3c/tdm-reservation-protocol/blob/main/spec/index.html). Section names below are the
spec's anchors.

Values (#sec-tdm-reservation, #sec-tdm-policy)
    ``tdm-reservation`` is 1 (TDM rights are reserved) or 0 (not reserved). "Other values are considered
    protocol errors. In such a case the TDM Agents MUST consider that tdm-reservation is unset." So an
    HTTP header ``tdm-reservation: yes`` is unset; every invalid value is named in the finding's detail.
    In tdmrep.json a JSON number equal to 1 or 0 is accepted (``1.0`` is the number 1 in JSON); strings
    (``"1"``), ``true`` and everything else are protocol errors. ``tdm-policy`` is a URL where a TDM
    licence may be sought: it is recorded in the detail and grants nothing; with ``tdm-reservation: 0``
    it is not processed ("SHOULD NOT").

    ClearFrame: 1 -> Verdict.DENY (rights reserved; we do not seek or assume a licence here). 0 or unset
    -> Verdict.NONE (a signal never grants).

The file (#sec-tdm-file, #sec-tdm-file-regexp)
    A JSON array of rules ``{"location": <pattern>, "tdm-reservation": 0|1, "tdm-policy": <url>}``;
    ``location`` and ``tdm-reservation`` are mandatory. ``location`` is matched against the URL's path
    (plus query) with the robots.txt pattern language (``*``, trailing ``$``, prefix match, unreserved
    percent-encodings decoded, case-sensitive: `clearframe.gate.wellknown.PathPattern`). "The most
    specific match found MUST be used. The most specific match is the first in sequence": the **first
    matching rule in array order** applies, not the longest one. When a later matching rule says
    something else, the detail says so (it is shadowed by the spec's rule). "If no match is found ...
    tdm-reservation is unset." A matching rule whose value is invalid is still the match used; its
    reservation is unset.

    An invalid *document* is DEFER: not UTF-8, not JSON (NaN/Infinity and duplicate keys included), not
    an array, a rule that is not an object, a missing or non-string ``location``, a ``location`` that is
    not a path pattern (must start with ``/`` or ``*``; a full URL or an empty string is not), a missing
    ``tdm-reservation``. Real sites publish e.g. a bare object ``{"tdm-reservation": 1}``: that is not
    the spec's format; we cannot say which paths it covers, so we defer and the detail says why.

Fetching the file (design.md: fail closed; `clearframe.gate.wellknown.WellKnownFetcher`)
    2xx -> parsed (invalid -> DEFER). 404, 410 and other non-refusal 4xx -> no file: the header and meta
    decide ("Failure to provide access to such a representation implies that the origin server does not
    implement this protocol"). 401/403/451 -> DENY, consistent with robots.py: ClearFrame takes an
    access-controlled policy document as a refusal of the host and never retries with another identity.
    5xx, 429, network errors, timeouts, more than 5 redirects, a body over 512 KiB -> DEFER. The file is
    fetched once per origin and cached ("A TDM Agent must keep in cache the content of the TDM file").
    A 200 answer that is an HTML page (a "soft 404") is not valid JSON, hence DEFER; the detail says it
    looks like HTML.

Priority (#sec-processing-priority)
    "A TDM Agent MUST check the presence of a TDM file on the origin server before it starts scraping";
    the values of a TDM header field "supercede any value inferred from a TDM file"; HTML meta values
    "supercede previous values"; "the absence of tdm-reservation and tdm-policy MUST not reset current
    values". So the effective ``tdm-reservation`` is the last *valid* one of file rule, header, meta
    (an invalid value is unset and resets nothing), and ``tdm-policy`` likewise, independently. A header
    ``tdm-reservation: 0`` therefore lifts a file's 1 for that resource, as the spec says.

    ClearFrame's fail-closed reading, in order:
      1. file answered 401/403/451 -> DENY (a refusal, not a TDMRep value);
      2. effective reservation 1 -> DENY, even when the file could not be read (a known reservation is
         enough);
      3. the file could not be read or parsed -> DEFER: the spec requires checking it before mining, and
         we could not (this holds even when a header says 0);
      4. contradictory valid values in one source (``tdm-reservation: 1`` and ``: 0`` in two header lines,
         or two meta elements) -> REVIEW, unless a later source settles the value;
      5. effective 0 or unset -> NONE.

    Header lines of the same name are read as one comma-separated list (RFC 9110 §5.3); each member is
    judged on its own. ``tdm-policy`` values are not split (URLs may contain commas).

Scope. The file describes resources hosted on its own origin, so it is fetched for the origin of the URL
being judged (page or media), never applied across origins. The TDMRep HTML technique note says meta in
a page does not cover media the page references; the gate nonetheless asks for the page and for the
media, and any DENY refuses the candidate (design.md: restrictions win). EPUB and PDF metadata
(#sec-epub2, #sec-epub3, #sec-pdf) and the ODRL policy format (#sec-policy) are not implemented: ClearFrame
handles video, and a policy never turns a reservation into a permission.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import requests

from clearframe.gate.wellknown import (
    DEFAULT_MAX_BYTES,
    DocStatus,
    PathPattern,
    WellKnownFetcher,
    WellKnownResult,
    split_origin,
    url_target,
)
from clearframe.records import Finding, Verdict

__all__ = [
    "SIGNAL",
    "WELL_KNOWN_PATH",
    "FileState",
    "TdmFile",
    "TdmRepError",
    "TdmRepFetcher",
    "TdmRule",
    "first_match",
    "parse_tdmrep_json",
    "tdmrep_file_finding",
    "tdmrep_finding",
]

SIGNAL = "tdmrep"
WELL_KNOWN_PATH = "/.well-known/tdmrep.json"
_SPEC = "TDMRep (W3C CG Final Report, 2024-05-10)"

# Response headers: a Mapping (requests' headers, or `clearframe.probe.signal_headers`' name -> lines) or
# (name, value) pairs, one per header line.
Headers = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]
Meta = Mapping[str, Sequence[str] | str]
_MAX_SHOWN = 120  # characters of an odd value quoted in a detail


def _show(value: str) -> str:
    """A string from a header, meta or file, quoted and shortened for a detail."""
    return repr(value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "...")


def _json_text(value: object) -> str:
    """A JSON value as written in the file (so that the string "1" and the number 1 read differently)."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = f"<a {type(value).__name__} too deeply nested to show>"
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


class TdmRepError(ValueError):
    """A tdmrep.json that is not a valid TDMRep document (the message names the rule and the field)."""


@dataclass(frozen=True)
class TdmRule:
    """One rule of tdmrep.json, validated."""

    index: int  # 1-based position in the array; the first matching rule is the one that applies
    location: str
    reservation: int | None  # 1, 0, or None when the value was a protocol error (read as unset)
    policy: str | None
    raw_reservation: str  # the value as written (JSON), for the audit trail
    notes: tuple[str, ...] = ()  # protocol errors found in this rule
    pattern: PathPattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", PathPattern(self.location))

    def matches(self, url: str) -> bool:
        """Does `location` match the path (and query) of `url` (a URL or an absolute path)?"""
        return self.pattern.matches(url_target(url))

    def describe(self) -> str:
        text = f"rule #{self.index} (location {self.location!r}, tdm-reservation {self.raw_reservation}"
        if self.policy is not None:
            text += f", tdm-policy {_show(self.policy)}"
        return text + ")"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise TdmRepError(f"tdmrep.json has the key {key!r} twice in one object; which one counts is undefined")
        obj[key] = value
    return obj


def _reject_constant(name: str) -> Any:
    raise TdmRepError(f"tdmrep.json contains {name}, which is not JSON (RFC 8259)")


def _reservation_value(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value == 1:
        return 1
    if value == 0:
        return 0
    return None


def parse_tdmrep_json(body: bytes) -> list[TdmRule]:
    """The rules of a tdmrep.json document, in order; TdmRepError when it is not a valid TDMRep document."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TdmRepError(f"tdmrep.json is not UTF-8 text (RFC 8259 §8.1): {exc}") from None
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except TdmRepError:
        raise
    except (ValueError, RecursionError) as exc:
        hint = ""
        if text.lstrip()[:1] == "<":
            hint = " (the body looks like HTML: perhaps a page served with 200 instead of a 404)"
        raise TdmRepError(f"tdmrep.json is not valid JSON{hint}: {exc}") from None
    if not isinstance(data, list):
        kind = "an object" if isinstance(data, dict) else f"a {type(data).__name__}"
        raise TdmRepError(
            f"tdmrep.json's top-level value is {kind}, not the array of rules the spec requires "
            "(#sec-tdm-file): which paths it covers is unknown"
        )
    rules: list[TdmRule] = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise TdmRepError(f"tdmrep.json rule #{i} is {_json_text(item)}, not an object")
        if "location" not in item:
            raise TdmRepError(f"tdmrep.json rule #{i} has no location, which the spec makes mandatory")
        location = item["location"]
        if not isinstance(location, str):
            raise TdmRepError(f"tdmrep.json rule #{i}: location {_json_text(location)} is not a string")
        if not location.startswith(("/", "*")):
            raise TdmRepError(
                f"tdmrep.json rule #{i}: location {location!r} is not a path pattern (it must start with "
                "'/' or '*'); which paths it covers is unknown"
            )
        if "tdm-reservation" not in item:
            raise TdmRepError(
                f"tdmrep.json rule #{i} (location {location!r}) has no tdm-reservation, which the spec "
                "makes mandatory"
            )
        raw = item["tdm-reservation"]
        reservation = _reservation_value(raw)
        notes: list[str] = []
        if reservation is None:
            notes.append(
                f"rule #{i} has tdm-reservation {_json_text(raw)}, which is not the number 1 or 0: a protocol "
                "error, read as unset (#sec-tdm-reservation)"
            )
        policy = item.get("tdm-policy")
        if policy is not None and not isinstance(policy, str):
            notes.append(f"rule #{i} has tdm-policy {_json_text(policy)}, which is not a URL string: ignored")
            policy = None
        rules.append(TdmRule(i, location, reservation, policy, _json_text(raw), tuple(notes)))
    return rules


def first_match(rules: Iterable[TdmRule], url: str) -> tuple[TdmRule | None, list[TdmRule]]:
    """(the rule that applies to `url`: the first matching one in sequence, every matching rule)."""
    target = url_target(url)
    matching = [r for r in rules if r.pattern.matches(target)]
    return (matching[0] if matching else None), matching


# --- the file's state for one origin --------------------------------------------------------------------


class FileState(StrEnum):
    RULES = "rules"  # a valid tdmrep.json
    ABSENT = "absent"  # 404/410/other 4xx: the origin does not implement TDMRep through the file
    REFUSED = "refused"  # 401/403/451: a refusal of the host
    UNKNOWN = "unknown"  # could not be fetched or parsed: DEFER


@dataclass(frozen=True)
class TdmFile:
    """What /.well-known/tdmrep.json of one origin said (or why nothing could be read)."""

    file_url: str
    state: FileState
    detail: str  # the fetch outcome, for the audit
    status: int | None = None
    evidence: str | None = None  # sha256 of the stored document
    rules: tuple[TdmRule, ...] = ()

    @classmethod
    def from_result(cls, result: WellKnownResult[list[TdmRule]]) -> TdmFile:
        doc = result.doc
        where = doc.url
        if doc.status is DocStatus.FOUND:
            if result.parse_error is not None or result.parsed is None:
                return cls(where, FileState.UNKNOWN, f"{where}: {doc.detail}, but {result.parse_error}",
                           doc.http_status, doc.evidence)
            return cls(where, FileState.RULES, f"{where}: {doc.detail}, {len(result.parsed)} rule(s)",
                       doc.http_status, doc.evidence, tuple(result.parsed))
        state = {
            DocStatus.ABSENT: FileState.ABSENT,
            DocStatus.REFUSED: FileState.REFUSED,
        }.get(doc.status, FileState.UNKNOWN)
        return cls(where, state, f"{where}: {doc.detail}", doc.http_status)


def tdmrep_file_finding(file: TdmFile, url: str) -> Finding | None:
    """The file step alone, for `url` on the file's origin.

    None when there is no file or no rule sets a valid value for `url` (the next source in priority order
    decides); DENY for a reserving rule or a refused file; NONE for a rule with 0; DEFER when the file
    could not be read or parsed.
    """
    def make(verdict: Verdict, detail: str, rule: str | None = None) -> Finding:
        return Finding(SIGNAL, verdict, detail, locator=file.file_url, status=file.status, rule=rule,
                       evidence=file.evidence)

    try:
        return _file_step(file, url, make)
    except Exception as exc:  # fail closed
        return make(Verdict.DEFER, f"{_SPEC}: evaluation of {file.file_url} for {url} failed "
                    f"({type(exc).__name__}: {exc}); deferred")


def _file_step(file: TdmFile, url: str, make: Callable[..., Finding]) -> Finding | None:
    if file.state is FileState.ABSENT:
        return None
    if file.state is FileState.REFUSED:
        return make(Verdict.DENY, _refused_detail(file), f"{WELL_KNOWN_PATH} HTTP {file.status}")
    if file.state is FileState.UNKNOWN:
        return make(Verdict.DEFER, _unknown_detail(file, url))
    rule, _ = first_match(file.rules, url)
    if rule is None or rule.reservation is None:
        return None
    if rule.reservation == 1:
        return make(Verdict.DENY, f"{_SPEC}: {file.file_url} {rule.describe()} reserves TDM rights for {url}",
                    rule.describe())
    return make(Verdict.NONE, f"{_SPEC}: {file.file_url} {rule.describe()} does not reserve TDM rights for {url}",
                rule.describe())


def _refused_detail(file: TdmFile) -> str:
    return (
        f"{_SPEC}: {file.detail}. ClearFrame treats an access-controlled policy document as a refusal of "
        "the host (as for robots.txt) and never retries with another identity"
    )


def _unknown_detail(file: TdmFile, url: str) -> str:
    return (
        f"{_SPEC}: tdmrep.json could not be read ({file.detail}); the spec requires checking it before "
        f"mining (#sec-processing-priority), so {url} is deferred and checked again later"
    )


# --- headers and meta -----------------------------------------------------------------------------------


@dataclass
class _Source:
    """What one step of the priority order says: a reservation, a policy, and the problems seen."""

    name: str  # "tdmrep.json", "HTTP header", "HTML meta"
    locator: str
    reservation: int | None = None
    conflict: bool = False  # contradictory valid values within this source
    said: str | None = None  # how the reservation was stated, e.g. "header tdm-reservation: 1"
    policy: str | None = None
    policy_said: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def sets_reservation(self) -> bool:
        return self.reservation is not None or self.conflict


def _pairs(headers: Headers) -> list[tuple[str, str]]:
    """(name, value) per header line, from a Mapping (values a string or a list of lines) or pairs."""
    items = headers.items() if isinstance(headers, Mapping) or hasattr(headers, "items") else headers
    out: list[tuple[str, str]] = []
    for name, value in items:  # type: ignore[union-attr]
        if isinstance(value, (list, tuple)):
            out.extend((str(name), str(v)) for v in value)
        else:
            out.append((str(name), str(value)))
    return out


def _read_reservations(source: _Source, values: list[str], label: str) -> None:
    valid: dict[int, str] = {}
    for value in values:
        stripped = value.strip(" \t\r\n\f")
        if stripped in ("0", "1"):
            valid.setdefault(int(stripped), f"{label}: {stripped}")
        else:
            source.notes.append(
                f"{label} is {_show(value)}, not 1 or 0: a protocol error, read as unset (#sec-tdm-reservation)"
            )
    if len(valid) == 1:
        source.reservation, source.said = next(iter(valid.items()))
    elif len(valid) > 1:
        source.conflict = True
        source.said = f"{label}: both 1 and 0"
        source.notes.append(f"{label} says both 1 and 0: contradictory")


def _read_policies(source: _Source, values: list[str], label: str) -> None:
    found = [v.strip() for v in values if v.strip()]
    if found:
        source.policy = found[0]
        source.policy_said = f"{label}: {_show(found[0])}"
        if len(set(found)) > 1:
            shown = ", ".join(_show(v) for v in found)
            source.notes.append(f"{label} appears with several values ({shown}); the first is recorded")


def _header_source(url: str, headers: Headers) -> _Source:
    source = _Source("HTTP header", url)
    reservations: list[str] = []
    policies: list[str] = []
    for name, value in _pairs(headers):
        key = name.strip().lower()
        if key == "tdm-reservation":
            reservations.extend(value.split(","))  # field lines combine as one list (RFC 9110 §5.3)
        elif key == "tdm-policy":
            policies.append(value)
    _read_reservations(source, reservations, f"response header tdm-reservation of {url}")
    _read_policies(source, policies, f"response header tdm-policy of {url}")
    return source


def _meta_source(url: str, meta: Meta | None) -> _Source:
    source = _Source("HTML meta", url)
    reservations: list[str] = []
    policies: list[str] = []
    for name, contents in (meta or {}).items():
        values = [contents] if isinstance(contents, str) else list(contents)
        key = str(name).strip().lower()
        if key == "tdm-reservation":
            reservations.extend(str(v) for v in values)
        elif key == "tdm-policy":
            policies.extend(str(v) for v in values)
    _read_reservations(source, reservations, f'<meta name="tdm-reservation"> content in {url}')
    _read_policies(source, policies, f'<meta name="tdm-policy"> content in {url}')
    return source


def _file_source(file: TdmFile, url: str) -> _Source:
    source = _Source("tdmrep.json", file.file_url)
    if file.state is FileState.ABSENT:
        source.notes.append(f"no tdmrep.json ({file.detail})")
        return source
    if file.state is not FileState.RULES:
        return source
    rule, matching = first_match(file.rules, url)
    if rule is None:
        source.notes.append(f"{file.file_url} has {len(file.rules)} rule(s), none matches {url_target(url)!r}")
        return source
    source.notes.extend(rule.notes)
    source.reservation = rule.reservation
    source.said = f"{file.file_url} {rule.describe()}"
    if rule.policy is not None:
        source.policy = rule.policy
        source.policy_said = source.said
    shadowed = [r for r in matching[1:] if r.reservation != rule.reservation]
    if shadowed:
        source.notes.append(
            f"{rule.describe()} is the first match and applies (#sec-tdm-file: 'the most specific match is the "
            "first in sequence'); later matching rule(s) "
            + ", ".join(r.describe() for r in shadowed)
            + " do not"
        )
    return source


def _policy_text(policy: str) -> str:
    parts = urlsplit(policy)
    ok = parts.scheme.lower() in ("http", "https") and bool(parts.netloc)
    return f"{_show(policy)}" + ("" if ok else " (not an absolute http(s) URL)")


def tdmrep_finding(
    url: str,
    file: TdmFile,
    headers: Headers = (),
    meta: Meta | None = None,
) -> Finding:
    """TDMRep's verdict for `url`: its origin's tdmrep.json, then the response headers, then HTML meta.

    `headers` are the headers of the response that carried `url` (a Mapping or (name, value) pairs);
    `meta` maps lower-cased ``<meta name>`` to the ``content`` values of a page (empty for media).
    Never raises: an internal error is a DEFER finding.
    """
    try:
        return _decide(url, file, headers, meta)
    except Exception as exc:  # fail closed: a bug or odd input is DEFER, never a pass
        return Finding(
            SIGNAL, Verdict.DEFER,
            f"{_SPEC}: evaluation for {url} failed ({type(exc).__name__}: {exc}); deferred",
            locator=url, status=file.status, evidence=file.evidence,
        )


def _decide(
    url: str,
    file: TdmFile,
    headers: Headers,
    meta: Meta | None,
) -> Finding:
    if file.state is FileState.REFUSED:
        return Finding(SIGNAL, Verdict.DENY, _refused_detail(file), locator=file.file_url, status=file.status,
                       rule=f"{WELL_KNOWN_PATH} HTTP {file.status}")

    sources = [_file_source(file, url), _header_source(url, headers), _meta_source(url, meta)]
    decisive: _Source | None = None
    superseded: list[_Source] = []
    policy_from: _Source | None = None
    for src in sources:  # later sources supersede earlier ones; absence resets nothing
        if src.sets_reservation:
            if decisive is not None:
                superseded.append(decisive)
            decisive = src
        if src.policy is not None:
            policy_from = src
    notes = [n for src in sources for n in src.notes]

    def finding(verdict: Verdict, headline: str) -> Finding:
        parts = [headline]
        if superseded:
            parts.append(
                "superseding " + "; ".join(str(s.said) for s in superseded)
                + " (#sec-processing-priority)"
            )
        if notes:
            parts.append("seen: " + "; ".join(notes))
        from_file = decisive is not None and decisive.name == "tdmrep.json"
        return Finding(
            SIGNAL, verdict, ". ".join(parts),
            locator=decisive.locator if decisive is not None else file.file_url,
            status=file.status if (from_file or decisive is None) else None,
            rule=decisive.said if decisive is not None else None,
            evidence=file.evidence,
        )

    file_unknown = file.state is FileState.UNKNOWN
    if decisive is not None and not decisive.conflict and decisive.reservation == 1:
        head = f"{_SPEC}: TDM rights are reserved for {url} by {decisive.said}"
        if policy_from is not None and policy_from.policy is not None:
            head += (
                f"; tdm-policy {_policy_text(policy_from.policy)} (from the {policy_from.name}) only says where a "
                "licence might be sought: it grants nothing"
            )
        if file_unknown:
            head += f"; tdmrep.json itself could not be read ({file.detail})"
        return finding(Verdict.DENY, head)
    if file_unknown:
        head = _unknown_detail(file, url)
        if decisive is not None:
            head += f" (a later source says {decisive.said}, but the file must be checked first)"
        return Finding(
            SIGNAL, Verdict.DEFER, head + (". seen: " + "; ".join(notes) if notes else ""),
            locator=file.file_url, status=file.status, evidence=file.evidence,
        )
    if decisive is not None and decisive.conflict:
        return finding(
            Verdict.REVIEW,
            f"{_SPEC}: contradictory tdm-reservation values for {url} ({decisive.said}); "
            "a person must decide",
        )
    if decisive is not None and decisive.reservation == 0:
        return finding(
            Verdict.NONE,
            f"{_SPEC}: TDM rights are not reserved for {url} ({decisive.said}); "
            "tdm-policy, if any, is not processed (#sec-tdm-policy)",
        )
    return finding(
        Verdict.NONE,
        f"{_SPEC}: no valid tdm-reservation applies to {url} (file, header and meta checked): unset, "
        "no restriction",
    )


# --- fetching ------------------------------------------------------------------------------------------


class TdmRepFetcher:
    """TDMRep checks for one run; thread-safe; one tdmrep.json fetch per origin per ``max_age`` seconds."""

    def __init__(
        self,
        session_factory: requests.Session | Callable[[], requests.Session],
        *,
        store_evidence: Callable[[bytes, str], str] | None = None,
        max_age: float = 86400,
        defer_max_age: float = 300,
        timeout: float = 10,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._docs: WellKnownFetcher[list[TdmRule]] = WellKnownFetcher(
            session_factory,
            WELL_KNOWN_PATH,
            parse_tdmrep_json,
            media_type="application/json",
            store_evidence=store_evidence,
            max_age=max_age,
            defer_max_age=defer_max_age,
            timeout=timeout,
            max_bytes=max_bytes,
            clock=clock,
        )

    def file(self, url: str) -> TdmFile:
        """The (cached) tdmrep.json state of `url`'s origin."""
        try:
            split_origin(url)
        except ValueError as exc:
            return TdmFile(url, FileState.UNKNOWN, f"tdmrep.json cannot be located for {url!r}: {exc}")
        return TdmFile.from_result(self._docs.get(url))

    def check(
        self,
        url: str,
        headers: Headers = (),
        meta: Meta | None = None,
    ) -> Finding:
        """TDMRep's verdict for `url` given the headers (and, for a page, the meta) of its response."""
        try:
            file = self.file(url)
        except Exception as exc:  # fail closed
            return Finding(SIGNAL, Verdict.DEFER,
                           f"{_SPEC}: tdmrep.json check for {url} failed ({type(exc).__name__}: {exc}); deferred",
                           locator=url)
        return tdmrep_finding(url, file, headers, meta)
