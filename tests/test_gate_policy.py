"""The gate's combination rules (gate.policy.decide, platform terms, acquisition basis) and Gate.evaluate
end to end against a real local site: robots.txt, page, HEAD, registry, in the order design.md gives."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from clearframe.config import Acquisition, DeliveryInput, HttpInput, Source
from clearframe.gate import Gate
from clearframe.gate.basis import basis_finding, platform_finding
from clearframe.gate.policy import decide
from clearframe.gate.registry import Registry
from clearframe.gate.robots import RobotsChecker
from clearframe.net import HostPoliteness, SessionPool
from clearframe.probe import Prober
from clearframe.records import Candidate, Decision, Finding, LicenseInfo, Probe, Verdict
from support.site import Site, video_page

UA = "ClearFrameBot/0.1 (+https://clearframe.dev/bot)"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
CC_BY_LICENSE = LicenseInfo(raw=CC_BY, spdx="CC-BY-4.0", found_in="ytdlp", url=CC_BY)
MISSING_LICENCE = "a missing licence is not permission"


def f(signal: str, verdict: Verdict, detail: str = "") -> Finding:
    return Finding(signal, verdict, detail or f"{signal} says {verdict}")


GRANT = f("license", Verdict.GRANT, "CC-BY-4.0 is attribution-only: allow")


# --- decide() -----------------------------------------------------------------------------------------


def test_allow_needs_a_grant_and_nothing_else_objecting() -> None:
    res = decide([f("robots", Verdict.NONE), GRANT, f("basis", Verdict.NONE)], CC_BY_LICENSE)
    assert res.decision is Decision.ALLOW
    assert res.license == CC_BY_LICENSE
    assert [r.signal for r in res.reasons] == ["license"]  # quiet NONE verdicts are not reasons
    assert res.policy_version and res.decided_at


@pytest.mark.parametrize("others", [
    [Verdict.GRANT], [Verdict.DEFER], [Verdict.REVIEW], [Verdict.DEFER, Verdict.REVIEW, Verdict.GRANT],
])
def test_any_deny_wins(others: list[Verdict]) -> None:
    findings = [f("license", v) for v in others] + [f("registry", Verdict.DENY, "creator opted out")]
    assert decide(findings, None).decision is Decision.DENY


def test_deny_wins_even_when_listed_first_among_grants() -> None:
    res = decide([f("robots", Verdict.DENY), GRANT, f("basis", Verdict.GRANT)], CC_BY_LICENSE)
    assert res.decision is Decision.DENY


def test_defer_beats_review_and_grant() -> None:
    res = decide([f("license", Verdict.REVIEW), f("robots", Verdict.DEFER), GRANT], None)
    assert res.decision is Decision.DEFER


def test_review_beats_grant() -> None:
    res = decide([GRANT, f("basis", Verdict.GRANT), f("media", Verdict.REVIEW, "share-alike")], CC_BY_LICENSE)
    assert res.decision is Decision.REVIEW


def test_no_grant_is_deny_because_a_missing_licence_is_not_permission() -> None:
    res = decide([f("robots", Verdict.NONE), f("license", Verdict.NONE), f("basis", Verdict.NONE)], None)
    assert res.decision is Decision.DENY
    assert any(MISSING_LICENCE in r.detail for r in res.reasons)


def test_no_findings_at_all_is_deny() -> None:
    assert decide([], None).decision is Decision.DENY


@pytest.mark.parametrize("signal", ["robots", "platform", "registry", "probe", "media", "aipref"])
def test_a_grant_from_a_signal_that_cannot_grant_never_allows(signal: str) -> None:
    res = decide([f(signal, Verdict.GRANT)], None)
    assert res.decision is Decision.DENY
    assert any(MISSING_LICENCE in r.detail for r in res.reasons)


def test_a_grant_from_the_acquisition_basis_allows() -> None:
    assert decide([f("basis", Verdict.GRANT, "contract C-1")], None).decision is Decision.ALLOW


# --- platform terms and acquisition basis ---------------------------------------------------------------

OPEN = Acquisition()
TRAINING_CONTRACT = Acquisition(basis="contract", contract_id="C-7", covers_training=True)


@pytest.mark.parametrize("host", ["youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be",
                                  "www.netflix.com", "netflix.com"])
def test_platform_without_contract_is_denied(host: str) -> None:
    pf = platform_finding(host, OPEN, None)
    assert pf is not None and pf.verdict is Verdict.DENY and pf.signal == "platform"


def test_platform_with_a_contract_that_covers_training_is_not_denied() -> None:
    pf = platform_finding("www.youtube.com", TRAINING_CONTRACT, "C-7")
    assert pf is not None and pf.verdict is Verdict.NONE


@pytest.mark.parametrize("acq,contract_id", [
    (Acquisition(basis="contract", contract_id="C-7", covers_training=False), "C-7"),  # not for training
    (TRAINING_CONTRACT, None),  # no contract id on the item
    (Acquisition(basis="open-license", covers_training=True), "C-7"),  # not a contract source
])
def test_platform_contract_that_does_not_authorise_training_is_denied(acq: Acquisition,
                                                                       contract_id: str | None) -> None:
    pf = platform_finding("netflix.com", acq, contract_id)
    assert pf is not None and pf.verdict is Verdict.DENY


@pytest.mark.parametrize("host", ["example.org", "notyoutube.com", "youtube.com.evil.test", "vimeo.com"])
def test_other_hosts_are_not_platforms(host: str) -> None:
    assert platform_finding(host, OPEN, None) is None


def test_delivery_without_contract_id_is_denied_by_basis() -> None:
    bf = basis_finding("delivery", OPEN, None)
    assert bf.verdict is Verdict.DENY and "contract" in bf.detail


# --- Gate.evaluate ------------------------------------------------------------------------------------------


def http_source(acq: Acquisition = OPEN) -> Source:
    return Source(name="t", kind="http", http=HttpInput(urls="urls.txt"), acquisition=acq)


def http_candidate(url: str, *, license: LicenseInfo | None = None,
                   contract_id: str | None = None) -> Candidate:
    return Candidate(source="t", kind="http", canonical_id=f"url:{url}", url=url, locator="urls.txt:1",
                     license=license, contract_id=contract_id)


def delivery(tmp_path: Path, acq: Acquisition, contract_id: str | None,
             license: LicenseInfo | None) -> tuple[Source, Candidate]:
    source = Source(name="partner", kind="delivery", delivery=DeliveryInput(location=str(tmp_path)),
                    acquisition=acq)
    cand = Candidate(source="partner", kind="delivery", canonical_id="delivery:a",
                     url=str(tmp_path / "a.mp4"), locator="manifest.csv:2", contract_id=contract_id,
                     license=license, sha256="0" * 64)
    return source, cand


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    yield reg
    reg.close()


class NoNetwork:
    """A gate whose network part only records that it was asked (for URLs that must never be probed)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def robots(self, url: str) -> object:
        self.asked.append(url)
        raise AssertionError(f"robots.txt of {url} must not be asked")


