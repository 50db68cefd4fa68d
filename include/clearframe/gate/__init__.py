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
from urllib.parse import urljoin, urlsplit

from clearframe.config import PRODUCT_TOKEN, Source
from clearframe.gate import aipref, embedded, licenses, xrobots
from clearframe.gate.aitxt import AiTxtFetcher
from clearframe.gate.basis import basis_finding, contract_authorises, platform_finding
from clearframe.gate.policy import decide
from clearframe.gate.registry import Entry, Registry, domain_suffixes, normalize
from clearframe.gate.tdmrep import TdmRepFetcher, tdmrep_file_finding
from clearframe.net import HostPoliteness, host_of
from clearframe.records import Candidate, Finding, GateResult, LicenseInfo, Probe, Verdict
from clearframe.sources.ytdlp import site_extractor

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


def optout_detail(kind: str, value: str, e: Entry) -> str:
    return (f"{kind} {value!r} is in the opt-out registry (asked by {e.requested_by} on "
            f"{e.created_at:%Y-%m-%d}: {e.reason})")


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
                    found.append(Finding("registry", Verdict.DENY, optout_detail(kind, v, e),
                                         rule=f"optout:{kind}", locator=f"registry:{kind}:{v}"))
        for d in sorted(ids["domain"]):
            e = blocked.get(d)
            if e:
                found.append(Finding("registry", Verdict.DENY, f"domain {d} is on the blocked-domains list "
                                     f"({e.reason})", rule="blocked-domain", locator=f"registry:blocked-domain:{d}"))
        out.append(found)
    return out


NETWORK_KINDS = frozenset({"http", "ytdlp"})  # probed over the network; `delivery` is not
_STOPS = (Verdict.DENY, Verdict.DEFER)
_RESTRICTS = (Verdict.DENY, Verdict.DEFER, Verdict.REVIEW)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


def _stops(findings: list[Finding]) -> bool:
    return any(f.verdict in _STOPS for f in findings)


