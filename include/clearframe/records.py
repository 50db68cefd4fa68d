"""Typed records that pass between stages, in data-flow order.

discover -> Candidate; probe -> Probe; gate -> GateResult (made of Findings); fetch -> Fetched;
inspect -> MediaInfo; the pipeline folds all of them into one LedgerRow per candidate.
Records are plain dataclasses so the package stays free of Airflow and cheap to serialise.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    DEFER = "defer"
    REVIEW = "review"


class Verdict(StrEnum):
    """What one signal says about one candidate.

    GRANT is positive permission and only the licence and acquisition-basis signals may give it;
    NONE means the signal found nothing that restricts (it never grants).
    """

    GRANT = "grant"
    NONE = "none"
    REVIEW = "review"
    DEFER = "defer"
    DENY = "deny"


@dataclass(frozen=True)
class LicenseInfo:
    raw: str | None
    spdx: str | None
    found_in: str | None = None  # json-ld | link-rel | manifest | ytdlp | meta
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def candidate_key(canonical_id: str) -> str:
    """Stable sample key: derived from the canonical source id, never from input position."""
    return hashlib.sha256(canonical_id.encode("utf-8")).hexdigest()[:24]


@dataclass
class Candidate:
    source: str
    kind: str  # http | delivery | ytdlp
    canonical_id: str
    url: str | None  # page or media URL (http), media location (delivery)
    locator: str  # where the candidate came from, e.g. "urls.txt:12"
    title: str | None = None
    creator: str | None = None
    channel: str | None = None
    video_id: str | None = None
    license: LicenseInfo | None = None
    contract_id: str | None = None
    sha256: str | None = None  # declared by a delivery manifest, verified after fetch
    input_error: str | None = None  # a malformed input line still becomes a ledger row
    input_retry: bool = False  # the input could not be read for now (5xx, 429, network): DEFER, not DENY
    listed_in: str | None = None  # sha256 of the stored list or manifest that named this candidate

    @property
    def key(self) -> str:
        return candidate_key(self.canonical_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        d = dict(d)
        if d.get("license"):
            d["license"] = LicenseInfo(**d["license"])
        return cls(**d)


@dataclass
class Finding:
    """One signal's verdict with the evidence it rests on."""

    signal: str  # license | basis | platform | robots | registry | probe | media
    verdict: Verdict
    detail: str
    locator: str | None = None  # URL or file checked
    status: int | None = None  # HTTP status, when there was a request
    rule: str | None = None  # matched rule or field
    evidence: str | None = None  # sha256 of the stored evidence document

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = str(self.verdict)
        return d


@dataclass
class Probe:
    """Metadata gathered without fetching a media byte."""

    media_url: str | None = None
    page_url: str | None = None
    title: str | None = None
    creator: str | None = None
    channel: str | None = None
    video_id: str | None = None
    licenses: list[LicenseInfo] = field(default_factory=list)
    content_type: str | None = None
    content_length: int | None = None
    findings: list[Finding] = field(default_factory=list)  # probe failures become DEFER/DENY findings
    # What the opt-out signals read: the signal-bearing response headers of the page GET and the media
    # HEAD (lower-cased name -> each header line as sent, not comma-joined, since a scoped X-Robots-Tag
    # line must not run into the next), the page's <meta name=...> tags, the stored page's sha256.
    page_headers: dict[str, list[str]] = field(default_factory=dict)
    media_headers: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, list[str]] = field(default_factory=dict)
    page_evidence: str | None = None
    final_page_url: str | None = None  # after redirects; its origin's signals apply too
    final_media_url: str | None = None


@dataclass
class GateResult:
    decision: Decision
    findings: list[Finding]
    license: LicenseInfo | None
    policy_version: str
    decided_at: str

    @property
    def reasons(self) -> list[Finding]:
        """The findings that shaped the decision (everything but quiet 'none' verdicts)."""
        return [f for f in self.findings if f.verdict is not Verdict.NONE]


@dataclass
class MediaInfo:
    container: str
    codec: str
    duration: float
    width: int
    height: int
    fps: float
    has_audio: bool
    audio_codec: str | None = None
    frames_decoded: int = 0


@dataclass
class Fetched:
    path: str  # local file, complete and renamed into place
    sha256: str
    bytes: int
    media_url: str
    content_type: str | None = None