def offline_gate(source: Source, registry: Registry, net: NoNetwork) -> Gate:
    return Gate(source, registry, prober=None, robots_check=net.robots, hosts=HostPoliteness(4))


class PretendProbed(Gate):
    """Stands in for a probe of youtube.com (no internet here): the page is its own media, nothing else."""

    def _probe_http(self, cand: Candidate) -> Probe:
        return Probe(page_url=cand.url, media_url=cand.url)


@pytest.fixture
def gate_for(registry: Registry) -> Iterator:
    sessions = SessionPool(UA)

    def build(source: Source | None = None) -> Gate:
        def store(data: bytes, media_type: str) -> str:
            return hashlib.sha256(data).hexdigest()

        hosts = HostPoliteness(4)
        robots = RobotsChecker(sessions.get, "ClearFrameBot", store_evidence=store, timeout=5)
        prober = Prober(sessions, hosts, timeout=5, max_retries=0, max_retry_after=10, store_evidence=store)
        return Gate(source or http_source(), registry, prober, robots.check, hosts, workers=4)

    yield build
    sessions.close()


def serve_video(site: Site, name: str, **page: object) -> str:
    site.add(f"/media/{name}.mp4", b"\x00\x00\x00\x18ftypmp42", content_type="video/mp4")
    return site.add(f"/v/{name}", video_page(name, f"/media/{name}.mp4", **page))  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                                 "https://youtu.be/dQw4w9WgXcQ", "https://www.netflix.com/watch/80100172"])
