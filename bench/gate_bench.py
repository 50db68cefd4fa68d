"""Gate decisions per second with warm per-origin caches, on one core.

    .venv/bin/python bench/gate_bench.py [--candidates 100000] [--origins 1000] [--registry 100000]

What is timed is `Gate.evaluate` over the whole candidate list, in batches (the source's batch size), the
way the pipeline calls it: the registry and blocked-domain lookups (batched SQL against a SQLite registry
holding `--registry` opt-out entries), platform terms, robots.txt of the page and media origins with the
AIPREF Content-Usage / Content-Signal lines it carries, TDMRep (file, header, meta), ai.txt, X-Robots-Tag,
meta robots, Content-Usage headers, licence normalisation and policy, and the final decision.

"Warm per-origin caches": every origin's robots.txt, tdmrep.json and ai.txt were fetched and parsed in an
untimed warm-up pass, as they are after the first candidates of a run. Per-candidate network I/O (the
page GET and the media HEAD) is not part of a decision: each candidate's probe result (its page headers,
meta tags, licence and media URL) is recorded in advance, varied across the corpus, and handed to the gate
by a stand-in prober. The per-origin documents are served in-process by a transport adapter that answers
for the synthetic `.bench.invalid` hosts: nothing is sent to any network, loopback included.

The corpus (seeded, reproducible): N candidates spread evenly over the origins; 3% of origins disallow
`/private/` for all crawlers, 2% refuse GPTBot, 2% carry `Content-Usage: train-ai=n`, 2% a TDMRep
reservation, 1% an ai.txt refusing video; licences 55% CC-BY, 15% CC0, 10% BY-NC, 10% BY-SA, 10% none;
2% of pages send `X-Robots-Tag: noai`; 1% of creators and 0.5% of domains are in the registry, whose
remaining entries are unrelated names, so lookups search a full-size table.

Output: decisions/s and the decision mix, beside the fetch throughput measured by run_bench.py
(bench/out/results.json) so the two can be compared; JSON to bench/out/gate_bench.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TARGET = 5000.0

sys.path.insert(0, str(Path(__file__).resolve().parent))
import in_venv  # noqa: E402, F401  (re-runs this script inside the project's venv when needed)
import requests  # noqa: E402
from requests.adapters import BaseAdapter  # noqa: E402

from clearframe.config import HttpInput, Source  # noqa: E402
from clearframe.gate import Gate  # noqa: E402
from clearframe.gate.aitxt import AiTxtFetcher  # noqa: E402
from clearframe.gate.licenses import normalize  # noqa: E402
from clearframe.gate.registry import Registry, optouts  # noqa: E402
from clearframe.gate.registry import normalize as reg_normalize  # noqa: E402
from clearframe.gate.robots import RobotsChecker  # noqa: E402
from clearframe.gate.tdmrep import TdmRepFetcher  # noqa: E402
from clearframe.net import HostPoliteness  # noqa: E402
from clearframe.records import Candidate, Probe  # noqa: E402

CC = "https://creativecommons.org/"
LICENCES = [(CC + "licenses/by/4.0/", 55), (CC + "publicdomain/zero/1.0/", 15), (CC + "licenses/by-nc/4.0/", 10),
            (CC + "licenses/by-sa/4.0/", 10), (None, 10)]


class Corpus:
    def __init__(self, n: int, origins: int, seed: int = 7):
        rnd = random.Random(seed)
        self.origins = [f"https://o{k:04d}.bench.invalid" for k in range(origins)]
        self.kind = {o: "plain" for o in self.origins}
        picks = rnd.sample(self.origins, len(self.origins))
        cuts = [("private", 0.03), ("gptbot", 0.02), ("content-usage", 0.02), ("tdmrep", 0.02), ("aitxt", 0.01)]
        i = 0
        for kind, share in cuts:
            for o in picks[i: i + int(share * origins)]:
                self.kind[o] = kind
            i += int(share * origins)
        weights = [w for _, w in LICENCES]
        self.items: list[dict[str, Any]] = []
        for j in range(n):
            origin = self.origins[j % origins]
            private = rnd.random() < 0.2
            path = f"/private/{j}" if private else f"/v/{j}"
            lic = rnd.choices([u for u, _ in LICENCES], weights)[0]
            self.items.append({
                "url": origin + path, "media": f"{origin}/media/{j}.mp4", "licence": lic,
                "creator": f"creator-{rnd.randrange(n // 10)}", "noai": rnd.random() < 0.02,
            })

    def document(self, url: str) -> tuple[int, bytes, dict[str, str]]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        kind = self.kind.get(origin, "plain")
        if parts.path == "/robots.txt":
            lines = ["User-agent: *", "Allow: /"]
            if kind == "private":
                lines = ["User-agent: *", "Disallow: /private/"]
            elif kind == "gptbot":
                lines += ["", "User-agent: GPTBot", "Disallow: /"]
            elif kind == "content-usage":
                lines += ["Content-Usage: train-ai=n"]
            return 200, ("\n".join(lines) + "\nSitemap: " + origin + "/sitemap.xml\n").encode(), {}
        if parts.path == "/.well-known/tdmrep.json":
            if kind == "tdmrep":
                return 200, b'[{"location": "/", "tdm-reservation": 1, "tdm-policy": "https://x.invalid/p"}]', {}
            return 404, b"not found", {}
        if parts.path == "/ai.txt":
            if kind == "aitxt":
                return 200, b"User-Agent: *\nDisallow: *.mp4\nDisallow: *.webm\n", {}
            return 404, b"not found", {}
        raise AssertionError(f"the timed pass made a request: {url}")


class InProcess(BaseAdapter):
    """Answers the per-origin documents of the corpus without a socket; counts what was asked."""

    def __init__(self, corpus: Corpus):
        super().__init__()
        self.corpus = corpus
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        self.sent += 1
        status, body, headers = self.corpus.document(str(request.url))
        resp = requests.Response()
        resp.status_code = status
        resp.headers.update({"Content-Type": "text/plain", "Content-Length": str(len(body)), **headers})
        resp.raw = io.BytesIO(body)
        resp.url = str(request.url)
        resp.request = request
        return resp

    def close(self) -> None:
        pass


class RecordedProber:
    """What each page and HEAD said, recorded in advance (no network): the gate's probe stand-in."""

    def __init__(self, probes: dict[str, Probe], media_headers: dict[str, dict[str, list[str]]]):
        self.probes = probes
        self.media_headers = media_headers
        self.store_evidence = None

    def probe_page(self, url: str, admit: Any = None) -> Probe:
        return self.probes.pop(url)

    def probe_media(self, probe: Probe, admit: Any = None) -> None:
        probe.media_headers = self.media_headers.get(probe.media_url or "", {})
        probe.content_type = "video/mp4"


