"""The consent gate: licence, opt-out and platform checks on metadata, before any media byte.

Order matters and is the point of the design: checks that need no request run first for the whole batch
(registry, blocked domains, platform terms); robots.txt is asked before the page is requested and again
before the media URL is touched; the page and a HEAD give metadata only. Each signal is one small unit
that returns Findings; `policy.decide` combines them. Any error is DEFER, never ALLOW.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from clearframe.config import Source
from clearframe.gate import licenses
from clearframe.gate.basis import basis_finding, contract_authorises, platform_finding
from clearframe.gate.policy import decide
from clearframe.gate.registry import Registry, domain_suffixes, normalize
from clearframe.net import HostPoliteness, host_of
from clearframe.records import Candidate, Finding, GateResult, LicenseInfo, Probe, Verdict

if TYPE_CHECKING:  # probe imports gate.licenses, so a runtime import here would be circular
    from clearframe.probe import Prober


@dataclass
class GateOutcome:
    candidate: Candidate
    probe: Probe
    result: GateResult


def _hostname(url: str | None) -> str | None:
    if not url or not url.startswith(("http://", "https://")):
        return None
    return urlsplit(url).hostname


def registry_findings(registry: Registry, items: list[tuple[Candidate, Probe]]) -> list[list[Finding]]:
    """Opt-out and blocked-domain findings for a whole batch, in two queries per identifier kind."""
    wanted: dict[str, set[str]] = {k: set() for k in ("creator", "channel", "video", "url", "domain", "hash")}
    hosts: set[str] = set()
    per_item: list[dict[str, set[str]]] = []
    for cand, probe in items:
        ids: dict[str, set[str]] = {k: set() for k in wanted}
        for v in (cand.creator, probe.creator):
            if v:
                ids["creator"].add(v)
        for v in (cand.channel, probe.channel):
            if v:
                ids["channel"].add(v)
        for v in (cand.video_id, probe.video_id):
            if v:
                ids["video"].add(v)
        for u in (cand.url, probe.page_url, probe.media_url):
            h = _hostname(u)
            if h:
                ids["url"].add(u)  # type: ignore[arg-type]
                ids["domain"].update(domain_suffixes(h))
                hosts.add(h)
        if cand.sha256:
            ids["hash"].add(cand.sha256)
        for k, vals in ids.items():
            wanted[k].update(vals)
        per_item.append(ids)
    hits = registry.lookup(wanted)
    blocked = registry.blocked(hosts)
    out: list[list[Finding]] = []
    for ids in per_item:
        found: list[Finding] = []
        for kind, vals in ids.items():
            for v in sorted({normalize(kind, x) for x in vals}):
                e = hits.get((kind, v))
                if e:
                    found.append(Finding("registry", Verdict.DENY, f"{kind} {v!r} is in the opt-out registry "
                                         f"(asked by {e.requested_by} on {e.created_at:%Y-%m-%d}: {e.reason})",
                                         rule=f"optout:{kind}"))
        for d in sorted(ids["domain"]):
            e = blocked.get(d)
            if e:
                found.append(Finding("registry", Verdict.DENY, f"domain {d} is on the blocked-domains list "
                                     f"({e.reason})", rule="blocked-domain"))
        out.append(found)
    return out


class Gate:
    def __init__(
        self,
        source: Source,
        registry: Registry,
        prober: Prober | None,
        robots_check: Callable[[str], object] | None,
        hosts: HostPoliteness | None,
        workers: int = 8,
    ):
        self.source = source
        self.registry = registry
        self.prober = prober
        self.robots_check = robots_check
        self.hosts = hosts
        self.workers = workers
        self.license_policy = licenses.LicensePolicy.from_config(source.license_policy.model_dump())

    # -- one candidate's network part (runs in a worker thread) ------------------------------------
    def _robots(self, url: str) -> Finding | None:
        assert self.robots_check is not None
        verdict = self.robots_check(url)
        if self.hosts is not None and getattr(verdict, "crawl_delay", None):
            self.hosts.set_crawl_delay(host_of(url), verdict.crawl_delay)  # type: ignore[attr-defined]
        return verdict.finding  # type: ignore[attr-defined]

    def _probe_http(self, cand: Candidate) -> Probe:
        assert self.prober is not None and cand.url
        probe = Probe(page_url=cand.url)
        try:
            rf = self._robots(cand.url)
            if rf is not None:
                probe.findings.append(rf)
            if rf is not None and rf.verdict in (Verdict.DENY, Verdict.DEFER):
                return probe
            probe = self.prober.probe_page(cand.url)
            if rf is not None:
                probe.findings.insert(0, rf)
            if probe.media_url is None or any(f.verdict in (Verdict.DENY, Verdict.DEFER) for f in probe.findings):
                return probe
            if probe.media_url != cand.url:
                mf = self._robots(probe.media_url)
                if mf is not None:
                    probe.findings.append(mf)
                    if mf.verdict in (Verdict.DENY, Verdict.DEFER):
                        return probe
            self.prober.probe_media(probe)
        except Exception as exc:  # fail closed: an unexpected error is DEFER, never ALLOW
            probe.findings.append(Finding("probe", Verdict.DEFER, f"{cand.url}: check failed with "
                                          f"{exc.__class__.__name__}: {exc}; deferred", locator=cand.url))
        return probe

    # -- the batch -----------------------------------------------------------------------------------
    def evaluate(self, candidates: list[Candidate]) -> list[GateOutcome]:
        src = self.source
        pre: list[list[Finding]] = [[] for _ in candidates]
        probes = [Probe(page_url=c.url if c.kind == "http" else None) for c in candidates]
        for i, c in enumerate(candidates):
            if c.input_error:
                pre[i].append(Finding("input", Verdict.DENY, c.input_error, locator=c.locator))
                continue
            host = _hostname(c.url)
            if host:
                pf = platform_finding(host, src.acquisition, c.contract_id)
                if pf:
                    pre[i].append(pf)
        # Registry and blocked domains before any request, for the whole batch at once.
        for i, fs in enumerate(registry_findings(self.registry, list(zip(candidates, probes, strict=True)))):
            pre[i].extend(fs)

        def blocked(i: int) -> bool:
            return any(f.verdict is Verdict.DENY for f in pre[i])

        todo = [i for i, c in enumerate(candidates) if c.kind == "http" and not blocked(i)]
        if todo:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="cf-probe") as pool:
                for i, probe in zip(todo, pool.map(lambda i: self._probe_http(candidates[i]), todo), strict=True):
                    probes[i] = probe
            # What the pages revealed (creator, media host) is checked against the registry too.
            post = registry_findings(self.registry, [(candidates[i], probes[i]) for i in todo])
            for i, fs in zip(todo, post, strict=True):
                known = {(f.rule, f.detail) for f in pre[i]}
                pre[i].extend(f for f in fs if (f.rule, f.detail) not in known)

        outcomes = []
        for i, c in enumerate(candidates):
            findings = [*pre[i], *probes[i].findings]
            lic: LicenseInfo | None = None
            if not c.input_error:
                found = [*([c.license] if c.license else []), *probes[i].licenses]
                lic, conflict = licenses.combine(found)
                verdict, detail = licenses.evaluate(lic, self.license_policy, contract_id=c.contract_id)
                if lic is None and any(f.verdict is Verdict.DEFER for f in findings):
                    # The metadata was never read, so "no licence" would be a guess: defer instead.
                    verdict, detail = Verdict.NONE, "not evaluated: an earlier check did not complete"
                elif (lic is None or not lic.spdx) and contract_authorises(src.acquisition, c.contract_id):
                    # design.md: a licence from an allowed bucket *or* a contract that covers training.
                    # Only absence is excused; a declared licence (e.g. NC) still decides on its own.
                    verdict, detail = Verdict.NONE, (f"no license declared; contract {c.contract_id} covers "
                                                     "AI training (see basis)")
                if conflict and verdict is Verdict.GRANT:
                    verdict, detail = Verdict.REVIEW, f"{detail}; but {conflict}: a human must decide"
                elif conflict:
                    detail = f"{detail}; {conflict}"
                findings.append(Finding("license", verdict, detail, rule=lic.found_in if lic else None,
                                        locator=lic.url if lic else None))
                basis = basis_finding(c.kind, src.acquisition, c.contract_id)
                basis.evidence = c.listed_in
                findings.append(basis)
            outcomes.append(GateOutcome(c, probes[i], decide(findings, lic)))
        return outcomes