def test_platform_url_with_cc_label_and_no_contract_is_denied_without_a_request(url: str,
                                                                               registry: Registry) -> None:
    net = NoNetwork()
    out = offline_gate(http_source(), registry, net).evaluate([http_candidate(url, license=CC_BY_LICENSE)])[0]
    assert out.result.decision is Decision.DENY
    assert any(r.signal == "platform" and r.verdict is Verdict.DENY for r in out.result.reasons)
    assert net.asked == []


def test_platform_url_with_training_contract_is_not_denied_by_platform_terms(registry: Registry) -> None:
    gate = PretendProbed(http_source(TRAINING_CONTRACT), registry, None, None, HostPoliteness(4))
    url = "https://www.youtube.com/watch?v=abc"
    out = gate.evaluate([http_candidate(url, license=CC_BY_LICENSE, contract_id="C-7")])[0]
    assert not any(r.signal == "platform" and r.verdict is Verdict.DENY for r in out.result.findings)
    assert out.result.decision is Decision.ALLOW


def test_delivery_without_contract_id_is_denied(tmp_path: Path, registry: Registry) -> None:
    source, cand = delivery(tmp_path, OPEN, None, CC_BY_LICENSE)
    out = offline_gate(source, registry, NoNetwork()).evaluate([cand])[0]
    assert out.result.decision is Decision.DENY
    assert any(r.signal == "basis" and "contract id" in r.detail for r in out.result.reasons)


def test_training_contract_without_a_declared_licence_is_allowed(tmp_path: Path, registry: Registry) -> None:
    # design.md: positive evidence is an allowed licence *or* a contract that covers AI training.
    source, cand = delivery(tmp_path, TRAINING_CONTRACT, "C-7", None)
    out = offline_gate(source, registry, NoNetwork()).evaluate([cand])[0]
    assert out.result.decision is Decision.ALLOW
    assert any(r.signal == "basis" and r.verdict is Verdict.GRANT for r in out.result.reasons)


def test_training_contract_does_not_override_a_declared_non_commercial_licence(tmp_path: Path,
                                                                               registry: Registry) -> None:
    nc = LicenseInfo(raw="CC-BY-NC-4.0", spdx="CC-BY-NC-4.0", found_in="manifest")
    source, cand = delivery(tmp_path, TRAINING_CONTRACT, "C-7", nc)
    out = offline_gate(source, registry, NoNetwork()).evaluate([cand])[0]
    assert out.result.decision is Decision.DENY


def test_contract_that_does_not_cover_training_needs_a_licence(tmp_path: Path, registry: Registry) -> None:
    acq = Acquisition(basis="contract", contract_id="C-8", covers_training=False)
    source, cand = delivery(tmp_path, acq, "C-8", None)
    out = offline_gate(source, registry, NoNetwork()).evaluate([cand])[0]
    assert out.result.decision is Decision.DENY
    assert any(r.signal == "license" and r.verdict is Verdict.DENY for r in out.result.reasons)


def test_platform_url_under_training_contract_without_licence_is_allowed(registry: Registry) -> None:
    gate = PretendProbed(http_source(TRAINING_CONTRACT), registry, None, None, HostPoliteness(4))
    out = gate.evaluate([http_candidate("https://www.youtube.com/watch?v=abc", contract_id="C-7")])[0]
    assert out.result.decision is Decision.ALLOW