def build_probes(corpus: Corpus) -> dict[str, Probe]:
    out = {}
    for it in corpus.items:
        p = Probe(page_url=it["url"], media_url=it["media"], final_page_url=it["url"], creator=it["creator"],
                  title="clip", page_evidence="0" * 64)
        if it["licence"]:
            p.licenses.append(normalize(it["licence"], found_in="json-ld", url=it["licence"]))
        if it["noai"]:
            p.page_headers = {"x-robots-tag": ["noai"]}
        out[it["url"]] = p
    return out


def fill_registry(reg: Registry, corpus: Corpus, entries: int, seed: int = 11) -> dict[str, int]:
    rnd = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    creators = sorted({it["creator"] for it in corpus.items})
    hit_creators = rnd.sample(creators, max(1, len(creators) // 100))
    hit_domains = [urlsplit(o).hostname for o in rnd.sample(corpus.origins, max(1, len(corpus.origins) // 200))]
    rows = [("creator", c) for c in hit_creators] + [("domain", d) for d in hit_domains]
    kinds = ("creator", "channel", "video", "url", "domain", "hash")
    while len(rows) < entries:
        k = kinds[len(rows) % len(kinds)]
        v = {"creator": f"someone-else-{len(rows)}", "channel": f"chan-{len(rows)}", "video": f"vid{len(rows)}",
             "url": f"https://elsewhere.invalid/v/{len(rows)}", "domain": f"d{len(rows)}.elsewhere.invalid",
             "hash": f"{len(rows):064x}"}[k]
        rows.append((k, v))
    with reg.engine.begin() as conn:
        conn.execute(optouts.insert(), [{"kind": k, "value": reg_normalize(k, v), "requested_by": "bench",
                                         "reason": "bench", "created_at": now} for k, v in rows])
    return {"entries": len(rows), "matching_creators": len(hit_creators), "matching_domains": len(hit_domains)}


def fetch_throughput() -> dict[str, Any] | None:
    res = BENCH / "out" / "results.json"
    if not res.exists():
        return None
    d = json.loads(res.read_text())
    return {"clearframe_items_per_s": d["summary"]["clearframe"]["items_per_s"],
            "items": d["params"]["items"], "when": d["when"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=100_000)
    ap.add_argument("--origins", type=int, default=1000)
    ap.add_argument("--registry", type=int, default=100_000, help="opt-out entries in the registry")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3, help="timed passes over the whole list (median)")
    ap.add_argument("--out", type=Path, default=BENCH / "out" / "gate_bench.json")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    corpus = Corpus(args.candidates, args.origins)
    tmp = Path(tempfile.mkdtemp(prefix="cf-gate-bench-"))
    reg = Registry(f"sqlite:///{tmp / 'registry.sqlite'}")
    t0 = time.perf_counter()
    reg_info = fill_registry(reg, corpus, args.registry)
    print(f"registry: {reg_info['entries']} entries in {time.perf_counter() - t0:.1f} s", flush=True)

    session = requests.Session()
    adapter = InProcess(corpus)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "ClearFrameBot/bench"
    source = Source(name="bench", kind="http", http=HttpInput(urls="urls.txt"), batch_size=args.batch_size)
    robots = RobotsChecker(session, "ClearFrameBot", timeout=5)
    tdm = TdmRepFetcher(session, timeout=5)
    ai = AiTxtFetcher(session, "ClearFrameBot", timeout=5)
    cands = [Candidate(source="bench", kind="http", canonical_id=f"url:{it['url']}", url=it["url"],
                       locator=f"urls.txt:{i + 1}") for i, it in enumerate(corpus.items)]
    batches = [cands[i: i + args.batch_size] for i in range(0, len(cands), args.batch_size)]

    def gate() -> Gate:
        prober = RecordedProber(build_probes(corpus), {})
        return Gate(source, reg, prober, robots.check, HostPoliteness(8), workers=1,  # type: ignore[arg-type]
                    tdmrep=tdm, aitxt=ai)

    # Warm-up (untimed): every origin's robots.txt, tdmrep.json and ai.txt fetched and parsed once.
    t0 = time.perf_counter()
    g = gate()
    warm = cands[: 10 * args.origins]  # several per origin: some stop at robots before tdmrep or ai.txt
    g.evaluate(warm)
    print(f"warm-up: {adapter.sent} per-origin documents fetched in {time.perf_counter() - t0:.1f} s", flush=True)
    sent_after_warmup = adapter.sent

    rounds = []
    mix: Counter[str] = Counter()
    for r in range(args.rounds):
        g = gate()  # fresh recorded probes; the per-origin caches stay warm
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        decisions: Counter[str] = Counter()
        for b in batches:
            for out in g.evaluate(b):
                decisions[str(out.result.decision)] += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        rounds.append({"wall_s": wall, "cpu_s": cpu, "decisions_per_s": len(cands) / wall})
        mix = decisions
        print(f"round {r + 1}: {len(cands)} decisions in {wall:.1f} s = {len(cands) / wall:,.0f}/s "
              f"(cpu {cpu:.1f} s) {dict(decisions)}", flush=True)
    if adapter.sent != sent_after_warmup:
        print(f"gate_bench: the timed passes made {adapter.sent - sent_after_warmup} requests", file=sys.stderr)
        return 1
    med = statistics.median(r["decisions_per_s"] for r in rounds)
    fetch = fetch_throughput()
    summary = {"decisions_per_s": med, "target": TARGET, "meets_target": med >= TARGET, "mix": dict(mix),
               "fetch": fetch, "gate_over_fetch": (med / fetch["clearframe_items_per_s"]) if fetch else None}
    result = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "params": vars(args) | {"out": str(args.out)}, "registry": reg_info, "rounds": rounds,
              "summary": summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    verdict = "meets" if med >= TARGET else "misses"
    print(f"\nmedian {med:,.0f} decisions/s on one core ({verdict} the {TARGET:,.0f}/s target); decisions: "
          f"{dict(mix)}")
    if fetch:
        print(f"fetch throughput (run_bench.py, {fetch['items']} items): {fetch['clearframe_items_per_s']:.1f} "
              f"items/s: the gate decides {summary['gate_over_fetch']:,.0f}x faster than media is fetched")
    reg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