class Gate:
    """The gate for one source. Network checks run in a thread pool, one candidate per task.

    For an http candidate, in this order, each step only if nothing before it refused or deferred:

    1. registry, blocked domains and platform terms for the whole batch (no request at all);
    2. robots.txt of the page origin, with the AIPREF Content-Usage and Content-Signal lines it carries;
       TDMRep's tdmrep.json of the page origin (the spec wants it read before the resource);
    3. the page GET (redirects to another origin only after that origin passes 1-2), then the page's
       headers and meta: X-Robots-Tag, meta robots, Content-Usage, TDMRep header/meta, ai.txt;
    4. robots.txt (and its preferences) of the media origin, then the media HEAD and its headers:
       X-Robots-Tag, Content-Usage, TDMRep, ai.txt for the media URL and type, and a remote C2PA
       manifest named by `Link: <...>; rel="c2pa-manifest"`, fetched and judged before any media byte.

    Embedded C2PA / XMP rights are read after download by the pipeline (`gate.embedded`).
    """

    def __init__(
        self,
        source: Source,
        registry: Registry,
        prober: Prober | None,
        robots_check: Callable[[str], object] | None,
        hosts: HostPoliteness | None,
        workers: int = 8,
        *,
        product_token: str = PRODUCT_TOKEN,
        tdmrep: TdmRepFetcher | None = None,
        aitxt: AiTxtFetcher | None = None,
    ):
        self.source = source
        self.registry = registry
        self.prober = prober
        self.robots_check = robots_check
        self.hosts = hosts
        self.workers = workers
        self.product_token = product_token
        self.tdmrep = tdmrep
        self.aitxt = aitxt
        self.license_policy = licenses.LicensePolicy.from_config(source.license_policy.model_dump())

    # -- one candidate's network part (runs in a worker thread) ------------------------------------
    def _robots(self, url: str) -> list[Finding]:
        """robots.txt for the URL's origin, plus the usage preferences the same file carries."""
        assert self.robots_check is not None
        verdict = self.robots_check(url)
        if self.hosts is not None and getattr(verdict, "crawl_delay", None):
            self.hosts.set_crawl_delay(host_of(url), verdict.crawl_delay)  # type: ignore[attr-defined]
        finding: Finding = verdict.finding  # type: ignore[attr-defined]
        out = [finding]
        text = getattr(verdict, "text", None)
        if text is not None and finding.verdict is not Verdict.DEFER:
            out.extend(aipref.robots_preferences(text, url, self.product_token,
                                                 getattr(verdict, "robots_url", None) or finding.locator or url,
                                                 finding.evidence, status=finding.status))
        return out

    def _admit(self, url: str, cand: Candidate, sink: list[Finding]) -> Finding | None:
        """May a redirect take us to this URL's origin? Asked before its first request (net.polite_request)."""
        host = _hostname(url)
        if host is None:
            return Finding("probe", Verdict.DEFER, f"redirect target {url!r} is not an http(s) URL", locator=url)
        probe = Probe(page_url=url)
        found = registry_findings(self.registry, [(Candidate(cand.source, cand.kind, cand.canonical_id, url,
                                                             cand.locator), probe)])[0]
        pf = platform_finding(host, self.source.acquisition, cand.contract_id)
        found.extend([pf] if pf else [])
        if not _stops(found):
            found.extend(self._robots(url))
        sink.extend(found)
        return next((f for f in found if f.verdict in _RESTRICTS), None)

    def check_list_url(self, url: str) -> Finding | None:
        """Before a list page of a ytdlp source is requested: registry, blocked domains, platform terms and
        robots.txt of its origin. A restricting Finding means the list is not requested at all."""
        cand = Candidate(self.source.name, self.source.kind, f"list:{url}", url, "list",
                         contract_id=self.source.acquisition.contract_id)
        return self._admit(url, cand, [])

    def _page_signals(self, probe: Probe, page_url: str) -> list[Finding]:
        tok = self.product_token
        h = probe.page_headers
        out = [
            xrobots.x_robots_tag(h.get("x-robots-tag", []), tok, page_url),
            xrobots.meta_robots(probe.meta, tok, page_url, probe.page_evidence),
            aipref.content_usage_header(h.get("content-usage", []), page_url),
        ]
        if self.tdmrep is not None:
            out.append(self.tdmrep.check(page_url, h, probe.meta))
        if self.aitxt is not None and probe.media_url is None:
            out.append(self.aitxt.check(page_url))
        return out

    def _media_signals(self, cand: Candidate, probe: Probe, page_url: str, admit: Callable[[str], Finding | None]
                       ) -> list[Finding]:
        assert probe.media_url
        media = probe.final_media_url or probe.media_url
        tok = self.product_token
        h = probe.media_headers
        out = [xrobots.x_robots_tag(h.get("x-robots-tag", []), tok, media),
               aipref.content_usage_header(h.get("content-usage", []), media)]
        if self.tdmrep is not None:
            out.append(self.tdmrep.check(media, h))
        if self.aitxt is not None:
            out.extend(self.aitxt.check_candidate(media, page_url, media_type=probe.content_type))
        if not _stops(out):
            out.extend(self._remote_manifests(cand, probe, media, admit))
        return out

    def _remote_manifests(self, cand: Candidate, probe: Probe, media: str, admit: Callable[[str], Finding | None]
                          ) -> list[Finding]:
        """A `Link: <...>; rel="c2pa-manifest"` on the media's HEAD: fetch that manifest store and judge it."""
        from requests.utils import parse_header_links

        assert self.prober is not None
        out: list[Finding] = []
        for line in probe.media_headers.get("link", []):
            for link in parse_header_links(line):
                if "c2pa-manifest" not in str(link.get("rel", "")).lower().split():
                    continue
                url = urljoin(media, link.get("url", ""))
                if "#" in url:  # a fragment points into the asset itself: judged after download
                    out.append(embedded.remote_manifest_finding(b"", url, contract_id=cand.contract_id,
                                                                store_evidence=self.prober.store_evidence))
                    continue
                out.append(self._fetch_manifest(cand, url, f"{media}'s Link header", admit))
        return out

    def _fetch_manifest(self, cand: Candidate, url: str, named_by: str, admit: Callable[[str], Finding | None]
                        ) -> Finding:
        assert self.prober is not None
        resp, failed = self.prober._request("GET", url, "c2pa", stream=True, admit=admit)
        if failed is not None:
            return Finding("c2pa", Verdict.DEFER, f"the C2PA manifest named by {named_by} could not be read: "
                           f"{failed.detail}", locator=url, status=failed.status)
        try:
            body = resp.raw.read(MAX_MANIFEST_BYTES + 1, decode_content=True)
        finally:
            resp.close()
        if len(body) > MAX_MANIFEST_BYTES:
            return Finding("c2pa", Verdict.DEFER, f"C2PA manifest {url} is larger than {MAX_MANIFEST_BYTES} bytes; "
                           "not read", locator=url)
        return embedded.remote_manifest_finding(body, url, contract_id=cand.contract_id,
                                                store_evidence=self.prober.store_evidence)

    def remote_manifest(self, cand: Candidate, url: str, named_by: str) -> Finding:
        """A manifest store a downloaded file points at (XMP dcterms:provenance): its origin passes the same
        checks as any request (registry, platform terms, robots.txt), then it is fetched and judged."""
        sink: list[Finding] = []
        stop = self._admit(url, cand, sink)
        if stop is not None:
            return Finding("c2pa", stop.verdict if stop.verdict is not Verdict.REVIEW else Verdict.DEFER,
                           f"the C2PA manifest {url} named by {named_by} was not requested: {stop.detail}",
                           locator=url, status=stop.status, evidence=stop.evidence)
        return self._fetch_manifest(cand, url, named_by, lambda u: self._admit(u, cand, sink))

    def _probe_http(self, cand: Candidate) -> Probe:
        assert self.prober is not None and cand.url
        probe = Probe(page_url=cand.url)
        redirects: list[Finding] = []

        def admit(url: str) -> Finding | None:
            return self._admit(url, cand, redirects)

        try:
            before = self._robots(cand.url)
            if self.tdmrep is not None and not _stops(before):
                tf = tdmrep_file_finding(self.tdmrep.file(cand.url), cand.url)
                if tf is not None and tf.verdict in _STOPS:
                    before.append(tf)
            if _stops(before):
                probe.findings.extend(before)
                return probe
            # A site yt-dlp has an extractor for is read through it (its licence field, its formats); a
            # plain web page listed by a feed is read by our own page probe (JSON-LD, rel=license, headers).
            if cand.kind == "ytdlp" and site_extractor(cand.url) is not None:
                probe = self.prober.probe_ytdlp(cand.url)
            else:
                probe = self.prober.probe_page(cand.url, admit=admit)
            probe.findings[0:0] = [*before, *redirects]
            redirects.clear()
            page_url = probe.final_page_url or cand.url
            if probe.page_headers or probe.meta or probe.media_url:
                probe.findings.extend(self._page_signals(probe, page_url))
            if probe.media_url is None or _stops(probe.findings):
                return probe
            if probe.media_url != cand.url:
                mf = self._robots(probe.media_url)
                probe.findings.extend(mf)
                if _stops(mf):
                    return probe
            self.prober.probe_media(probe, admit=admit)
            probe.findings.extend(redirects)
            if not _stops(probe.findings):
                probe.findings.extend(self._media_signals(cand, probe, page_url, admit))
        except Exception as exc:  # fail closed: an unexpected error is DEFER, never ALLOW
            probe.findings.append(Finding("probe", Verdict.DEFER, f"{cand.url}: check failed with "
                                          f"{exc.__class__.__name__}: {exc}; deferred", locator=cand.url))
        return probe

    # -- the batch -----------------------------------------------------------------------------------
    def evaluate(self, candidates: list[Candidate]) -> list[GateOutcome]:
        src = self.source
        pre: list[list[Finding]] = [[] for _ in candidates]
        probes = [Probe(page_url=c.url if c.kind in NETWORK_KINDS else None) for c in candidates]
        for i, c in enumerate(candidates):
            if c.input_error:
                pre[i].append(Finding("input", Verdict.DEFER if c.input_retry else Verdict.DENY, c.input_error,
                                      locator=c.locator))
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

        todo = [i for i, c in enumerate(candidates) if c.kind in NETWORK_KINDS and not blocked(i)]
        if todo and self.workers <= 1:
            for i in todo:
                probes[i] = self._probe_http(candidates[i])
        elif todo:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="cf-probe") as pool:
                for i, probe in zip(todo, pool.map(lambda i: self._probe_http(candidates[i]), todo), strict=True):
                    probes[i] = probe
            # What the pages revealed (creator, media host) is checked against the registry too; what the
            # candidate itself carried was checked before any request and is not asked again.
            post = registry_findings(self.registry, [(Candidate(candidates[i].source, candidates[i].kind,
                                                                candidates[i].canonical_id, None,
                                                                candidates[i].locator), probes[i]) for i in todo])
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