def test_gate_allows_a_cc_by_page_and_never_gets_the_media(site: Site, gate_for) -> None:
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    page = serve_video(site, "ok", license_url=CC_BY)
    out = gate_for().evaluate([http_candidate(page)])[0]
    assert out.result.decision is Decision.ALLOW
    assert out.result.license is not None and out.result.license.spdx == "CC-BY-4.0"
    assert out.probe.media_url == site.url("/media/ok.mp4")
    assert site.media_requests() == 0 and site.count("HEAD", "/media/ok.mp4") == 1


def test_robots_503_defers_and_does_not_deny(site: Site, gate_for) -> None:
    site.add("/robots.txt", "busy", status=503, content_type="text/plain")
    page = serve_video(site, "ok", license_url=CC_BY)
    out = gate_for().evaluate([http_candidate(page)])[0]
    assert out.result.decision is Decision.DEFER
    assert any(r.signal == "robots" and r.verdict is Verdict.DEFER for r in out.result.reasons)
    # "No licence" is not claimed for a page that was never read.
    assert not any(r.verdict is Verdict.DENY for r in out.result.findings)
    assert site.count("GET", "/v/ok") == 0 and site.media_requests() == 0


def test_robots_disallow_denies_before_the_page_is_requested(site: Site, gate_for) -> None:
    site.add("/robots.txt", "User-agent: *\nDisallow: /v/\n", content_type="text/plain")
    page = serve_video(site, "ok", license_url=CC_BY)
    out = gate_for().evaluate([http_candidate(page)])[0]
    assert out.result.decision is Decision.DENY
    assert site.count("GET", "/v/ok") == 0


def test_jsonld_cc_by_against_link_rel_all_rights_reserved_is_never_allowed(site: Site, gate_for) -> None:
    site.add("/robots.txt", "", status=404)
    page = serve_video(site, "mixed", license_url=CC_BY,
                       link_license="https://rightsstatements.org/vocab/InC/1.0/")
    out = gate_for().evaluate([http_candidate(page)])[0]
    assert out.result.decision in (Decision.REVIEW, Decision.DENY)
    lic = next(r for r in out.result.findings if r.signal == "license")
    assert "conflicting" in lic.detail
    assert site.media_requests() == 0


def test_domain_opt_out_denies_with_no_request_at_all(site: Site, gate_for, registry: Registry) -> None:
    registry.add("domain", "127.0.0.1", requested_by="site owner", reason="emailed us")
    site.add("/robots.txt", "", status=404)
    page = serve_video(site, "ok", license_url=CC_BY)
    out = gate_for().evaluate([http_candidate(page)])[0]
    assert out.result.decision is Decision.DENY
    assert any(r.signal == "registry" and "opt-out" in r.detail for r in out.result.reasons)
    assert dict(site.requests) == {}  # not even robots.txt


def test_blocked_domain_denies_before_any_request(site: Site, gate_for, registry: Registry) -> None:
    registry.block_domain("127.0.0.1", requested_by="trust & safety", reason="piracy")
    page = serve_video(site, "ok", license_url=CC_BY)
    out = gate_for().evaluate([http_candidate(page), http_candidate(site.url("/media/ok.mp4"))])
    assert [o.result.decision for o in out] == [Decision.DENY, Decision.DENY]
    assert all(any(r.rule == "blocked-domain" for r in o.result.reasons) for o in out)
    assert dict(site.requests) == {}


def test_creator_revealed_by_the_page_is_checked_against_the_opt_out_registry(site: Site, gate_for,
                                                                             registry: Registry) -> None:
    registry.add("creator", "Opted Creator", requested_by="creator", reason="asked")
    site.add("/robots.txt", "", status=404)
    page = serve_video(site, "optout", license_url=CC_BY, creator="Opted Creator")
    out = gate_for().evaluate([http_candidate(page)])[0]
    assert out.result.decision is Decision.DENY
    assert site.media_requests() == 0


def test_page_without_licence_is_denied_as_no_permission(site: Site, gate_for) -> None:
    site.add("/robots.txt", "", status=404)
    page = serve_video(site, "bare", jsonld=False)
    out = gate_for().evaluate([http_candidate(page)])[0]
    assert out.result.decision is Decision.DENY
    assert any(r.signal == "license" and r.verdict is Verdict.DENY for r in out.result.reasons)
